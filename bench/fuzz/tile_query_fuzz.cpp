// libFuzzer harness: the tile request parser (GET /tiles/{z}/{x}/{y}.png) on
// arbitrary path segments and query. The input is split at '\n' into z, x,
// "<y>.png" and query "name=value" lines. The only way to refuse is ApiError
// 400/422 naming a field; an accepted tile has a 64-hex cache key, a quoted
// ETag, 256x256 and params that parse back to the same spec.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/api_error.h"
#include "server/tile_query.h"

namespace {

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto lines = split_lines(in);
  if (lines.size() < 3) return 0;
  std::vector<std::pair<std::string, std::string>> query;
  for (std::size_t i = 3; i < lines.size(); ++i) {
    const std::size_t eq = lines[i].find('=');
    query.emplace_back(std::string(lines[i].substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : std::string(lines[i].substr(eq + 1)));
  }
  try {
    const fractal::server::TileQuery q = fractal::server::parse_tile_query(lines[0], lines[1], lines[2], query);
    if (q.key.size() != 64 || q.etag.size() != 42 || q.etag.front() != '"' || q.etag.back() != '"') std::abort();
    if (q.spec.width != 256 || q.spec.height != 256) std::abort();
    const fractal::ParseResult again = fractal::parse_task_spec(q.params);
    if (!again.ok() || fractal::to_json(*again.spec) != q.params) std::abort();
  } catch (const fractal::server::ApiError& e) {
    if ((e.status() != 400 && e.status() != 422) || e.field().empty() || std::string_view(e.what()).empty()) std::abort();
  }
  return 0;
}
