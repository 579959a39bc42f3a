-- wrk script for bench/service/http_add.sh: POST /add with a JSON body.
-- Environment: BENCH_TOKEN (Bearer token, optional), BENCH_TOKENS (optional:
-- several tokens separated by spaces, used round-robin per request, i.e. several
-- users; overrides BENCH_TOKEN), BENCH_KEEPALIVE (1: send
-- "Connection: keep-alive"; Pistache 0.0.5 closes HTTP/1.1 connections that do
-- not ask for it), BENCH_BODY (JSON body; default a small PNG task).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"width":256,"height":256,"max_iter":256,"format":"png"}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if os.getenv("BENCH_KEEPALIVE") == "1" then
  wrk.headers["Connection"] = "keep-alive"
end

local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "%S+") do
  tokens[#tokens + 1] = t
end
if #tokens > 0 then
  local i = 0
  request = function()
    i = i % #tokens + 1
    wrk.headers["Authorization"] = "Bearer " .. tokens[i]
    return wrk.format()
  end
end

-- One machine-readable line after wrk's own report.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d connect_err=%d read_err=%d write_err=%d timeout=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
