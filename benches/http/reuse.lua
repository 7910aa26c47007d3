-- wrk script for POST /v1/reuse: each request picks a random line of the requests file
-- ("TOKEN HOLDER MATTER", written by `vault-bench reuse-setup`, which also granted the consents)
-- and pulls the matter's licences for that holder as that requester: consent check, durable access
-- record, verification, vault-signed purpose-stamped copies. Prints one JSON line at the end, like
-- get_licence.lua. It defines no response() callback, which would make wrk hand every ~11 KB body
-- to Lua on the cores the server needs: bench.sh counts licences not provided from the server's
-- /metrics before and after the run instead.
--
--   wrk -t2 -c16 -d20s -s benches/http/reuse.lua http://127.0.0.1:PORT -- reuse-requests.txt

local pulls = {}
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

function init(args)
  local path = args[1] or os.getenv("LV_REUSE_REQUESTS")
  for line in io.lines(path) do
    local token, holder, matter = line:match("^(%S+) (%S+) (%S+)$")
    if token then
      local body = string.format('{"holder":"%s","matter":"%s","purpose":"基准测试：按事项调用电子证照"}', holder, matter)
      pulls[#pulls + 1] = { "Bearer " .. token, body }
    end
  end
  math.randomseed(104729 * (tid or 1))
end

function request()
  local p = pulls[math.random(#pulls)]
  return wrk.format("POST", "/v1/reuse", {
    ["Authorization"] = p[1],
    ["Content-Type"] = "application/json",
  }, p[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
