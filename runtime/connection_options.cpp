#include "runtime/connection_options.h"

#include <libpq-fe.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <memory>
#include <optional>

#include "runtime/percent_decode.h"

namespace fractal::runtime {
namespace {

std::optional<long long> to_number(std::string_view s) {
  long long v = 0;
  if (s.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The input as an error may quote it: a URL's password replaced by ***.
std::string redacted(std::string_view text) {
  const auto scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::string(text);
  const std::size_t start = scheme + 3;
  const std::size_t slash = text.find('/', start);
  const std::string_view authority = text.substr(start, slash == std::string_view::npos ? slash : slash - start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  const std::string_view userinfo = authority.substr(0, at);
  const auto colon = userinfo.find(':');
  if (colon == std::string_view::npos)  // "secret@host": it may be a password too
    return std::string(text.substr(0, start)) + "***" + std::string(text.substr(start + at));
  return std::string(text.substr(0, start)) + std::string(userinfo.substr(0, colon)) + ":***" +
         std::string(text.substr(start + at));
}

}  // namespace

RedisAddress parse_redis_address(std::string_view text, storage::RedisOptions base) {
  RedisAddress out;
  out.options = std::move(base);
  storage::RedisOptions& o = out.options;
  o.user.clear();
  o.password.clear();
  o.db = 0;
  o.port = 6379;
  auto bad = [&](std::string_view why) {
    out.error = "\"" + redacted(text) + "\": " + std::string(why);
    return out;
  };
  if (text.empty()) return bad("empty; expected redis://[[user]:password@]host[:port][/db] or host[:port]");

  std::string_view rest = text;
  const bool url = rest.find("://") != std::string_view::npos;
  if (url) {
    const auto sep = rest.find("://");
    const std::string scheme = lower(rest.substr(0, sep));
    if (scheme == "rediss")
      return bad("rediss:// (TLS) is not supported: this build's hiredis has no TLS; use redis:// on a trusted "
                 "network or a TLS tunnel");
    if (scheme != "redis") return bad("unknown scheme \"" + scheme + "://\"; use redis://");
    rest.remove_prefix(sep + 3);
    if (rest.find_first_of("?#") != std::string_view::npos)
      return bad("query parameters and fragments are not supported; put the db in the path (/db)");
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
      const std::string_view db_text = rest.substr(slash + 1);
      if (!db_text.empty()) {
        const auto db = to_number(db_text);
        if (!db || *db < 0 || *db > 1'000'000) return bad("the database after '/' must be a number >= 0");
        o.db = static_cast<int>(*db);
      }
      rest = rest.substr(0, slash);
    }
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
      const std::string_view userinfo = rest.substr(0, at);
      const auto colon = userinfo.find(':');
      if (colon == std::string_view::npos)
        return bad("the password goes after ':' (redis://:password@host or redis://user:password@host)");
      const auto user = percent_decode(userinfo.substr(0, colon));
      if (!user) return bad("bad %-escape in the user name");
      const auto password = percent_decode(userinfo.substr(colon + 1));
      if (!password) return bad("bad %-escape in the password");
      if (password->empty()) return bad("empty password after ':' (leave out \":@\" for none)");
      o.user = *user;
      o.password = *password;
      rest = rest.substr(at + 1);
    }
  } else if (rest.find_first_of("@/") != std::string_view::npos) {
    return bad("a password or db needs the URL form redis://[[user]:password@]host[:port][/db]");
  }

  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after the IPv6 address");
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected ':' and the port after ']'");
      port = after.substr(1);
      if (port.empty()) return bad("no port after ':'");
    }
  } else if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    if (rest.find(':', colon + 1) != std::string_view::npos)
      return bad("an IPv6 address goes in brackets: [::1]:6379");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return bad("no port after ':'");
  }
  if (host.empty()) return bad("no host");
  for (char c : host)
    if (std::isspace(static_cast<unsigned char>(c))) return bad("space in the host name");
  o.host = std::string(host);
  if (!port.empty()) {
    const auto p = to_number(port);
    if (!p || *p < 1 || *p > 65535) return bad("the port must be a number 1-65535");
    o.port = static_cast<int>(*p);
  }
  return out;
}

std::string describe(const storage::RedisOptions& r) {
  std::string out = "redis://";
  if (!r.user.empty() || !r.password.empty()) out += r.user + ":***@";
  out += r.host.find(':') != std::string::npos ? "[" + r.host + "]" : r.host;
  out += ":" + std::to_string(r.port) + "/" + std::to_string(r.db);
  return out;
}

std::string check_postgres_conninfo(std::string_view conninfo) {
  if (conninfo.empty()) return {};
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(std::string(conninfo).c_str(), &error);
  if (parsed != nullptr) {
    PQconninfoFree(parsed);
    return {};
  }
  std::string why = error ? error : "out of memory";
  if (error) PQfreemem(error);
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  return why;
}

void add_connection_options(CLI::App& app, std::string& pg_conninfo, std::string& redis_text) {
  app.add_option("--pg", pg_conninfo, std::string(kPostgresHelp))->envname("FRACTAL_PG");
  app.add_option("--redis", redis_text, std::string(kRedisHelp))->envname("FRACTAL_REDIS")->capture_default_str();
}

std::string finish_connection_options(const std::string& pg_conninfo, const std::string& redis_text,
                                      storage::RedisOptions& redis) {
  if (std::string why = check_postgres_conninfo(pg_conninfo); !why.empty())
    return "--pg: not a libpq conninfo or postgresql:// URI: " + why;
  RedisAddress address = parse_redis_address(redis_text, redis);
  if (!address.ok()) return "--redis: " + address.error;
  redis = std::move(address.options);
  return {};
}

}  // namespace fractal::runtime
