// runtime/durable_file.h: the one atomic-write layer (write_image, ImageStore and
// the worker's liveness file go through it).
#include "runtime/durable_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace fractal::files;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "durable-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

TEST(DurableFile, WriteReplacesTheWholeFileAndLeavesNoTempName) {
  TempDir dir;
  const fs::path target = dir.path / "beat";
  for (DirectorySync sync : {DirectorySync::now, DirectorySync::later, DirectorySync::none}) {
    ASSERT_EQ(write_file_atomically(target, "a longer first version\n", sync), "");
    ASSERT_EQ(write_file_atomically(target, "second\n", sync), "");
    EXPECT_EQ(slurp(target), "second\n");
    EXPECT_EQ(entries(dir.path), std::vector<std::string>{"beat"});
  }
}

TEST(DurableFile, AFailedRenameKeepsTheOldTargetAndRemovesTheTemp) {
  TempDir dir;
  // A non-empty directory where the file should go: the rename fails after the
  // temp was written and synced.
  const fs::path target = dir.path / "taken";
  fs::create_directories(target / "inside");
  const std::string error = write_file_atomically(target, "x");
  EXPECT_NE(error.find("cannot rename"), std::string::npos) << error;
  EXPECT_EQ(entries(dir.path), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::is_directory(target / "inside"));
}

TEST(DurableFile, AMissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const std::string error = write_file_atomically(dir.path / "gone" / "f", "x");
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
  EXPECT_NE(error.find("gone"), std::string::npos) << error;
}

TEST(DurableFile, DurableRenameReportsTheRenameAndMovesTheFile) {
  TempDir dir;
  EXPECT_TRUE(durable_rename(dir.path / "absent", dir.path / "target"));
  { std::ofstream(dir.path / "t") << "done"; }
  EXPECT_FALSE(durable_rename(dir.path / "t", dir.path / "target", DirectorySync::now));
  EXPECT_EQ(slurp(dir.path / "target"), "done");
  EXPECT_FALSE(fs::exists(dir.path / "t"));
  EXPECT_FALSE(sync_path(dir.path, true));
  EXPECT_TRUE(sync_path(dir.path / "absent", false));
}

TEST(DurableFile, UniqueNamesNeverRepeatAcrossThreadsAndStayUnderNameMax) {
  TempDir dir;
  std::set<std::string> names;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 2000; ++i) mine.push_back(unique_name(dir.path, "id.", ".png.tmp").filename().string());
      std::lock_guard lock(m);
      names.insert(mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(names.size(), 8000u);
  for (const auto& n : names) {
    EXPECT_EQ(n.rfind("id.", 0), 0u) << n;
    EXPECT_EQ(n.substr(n.size() - 8), ".png.tmp") << n;
  }
  const fs::path longest = unique_name(dir.path, std::string(400, 'p'), std::string(400, 's'));
  EXPECT_LE(longest.filename().string().size(), 255u);
}

TEST(DurableFile, TempFileGoesUnlessKept) {
  TempDir dir;
  { std::ofstream(dir.path / "a") << "1"; }
  { std::ofstream(dir.path / "b") << "2"; }
  { TempFile gone(dir.path / "a"); }
  {
    TempFile kept(dir.path / "b");
    kept.keep();
  }
  EXPECT_EQ(entries(dir.path), std::vector<std::string>{"b"});
}
