-- wrk, one connection, one request at a time: POST bodies taken in turn from a file (one JSON
-- document a line) or plain GETs without one; prints one JSON line with the latency
-- percentiles in milliseconds. Used by bench_explain.py (`wrk -s wrk_latency.lua ... -- FILE`).
local bodies = {}
local next_body = 0

function init(args)
  if args[1] then
    for line in io.lines(args[1]) do
      bodies[#bodies + 1] = line
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  if #bodies == 0 then
    return wrk.format()
  end
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"p50": %.4f, "p95": %.4f, "p99": %.4f, "requests": %d, "errors": %d}\n',
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
