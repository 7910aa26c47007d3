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

# shellcheck source=scripts/demo-server.sh
. scripts/demo-server.sh
# The outside verifiers of the tests listen on loopback over http.
start_demo "$BIN" --no-rate-limits --allow-private-verifiers

status=0
VAULT_URL="http://127.0.0.1:$port" VAULT_DATA="$work/data" VAULT_BIN="$BIN" \
  node --test --test-concurrency=1 --test-reporter=spec tests/vc-js/vc.test.mjs tests/vc-js/oid4vci.test.mjs tests/vc-js/oid4vp.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the server's log ---" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
