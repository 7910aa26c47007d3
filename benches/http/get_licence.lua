-- wrk script for GET /v1/licences/{id}: each request picks a random line of the requests file
-- ("PATH TOKEN", written by `vault-bench requests`), so reads spread over the stored set and each
-- goes out with the token of the licence's issuer. At the end it prints one JSON line with the
-- counts and the latency percentiles (µs) that scripts/bench.sh records.
--
--   wrk -t2 -c16 -d20s -s benches/http/get_licence.lua http://127.0.0.1:PORT -- requests.txt

local requests = {}

function init(args)
  local path = args[1] or os.getenv("LV_REQUESTS")
  for line in io.lines(path) do
    local p, token = line:match("^(%S+) (%S+)$")
    if p then
      requests[#requests + 1] = { p, "Bearer " .. token }
    end
  end
  math.randomseed(7919 * (tid or 1))
end

function request()
  local r = requests[math.random(#requests)]
  return wrk.format("GET", r[1], { ["Authorization"] = r[2] })
end

-- setup() (thread numbers and nodes: nodes.lua) and done() (the shared summary line:
-- summary.lua), found next to this script whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "nodes.lua")
dofile(dir .. "summary.lua")
