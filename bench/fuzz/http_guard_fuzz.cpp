// libFuzzer harness: the HTTP request guard (server/pistache_handler.h,
// inspect_head) on arbitrary request heads, checked against Pistache's own
// parser. A head is the input up to its first empty line (one is appended
// when missing), as GuardedHttpHandler::onInput cuts it. The guard must
// refuse with a known status and a JSON answer, or pass the head on; and a
// head it passes must not make Pistache's parser fail (Pistache would then
// answer in plain text, which the guard exists to prevent).
#include <pistache/http.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/pistache_handler.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string head(reinterpret_cast<const char*>(data), size);
  const std::size_t end = head.find("\r\n\r\n");
  if (end == std::string::npos) {
    head += "\r\n\r\n";
  } else {
    head.resize(end + 4);
  }
  fractal::server::TransportLimits limits;
  limits.max_head_bytes = 2048;  // small, so the 431 branch is reached too
  limits.max_body_bytes = 1024;
  const fractal::server::HeadVerdict v = fractal::server::inspect_head(head, limits);
  switch (v.status) {
    case 0: break;
    case 400: case 413: case 415: case 431: case 501: case 505: {
      if (v.code.empty() || v.message.empty()) std::abort();
      const std::string answer = fractal::server::raw_json_error_response(v.status, v.code, v.message);
      const std::size_t body_at = answer.find("\r\n\r\n");
      if (body_at == std::string::npos) std::abort();
      const auto body = nlohmann::json::parse(answer.substr(body_at + 4), nullptr, false);
      if (!body.is_object() || body["error"]["code"] != v.code) std::abort();
      return 0;
    }
    default: std::abort();
  }
  Pistache::Http::Private::ParserImpl<Pistache::Http::Request> parser(1 << 20);
  if (!parser.feed(head.data(), head.size())) std::abort();
  try {
    (void)parser.parse();
  } catch (const Pistache::Http::HttpError& e) {
    std::abort();  // the guard passed a head Pistache answers with a text error
  }
  return 0;
}
