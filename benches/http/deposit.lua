-- wrk script for POST /v1/licences: each request deposits the next licence of the deposits file
-- ("TOKEN<TAB>LICENCE", written by `vault-bench deposits` from licences not yet stored) with its
-- issuer's token: parse, verify, status-list slot, synced write, signed receipt. Thread k of n
-- takes lines k, k+n, k+2n … so no licence is sent twice while the file lasts; once it is used up
-- the thread starts again and its deposits become idempotent replays (200), which bench.sh tells
-- apart by counting created deposits on the server's /metrics. Node spreading as nodes.lua says.
--
--   wrk -t2 -c16 -d20s -s benches/http/deposit.lua http://127.0.0.1:PORT -- deposits.txt

local deposits = {}
local next_one = 1

function init(args)
  local path = args[1] or os.getenv("LV_DEPOSITS")
  local k, n, i = tid or 1, tonumber(os.getenv("LV_THREADS") or "1"), 0
  for line in io.lines(path) do
    i = i + 1
    if (i - k) % n == 0 then
      local token, body = line:match("^(%S+)\t(.+)$")
      if token then
        deposits[#deposits + 1] = { "Bearer " .. token, body }
      end
    end
  end
end

function request()
  local d = deposits[next_one]
  next_one = next_one % #deposits + 1
  return wrk.format("POST", "/v1/licences", {
    ["Authorization"] = d[1],
    ["Content-Type"] = "application/json",
  }, d[2])
end

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "nodes.lua")
dofile(dir .. "summary.lua")
