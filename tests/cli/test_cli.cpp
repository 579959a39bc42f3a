// fractal-render as a user runs it: exit codes, messages naming the field,
// no output file on bad input, formats from the extension, flags and --params.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <OpenImageIO/imageio.h>

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr together
};

CliRun run(const std::string& args) {
  const std::string cmd = std::string(FRACTAL_RENDER_BIN) + " " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fractal-cli-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(Cli, RendersFromFlagsAndReportsTheRun) {
  const CliRun r = run("--width 64 --height 48 --max-iter 100 --center=-0.5,0 --backend cpu -o " + path("a.png"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("backend=cpu:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("G iter/s"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("iterations="), std::string::npos) << r.output;
  auto in = OIIO::ImageInput::open(path("a.png"));
  ASSERT_TRUE(in);
  EXPECT_EQ(in->spec().width, 64);
  EXPECT_EQ(in->spec().height, 48);
  EXPECT_EQ(in->spec().nchannels, 3);
  // No temporary file left next to it.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(Cli, ParamsFileAndFormatFromExtension) {
  std::ofstream(path("p.json")) << R"({"width": 40, "height": 30, "output": "iterations", "max_iter": 77})";
  const CliRun r = run("--params " + path("p.json") + " -o " + path("n.exr"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto in = OIIO::ImageInput::open(path("n.exr"));
  ASSERT_TRUE(in);
  EXPECT_EQ(in->spec().nchannels, 1);
  EXPECT_EQ(in->spec().channelnames.at(0), "N");
  std::vector<float> px(40 * 30);
  ASSERT_TRUE(in->read_image(0, 0, 0, 1, OIIO::TypeDesc::FLOAT, px.data()));
  float max = 0;
  for (float v : px) max = std::max(max, v);
  EXPECT_EQ(max, 77.0f);  // the set's interior reaches max_iter exactly
}

TEST_F(Cli, FlagsOverrideTheParamsFile) {
  std::ofstream(path("p.json")) << R"({"width": 40, "height": 30})";
  const CliRun r = run("--params " + path("p.json") + " --width 20 -o " + path("o.jpg"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto in = OIIO::ImageInput::open(path("o.jpg"));
  ASSERT_TRUE(in);
  EXPECT_EQ(in->spec().width, 20);
}

TEST_F(Cli, BadInputExitsTwoNamesTheFieldAndWritesNothing) {
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"--width 0", "width"},
      {"--width abc", "width"},
      {"--height 16385", "height"},
      {"--max-iter 0", "max_iter"},
      {"--scale=-1", "scale"},
      {"--center 1", "center"},
      {"--center=a,b", "center"},
      {"--fractal julia", "julia_c"},
      {"--julia-c=0,0", "julia_c"},
      {"--palette nope", "palette"},
      {"--palette '#ff0000'", "palette"},
      {"--coloring plaid", "coloring"},
      {"--supersample 9", "supersample"},
      {"--precision half", "precision"},
      {"--output iterations", "format"},
      {"--scale 1e-20000", "scale"},                    // below deep zoom's 1e-10000
      {"--scale 1e-20 --precision double", "precision"},  // double cannot resolve it
      {"--backend gpu", "--backend"},
      {"--threads -1", "--threads"},
      {"--no-such-flag 1", "no-such-flag"},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args + " -o " + path("x.png"));
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(path("x.png"))) << c.args;
  }
}

TEST_F(Cli, BadParamsFiles) {
  std::ofstream(path("bad.json")) << "{\"width\": ";
  std::ofstream(path("unknown.json")) << R"({"widht": 10})";
  std::ofstream(path("array.json")) << "[1, 2]";
  CliRun r = run("--params " + path("bad.json") + " -o " + path("x.png"));
  EXPECT_EQ(r.status, 2) << r.output;
  r = run("--params " + path("unknown.json") + " -o " + path("x.png"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("widht"), std::string::npos) << r.output;
  r = run("--params " + path("array.json") + " -o " + path("x.png"));
  EXPECT_EQ(r.status, 2);
  r = run("--params " + path("missing.json") + " -o " + path("x.png"));
  EXPECT_EQ(r.status, 2);
  r = run("--width 10 -o " + path("x.bmp"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_FALSE(fs::exists(path("x.png")));
}

TEST_F(Cli, UnwritableOutputFailsCleanly) {
  const CliRun r = run("--width 10 --height 10 -o /nonexistent-dir/x.png");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write"), std::string::npos) << r.output;
}

TEST_F(Cli, HelpListsEveryField) {
  const CliRun r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* flag : {"--fractal", "--width", "--height", "--center", "--scale", "--max-iter", "--julia-c",
                           "--output", "--format", "--palette", "--coloring", "--supersample", "--precision",
                           "--backend", "--threads", "--params"})
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
}

}  // namespace

// --center and --julia-c take the pair as the help shows it, "[re, im]" (with
// or without spaces, numbers or quoted decimal strings), or as "re,im"; every
// spelling gives the same image.
TEST_F(Cli, PairFlagsAcceptBothSpellings) {
  const std::string base = "--fractal julia --width 48 --height 32 --max-iter 200 --backend cpu --format tiff ";
  const CliRun plain = run(base + "--julia-c=-0.8,0.156 --center=0.1,0 -o " + path("plain.tiff"));
  ASSERT_EQ(plain.status, 0) << plain.output;
  const auto pixels = [](const std::string& file) {
    auto in = OIIO::ImageInput::open(file);
    std::vector<unsigned short> p;
    if (!in) return p;
    p.resize(static_cast<std::size_t>(in->spec().image_pixels()) * in->spec().nchannels);
    in->read_image(0, 0, 0, in->spec().nchannels, OIIO::TypeDesc::UINT16, p.data());
    return p;
  };
  const auto expected = pixels(path("plain.tiff"));
  ASSERT_FALSE(expected.empty());
  const char* spellings[] = {
      "--julia-c '[-0.8,0.156]' --center '[0.1,0]'",
      "--julia-c '[-0.8, 0.156]' --center='[0.1, 0]'",
      "--julia-c ' [ -0.8 , 0.156 ] ' --center '0.1, 0'",
      "--julia-c '[\"-0.8\", \"0.156\"]' --center '[\"0.1\",\"0\"]'",
  };
  int n = 0;
  for (const char* s : spellings) {
    const std::string out = path("s" + std::to_string(n++) + ".tiff");
    const CliRun r = run(base + s + " -o " + out);
    ASSERT_EQ(r.status, 0) << s << "\n" << r.output;
    EXPECT_EQ(pixels(out), expected) << s;
  }
  // Still refused, naming the field: one number, three, empty, unbalanced.
  for (const char* bad : {"'[-0.8]'", "'[-0.8,0.1,0.2]'", "'[]'", "'[-0.8,0.156'", "'[a,b]'"}) {
    const CliRun r = run(base + "--julia-c " + bad + " -o " + path("bad.tiff"));
    EXPECT_EQ(r.status, 2) << bad << "\n" << r.output;
    EXPECT_NE(r.output.find("julia_c"), std::string::npos) << bad << "\n" << r.output;
    EXPECT_FALSE(fs::exists(path("bad.tiff"))) << bad;
  }
  const CliRun help = run("--help");
  EXPECT_NE(help.output.find("spelled re,im or [re, im]"), std::string::npos) << help.output;
}
