// Palettes and the Colorizer: inside is black everywhere, supersampling
// averages in linear light, histogram spans the palette, rows are independent.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/color/coloring.h"
#include "kernels/color/palette.h"

namespace fractal {
namespace {

constexpr Coloring kModes[] = {Coloring::smooth, Coloring::bands, Coloring::histogram};

// Local names: these tests link only the colour code, not the TaskSpec parser.
const char* mode_name(Coloring m) {
  return m == Coloring::smooth ? "smooth" : m == Coloring::bands ? "bands" : "histogram";
}

TaskSpec make_spec(Coloring mode, std::string_view palette = "classic", int ss = 1,
                   ImageFormat format = ImageFormat::png, int max_iter = 500, int width = 8, int height = 4) {
  TaskSpec s;
  s.coloring = mode;
  s.palette_name = std::string(palette);
  s.palette_stops = find_palette(palette)->stops;
  s.supersample = ss;
  s.format = format;
  s.max_iter = max_iter;
  s.width = width;
  s.height = height;
  return s;
}

// A sample grid for a spec: (width*ss) x (height*ss) counts and mag2.
struct Grid {
  int w = 0, h = 0;
  std::vector<std::uint32_t> counts;
  std::vector<float> mag2;
  Grid(const TaskSpec& s) : w(s.width * s.supersample), h(s.height * s.supersample) {
    counts.assign(static_cast<std::size_t>(w) * h, 0);
    mag2.assign(counts.size(), 5.0f);
  }
  void set(int x, int y, std::uint32_t k, float m2) {
    counts[static_cast<std::size_t>(y) * w + x] = k;
    mag2[static_cast<std::size_t>(y) * w + x] = m2;
  }
};

// Histogram pass when needed, then every row at once.
ImageBuffer colour(const TaskSpec& s, const Grid& g, bool with_mag2 = true) {
  Colorizer c(s);
  if (c.needs_histogram()) {
    c.add_to_histogram(g.counts.data(), g.counts.size());
    c.finish_histogram();
  }
  auto img = ImageBuffer::make(s.width, s.height, 3, c.pixel_type());
  c.colour_rows(g.counts.data(), with_mag2 ? g.mag2.data() : nullptr, 0, s.height, img);
  return img;
}

// Pixel (x, y) as floats 0..1, whatever the buffer type.
std::array<float, 3> pixel(const ImageBuffer& img, int x, int y) {
  std::array<float, 3> v{};
  for (int c = 0; c < 3; ++c)
    v[c] = img.type == PixelType::u8 ? img.row<std::uint8_t>(y)[3 * x + c] / 255.0f
                                     : img.row<std::uint16_t>(y)[3 * x + c] / 65535.0f;
  return v;
}

float srgb_to_linear(float c) { return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f); }

float luma(const std::array<float, 3>& v) { return 0.2126f * v[0] + 0.7152f * v[1] + 0.0722f * v[2]; }

TEST(Palettes, AtLeastEightClassicFirstAllDescribed) {
  const auto& all = builtin_palettes();
  ASSERT_GE(all.size(), 8u);
  EXPECT_EQ(all.front().name, "classic");
  std::set<std::string_view> names;
  for (const auto& p : all) {
    EXPECT_TRUE(names.insert(p.name).second) << "duplicate " << p.name;
    EXPECT_FALSE(p.description.empty()) << p.name;
    EXPECT_GE(p.stops.size(), 2u) << p.name;
    for (char ch : p.name) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '-') << p.name;
    EXPECT_EQ(find_palette(p.name), &p);
  }
  for (auto n : {"fire", "ocean", "grayscale", "twilight", "viridis", "electric", "pastel"})
    EXPECT_NE(find_palette(n), nullptr) << n;
  EXPECT_EQ(find_palette("Classic"), nullptr);
  EXPECT_EQ(find_palette("nope"), nullptr);
  EXPECT_EQ(find_palette(""), nullptr);
}

TEST(Palettes, ClassicIsDeepBlueWhiteOrangeDark) {
  const auto& s = find_palette("classic")->stops;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_GT(s[0].b, 80);  // deep blue
  EXPECT_LT(s[0].r + s[0].g, 20);
  EXPECT_GT(std::min({s[2].r, s[2].g, s[2].b}), 220);  // white
  EXPECT_EQ(s[3].r, 255);                               // orange
  EXPECT_LT(s[3].b, 20);
  EXPECT_LT(s[4].r + s[4].g + s[4].b, 10);  // near black
}

TEST(Palettes, ParseHexColourAcceptsExactlyHashAndSixHexDigits) {
  EXPECT_EQ(parse_hex_colour("#000000"), (Rgb8{0, 0, 0}));
  EXPECT_EQ(parse_hex_colour("#ffffff"), (Rgb8{255, 255, 255}));
  EXPECT_EQ(parse_hex_colour("#FFAA00"), (Rgb8{255, 170, 0}));
  EXPECT_EQ(parse_hex_colour("#1a2B3c"), (Rgb8{0x1a, 0x2b, 0x3c}));
  for (const char* bad : {"", "#", "000000", "#00000", "#0000000", "#00000g", " #000000", "#000000 ", "##00000",
                          "#-00000", "0x000000", "#+12345", "#12 456", "red"})
    EXPECT_EQ(parse_hex_colour(bad), std::nullopt) << '"' << bad << '"';
  EXPECT_EQ(parse_hex_colour(std::string_view("#12345\0", 7)), std::nullopt);
}

TEST(Palettes, ToHexIsLowercaseAndRoundTrips) {
  EXPECT_EQ(to_hex(Rgb8{255, 170, 0}), "#ffaa00");
  EXPECT_EQ(to_hex(Rgb8{0, 7, 100}), "#000764");
  for (const auto& p : builtin_palettes())
    for (const auto& c : p.stops) EXPECT_EQ(parse_hex_colour(to_hex(c)), c);
}

TEST(Colorizer, Flags) {
  EXPECT_TRUE(Colorizer(make_spec(Coloring::smooth)).needs_mag2());
  EXPECT_FALSE(Colorizer(make_spec(Coloring::smooth)).needs_histogram());
  EXPECT_FALSE(Colorizer(make_spec(Coloring::bands)).needs_mag2());
  EXPECT_FALSE(Colorizer(make_spec(Coloring::bands)).needs_histogram());
  EXPECT_TRUE(Colorizer(make_spec(Coloring::histogram)).needs_mag2());
  EXPECT_TRUE(Colorizer(make_spec(Coloring::histogram)).needs_histogram());
  const std::pair<ImageFormat, PixelType> types[] = {{ImageFormat::png, PixelType::u8},
                                                    {ImageFormat::jpg, PixelType::u8},
                                                    {ImageFormat::tiff, PixelType::u16},
                                                    {ImageFormat::exr, PixelType::u16}};
  for (auto [f, t] : types) EXPECT_EQ(Colorizer(make_spec(Coloring::smooth, "classic", 1, f)).pixel_type(), t);
}

TEST(Colorizer, InsideIsBlackInEveryPaletteModeAndSupersample) {
  std::mt19937 rng(3);
  for (const auto& pal : builtin_palettes())
    for (Coloring mode : kModes)
      for (int ss : {1, 3})
        for (ImageFormat f : {ImageFormat::png, ImageFormat::tiff}) {
          const auto s = make_spec(mode, pal.name, ss, f, 200, 21, 5);
          Grid g(s);
          // Odd columns wholly inside, even columns random escaped samples.
          for (int y = 0; y < g.h; ++y)
            for (int x = 0; x < g.w; ++x) {
              const bool inside = (x / ss) % 2 == 1;
              g.set(x, y, inside ? 200u : static_cast<std::uint32_t>(rng() % 200), 4.0f + (rng() % 1000) * 0.03f);
            }
          for (bool with_mag2 : {true, false}) {
            const auto img = colour(s, g, with_mag2);
            for (int y = 0; y < s.height; ++y)
              for (int x = 1; x < s.width; x += 2)
                ASSERT_EQ(pixel(img, x, y), (std::array<float, 3>{0, 0, 0}))
                    << pal.name << " mode " << mode_name(mode) << " ss " << ss << " pixel " << x << "," << y;
          }
        }
}

TEST(Colorizer, CustomTwoStopPaletteKeepsInsideBlackAndOutsideColoured) {
  auto s = make_spec(Coloring::smooth);
  s.palette_name.clear();
  s.palette_stops = {Rgb8{255, 255, 255}, Rgb8{255, 0, 0}};
  Grid g(s);
  g.set(0, 0, 500, 0.0f);
  const auto img = colour(s, g);
  EXPECT_EQ(pixel(img, 0, 0), (std::array<float, 3>{0, 0, 0}));
  EXPECT_EQ(pixel(img, 1, 0)[0], 1.0f);  // every palette colour has red 255 here
}

TEST(Colorizer, SupersampleAveragesInLinearLight) {
  for (Coloring mode : {Coloring::smooth, Coloring::bands}) {
    const auto s = make_spec(mode, "classic", 2, ImageFormat::tiff, 100, 3, 1);
    Grid g(s);
    for (int x = 0; x < g.w; ++x)
      for (int y = 0; y < g.h; ++y) g.set(x, y, 7, 9.0f);  // all outside, one colour
    // Pixel 1: two of its four samples inside. Pixel 2: all inside.
    g.set(2, 0, 100, 0);
    g.set(3, 1, 100, 0);
    for (int x = 4; x < 6; ++x)
      for (int y = 0; y < 2; ++y) g.set(x, y, 100, 0);
    const auto img = colour(s, g);
    const auto full = pixel(img, 0, 0), half = pixel(img, 1, 0);
    ASSERT_GT(luma(full), 0.1f);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(srgb_to_linear(half[c]), 0.5f * srgb_to_linear(full[c]), 2e-3f) << c;
    EXPECT_EQ(pixel(img, 2, 0), (std::array<float, 3>{0, 0, 0}));

    // Four identical samples average to the colour a single sample gets.
    const auto one = make_spec(mode, "classic", 1, ImageFormat::tiff, 100, 1, 1);
    Grid g1(one);
    g1.set(0, 0, 7, 9.0f);
    const auto single = pixel(colour(one, g1), 0, 0);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(full[c], single[c], 2e-4f) << c;
  }
}

TEST(Colorizer, HistogramUsesTheFullPaletteRange) {
  // Grayscale: the first stop is black, the last white; counts spread over a wide range.
  const int w = 200;
  for (bool with_mag2 : {true, false}) {
    const auto s = make_spec(Coloring::histogram, "grayscale", 1, ImageFormat::png, 5000, w, 1);
    Grid g(s);
    for (int x = 0; x < w; ++x) g.set(x, 0, static_cast<std::uint32_t>(1 + x * x / 10), 4.0f + (x % 7));
    const auto img = colour(s, g, with_mag2);
    float lo = 1, hi = 0, prev = -1;
    for (int x = 0; x < w; ++x) {
      const float v = pixel(img, x, 0)[0];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      if (x > 0 && g.counts[x] > g.counts[x - 1] + 1) EXPECT_GE(v, prev) << x;  // monotone in the count
      prev = v;
    }
    EXPECT_LT(lo, 0.05f) << with_mag2;
    EXPECT_GT(hi, 0.95f) << with_mag2;
  }
}

TEST(Colorizer, HistogramEqualisesSkewedCounts) {
  // 90 % of the samples at counts 1..3, the rest spread to 1000: equalisation
  // gives the crowded low counts most of the palette anyway.
  const auto s = make_spec(Coloring::histogram, "grayscale", 1, ImageFormat::png, 1000, 100, 1);
  Grid g(s);
  for (int x = 0; x < 100; ++x) g.set(x, 0, x < 90 ? 1 + x % 3 : 10 * x, 5.0f);
  const auto img = colour(s, g, false);
  // Without mag2 a sample sits mid-bin: count 1 at (0 + 0.3) / 2, count 3 at
  // (0.6 + 0.9) / 2, count 900 at (0.9 + 0.91) / 2 of the gradient.
  EXPECT_NEAR(pixel(img, 0, 0)[0], 0.15f, 0.006f);
  EXPECT_NEAR(pixel(img, 2, 0)[0], 0.75f, 0.006f);
  EXPECT_NEAR(pixel(img, 90, 0)[0], 0.905f, 0.006f);
}

TEST(Colorizer, BandsAreTheStopsCyclically) {
  const auto s = make_spec(Coloring::bands, "viridis", 1, ImageFormat::png, 1000, 40, 1);
  const auto& stops = find_palette("viridis")->stops;
  Grid g(s);
  for (int x = 0; x < 40; ++x) g.set(x, 0, static_cast<std::uint32_t>(x * 23), 7.0f);
  const auto img = colour(s, g);
  for (int x = 0; x < 40; ++x) {
    const Rgb8 want = stops[(x * 23) % stops.size()];
    const auto* p = img.row<std::uint8_t>(0) + 3 * x;
    EXPECT_EQ((Rgb8{p[0], p[1], p[2]}), want) << x;
  }
}

TEST(Colorizer, SmoothIsContinuousAcrossIterationBands) {
  // Count k escaping just past the bailout (|z|^2 -> 4) and count k + 1 whose
  // previous |z| was just inside 2 (|z|^2 -> 16 for c -> 0) meet at nu = k + 1.
  for (const auto& pal : builtin_palettes())
    for (std::uint32_t k : {1u, 5u, 40u, 99u, 150u, 2000u, 90000u}) {
      const auto s = make_spec(Coloring::smooth, pal.name, 1, ImageFormat::tiff, 100000, 2, 1);
      Grid g(s);
      g.set(0, 0, k, 4.0001f);
      g.set(1, 0, k + 1, 15.999f);
      const auto img = colour(s, g);
      const auto a = pixel(img, 0, 0), b = pixel(img, 1, 0);
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(a[c], b[c], 0.01f) << pal.name << " k " << k;
    }
}

TEST(Colorizer, SmoothIsContinuousAtTheSqrtToLogHandOver) {
  const auto s = make_spec(Coloring::smooth, "classic", 1, ImageFormat::tiff, 1000, 2, 1);
  Grid g(s);
  g.set(0, 0, 99, 4.0001f);   // nu just below 100
  g.set(1, 0, 99, 3.9999f);   // rounding below the bailout: treated as at it (nu = 100)
  const auto img = colour(s, g);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(pixel(img, 0, 0)[c], pixel(img, 1, 0)[c], 0.002f);
}

TEST(Colorizer, SmoothShowsDifferentColoursForDifferentCounts) {
  const auto s = make_spec(Coloring::smooth, "classic", 1, ImageFormat::png, 500, 40, 1);
  Grid g(s);
  for (int x = 0; x < 40; ++x) g.set(x, 0, static_cast<std::uint32_t>(1 + x * 3), 10.0f);
  const auto img = colour(s, g);
  std::set<std::array<float, 3>> distinct;
  for (int x = 0; x < 40; ++x) {
    EXPECT_GT(luma(pixel(img, x, 0)), 0.0f) << x;
    distinct.insert(pixel(img, x, 0));
  }
  EXPECT_GT(distinct.size(), 30u);
}

TEST(Colorizer, HostileMag2ValuesStayInRange) {
  // Huge or non-finite |z|^2 (Julia starts far outside, overflow) must not break lookups.
  const auto s = make_spec(Coloring::smooth, "classic", 1, ImageFormat::png, 500, 6, 1);
  Grid g(s);
  const float vals[] = {0.0f, -1.0f, 1e38f, INFINITY, NAN, 4.0f};
  for (int x = 0; x < 6; ++x) g.set(x, 0, x == 0 ? 0u : 3u, vals[x]);
  const auto img = colour(s, g);
  for (int x = 0; x < 6; ++x) EXPECT_GT(luma(pixel(img, x, 0)), 0.0f) << x;
  auto h = make_spec(Coloring::histogram, "classic", 1, ImageFormat::png, 500, 6, 1);
  (void)colour(h, g);  // no crash, no out-of-range read (run under sanitizers)
}

// Every pixel of a wide row (SIMD bodies and tails) equals the same samples coloured alone.
TEST(Colorizer, EachPixelIndependentOfWidthAndPosition) {
  std::mt19937 rng(11);
  for (Coloring mode : kModes)
    for (int ss : {1, 2, 3}) {
      const int w = 37;
      const auto s = make_spec(mode, "twilight", ss, ImageFormat::tiff, 300, w, 1);
      Grid g(s);
      for (int y = 0; y < g.h; ++y)
        for (int x = 0; x < g.w; ++x) g.set(x, y, rng() % 301, 4.0f + (rng() % 1000) * 0.02f);
      Colorizer c(s);
      if (c.needs_histogram()) {
        c.add_to_histogram(g.counts.data(), g.counts.size());
        c.finish_histogram();
      }
      auto wide = ImageBuffer::make(w, 1, 3, c.pixel_type());
      c.colour_rows(g.counts.data(), g.mag2.data(), 0, 1, wide);

      auto one_spec = s;
      one_spec.width = 1;
      Colorizer one(one_spec);
      if (one.needs_histogram()) {  // same histogram as the wide image
        one.add_to_histogram(g.counts.data(), g.counts.size());
        one.finish_histogram();
      }
      for (int x = 0; x < w; ++x) {
        std::vector<std::uint32_t> k;
        std::vector<float> m;
        for (int b = 0; b < ss; ++b)
          for (int a = 0; a < ss; ++a) {
            k.push_back(g.counts[static_cast<std::size_t>(b) * g.w + x * ss + a]);
            m.push_back(g.mag2[static_cast<std::size_t>(b) * g.w + x * ss + a]);
          }
        auto px = ImageBuffer::make(1, 1, 3, one.pixel_type());
        one.colour_rows(k.data(), m.data(), 0, 1, px);
        ASSERT_EQ(pixel(px, 0, 0), pixel(wide, x, 0)) << mode_name(mode) << " ss " << ss << " x " << x;
      }
    }
}

TEST(Colorizer, BandsOfRowsAndThreadsGiveTheSameImage) {
  const auto s = make_spec(Coloring::smooth, "classic", 2, ImageFormat::png, 400, 50, 40);
  Grid g(s);
  std::mt19937 rng(5);
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x) g.set(x, y, rng() % 401, 4.0f + (rng() % 100) * 0.3f);
  const auto whole = colour(s, g);

  Colorizer c(s);
  auto banded = ImageBuffer::make(s.width, s.height, 3, c.pixel_type());
  const std::size_t per_pixel_row = static_cast<std::size_t>(g.w) * s.supersample;
  auto run = [&](int row0, int rows) {
    c.colour_rows(g.counts.data() + per_pixel_row * row0, g.mag2.data() + per_pixel_row * row0, row0, rows, banded);
  };
  std::thread t1([&] { run(0, 13); });
  std::thread t2([&] { run(13, 20); });
  run(33, 7);
  t1.join();
  t2.join();
  EXPECT_EQ(banded.data, whole.data);
}

TEST(Colorizer, HistogramWithoutFinishFallsBackToSmooth) {
  const auto s = make_spec(Coloring::histogram, "classic", 1, ImageFormat::png, 100, 4, 1);
  Grid g(s);
  for (int x = 0; x < 4; ++x) g.set(x, 0, 10u + x, 6.0f);
  g.set(3, 0, 100, 0);
  Colorizer c(s);
  auto img = ImageBuffer::make(4, 1, 3, c.pixel_type());
  c.colour_rows(g.counts.data(), g.mag2.data(), 0, 1, img);
  EXPECT_GT(luma(pixel(img, 0, 0)), 0.0f);
  EXPECT_EQ(pixel(img, 3, 0), (std::array<float, 3>{0, 0, 0}));
}

}  // namespace
}  // namespace fractal
