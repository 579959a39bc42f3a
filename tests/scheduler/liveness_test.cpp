// The liveness file fractal-worker writes and `fractal-worker --check` reads.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "scheduler/cli_options.h"
#include "scheduler/liveness.h"

namespace fractal::scheduler {
namespace {

using namespace std::chrono_literals;

class LivenessFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("fractal-liveness-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    file_ = dir_ / "worker.health";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_, file_;
};

TEST_F(LivenessFile, RecentProgressIsHealthyOldProgressIsNot) {
  const auto now = std::chrono::system_clock::now();
  std::string error;
  ASSERT_TRUE(write_liveness(file_, "w1", now - 5s, &error)) << error;
  const LivenessCheck fresh = check_liveness(file_, 60s, now);
  EXPECT_TRUE(fresh.ok) << fresh.message;
  EXPECT_NE(fresh.message.find("worker=w1"), std::string::npos) << fresh.message;

  const LivenessCheck stale = check_liveness(file_, 60s, now + 120s);
  EXPECT_FALSE(stale.ok);
  EXPECT_NE(stale.message.find("no progress for 125 s"), std::string::npos) << stale.message;
  // Rewritten with newer progress: healthy again, and no temp file left beside it.
  ASSERT_TRUE(write_liveness(file_, "w1", now + 119s, &error)) << error;
  EXPECT_TRUE(check_liveness(file_, 60s, now + 120s).ok);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), std::filesystem::directory_iterator()), 1);
}

TEST_F(LivenessFile, MissingOrUnreadableFileIsUnhealthy) {
  const LivenessCheck missing = check_liveness(file_, 60s);
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.message.find("no liveness file"), std::string::npos) << missing.message;
  std::ofstream(file_) << "worker=w1 last_progress_ms=soon\n";
  const LivenessCheck garbage = check_liveness(file_, 60s);
  EXPECT_FALSE(garbage.ok);
  EXPECT_NE(garbage.message.find("unreadable"), std::string::npos) << garbage.message;
}

TEST_F(LivenessFile, UnwritableDirectoryIsReportedNotThrown) {
  std::string error;
  EXPECT_FALSE(write_liveness(dir_ / "no-such-dir" / "worker.health", "w1", std::chrono::system_clock::now(), &error));
  EXPECT_FALSE(error.empty());
}

TEST(CommandLine, CheckNeedsOnlyTheHealthFile) {
  const char* ok[] = {"fractal-worker", "--check", "--health-file", "/tmp/x.health", "--check-max-age", "30"};
  const CommandLine cl = parse_command_line(6, ok);
  EXPECT_FALSE(cl.exit_code.has_value()) << cl.message;
  EXPECT_TRUE(cl.check);
  EXPECT_EQ(cl.options.health_file, "/tmp/x.health");
  EXPECT_EQ(cl.check_max_age, 30s);

  const char* missing[] = {"fractal-worker", "--check"};
  ::unsetenv("FRACTAL_WORKER_HEALTH_FILE");
  const CommandLine bad = parse_command_line(2, missing);
  ASSERT_TRUE(bad.exit_code.has_value());
  EXPECT_EQ(*bad.exit_code, 2);
  EXPECT_NE(bad.message.find("--health-file"), std::string::npos) << bad.message;
}

}  // namespace
}  // namespace fractal::scheduler
