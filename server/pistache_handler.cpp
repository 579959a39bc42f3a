#include "server/pistache_handler.h"

#include "server/ascii.h"

#include <pistache/http_headers.h>
#include <pistache/peer.h>
#include <pistache/stream.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

#include "runtime/logging.h"
#include "server/api_error.h"

namespace fractal::server {
namespace {

namespace Http = Pistache::Http;
namespace Tcp = Pistache::Tcp;

// Tcp::Handler::associateTransport is private (Transport is its friend). The
// inner parser handler must be bound to the transport that drives this handler,
// so take the member pointer through the one door C++ leaves open for this:
// access checks do not apply to template arguments of an explicit instantiation.
// The function is not virtual, so calling it through the pointer is an ordinary call.
struct AssociateTransport {
  using type = void (Tcp::Handler::*)(Tcp::Transport*);
  friend type member(AssociateTransport);
};
template <class Tag, typename Tag::type M>
struct Expose {
  friend typename Tag::type member(Tag) { return M; }
};
template struct Expose<AssociateTransport, &Tcp::Handler::associateTransport>;

constexpr const char* kPeerStateKey = "fractal.guard";

bool is_token_char(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

HeadVerdict refuse(int status, std::string code, std::string message) {
  HeadVerdict v;
  v.status = status;
  v.code = std::move(code);
  v.message = std::move(message);
  return v;
}

}  // namespace

HeadVerdict inspect_head(std::string_view head, const TransportLimits& limits) {
  if (head.size() > limits.max_head_bytes)
    return refuse(431, "headers_too_large",
                  "request line and headers exceed " + std::to_string(limits.max_head_bytes) + " bytes");
  // Request line: METHOD SP target SP HTTP/1.x
  const std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1 ||
      line.find(' ', sp2 + 1) != std::string_view::npos)
    return refuse(400, "bad_request", "malformed request line");
  if (std::any_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return refuse(400, "bad_request", "malformed request line (control character)");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view version = line.substr(sp2 + 1);
  static constexpr std::string_view kMethods[] = {"OPTIONS", "GET",    "POST",  "HEAD",   "PUT",
                                                  "PATCH",   "DELETE", "TRACE", "CONNECT"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods))
    return refuse(501, "not_implemented", "method " + std::string(method) + " is not supported");
  if (version != "HTTP/1.1" && version != "HTTP/1.0")
    return refuse(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported");

  bool chunked = false;
  bool expect_continue = false;
  bool host_seen = false;
  std::size_t content_length = 0;
  std::size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  auto& registry = Http::Header::Registry::instance();
  while (pos < head.size()) {
    const std::size_t end = head.find("\r\n", pos);
    const std::string_view field = head.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? head.size() : end + 2;
    if (field.empty()) break;  // the empty line that ends the head
    const std::size_t colon = field.find(':');
    const std::string_view name = field.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return is_token_char(static_cast<unsigned char>(c)); }))
      return refuse(400, "bad_request", "malformed header line");
    std::string_view value = trim(field.substr(colon + 1));
    // and a CR before the line's end, which Pistache's parser drops too
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    // RFC 9110 5.5: no control characters but HTAB in a field value. Pistache's
    // parser refuses a bare CR (in text) and the rest is never meant (found by
    // bench/fuzz/http_guard_fuzz.cpp: "Transfer-Encoding: chunked\r\"Exp...").
    // (Checked before trim(), which drops a trailing CR: "chunked\r\r\n" got through.)
    const std::string_view raw_value = field.substr(colon + 1);
    if (std::any_of(raw_value.begin(), raw_value.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return (u < 0x20 && u != '\t') || u == 0x7f;
        }))
      return refuse(400, "bad_request", "header " + std::string(name) + " has a control character in its value");
    const std::string key = ascii_lower(name);
    if (key == "content-length") {
      std::size_t n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size())
        return refuse(400, "bad_request", "Content-Length must be a decimal number");
      content_length = n;
      if (n > limits.max_body_bytes)
        return refuse(413, "payload_too_large",
                      body_too_large_message(limits.max_body_bytes));
    } else if (key == "transfer-encoding") {
      // Pistache's parser takes only "chunked" and answers anything else in
      // text (found by bench/fuzz/http_guard_fuzz.cpp: "Transfer-Encoding:(POSTked").
      chunked = ascii_lower(value) == "chunked";
      if (!chunked)
        return refuse(501, "not_implemented", "Transfer-Encoding other than chunked is not supported");
    } else if (key == "expect") {
      expect_continue = ascii_lower(value) == "100-continue";
    } else if (key == "host") {
      // RFC 9112 3.2: more than one Host, or an invalid one, is a 400. Pistache's
      // parser answers some of those in text ("Invalid port"; found by
      // bench/fuzz/http_guard_fuzz.cpp with repeated "Host: x@OST /afd ..." lines).
      if (host_seen) return refuse(400, "bad_request", "more than one Host header");
      host_seen = true;
      if (!std::all_of(value.begin(), value.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~!$&'()*+,;=%:[]").find(c) !=
                                                                      std::string_view::npos;
          }))
        return refuse(400, "bad_request", "header Host is not host[:port]");
    }
    // Headers Pistache parses into typed objects: refuse what its parser would
    // refuse, with the same parser on the same bytes, before it gets the chance to
    // answer in text. Its request parser skips only the spaces after the colon and
    // keeps trailing whitespace ("Host: h:2 " is "Invalid port"; found by the 10^6
    // run of bench/fuzz/http_guard_fuzz.cpp after the Host check above).
    const std::string name_text(name);
    const std::string_view pistache_value = raw_value.substr(std::min(raw_value.find_first_not_of(' '), raw_value.size()));
    if (registry.isRegistered(name_text)) {
      try {
        auto header = registry.makeHeader(name_text);
        header->parseRaw(pistache_value.data(), pistache_value.size());
      } catch (const std::exception& e) {
        if (key == "content-type")
          return refuse(415, "unsupported_media_type",
                        "Content-Type is not a valid media type; this API takes application/json");
        return refuse(400, "bad_request", "header " + name_text + " is malformed");
      }
    }
  }
  HeadVerdict ok;
  ok.expect_continue = expect_continue && (chunked || content_length > 0) && version == "HTTP/1.1";
  return ok;
}

std::string raw_json_error_response(int status, std::string_view code, std::string_view message) {
  // The message may quote request bytes (an unknown method) that are not UTF-8:
  // replace them rather than throw out of the transport thread (found by
  // bench/fuzz/http_guard_fuzz.cpp; it took the whole server down).
  const std::string body = error_body(code, message).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  out += "Content-Type: application/json\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

// ---- the inner handler: Pistache's own parser, answering through the sink ----

class GuardedHttpHandler::Inner final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Inner)

  explicit Inner(std::shared_ptr<RequestSink> sink) : sink_(std::move(sink)) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    sink_->on_request(request, std::move(response));
  }
  void onTimeout(const Http::Request&, Http::ResponseWriter response) override {
    response.send(Http::Code::Request_Timeout,
                  error_body("request_timeout", "the request was not received in time").dump(),
                  MIME(Application, Json));
    sink_->on_rejected(408, "request_timeout", "timeout");
  }

 private:
  std::shared_ptr<RequestSink> sink_;
};

struct GuardedHttpHandler::PeerState {
  enum class Phase { head, body, discard };
  Phase phase = Phase::head;
  std::string head;           // bytes of the current request's head, held back until complete
  std::size_t body_seen = 0;  // body bytes passed on for the current request
};

GuardedHttpHandler::GuardedHttpHandler(std::shared_ptr<RequestSink> sink, TransportLimits limits)
    : sink_(std::move(sink)), limits_(limits), inner_(std::make_shared<Inner>(sink_)) {}

GuardedHttpHandler::GuardedHttpHandler(const GuardedHttpHandler& other)
    : Http::Handler(other), sink_(other.sink_), limits_(other.limits_), inner_(std::make_shared<Inner>(sink_)) {}

GuardedHttpHandler::~GuardedHttpHandler() = default;

std::shared_ptr<Tcp::Handler> GuardedHttpHandler::clone() const { return std::make_shared<GuardedHttpHandler>(*this); }

std::size_t GuardedHttpHandler::parser_limit() const noexcept {
  return limits_.max_head_bytes + limits_.max_body_bytes + limits_.framing_slack + 64 * 1024;
}

void GuardedHttpHandler::onRequest(const Http::Request& request, Http::ResponseWriter response) {
  sink_->on_request(request, std::move(response));  // not reached: the inner handler parses
}

void GuardedHttpHandler::onTimeout(const Http::Request& request, Http::ResponseWriter response) {
  static_cast<Http::Handler&>(*inner_).onTimeout(request, std::move(response));
}

void GuardedHttpHandler::bind_inner() {
  if (inner_bound_) return;
  (static_cast<Tcp::Handler&>(*inner_).*member(AssociateTransport{}))(transport());
  inner_->setMaxRequestSize(std::max(getMaxRequestSize(), parser_limit()));
  inner_->setMaxResponseSize(getMaxResponseSize());
  inner_->setHeaderTimeout(getHeaderTimeout());
  inner_->setBodyTimeout(getBodyTimeout());
  inner_bound_ = true;
}

void GuardedHttpHandler::onConnection(const std::shared_ptr<Tcp::Peer>& peer) {
  bind_inner();
  static_cast<Tcp::Handler&>(*inner_).onConnection(peer);  // installs Pistache's parser for this peer
  peer->putData(kPeerStateKey, std::make_shared<PeerState>());
}

void GuardedHttpHandler::onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) {
  static_cast<Tcp::Handler&>(*inner_).onDisconnection(peer);
}

void GuardedHttpHandler::onInput(const char* buffer, std::size_t len, const std::shared_ptr<Tcp::Peer>& peer) {
  auto state = std::static_pointer_cast<PeerState>(peer->tryGetData(kPeerStateKey));
  if (!state) {  // not seen through onConnection (should not happen): let Pistache handle it
    bind_inner();
    static_cast<Tcp::Handler&>(*inner_).onInput(buffer, len, peer);
    return;
  }
  try {
    switch (state->phase) {
      case PeerState::Phase::discard:
        return;
      case PeerState::Phase::head: {
        state->head.append(buffer, len);
        const std::size_t end = state->head.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (state->head.size() > limits_.max_head_bytes)
            reject(*state, peer, 431, "headers_too_large",
                   "request line and headers exceed " + std::to_string(limits_.max_head_bytes) + " bytes");
          return;
        }
        const std::size_t head_size = end + 4;
        const HeadVerdict verdict = inspect_head(std::string_view(state->head).substr(0, head_size), limits_);
        if (verdict.status != 0) {
          reject(*state, peer, verdict.status, verdict.code, verdict.message);
          return;
        }
        state->body_seen = state->head.size() - head_size;
        if (state->body_seen > limits_.max_body_bytes + limits_.framing_slack) {
          reject(*state, peer, 413, "payload_too_large",
                 body_too_large_message(limits_.max_body_bytes));
          return;
        }
        if (verdict.expect_continue && state->body_seen == 0) {
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          peer->send(Pistache::RawBuffer(kContinue, kContinue.size()));
        }
        state->phase = PeerState::Phase::body;
        std::string data;
        data.swap(state->head);
        forward(data, *state, peer);
        return;
      }
      case PeerState::Phase::body:
        state->body_seen += len;
        if (state->body_seen > limits_.max_body_bytes + limits_.framing_slack) {
          reject(*state, peer, 413, "payload_too_large",
                 body_too_large_message(limits_.max_body_bytes));
          return;
        }
        forward(std::string_view(buffer, len), *state, peer);
        return;
    }
  } catch (const std::exception& e) {
    spdlog::error("event=transport_error error={}", runtime::log_value(e.what()));
    reject(*state, peer, 400, "bad_request", "the request could not be read");
  }
}

void GuardedHttpHandler::forward(std::string_view data, PeerState& state, const std::shared_ptr<Tcp::Peer>& peer) {
  const auto parser = Http::Handler::getParser(peer);
  const auto started = parser->time();
  static_cast<Tcp::Handler&>(*inner_).onInput(data.data(), data.size(), peer);
  // Pistache resets its parser (and drops whatever else was buffered) after
  // each answered request; reset() stamps a new time.
  if (parser->time() != started) {
    state.phase = PeerState::Phase::head;
    state.head.clear();
    state.body_seen = 0;
  }
}

void GuardedHttpHandler::reject(PeerState& state, const std::shared_ptr<Tcp::Peer>& peer, int status,
                                std::string_view code, std::string_view message) {
  state.phase = PeerState::Phase::discard;
  std::string().swap(state.head);
  if (auto parser = Http::Handler::getParser(peer)) parser->reset();
  const std::string response = raw_json_error_response(status, code, message);
  std::weak_ptr<Tcp::Peer> weak = peer;
  // Half-close once the answer is out: the client reads it and then EOF; the
  // rest of its upload is read and dropped (discard phase), never answered
  // with a reset that could destroy the answer in flight.
  peer->send(Pistache::RawBuffer(response, response.size()))
      .then(
          [weak](ssize_t) {
            if (auto p = weak.lock()) ::shutdown(p->fd(), SHUT_WR);
          },
          [](std::exception_ptr) {});
  sink_->on_rejected(status, code, message);
}

}  // namespace fractal::server
