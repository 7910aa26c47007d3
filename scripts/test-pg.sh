#!/usr/bin/env bash
# The integration suite on PostgreSQL (SPEC §13): starts a throwaway server on loopback
# (scripts/pg.sh), runs `cargo test --test it` with every test vault in its own schema of it
# (tests/it/support.rs: LICENCE_VAULT_TEST_PG; the multi-node tests of tests/it/nodes.rs use it
# too, where a plain `cargo test` starts a server per test) and stops the server whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
chmod 755 "$work"   # the server runs as postgres when this runs as root
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { scripts/pg.sh stop "$work/pg" || true; rm -rf "$work"; }
trap cleanup EXIT
url=$(scripts/pg.sh start "$work/pg" "$port")
echo "test-pg: PostgreSQL on 127.0.0.1:$port" >&2
LICENCE_VAULT_TEST_PG="$url" ${CARGO:-cargo} test --test it "$@"
