#!/usr/bin/env bash
# What the transparency logs cost (issue 27, SPEC §14), as ratios measured in one run on one machine:
# the same steps on the release build of BASELINE (default dcf8e63, the last commit before the
# logs) and of HEAD, one after the other, on the same generated licences:
#
#   - import of SCALE licences into a fresh RocksDB vault (scripts/bench.sh, step import);
#   - GET /v1/licences/{id} at 1, 16 and 64 connections (bench.sh, step http);
#   - POST /v1/reuse at 16 connections, pulls for holders spread over the stored set (wrk,
#     benches/http/reuse.lua, the requests of `vault-bench reuse-setup`);
#   - POST /v1/licences at 16 connections, licences the vault lacks (wrk, benches/http/deposit.lua);
#   - with the logs, the leaves integrated and the size of each log at the end.
#
#   scripts/bench-logs.sh [--scale 100k] [--http-seconds 10] [--baseline COMMIT] [--work DIR]
#
# Results: WORK/{base,head}/results/*.json and WORK/report.md. The baseline is checked out
# in a git worktree (WORK/base-tree) and built with the same CARGO_TARGET_DIR, so only the crate
# itself is compiled again; its binaries are copied aside before HEAD is rebuilt. Nothing here
# asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALE=100k
SECS=10
BASELINE=dcf8e63
WORK=${TMPDIR:-/tmp}/licence-vault-bench-logs
PORT=18180
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --http-seconds) SECS=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/licence-vault/target}"
mkdir -p "$WORK"
say() { printf '\n== %s\n' "$*" >&2; }

# NAME TREE: bench.sh's import and http steps in TREE, into WORK/NAME, on the shared licences.
run() {
  local name=$1 tree=$2
  mkdir -p "$WORK/$name"
  if [ "$name" != base ] && [ -s "$WORK/base/licences.jsonl" ]; then
    # gen reuses licences of the same scale and seed: the very ones the first run made.
    cp "$WORK/base/licences.jsonl" "$WORK/base/ids.txt" "$WORK/$name/"
    cp "$WORK/base/"*.stamp "$WORK/$name/" 2>/dev/null || true
  fi
  rm -rf "$WORK/$name/data"
  # Both trees' builds leave their binary at one path, and cargo does not copy a build it finds
  # fresh there again: without it, it must.
  rm -f "$CARGO_TARGET_DIR/release/licence-vault"
  say "$name ($(git -C "$tree" rev-parse --short HEAD)): import twice, then http"
  (cd "$tree" && BENCH_SKIP_REUSE=1 scripts/bench.sh --scale "$SCALE" --work "$WORK/$name" --only gen,import \
     --http-seconds "$SECS" --port "$PORT")
  cp "$WORK/$name/results/import.json" "$WORK/$name/results/import-1.json"
  (cd "$tree" && BENCH_SKIP_REUSE=1 scripts/bench.sh --scale "$SCALE" --work "$WORK/$name" --only import,http \
     --http-seconds "$SECS" --port "$PORT")
  # Which binary ran: the one with the logs has `log verify`.
  if "$CARGO_TARGET_DIR/release/licence-vault" log verify --help > /dev/null 2>&1; then
    echo '{"logs": true}' > "$WORK/$name/results/binary.json"
  else
    echo '{"logs": false}' > "$WORK/$name/results/binary.json"
  fi
  writes "$name" "$tree"
}

# NAME TREE: POST /v1/reuse and POST /v1/licences at 16 connections for SECS each.
writes() {
  local name=$1 tree=$2 w=$WORK/$1
  local bin=$CARGO_TARGET_DIR/release/licence-vault
  local bench
  bench=$(cd "$tree" && cargo build --release --bench vault --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "vault":
        print(m["executable"])' | tail -1)
  [ -s "$WORK/deposits.jsonl" ] || "$bin" gen --count 50000 --skip 10000000 --seed 7 --out "$WORK/deposits.jsonl" --quiet > /dev/null
  "$bench" deposits --in "$WORK/deposits.jsonl" --tokens "$w/data/demo-tokens.json" --out "$w/deposits.txt" > /dev/null
  "$bench" reuse-setup --data "$w/data" --ids "$w/ids.txt" --tokens "$w/data/demo-tokens.json" \
    --out "$w/reuse-requests.txt" > "$w/results/reuse-setup.json"
  # The benchmark's own load (an older binary may not know the flag: the environment is ignored there).
  LICENCE_VAULT_NO_RATE_LIMITS=true RUST_LOG=warn "$bin" serve --data "$w/data" --listen "127.0.0.1:$PORT" >> "$w/server.log" 2>&1 &
  local pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz"; do sleep 0.05; done
  say "$name: POST /v1/reuse, 16 connections, ${SECS}s"
  (cd "$tree" && wrk -t2 -c16 -d"${SECS}s" --timeout 10s -s benches/http/reuse.lua \
     "http://127.0.0.1:$PORT" -- "$w/reuse-requests.txt" > "$w/wrk-reuse-16.txt" 2>&1)
  grep '^{"requests"' "$w/wrk-reuse-16.txt" > "$w/results/http-reuse-16.json"
  say "$name: POST /v1/licences, 16 connections, ${SECS}s"
  (cd "$tree" && LV_THREADS=2 wrk -t2 -c16 -d"${SECS}s" --timeout 10s -s benches/http/deposit.lua \
     "http://127.0.0.1:$PORT" -- "$w/deposits.txt" > "$w/wrk-deposit-16.txt" 2>&1)
  grep '^{"requests"' "$w/wrk-deposit-16.txt" > "$w/results/http-deposit-16.json"
  curl -sf "http://127.0.0.1:$PORT/v1/logs" > "$w/results/logs.json" || echo '{}' > "$w/results/logs.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

# The baseline first, HEAD last: the binaries of a build land at one path, and the tree is left
# with HEAD's.
[ -d "$WORK/base-tree" ] || git worktree add --detach "$WORK/base-tree" "$BASELINE"
run base "$WORK/base-tree"
run head "$ROOT"

python3 - "$WORK" <<'EOF' | tee "$WORK/report.md"
import json, os, sys
work = sys.argv[1]
def get(run, name):
    p = os.path.join(work, run, "results", name)
    try:
        return json.load(open(p))
    except Exception:
        return {}
rows = []
def rate(d):
    return round(d["requests"] / (d["durationUs"] / 1e6)) if d.get("durationUs") else None
def p99(d):
    return d["latencyUs"]["p99"] / 1000 if d.get("latencyUs") else None
for label, f, key in [
    ("import, first (licences/s)", "import-1.json", lambda d: round(d["licencesPerSecond"]) if d.get("licencesPerSecond") else None),
    ("import, second (licences/s)", "import.json", lambda d: round(d["licencesPerSecond"]) if d.get("licencesPerSecond") else None),
    ("GET, 16 connections (req/s)", "http-get-16.json", rate),
    ("pull, 16 connections (req/s)", "http-reuse-16.json", rate),
    ("deposit, 16 connections (req/s)", "http-deposit-16.json", rate),
    ("pull p99, 16 connections (ms)", "http-reuse-16.json", p99),
    ("deposit p99, 16 connections (ms)", "http-deposit-16.json", p99),
]:
    h, b = (key(get(r, f)) for r in ("head", "base"))
    ratio = lambda x: f"{x / b:.3f}" if (x and b and "p99" not in label) else (f"{x - b:+.2f} ms" if (x is not None and b is not None) else "")
    rows.append(f"| {label} | {b} | {h} | {ratio(h)} |")
print("| path | without the logs (baseline) | with the logs (HEAD) | HEAD against baseline |")
print("| --- | ---: | ---: | ---: |")
print("\n".join(rows))
print(f"\nbinaries: baseline {get('base', 'binary.json')}, HEAD {get('head', 'binary.json')}")
logs = get("head", "logs.json")
for l in logs.get("logs", []):
    print(f"\n{l['name']} log at the end: {l['size']} leaves")
EOF
