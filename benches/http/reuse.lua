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

-- setup() (thread numbers and nodes: nodes.lua) and done() (the shared summary line:
-- summary.lua), found next to this script whatever the working directory.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "nodes.lua")
dofile(dir .. "summary.lua")
