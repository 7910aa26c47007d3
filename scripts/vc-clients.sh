#!/usr/bin/env bash
# The vault checked by VC libraries nobody on the team wrote (SPEC §15): starts the real server
# (`serve --demo`) on a temp RocksDB on a free loopback port, runs tests/vc-js/vc.test.mjs — where
# digitalbazaar's @digitalbazaar/vc with the eddsa-jcs-2022 cryptosuite signs credentials and
# presentations for the vault's VC-API verifiers and verifies what `licence-vault sign` and the
# vault sign — and stops the server. Usage: scripts/vc-clients.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:?usage: scripts/vc-clients.sh path/to/licence-vault}")

if [ ! -d tests/vc-js/node_modules/@digitalbazaar/vc ]; then
  echo "the VC client tests need tests/vc-js's node packages: run scripts/install-deps.sh (make deps)" >&2
  exit 1
fi

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --demo --data "$work/data" --listen "127.0.0.1:$port" --no-rate-limits >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && [ -s "$work/data/demo-tokens.json" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done

status=0
VAULT_URL="http://127.0.0.1:$port" VAULT_DATA="$work/data" VAULT_BIN="$BIN" \
  node --test --test-concurrency=1 --test-reporter=spec tests/vc-js/vc.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the server's log ---" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
