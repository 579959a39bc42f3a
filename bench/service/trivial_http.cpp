// fractal-bench-trivial-http: the floor for bench/service/http_add.sh.
// A minimal Pistache 0.0.5 server that answers 200 `{}` to POST /add (and 404
// to anything else) with the same endpoint options as fractal-server
// (threads, ReuseAddr), so wrk against it measures what Pistache itself costs
// on this machine.
//   fractal-bench-trivial-http [--port N] [--threads N] [--bind ADDR]
#include <pistache/endpoint.h>
#include <pistache/http.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

using namespace Pistache;

namespace {

class TrivialHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(TrivialHandler)

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    if (request.method() == Http::Method::Post && request.resource() == "/add") {
      response.send(Http::Code::Ok, "{}", MIME(Application, Json));
    } else {
      response.send(Http::Code::Not_Found, "{}", MIME(Application, Json));
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 18090;
  int threads = 2;
  std::string bind = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") port = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--bind") bind = next();
    else if (a == "-h" || a == "--help") {
      std::cout << "usage: fractal-bench-trivial-http [--port N] [--threads N] [--bind ADDR]\n";
      return 0;
    } else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Pistache's threads inherit the mask

  Http::Endpoint endpoint(Address(bind, Port(static_cast<uint16_t>(port))));
  endpoint.init(Http::Endpoint::options().threads(threads).flags(Tcp::Options::ReuseAddr));
  endpoint.setHandler(Http::make_handler<TrivialHandler>());
  endpoint.serveThreaded();
  std::cout << "listening " << bind << ":" << endpoint.getPort() << " threads=" << threads << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  endpoint.shutdown();
  return 0;
}
