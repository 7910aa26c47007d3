#!/usr/bin/env bash
# The pages' tests (SPEC §12): starts the real server (`serve --demo`) on a temp RocksDB on a free
# loopback port, runs tests/web/pages.test.mjs in Debian's headless Chromium through playwright-core,
# and stops the server. Usage: scripts/web-test.sh BINARY
#   UPDATE_SCREENSHOTS=1 writes the screenshots into docs/screenshots/ (otherwise into the build cache).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:?usage: scripts/web-test.sh path/to/licence-vault}")
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/licence-vault/target}

if [ ! -d tests/web/node_modules/playwright-core ] || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "the page tests need Chromium and tests/web's node packages: run scripts/install-deps.sh (make deps)" >&2
  exit 1
fi

# shellcheck source=scripts/demo-server.sh
. scripts/demo-server.sh
start_demo "$BIN"

if [ "${UPDATE_SCREENSHOTS:-}" = 1 ]; then shots=$PWD/docs/screenshots; else shots=$TARGET/screenshots; fi
mkdir -p "$shots"
status=0
BASE="http://127.0.0.1:$port" DATA="$work/data" BIN="$BIN" SHOTS="$shots" \
  node --test --test-concurrency=1 --test-reporter=spec tests/web/pages.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the server's log ---" >&2
  tail -n 50 "$work/server.log" >&2
fi
# No token of the demo may reach the server's log.
if ! python3 - "$work/data/demo-tokens.json" "$work/server.log" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
tokens = [t["admin"], *t["issuers"].values(), *t["requesters"].values(), *t["holders"].values()]
log = open(sys.argv[2]).read()
sys.exit(1 if any(tok in log for tok in tokens) else 0)
PY
then
  echo "a token appeared in the server's log" >&2
  status=1
fi
echo "screenshots in $shots" >&2
exit "$status"
