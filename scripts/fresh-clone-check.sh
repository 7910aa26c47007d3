#!/usr/bin/env bash
# Proves the README's two commands on a clean clone, as a new machine would run them:
#
#   scripts/fresh-clone-check.sh [--keep] [--rev REV] [--test-only]
#
# It clones this repository (REV, default HEAD: committed work only) into a temporary directory,
# points CARGO_TARGET_DIR at a new empty directory beside it, then runs, timing each:
#   1. `make run` until the demo vault answers /healthz, then stops it (SIGINT, as Ctrl-C would);
#   2. `make test`, which must pass.
# It then counts how often RocksDB's C++ was compiled (the output directories of librocksdb-sys's
# build script in the target dir, one per build: there must be 1) and prints one summary line per
# step. Logs are kept in the work directory, which is removed at the end unless --keep is given;
# when a step fails, its logs and the clone stay and the build directory goes (unless --keep).
# Nothing here depends on the build cache of the machine it runs on; packages that
# scripts/install-deps.sh installs stay installed.
# --test-only skips step 1, to time `make test` alone on a cold cache.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
KEEP=0
REV=HEAD
RUN=1
PORT=${FRESH_PORT:-18765}
RUN_TIMEOUT=${FRESH_RUN_TIMEOUT:-3600}

while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1; shift ;;
    --rev) REV=$2; shift 2 ;;
    --test-only) RUN=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/licence-vault-fresh.XXXXXX")
CLONE=$WORK/clone
export CARGO_TARGET_DIR=$WORK/target
RUN_PID=""

cleanup() {
  local rc=$?
  if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -INT -- "-$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
  if [ "$rc" -eq 0 ] && [ "$KEEP" -eq 0 ]; then
    rm -rf "$WORK"
  elif [ "$KEEP" -eq 0 ]; then
    # A failed step keeps its logs and the clone, not the build directory (about 11 GB).
    rm -rf "$CARGO_TARGET_DIR"
    echo "fresh-clone-check: logs and clone kept in $WORK (build directory removed; --keep keeps it)" >&2
  else
    echo "fresh-clone-check: logs, clone and build directory kept in $WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

echo "fresh-clone-check: cloning $(git -C "$ROOT" rev-parse --short "$REV") into $CLONE" >&2
git clone -q --no-local "$ROOT" "$CLONE"
git -C "$CLONE" checkout -q "$(git -C "$ROOT" rev-parse "$REV")"
mkdir -p "$CARGO_TARGET_DIR"

# 1. make run: build and start the demo; it is up when /healthz answers.
: >"$WORK/make-run.log"
if [ "$RUN" -eq 1 ]; then
echo "fresh-clone-check: make run (first build compiles RocksDB)…" >&2
start=$(date +%s)
( cd "$CLONE" && exec setsid make run LISTEN=127.0.0.1:$PORT DATA="$WORK/data" ) \
  >"$WORK/make-run.log" 2>&1 &
RUN_PID=$!
up=0
while [ $(( $(date +%s) - start )) -lt "$RUN_TIMEOUT" ]; do
  if ! kill -0 "$RUN_PID" 2>/dev/null; then
    echo "fresh-clone-check: make run exited before the vault answered; see $WORK/make-run.log" >&2
    tail -20 "$WORK/make-run.log" >&2
    exit 1
  fi
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    up=1
    break
  fi
  sleep 2
done
run_s=$(( $(date +%s) - start ))
if [ "$up" -ne 1 ]; then
  echo "fresh-clone-check: the vault did not answer within ${RUN_TIMEOUT}s" >&2
  exit 1
fi
kill -INT -- "-$RUN_PID" 2>/dev/null || true
wait "$RUN_PID" 2>/dev/null || true
RUN_PID=""
echo "fresh-clone-check: make run answered /healthz after ${run_s}s" >&2
fi

# 2. make test: the whole suite, on the cache make run left.
echo "fresh-clone-check: make test…" >&2
start=$(date +%s)
if ! ( cd "$CLONE" && CI=true make test ) </dev/null >"$WORK/make-test.log" 2>&1; then
  test_s=$(( $(date +%s) - start ))
  echo "fresh-clone-check: make test FAILED after ${test_s}s; see $WORK/make-test.log" >&2
  tail -30 "$WORK/make-test.log" >&2
  exit 1
fi
test_s=$(( $(date +%s) - start ))

# One `out` directory per run of librocksdb-sys's build script, which is what compiles the C++
# (a `Compiling librocksdb-sys` line may also be only its Rust bindings crate).
rocksdb=$(find "$CARGO_TARGET_DIR" -path '*/build/librocksdb-sys-*/out' -maxdepth 4 -type d | wc -l)
[ "$RUN" -eq 1 ] && echo "make run: ${run_s}s to a serving vault"
echo "make test: ${test_s}s, $(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$WORK/make-test.log" | tail -1); $(grep -E "^crash-suite: [0-9]+ kills" "$WORK/make-test.log" | tail -1)"
echo "RocksDB compiled: ${rocksdb} time(s)"
if [ "$rocksdb" -ne 1 ]; then
  echo "fresh-clone-check: RocksDB was compiled $rocksdb times; make run and make test must share one build" >&2
  exit 1
fi
