#include "auth/jwt.h"

#include <sodium.h>

#include <array>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include "auth/sodium_init.h"

namespace fractal::auth {
namespace {

using nlohmann::json;

// Parses a JSON object; nullopt for invalid JSON, a non-object, or an object
// (at any depth) with a repeated member name. RFC 7515 §5.2 lets a verifier
// reject duplicates; we do, so no two readers of one token can disagree on
// its alg or claims.
std::optional<json> parse_object(std::string_view text) {
  std::vector<std::unordered_set<std::string>> names;
  bool duplicate = false;
  json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        names.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!names.empty()) names.pop_back();
        break;
      case json::parse_event_t::key:
        if (!names.empty() && parsed.is_string() && !names.back().insert(parsed.get<std::string>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    json value = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_object() || duplicate) return std::nullopt;
    return value;
  } catch (...) {  // allocation failure; parse errors come back as discarded
    return std::nullopt;
  }
}

// An integer claim that fits int64; nullopt when absent.
enum class IntClaim { absent, ok, invalid };
IntClaim int_claim(const json& payload, const char* name, std::int64_t& out) {
  const auto it = payload.find(name);
  if (it == payload.end()) return IntClaim::absent;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return IntClaim::invalid;
    out = static_cast<std::int64_t>(v);
    return IntClaim::ok;
  }
  if (it->is_number_integer()) {
    out = it->get<std::int64_t>();
    return IntClaim::ok;
  }
  return IntClaim::invalid;  // float, string, bool, null, ...
}

bool string_claim(const json& payload, const char* name, std::string& out) {
  const auto it = payload.find(name);
  if (it == payload.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return !out.empty();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

VerifyResult fail(std::string reason) {
  VerifyResult r;
  r.error = std::move(reason);
  return r;
}

// The header we issue: {"alg":"HS256","typ":"JWT"}.
constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

VerifyResult verify_impl(const SigningKey& key, std::string_view token, std::int64_t now,
                         std::chrono::seconds leeway) {
  if (key.size() < kMinSecretBytes) return fail("server signing key is missing or too short");
  if (token.empty()) return fail("empty token");
  if (token.size() > kMaxTokenBytes) return fail("token too long");

  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail("malformed token: expected three dot-separated parts");
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail("malformed token: expected three dot-separated parts");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty()) return fail("malformed token: empty header or payload");
  if (signature_b64.empty()) return fail("unsigned token");

  // 1. Header: pin the algorithm before anything else is trusted.
  const auto header_text = detail::base64url_decode(header_b64);
  if (!header_text) return fail("malformed token: header is not base64url");
  const auto header = parse_object(*header_text);
  if (!header) return fail("malformed token: header is not a JSON object");
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) return fail("token header has no alg");
  if (alg->get<std::string>() != "HS256") return fail("token algorithm not allowed: only HS256 is accepted");
  if (const auto typ = header->find("typ"); typ != header->end()) {
    if (!typ->is_string() || !iequals(typ->get<std::string>(), "JWT")) return fail("token typ is not JWT");
  }
  if (header->contains("crit")) return fail("token header has unsupported critical extensions");

  // 2. Signature over the bytes as received, compared in constant time.
  const auto signature = detail::base64url_decode(signature_b64);
  if (!signature || signature->size() != crypto_auth_hmacsha256_BYTES) return fail("bad signature");
  const std::string expected =
      detail::hmac_sha256(key.bytes(), token.substr(0, dot2));  // header_b64 "." payload_b64
  if (sodium_memcmp(expected.data(), signature->data(), crypto_auth_hmacsha256_BYTES) != 0) {
    return fail("bad signature");
  }

  // 3. Claims (signed by us, still checked strictly).
  const auto payload_text = detail::base64url_decode(payload_b64);
  if (!payload_text) return fail("malformed token: payload is not base64url");
  const auto payload = parse_object(*payload_text);
  if (!payload) return fail("malformed token: payload is not a JSON object");

  Claims c;
  switch (int_claim(*payload, "exp", c.exp)) {
    case IntClaim::absent: return fail("token has no exp");
    case IntClaim::invalid: return fail("token exp is not an integer");
    case IntClaim::ok: break;
  }
  switch (int_claim(*payload, "iat", c.iat)) {
    case IntClaim::absent: return fail("token has no iat");
    case IntClaim::invalid: return fail("token iat is not an integer");
    case IntClaim::ok: break;
  }
  std::int64_t nbf = 0;
  switch (int_claim(*payload, "nbf", nbf)) {
    case IntClaim::absent: break;
    case IntClaim::invalid: return fail("token nbf is not an integer");
    case IntClaim::ok: c.nbf = nbf; break;
  }
  if (!string_claim(*payload, "sub", c.sub)) return fail("token has no sub");
  if (!string_claim(*payload, "username", c.username)) return fail("token has no username");
  if (!string_claim(*payload, "jti", c.jti)) return fail("token has no jti");

  const std::int64_t skew = leeway.count() < 0 ? 0 : leeway.count();
  if (c.exp <= c.iat) return fail("token exp is not after iat");
  if (now >= c.exp) return fail("token expired");
  // now + skew cannot overflow for any real clock; guard anyway.
  const std::int64_t latest = now > std::numeric_limits<std::int64_t>::max() - skew
                                  ? std::numeric_limits<std::int64_t>::max()
                                  : now + skew;
  if (c.iat > latest) return fail("token issued in the future");
  if (c.nbf && *c.nbf > latest) return fail("token not yet valid (nbf)");

  VerifyResult r;
  r.claims = std::move(c);
  return r;
}

}  // namespace

namespace detail {

std::string base64url_encode(std::string_view bytes) {
  ensure_sodium();
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  ensure_sodium();
  std::string out(text.size() * 3 / 4 + 1, '\0');
  std::size_t len = 0;
  // ignore = nullptr: no character is skipped; b64_end = nullptr: the whole
  // input must be consumed. libsodium also rejects non-zero unused bits.
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  ensure_sodium();
  crypto_auth_hmacsha256_state state;
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof state);
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

std::string sign_hs256(const SigningKey& key, std::string_view header_json, std::string_view payload_json) {
  std::string signing_input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  const std::string mac = hmac_sha256(key.bytes(), signing_input);
  return signing_input + "." + base64url_encode(mac);
}

}  // namespace detail

IssuedToken issue_token(const SigningKey& key, std::string_view user_id, std::string_view username,
                        std::int64_t now, const IssueOptions& options) {
  if (key.size() < kMinSecretBytes) throw std::invalid_argument("signing key under 32 bytes");
  if (user_id.empty()) throw std::invalid_argument("empty user id");
  if (username.empty()) throw std::invalid_argument("empty username");
  if (options.ttl.count() <= 0) throw std::invalid_argument("token ttl must be positive");

  IssuedToken t;
  t.jti = new_uuid_v4();
  t.issued_at = now;
  t.expires_in = options.ttl.count();
  t.expires_at = now + t.expires_in;

  json payload = json::object();
  payload["sub"] = std::string(user_id);
  payload["username"] = std::string(username);
  payload["iat"] = t.issued_at;
  payload["exp"] = t.expires_at;
  if (options.not_before) payload["nbf"] = *options.not_before;
  payload["jti"] = t.jti;
  std::string payload_text;
  try {
    payload_text = payload.dump();
  } catch (const json::type_error&) {  // invalid UTF-8 in user id or username
    throw std::invalid_argument("user id and username must be valid UTF-8");
  }
  t.token = detail::sign_hs256(key, kHeaderJson, payload_text);
  return t;
}

VerifyResult verify_token(const SigningKey& key, std::string_view token, std::int64_t now,
                          std::chrono::seconds leeway) noexcept {
  try {
    return verify_impl(key, token, now, leeway);
  } catch (...) {  // only allocation failure can get here
    VerifyResult r;
    try {
      r.error = "token verification failed";
    } catch (...) {
    }
    return r;
  }
}

std::string new_uuid_v4() {
  detail::ensure_sodium();
  std::array<unsigned char, 16> b{};
  randombytes_buf(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // variant 10xx
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(hex[b[i] >> 4]);
    s.push_back(hex[b[i] & 0x0F]);
  }
  return s;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace fractal::auth
