-- Spreads wrk's threads over several vault nodes: LV_NODES="host:port,host:port,…" gives thread k
-- the node k mod n (so -t3 with three nodes puts one thread, and its connections, on each). Without
-- LV_NODES every thread uses the URL on wrk's command line. Loaded with dofile by each script.

function spread(thread, k)
  local nodes = os.getenv("LV_NODES")
  if not nodes or nodes == "" then return end
  local list = {}
  for hp in nodes:gmatch("[^,]+") do list[#list + 1] = hp end
  local host, port = list[(k - 1) % #list + 1]:match("^(.+):(%d+)$")
  thread.addr = wrk.lookup(host, port)[1]
end
