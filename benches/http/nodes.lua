-- setup() shared by the wrk scripts here: numbers the threads (`tid`, 1 … n, in each thread's Lua
-- state) and spreads them over several vault nodes: LV_NODES="host:port,host:port,…" gives thread k
-- the node k mod n (so -t3 with three nodes puts one thread, and its connections, on each). Without
-- LV_NODES every thread uses the URL on wrk's command line. Loaded with dofile by each script.

local thread_no = 0

function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
  local nodes = os.getenv("LV_NODES")
  if not nodes or nodes == "" then return end
  local list = {}
  for hp in nodes:gmatch("[^,]+") do list[#list + 1] = hp end
  local host, port = list[(thread_no - 1) % #list + 1]:match("^(.+):(%d+)$")
  thread.addr = wrk.lookup(host, port)[1]
end
