// libFuzzer harness: the TaskSpec parser (POST /add bodies, fractal-render
// --params files) on arbitrary bytes. Invariants beyond "no crash, no UB":
// a body that parses echoes params (to_json) that parse back to the same params.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kernels/task_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const fractal::ParseResult r = fractal::parse_task_spec_text(text);
  if (!r.ok()) {
    if (!r.error || r.error->message.empty()) std::abort();  // every failure says why
    return 0;
  }
  const nlohmann::json echoed = fractal::to_json(*r.spec);
  const fractal::ParseResult again = fractal::parse_task_spec(echoed);
  if (!again.ok() || fractal::to_json(*again.spec) != echoed) std::abort();
  (void)fractal::precision_used(*r.spec);
  return 0;
}
