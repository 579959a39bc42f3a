// The Pistache handler of the server: a guard in front of Pistache's own HTTP
// parser, so that every answer the client can get is JSON.
//
// Why: Pistache 0.0.5 answers some requests itself, in plain text, before any
// route sees them: a request larger than maxRequestSize gets "413 Request
// exceeded maximum buffer size" (and then the rest of the body is parsed as
// new requests, each answered with another text 400), a header its registry
// cannot parse (`Content-Type: foo`, `Content-Length: x`) gets a text 400 or
// 500, an unknown method or HTTP version a text error. The guard sees the raw
// bytes first: it holds a request's head back until it is complete, checks it
// with the same header parsers Pistache will use, and refuses what Pistache
// would refuse, or what breaks the contract's limits, with a JSON error and
// `Connection: close` (413 for a body over the limit, judged from
// Content-Length before the body is read, or by counting a chunked body; 431
// for a head over its limit; 400/415/501/505 for what Pistache cannot parse).
// After such an answer the rest of the connection's input is read and dropped
// and the write side is shut down, so the client reads the answer instead of
// a reset. Everything else goes to Pistache's parser unchanged.
//
// Pistache's Http::Handler::onInput is private and cannot be called from a
// subclass, so the parsing is done by an inner Http::Handler, called through
// the public Tcp::Handler interface; it is bound to this handler's transport.
#pragma once

#include <pistache/http.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "server/request_limits.h"

namespace fractal::server {

// Receives the requests Pistache parsed, and is told about the ones the guard refused.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // Must answer through `response` and must not throw.
  virtual void on_request(const Pistache::Http::Request& request, Pistache::Http::ResponseWriter response) noexcept = 0;
  // For logs and metrics: the guard answered `status` itself.
  virtual void on_rejected(int status, std::string_view code, std::string_view message) noexcept = 0;
};

struct TransportLimits {
  std::size_t max_head_bytes = kMaxHeadBytes;  // request line + headers
  std::size_t max_body_bytes = kMaxBodyBytes;  // the contract's body limit
  // Bytes of chunked framing tolerated on top of max_body_bytes; the decoded
  // body is checked again against max_body_bytes by the dispatcher.
  std::size_t framing_slack = 16 * 1024;
};

class GuardedHttpHandler final : public Pistache::Http::Handler {
 public:
  GuardedHttpHandler(std::shared_ptr<RequestSink> sink, TransportLimits limits);
  GuardedHttpHandler(const GuardedHttpHandler& other);  // a fresh inner parser handler per clone
  ~GuardedHttpHandler() override;

  std::shared_ptr<Pistache::Tcp::Handler> clone() const override;
  void onRequest(const Pistache::Http::Request& request, Pistache::Http::ResponseWriter response) override;
  void onTimeout(const Pistache::Http::Request& request, Pistache::Http::ResponseWriter response) override;

  // The largest request Pistache's parser may buffer: never reached, the guard refuses first.
  std::size_t parser_limit() const noexcept;

 private:
  class Inner;
  struct PeerState;

  void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void onInput(const char* buffer, std::size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;

  void bind_inner();
  void forward(std::string_view data, PeerState& state, const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  void reject(PeerState& state, const std::shared_ptr<Pistache::Tcp::Peer>& peer, int status, std::string_view code,
              std::string_view message);

  std::shared_ptr<RequestSink> sink_;
  TransportLimits limits_;
  std::shared_ptr<Inner> inner_;
  bool inner_bound_ = false;
};

// The verdict on a complete request head (request line + headers + empty line).
struct HeadVerdict {
  int status = 0;  // 0: pass it on to Pistache
  std::string code, message;
  bool expect_continue = false;  // "Expect: 100-continue" with a body to come
};
HeadVerdict inspect_head(std::string_view head, const TransportLimits& limits);

// Serialized JSON error answer with Connection: close, as sent by the guard.
std::string raw_json_error_response(int status, std::string_view code, std::string_view message);

}  // namespace fractal::server
