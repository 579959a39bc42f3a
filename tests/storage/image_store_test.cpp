#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "storage/image_store.h"
#include "tests/support/scratch_dir.h"

namespace fractal::storage {
namespace {

namespace fs = std::filesystem;
const std::string kId = "3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5c";

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_scratch_dir("images"); }
  void TearDown() override { test::remove_tree(dir_); }
  fs::path dir_;
};

void write_file(const fs::path& p, std::string_view content) { std::ofstream(p, std::ios::binary) << content; }

TEST_F(ImageStoreTest, PathIsRootSlashIdDotExtension) {
  ImageStore store(dir_ / "images");
  EXPECT_TRUE(fs::is_directory(dir_ / "images"));
  EXPECT_EQ(store.path_for(kId, "png"), dir_ / "images" / (kId + ".png"));
  std::string upper = kId;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(store.path_for(upper, "exr"), dir_ / "images" / (kId + ".exr"));  // one file per task
  ImageStore trailing(dir_.string() + "/images/");
  EXPECT_EQ(trailing.path_for(kId, "png"), store.path_for(kId, "png"));
}

TEST_F(ImageStoreTest, RejectsAnythingButAUuid) {
  ImageStore store(dir_);
  const std::vector<std::string> bad_ids{"../x", "abc", "", "..", "/etc/passwd", "../../etc/passwd", kId + "/../x", "../" + kId.substr(3),
        kId.substr(0, 35), kId + "0", "3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5g", "3f2b8c1e_9d4a_4e7b_8a6c_5d1e2f3a4b5c",
        "3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5\n", std::string("3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5\0", 36)};
  for (const std::string& bad : bad_ids) {
    EXPECT_THROW(store.path_for(bad, "png"), std::invalid_argument) << bad;
    EXPECT_THROW(store.remove(bad), std::invalid_argument) << bad;
  }
  for (const std::string bad_ext : {"", "../png", "p/ng", "PNG", "png.", ".png", "averylongext"})
    EXPECT_THROW(store.path_for(kId, bad_ext), std::invalid_argument) << bad_ext;
}

TEST_F(ImageStoreTest, RecordedPathIsOnlyTheTasksOwnName) {
  ImageStore store(dir_);
  EXPECT_EQ(store.recorded_path(kId, kId + ".jpg"), store.path_for(kId, "jpg"));
  const std::string other = "00000000-0000-4000-8000-000000000000";
  for (const std::string& bad : std::vector<std::string>{other + ".png", kId, kId + ".", kId + ".PNG", kId + "./x",
                                                        kId + ".png/../x", "../" + kId + ".png", "/etc/passwd", "",
                                                        kId + ".png.png"})
    EXPECT_EQ(store.recorded_path(kId, bad), std::nullopt) << bad;
  EXPECT_EQ(store.recorded_path("not-an-id", "not-an-id.png"), std::nullopt);
}

TEST_F(ImageStoreTest, ExistsSizeRemove) {
  ImageStore store(dir_);
  EXPECT_FALSE(store.exists(kId, "png"));
  EXPECT_FALSE(store.size(kId, "png"));
  write_file(store.path_for(kId, "png"), "12345");
  write_file(store.path_for(kId, "tiff"), "1");
  EXPECT_TRUE(store.exists(kId, "png"));
  EXPECT_EQ(store.size(kId, "png"), 5u);
  const std::string other = "3f2b8c1e-9d4a-4e7b-8a6c-000000000000";
  write_file(store.path_for(other, "png"), "x");
  EXPECT_EQ(store.remove(kId), 2u);
  EXPECT_FALSE(store.exists(kId, "png"));
  EXPECT_TRUE(store.exists(other, "png"));  // only that task's files
  EXPECT_EQ(store.remove(kId), 0u);
}

TEST_F(ImageStoreTest, WriteToTempThenCommit) {
  ImageStore store(dir_);
  const fs::path tmp = store.temp_path_for(kId, "png");
  EXPECT_EQ(tmp.parent_path(), dir_ / ".partial");
  EXPECT_NE(tmp, store.temp_path_for(kId, "png"));  // unique per call
  write_file(tmp, "pixels");
  EXPECT_FALSE(store.exists(kId, "png"));  // not visible before the commit
  EXPECT_EQ(store.commit(tmp, kId, "png"), store.path_for(kId, "png"));
  EXPECT_EQ(store.size(kId, "png"), 6u);
  EXPECT_FALSE(fs::exists(tmp));
  // Only this task's temp files can be committed under its name.
  const std::string other = "3f2b8c1e-9d4a-4e7b-8a6c-000000000000";
  const fs::path foreign = store.temp_path_for(other, "png");
  write_file(foreign, "x");
  EXPECT_THROW(store.commit(foreign, kId, "png"), std::invalid_argument);
  EXPECT_THROW(store.commit(dir_ / "elsewhere.png", kId, "png"), std::invalid_argument);
  // An interrupted write's temp file goes with remove().
  EXPECT_EQ(store.remove(other), 1u);
  EXPECT_FALSE(fs::exists(foreign));
}

TEST_F(ImageStoreTest, CommitsOfAGroupShareOneDirectorySync) {
  ImageStore store(dir_);
  const std::string other = "3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5d";
  const fs::path a = store.temp_path_for(kId, "png");
  const fs::path b = store.temp_path_for(other, "png");
  write_file(a, "a");
  write_file(b, "b");
  EXPECT_EQ(store.commit(a, kId, "png", false), store.path_for(kId, "png"));
  EXPECT_EQ(store.commit(b, other, "png", false), store.path_for(other, "png"));
  store.sync();
  EXPECT_TRUE(store.exists(kId, "png"));
  EXPECT_TRUE(store.exists(other, "png"));
  EXPECT_FALSE(fs::exists(a));
}

TEST_F(ImageStoreTest, SweepRemovesOnlyOldTempFiles) {
  ImageStore store(dir_);
  const fs::path old_temp = store.temp_path_for(kId, "png");
  const fs::path new_temp = store.temp_path_for(kId, "png");
  write_file(old_temp, "left by a killed encode");
  write_file(new_temp, "an encode in progress");
  write_file(store.path_for(kId, "png"), "a finished image");
  fs::last_write_time(old_temp, fs::file_time_type::clock::now() - std::chrono::hours(2));
  fs::last_write_time(store.path_for(kId, "png"), fs::file_time_type::clock::now() - std::chrono::hours(2));
  EXPECT_EQ(store.sweep_partial(std::chrono::hours(1)), 1u);
  EXPECT_FALSE(fs::exists(old_temp));
  EXPECT_TRUE(fs::exists(new_temp));
  EXPECT_TRUE(store.exists(kId, "png")) << "finished images are never swept";
}

}  // namespace
}  // namespace fractal::storage
