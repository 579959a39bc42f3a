// fractal-render: renders one image from the POST /add parameters, no services needed.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "kernels/image/image_writer.h"
#include "kernels/render_task.h"
#include "kernels/renderer.h"
#include "kernels/task_spec.h"

namespace {

using nlohmann::json;
constexpr int kExitInvalid = 2;
constexpr int kExitFailure = 1;

int invalid(const std::string& message) {
  std::cerr << "fractal-render: " << message << "\n";
  return kExitInvalid;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) parts.push_back(item);
  if (!s.empty() && s.back() == ',') parts.emplace_back();
  return parts;
}

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// A pair flag (--center, --julia-c) in either spelling: "re,im" or the JSON
// form the help shows, "[re, im]" (numbers or quoted decimal strings). Each
// part stays text, so long decimals keep every digit; the shared parser
// validates them and names the field.
json pair_value(const std::string& text) {
  std::string inner = trimmed(text);
  if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
  json a = json::array();
  for (const auto& part : split_commas(inner)) {
    std::string p = trimmed(part);
    if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
    a.push_back(p);
  }
  return a;
}

// "max_iter" -> "--max-iter": the flag that mirrors a field.
std::string flag_name(const fractal::FieldInfo& f) {
  std::string flag = "--" + std::string(f.name);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

// Turns a flag's text into the JSON value the shared parser expects, so flags
// and --params files get exactly the same validation and messages.
json flag_value(const fractal::FieldInfo& f, const std::string& text) {
  if (f.type == "int") {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    return text;  // not an integer: the parser names the field
  }
  if (f.type == "number") return text;  // decimal strings are accepted as numbers
  if (f.type == "pair") return pair_value(text);
  if (f.type == "palette" && text.find('#') != std::string::npos) {
    json a = json::array();
    for (const auto& p : split_commas(text)) a.push_back(p);
    return a;
  }
  return text;
}

void progress_bar(const fractal::TaskRun& run, const std::atomic<bool>& finished) {
  constexpr int kWidth = 40;
  while (!finished.load()) {
    const double p = run.progress();
    const int filled = static_cast<int>(p * kWidth);
    std::fprintf(stderr, "\r[%s%s] %5.1f%%", std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
                 p * 100.0);
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "\r%*s\r", kWidth + 10, "");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fractal-render: render a Mandelbrot or Julia image (parameters as in POST /add, see docs/api.md)"};
  std::string params_file, out_path, backend_text = "auto";
  int threads = 0;
  fractal::WriteOptions write_options;
  app.add_option("--params", params_file, "JSON file with the POST /add fields ('-' reads standard input)");
  app.add_option("-o,--output-file", out_path, "output image; the format comes from the extension unless --format is given")
      ->required();
  app.add_option("--backend", backend_text, "auto | cpu | cuda")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  app.add_option("--png-compression", write_options.png_compression, "PNG zlib level 0-9")->capture_default_str();
  app.add_option("--jpeg-quality", write_options.jpeg_quality, "JPEG quality 1-100")->capture_default_str();
  std::map<std::string, std::string> flag_text;
  for (const auto& f : fractal::task_fields()) {
    std::string help = std::string(f.rule) + " (default " + std::string(f.default_text) + ")";
    if (f.type == "pair") help += "; spelled re,im or [re, im]";
    app.add_option(flag_name(f), flag_text[std::string(f.name)], help);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "fractal-render: " << e.what() << "\n(see fractal-render --help)\n";
    return kExitInvalid;
  }

  const auto backend = fractal::parse_backend(backend_text);
  if (!backend) return invalid("--backend: must be auto, cpu or cuda (got \"" + backend_text + "\")");
  if (threads < 0 || threads > 1024) return invalid("--threads: must be from 0 to 1024");
  if (write_options.png_compression < 0 || write_options.png_compression > 9)
    return invalid("--png-compression: must be from 0 to 9");
  if (write_options.jpeg_quality < 1 || write_options.jpeg_quality > 100)
    return invalid("--jpeg-quality: must be from 1 to 100");

  json body = json::object();
  if (!params_file.empty()) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (params_file != "-") {
      file.open(params_file);
      if (!file) return invalid("--params: cannot read " + params_file);
      in = &file;
    }
    std::stringstream text;
    text << in->rdbuf();
    body = json::parse(text.str(), nullptr, false);
    if (body.is_discarded()) return invalid("--params: " + params_file + " is not valid JSON");
    if (!body.is_object()) return invalid("--params: " + params_file + " must hold a JSON object");
  }
  for (const auto& f : fractal::task_fields()) {
    if (app.count(flag_name(f)) > 0) body[std::string(f.name)] = flag_value(f, flag_text[std::string(f.name)]);
  }
  if (!body.contains("format")) {
    const auto fmt = fractal::format_from_path(out_path);
    if (!fmt) return invalid("-o: cannot tell the format from \"" + out_path + "\"; use .png, .jpg, .tiff or .exr, or --format");
    body["format"] = std::string(fractal::to_string(*fmt));
  }

  fractal::ParseResult parsed = fractal::parse_task_spec(body);
  if (!parsed.ok()) return invalid(parsed.error->message);
  const fractal::TaskSpec& spec = *parsed.spec;

  std::unique_ptr<fractal::Renderer> renderer;
  try {
    renderer = fractal::make_renderer(*backend, {.threads = threads});
  } catch (const std::exception& e) {
    std::cerr << "fractal-render: backend " << backend_text << " unavailable: " << e.what() << "\n";
    return kExitFailure;
  }

  fractal::TaskRun run(spec);
  std::atomic<bool> finished{false};
  std::thread bar;
  if (isatty(STDERR_FILENO)) bar = std::thread([&] { progress_bar(run, finished); });
  const auto t0 = std::chrono::steady_clock::now();
  fractal::TaskRun* runs[] = {&run};
  try {
    fractal::render_tasks(*renderer, runs);
  } catch (const std::exception& e) {
    finished = true;
    if (bar.joinable()) bar.join();
    std::cerr << "fractal-render: render failed: " << e.what() << "\n";
    return kExitFailure;
  }
  const double render_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finished = true;
  if (bar.joinable()) bar.join();

  const auto t1 = std::chrono::steady_clock::now();
  const fractal::WriteResult written = fractal::write_image(run.image, spec.format, out_path, write_options);
  const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  if (!written.ok) {
    std::cerr << "fractal-render: cannot write " << out_path << ": " << written.error << "\n";
    return kExitFailure;
  }
  std::printf("backend=%s precision=%s size=%dx%d max_iter=%d\n", renderer->name().c_str(),
              std::string(fractal::to_string(run.scalar)).c_str(), spec.width, spec.height, spec.max_iter);
  std::printf("render=%.3fs encode=%.3fs iterations=%llu rate=%.3f G iter/s\n", render_s, write_s,
              static_cast<unsigned long long>(run.iterations), static_cast<double>(run.iterations) / render_s / 1e9);
  std::printf("wrote %s (%llu bytes)\n", out_path.c_str(), static_cast<unsigned long long>(written.bytes));
  return 0;
}
