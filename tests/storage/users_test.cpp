#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "storage/users.h"
#include "tests/storage/storage_test_env.h"

namespace fractal::storage {
namespace {

using testing::shared_pool;
using testing::unique_name;

TEST(UserRepo, CreateThenFindByNameInAnyCaseAndById) {
  UserRepo users(shared_pool());
  const std::string name = unique_name("Alice");
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);
  const UserCreateResult r = users.create(name, "hash-1");
  ASSERT_EQ(r.status, UserCreateStatus::created);
  ASSERT_TRUE(r.user);
  EXPECT_EQ(r.user->username, name);  // case kept
  EXPECT_EQ(r.user->password_hash, "hash-1");
  EXPECT_EQ(r.user->id.size(), 36u);
  EXPECT_GT(r.user->created_at, before);

  std::string upper = name, lower = name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& variant : {name, upper, lower}) {
    const auto found = users.find_by_username(variant);
    ASSERT_TRUE(found) << variant;
    EXPECT_EQ(found->id, r.user->id);
    EXPECT_EQ(found->username, name);
  }
  const auto by_id = users.find_by_id(r.user->id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->username, name);
}

TEST(UserRepo, UsernamesAreUniqueIgnoringCase) {
  UserRepo users(shared_pool());
  const std::string name = unique_name("bob");
  ASSERT_EQ(users.create(name, "h").status, UserCreateStatus::created);
  std::string shouted = name;
  for (auto& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const UserCreateResult dup = users.create(shouted, "h2");
  EXPECT_EQ(dup.status, UserCreateStatus::username_taken);
  EXPECT_FALSE(dup.user);
  EXPECT_EQ(users.find_by_username(name)->password_hash, "h");  // the first one is untouched
}

TEST(UserRepo, ConcurrentSignUpsOfOneNameLetExactlyOneWin) {
  UserRepo users(shared_pool());
  const std::string name = unique_name("race");
  std::string capitalized = name;
  capitalized[0] = 'R';
  constexpr int kThreads = 8;
  std::latch go(kThreads);
  std::atomic<int> created{0}, taken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      const auto r = users.create(i % 2 ? name : capitalized, "h");
      (r.status == UserCreateStatus::created ? created : taken)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(taken.load(), kThreads - 1);
}

TEST(UserRepo, UnknownAndMalformedLookupsFindNothing) {
  UserRepo users(shared_pool());
  EXPECT_FALSE(users.find_by_username(unique_name("nobody")));
  EXPECT_FALSE(users.find_by_id("00000000-0000-4000-8000-000000000000"));
  EXPECT_FALSE(users.find_by_id("not-a-uuid"));
  EXPECT_FALSE(users.find_by_id("' OR '1'='1"));
  EXPECT_FALSE(users.find_by_username("' OR '1'='1"));
}

}  // namespace
}  // namespace fractal::storage
