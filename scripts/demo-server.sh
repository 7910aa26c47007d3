# Sourced by the scripts that test the real server (web-test.sh, vc-clients.sh). `start_demo BIN
# [ARGS…]` starts `BIN serve --demo ARGS…` on a temp RocksDB ($work/data) on a free loopback port
# ($port) and returns once it is ready and has written its demo tokens; the server ($server) is
# stopped and $work removed when the sourcing script exits. Its log is $work/server.log.
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

start_demo() {
  local bin=$1
  shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" serve --demo --data "$work/data" --listen "127.0.0.1:$port" "$@" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && [ -s "$work/data/demo-tokens.json" ]; then
      return 0
    fi
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "the demo vault was not ready after 30 s" >&2
  cat "$work/server.log" >&2
  exit 1
}
