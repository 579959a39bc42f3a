// write_image: every format written and read back with OpenImageIO, atomic
// replacement (no temp file left, nothing created on failure), format_from_path.
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <OpenImageIO/imageio.h>
#include <gtest/gtest.h>

#include "kernels/image/image_writer.h"

namespace fractal {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("fractal-test-image-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

ImageBuffer rgb8_pattern(int w, int h) {
  auto img = ImageBuffer::make(w, h, 3, PixelType::u8);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      auto* p = img.row<std::uint8_t>(y) + 3 * x;
      p[0] = static_cast<std::uint8_t>(x * 7 + y);
      p[1] = static_cast<std::uint8_t>(y * 13 + x * 3);
      p[2] = static_cast<std::uint8_t>((x ^ y) * 5);
    }
  return img;
}

ImageBuffer rgb8_smooth(int w, int h) {
  auto img = ImageBuffer::make(w, h, 3, PixelType::u8);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      auto* p = img.row<std::uint8_t>(y) + 3 * x;
      p[0] = static_cast<std::uint8_t>(255 * x / (w - 1));
      p[1] = static_cast<std::uint8_t>(255 * y / (h - 1));
      p[2] = static_cast<std::uint8_t>(128 + 100 * std::sin(x * 0.05) * std::cos(y * 0.05));
    }
  return img;
}

ImageBuffer rgb16_pattern(int w, int h) {
  auto img = ImageBuffer::make(w, h, 3, PixelType::u16);
  std::mt19937 rng(42);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.row<std::uint16_t>(y)[3 * x + c] = static_cast<std::uint16_t>(rng());
  // The extremes, exactly.
  img.row<std::uint16_t>(0)[0] = 0;
  img.row<std::uint16_t>(0)[1] = 65535;
  img.row<std::uint16_t>(0)[2] = 1;
  return img;
}

ImageBuffer counts_pattern(int w, int h) {
  auto img = ImageBuffer::make(w, h, 1, PixelType::f32);
  std::mt19937 rng(7);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.row<float>(y)[x] = static_cast<float>(rng() % 1'000'001);
  img.row<float>(0)[0] = 1'000'000.0f;  // max_iter's limit
  img.row<float>(0)[1] = 0.0f;
  img.row<float>(0)[2] = 3.0f;
  return img;
}

struct ReadBack {
  std::string format;  // the plugin that read it: "png", "jpeg", "tiff", "openexr"
  OIIO::ImageSpec spec;
  std::vector<float> f32;            // when read as float
  std::vector<std::uint8_t> u8;      // when read as uint8
  std::vector<std::uint16_t> u16;    // when read as uint16
};

enum class As { f32, u8, u16 };

ReadBack read_back(const fs::path& p, As as) {
  ReadBack r;
  auto in = OIIO::ImageInput::open(p.string());
  EXPECT_TRUE(in) << OIIO::geterror();
  if (!in) return r;
  r.format = in->format_name();
  r.spec = in->spec();
  const std::size_t n = static_cast<std::size_t>(r.spec.width) * r.spec.height * r.spec.nchannels;
  bool ok = false;
  switch (as) {
    case As::f32:
      r.f32.resize(n);
      ok = in->read_image(0, 0, 0, r.spec.nchannels, OIIO::TypeDesc::FLOAT, r.f32.data());
      break;
    case As::u8:
      r.u8.resize(n);
      ok = in->read_image(0, 0, 0, r.spec.nchannels, OIIO::TypeDesc::UINT8, r.u8.data());
      break;
    case As::u16:
      r.u16.resize(n);
      ok = in->read_image(0, 0, 0, r.spec.nchannels, OIIO::TypeDesc::UINT16, r.u16.data());
      break;
  }
  EXPECT_TRUE(ok) << in->geterror();
  in->close();
  return r;
}

float srgb_to_linear(float c) { return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f); }

// Writes, checks the result and that the directory holds exactly the target.
fs::path write_ok(const ScratchDir& dir, const ImageBuffer& img, ImageFormat f, const std::string& name,
                  const WriteOptions& o = {}) {
  const fs::path p = dir.path() / name;
  const WriteResult r = write_image(img, f, p.string(), o);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.error.empty());
  EXPECT_TRUE(fs::exists(p));
  if (fs::exists(p)) EXPECT_EQ(r.bytes, fs::file_size(p));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{name}) << "temp file left behind";
  return p;
}

TEST(ImageWriter, PngIsExact8BitRgb) {
  ScratchDir dir;
  const auto img = rgb8_pattern(67, 41);  // odd sizes
  const auto p = write_ok(dir, img, ImageFormat::png, "out.png");
  const auto r = read_back(p, As::u8);
  EXPECT_EQ(r.format, std::string("png"));
  EXPECT_EQ(r.spec.width, 67);
  EXPECT_EQ(r.spec.height, 41);
  EXPECT_EQ(r.spec.nchannels, 3);
  EXPECT_EQ(r.spec.format, OIIO::TypeDesc::UINT8);
  EXPECT_EQ(r.u8, img.data);
}

TEST(ImageWriter, PngCompressionLevelIsApplied) {
  ScratchDir dir;
  const auto img = rgb8_smooth(256, 256);
  const auto fast = write_image(img, ImageFormat::png, (dir.path() / "a.png").string(), {.png_compression = 0});
  const auto small = write_image(img, ImageFormat::png, (dir.path() / "b.png").string(), {.png_compression = 9});
  ASSERT_TRUE(fast.ok && small.ok);
  EXPECT_GT(fast.bytes, small.bytes);
  EXPECT_GE(fast.bytes, 256u * 256u * 3u);  // level 0 stores
}

TEST(ImageWriter, PngFromU16BufferIsConvertedTo8Bit) {
  ScratchDir dir;
  auto img = ImageBuffer::make(4, 1, 3, PixelType::u16);
  const std::uint16_t v[12] = {0, 65535, 257, 514, 32896, 65535, 0, 0, 0, 65535, 65535, 65535};
  std::copy(v, v + 12, img.row<std::uint16_t>(0));
  const auto r = read_back(write_ok(dir, img, ImageFormat::png, "x.png"), As::u8);
  EXPECT_EQ(r.spec.format, OIIO::TypeDesc::UINT8);
  EXPECT_EQ(r.u8, (std::vector<std::uint8_t>{0, 255, 1, 2, 128, 255, 0, 0, 0, 255, 255, 255}));
}

TEST(ImageWriter, JpegIsApproximateAndQualityMatters) {
  ScratchDir dir;
  const auto img = rgb8_smooth(160, 120);
  const auto p = write_ok(dir, img, ImageFormat::jpg, "out.jpg", {.jpeg_quality = 95});
  const auto r = read_back(p, As::u8);
  EXPECT_EQ(r.format, std::string("jpeg"));
  EXPECT_EQ(r.spec.width, 160);
  EXPECT_EQ(r.spec.height, 120);
  EXPECT_EQ(r.spec.nchannels, 3);
  ASSERT_EQ(r.u8.size(), img.data.size());
  double err = 0;
  for (std::size_t i = 0; i < img.data.size(); ++i) err += std::abs(int(r.u8[i]) - int(img.data[i]));
  EXPECT_LT(err / img.data.size(), 2.0);

  const auto low = write_image(img, ImageFormat::jpg, (dir.path() / "low.jpg").string(), {.jpeg_quality = 20});
  const auto high = write_image(img, ImageFormat::jpg, (dir.path() / "high.jpg").string(), {.jpeg_quality = 98});
  ASSERT_TRUE(low.ok && high.ok);
  EXPECT_LT(low.bytes, high.bytes);
}

TEST(ImageWriter, Tiff16BitRgbIsExact) {
  ScratchDir dir;
  const auto img = rgb16_pattern(33, 17);
  const auto p = write_ok(dir, img, ImageFormat::tiff, "out.tiff");
  const auto r = read_back(p, As::u16);
  EXPECT_EQ(r.format, std::string("tiff"));
  EXPECT_EQ(r.spec.width, 33);
  EXPECT_EQ(r.spec.height, 17);
  EXPECT_EQ(r.spec.nchannels, 3);
  EXPECT_EQ(r.spec.format, OIIO::TypeDesc::UINT16);
  ASSERT_EQ(r.u16.size(), img.data.size() / 2);
  EXPECT_TRUE(std::equal(r.u16.begin(), r.u16.end(), img.row<std::uint16_t>(0)));
}

TEST(ImageWriter, TiffIterationsAreExactFloat32OneChannel) {
  ScratchDir dir;
  const auto img = counts_pattern(29, 23);
  const auto p = write_ok(dir, img, ImageFormat::tiff, "n.tif");
  const auto r = read_back(p, As::f32);
  EXPECT_EQ(r.spec.width, 29);
  EXPECT_EQ(r.spec.height, 23);
  EXPECT_EQ(r.spec.nchannels, 1);
  EXPECT_EQ(r.spec.format, OIIO::TypeDesc::FLOAT);
  ASSERT_EQ(r.f32.size(), static_cast<std::size_t>(29 * 23));
  EXPECT_TRUE(std::equal(r.f32.begin(), r.f32.end(), img.row<float>(0)));
}

TEST(ImageWriter, ExrIterationsAreExactFloat32InChannelN) {
  ScratchDir dir;
  const auto img = counts_pattern(31, 19);
  const auto p = write_ok(dir, img, ImageFormat::exr, "n.exr");
  const auto r = read_back(p, As::f32);
  EXPECT_EQ(r.format, std::string("openexr"));
  EXPECT_EQ(r.spec.width, 31);
  EXPECT_EQ(r.spec.height, 19);
  ASSERT_EQ(r.spec.nchannels, 1);
  EXPECT_EQ(r.spec.channelnames.at(0), "N");
  EXPECT_EQ(r.spec.format, OIIO::TypeDesc::FLOAT);
  ASSERT_EQ(r.f32.size(), static_cast<std::size_t>(31 * 19));
  EXPECT_TRUE(std::equal(r.f32.begin(), r.f32.end(), img.row<float>(0)));
}

TEST(ImageWriter, ExrRgbIsHalfInLinearLight) {
  ScratchDir dir;
  // Taller than one 64-row write block, so the blocked conversion is covered.
  const auto img = rgb16_pattern(21, 150);
  const auto p = write_ok(dir, img, ImageFormat::exr, "out.exr");
  const auto r = read_back(p, As::f32);
  EXPECT_EQ(r.spec.width, 21);
  EXPECT_EQ(r.spec.height, 150);
  ASSERT_EQ(r.spec.nchannels, 3);
  EXPECT_EQ(r.spec.format, OIIO::TypeDesc::HALF);
  EXPECT_EQ(r.spec.channelnames, (std::vector<std::string>{"R", "G", "B"}));
  const std::uint16_t* src = img.row<std::uint16_t>(0);
  ASSERT_EQ(r.f32.size(), img.data.size() / 2);
  for (std::size_t i = 0; i < r.f32.size(); ++i) {
    const float want = srgb_to_linear(src[i] / 65535.0f);
    ASSERT_NEAR(r.f32[i], want, want * 1e-3f + 1e-6f) << "sample " << i;
  }
}

TEST(ImageWriter, ReplacesAnExistingFile) {
  ScratchDir dir;
  const auto first = rgb8_pattern(8, 8);
  auto second = rgb8_pattern(8, 8);
  for (auto& b : second.data) b = static_cast<std::uint8_t>(255 - b);
  write_ok(dir, first, ImageFormat::png, "x.png");
  const auto p = write_ok(dir, second, ImageFormat::png, "x.png");
  EXPECT_EQ(read_back(p, As::u8).u8, second.data);
}

TEST(ImageWriter, PathWithoutExtensionUsesTheGivenFormat) {
  ScratchDir dir;
  const auto img = rgb16_pattern(5, 4);
  const auto p = write_ok(dir, img, ImageFormat::tiff, "task-result");
  const auto r = read_back(p, As::u16);
  EXPECT_EQ(r.format, std::string("tiff"));
  EXPECT_TRUE(std::equal(r.u16.begin(), r.u16.end(), img.row<std::uint16_t>(0)));
}

TEST(ImageWriter, LongFileNameStillGetsATempName) {
  ScratchDir dir;
  const std::string name = std::string(240, 'a') + ".png";  // 244 of NAME_MAX 255
  const auto img = rgb8_pattern(3, 3);
  EXPECT_EQ(read_back(write_ok(dir, img, ImageFormat::png, name), As::u8).u8, img.data);
}

TEST(ImageWriter, MissingDirectoryFailsAndCreatesNothing) {
  ScratchDir dir;
  const fs::path p = dir.path() / "no" / "such" / "dir" / "out.png";
  const auto r = write_image(rgb8_pattern(4, 4), ImageFormat::png, p.string());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_FALSE(fs::exists(dir.path() / "no"));
  EXPECT_TRUE(dir.entries().empty());
}

// Runs `write` as an unprivileged user when the test runs as root (CI does:
// root ignores directory permissions): in a forked child that drops to
// `nobody` first; its exit status is write's verdict. As any other user it
// just calls write.
bool runs_unprivileged(const fs::path& owned_dir, const std::function<bool()>& write) {
  if (::geteuid() != 0) return write();
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) throw std::runtime_error("no user `nobody` to drop root privileges to");
  for (const auto& p : {owned_dir, owned_dir / "locked"})
    if (::chown(p.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) throw std::runtime_error("chown " + p.string());
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0) ::_exit(3);
    if (::geteuid() == 0) ::_exit(4);
    ::prctl(PR_SET_DUMPABLE, 1);  // keeps /proc/self readable (sanitizer runtimes read it)
    ::_exit(write() ? 0 : 1);
  }
  int status = 0;
  for (int waited_ms = 0; ::waitpid(child, &status, WNOHANG) == 0; waited_ms += 10) {
    if (waited_ms > 60'000) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(ImageWriter, UnwritableDirectoryFailsAndCreatesNothing) {
  ScratchDir dir;
  const fs::path locked = dir.path() / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  const bool failed_cleanly = runs_unprivileged(dir.path(), [&] {
    const auto r = write_image(rgb8_pattern(4, 4), ImageFormat::png, (locked / "out.png").string());
    return !r.ok && !r.error.empty() && r.bytes == 0;
  });
  fs::permissions(locked, fs::perms::owner_all);
  EXPECT_TRUE(failed_cleanly) << "the write into a read-only directory did not fail with an error"
                              << (::geteuid() == 0 ? " (run as user nobody)" : "");
  EXPECT_TRUE(fs::is_empty(locked));
}

TEST(ImageWriter, FailureAfterWritingRemovesTheTempFile) {
  // The target is a non-empty directory: encoding succeeds, the rename fails.
  ScratchDir dir;
  fs::create_directories(dir.path() / "out.png" / "keep");
  const auto r = write_image(rgb8_pattern(16, 16), ImageFormat::png, (dir.path() / "out.png").string());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.png"});
  EXPECT_TRUE(fs::is_directory(dir.path() / "out.png"));
}

TEST(ImageWriter, OneChannelBufferIsRejectedForPngAndJpg) {
  ScratchDir dir;
  const auto counts = counts_pattern(4, 4);
  for (ImageFormat f : {ImageFormat::png, ImageFormat::jpg}) {
    const auto r = write_image(counts, f, (dir.path() / "n.png").string());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("tiff or exr"), std::string::npos) << r.error;
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(ImageWriter, MalformedBuffersAreRejected) {
  ScratchDir dir;
  const std::string p = (dir.path() / "x.tiff").string();
  auto short_data = rgb8_pattern(4, 4);
  short_data.data.pop_back();
  EXPECT_FALSE(write_image(short_data, ImageFormat::tiff, p).ok);
  EXPECT_FALSE(write_image(ImageBuffer{}, ImageFormat::tiff, p).ok);
  EXPECT_FALSE(write_image(ImageBuffer::make(2, 2, 4, PixelType::u8), ImageFormat::tiff, p).ok);
  EXPECT_FALSE(write_image(ImageBuffer::make(2, 2, 1, PixelType::u16), ImageFormat::tiff, p).ok);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(FormatFromPath, KnowsTheFourFormatsCaseInsensitively) {
  EXPECT_EQ(format_from_path("a.png"), ImageFormat::png);
  EXPECT_EQ(format_from_path("/x/y/A.PNG"), ImageFormat::png);
  EXPECT_EQ(format_from_path("a.jpg"), ImageFormat::jpg);
  EXPECT_EQ(format_from_path("a.JPEG"), ImageFormat::jpg);
  EXPECT_EQ(format_from_path("a.jpeg"), ImageFormat::jpg);
  EXPECT_EQ(format_from_path("a.tif"), ImageFormat::tiff);
  EXPECT_EQ(format_from_path("a.TiFf"), ImageFormat::tiff);
  EXPECT_EQ(format_from_path("dir.v2/a.exr"), ImageFormat::exr);
  EXPECT_EQ(format_from_path("a.EXR"), ImageFormat::exr);
}

TEST(FormatFromPath, RejectsOthers) {
  EXPECT_EQ(format_from_path("a"), std::nullopt);
  EXPECT_EQ(format_from_path(""), std::nullopt);
  EXPECT_EQ(format_from_path("a.gif"), std::nullopt);
  EXPECT_EQ(format_from_path("a.png.bak"), std::nullopt);
  EXPECT_EQ(format_from_path(".png"), std::nullopt);  // a hidden file named ".png", no extension
  EXPECT_EQ(format_from_path("png"), std::nullopt);
  EXPECT_EQ(format_from_path("dir.png/file"), std::nullopt);
}

}  // namespace
}  // namespace fractal
