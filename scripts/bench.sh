#!/usr/bin/env bash
# The benchmark suite of issue 5, in one command (BENCHMARKS.md explains every figure):
#
#   scripts/bench.sh --scale 100k|1m|12m [--work DIR] [--seconds S] [--http-seconds S] [--port P]
#                    [--only STEPS] [--regen]
#
# In one run it measures the limits of this machine (raw Ed25519 sign, verify_strict and batch
# verify; raw RocksDB point reads and synced batch writes), generates SCALE signed licences, imports
# them into a fresh data directory seeded with the demo registries, restarts the vault and times
# the first successful request, loads GET /v1/licences/{id} over 127.0.0.1 with wrk at 1, 16 and 64
# connections, and verifies the same 10,000 licences with digitalbazaar's JavaScript eddsa-jcs-2022
# suite and with licence-vault. Figures go to WORK/results/*.json, WORK/results.json and, as the
# Markdown tables that BENCHMARKS.md carries, WORK/report.md.
#
# It installs what it needs (clang/libclang via scripts/install-deps.sh, Debian's wrk, the npm
# packages of benches/peer with `npm ci`) and builds the release binary and the bench binary in
# $CARGO_TARGET_DIR (default ~/.cache/licence-vault/target). Nothing here asserts a time: it
# measures and reports. The generated licences are kept (WORK/licences.jsonl) and reused by later
# runs of the same scale and seed unless --regen is given.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/licence-vault/target}"

export BENCH_ARGS="$*"
SCALE=100k
WORK=""
MEASURE_SECONDS=3
HTTP_SECONDS=20
PORT=18080
SEED=1
ONLY="limits,gen,import,extract,restart,http,peer"
REGEN=0
PEER_DOCS=10000

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --seconds) MEASURE_SECONDS=$2; shift 2 ;;
    --http-seconds) HTTP_SECONDS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --regen) REGEN=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument $1" >&2; usage 2 ;;
  esac
done

case "$SCALE" in
  *[kK]) COUNT=$(( ${SCALE%[kK]} * 1000 )) ;;
  *[mM]) COUNT=$(( ${SCALE%[mM]} * 1000000 )) ;;
  *[0-9]) COUNT=$SCALE ;;
  *) echo "--scale takes 100k, 1m, 12m or a number" >&2; exit 2 ;;
esac
WORK=${WORK:-$HOME/.cache/licence-vault/bench/$SCALE}
RESULTS=$WORK/results
mkdir -p "$WORK" "$RESULTS"
LOG=$WORK/bench.log
: > "$LOG"

want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
say() { printf '\n== %s\n' "$*" | tee -a "$LOG" >&2; }
now_ns() { date +%s%N; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# ----- dependencies and build --------------------------------------------------------------------

say "dependencies"
scripts/install-deps.sh
apt_install() {
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}
command -v python3 >/dev/null || apt_install python3
if want http && ! command -v wrk >/dev/null; then apt_install wrk; fi
[ -x /usr/bin/time ] || apt_install time
if want peer; then
  command -v npm >/dev/null || apt_install nodejs npm
  if [ ! -d benches/peer/node_modules ] || [ benches/peer/package-lock.json -nt benches/peer/node_modules ]; then
    (cd benches/peer && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

say "build (release)"
cargo build --release --bin licence-vault 2>&1 | tail -n 3
BIN=$CARGO_TARGET_DIR/release/licence-vault
BENCH=$(cargo bench --bench vault --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "vault" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
[ -x "$BENCH" ] || { echo "could not build the bench binary" >&2; exit 1; }

# ----- the machine -------------------------------------------------------------------------------

python3 - "$RESULTS/machine.json" "$SCALE" "$COUNT" <<EOF
import json, os, subprocess, sys, datetime, platform
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({
  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
  "scale": sys.argv[2], "count": int(sys.argv[3]),
  "nproc": int(sh("nproc") or 0), "cpu": cpu, "memory": sh("free -h | awk '/^Mem:/{print \$2}'"),
  "kernel": platform.release(), "rustc": sh("rustc --version"), "node": sh("node --version"),
  "wrk": sh("wrk -v 2>&1 | head -n 1"), "commit": sh("git rev-parse --short HEAD"),
  "dirty": bool(sh("git status --porcelain")),
  "loadAvgAtStart": sh("cut -d' ' -f1-3 /proc/loadavg"),
  "command": "scripts/bench.sh " + " ".join(os.environ.get("BENCH_ARGS","").split()),
}, open(sys.argv[1], "w"), indent=1)
EOF

# ----- 1. limits ---------------------------------------------------------------------------------

if want limits; then
  say "limits: Ed25519 and RocksDB on this machine (load $(load_avg))"
  "$BENCH" limits --seconds "$MEASURE_SECONDS" --dir "$WORK/limits-db" > "$RESULTS/limits.json" 2> >(tee -a "$LOG" >&2)
fi

# ----- 2. generate -------------------------------------------------------------------------------

JSONL=$WORK/licences.jsonl
IDS=$WORK/ids.txt
STAMP="count=$COUNT seed=$SEED $(cat fixtures/catalogue.json fixtures/agencies.json keys/*.pub | sha256sum | cut -c1-16)"
if want gen; then
  if [ $REGEN -eq 1 ] || [ ! -s "$JSONL" ] || [ "$(cat "$WORK/licences.stamp" 2>/dev/null)" != "$STAMP" ]; then
    say "gen: $COUNT licences (seed $SEED)"
    /usr/bin/time -v -o "$WORK/gen.time" "$BIN" gen --count "$COUNT" --seed "$SEED" --out "$JSONL" \
      --ids "$IDS" --quiet > "$RESULTS/gen.json" 2>> "$LOG"
    python3 - "$RESULTS/gen.json" "$WORK/gen.time" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for l in open(sys.argv[2]):
    if "Maximum resident set size" in l: r["peakRssBytes"] = int(l.split(":")[1]) * 1024
json.dump(r, open(sys.argv[1], "w"))
EOF
    echo "$STAMP" > "$WORK/licences.stamp"
  else
    say "gen: reusing $JSONL ($STAMP)"
  fi
fi
[ -s "$JSONL" ] || { echo "no $JSONL: run with --only gen first" >&2; exit 1; }

# ----- 3. import ---------------------------------------------------------------------------------

DATA=$WORK/data
if want import; then
  say "import: $COUNT licences into a fresh vault (load $(load_avg))"
  rm -rf "$DATA"
  "$BENCH" seed --data "$DATA" > "$RESULTS/seed.json" 2>> "$LOG"
  t0=$(now_ns)
  set +e
  /usr/bin/time -v -o "$WORK/import.time" "$BIN" import --in "$JSONL" --data "$DATA" --quiet \
    --rejects "$WORK/rejects.jsonl" > "$RESULTS/import-summary.json" 2>> "$LOG"
  rc=$?
  set -e
  t1=$(now_ns)
  python3 - "$RESULTS/import.json" "$RESULTS/import-summary.json" "$WORK/import.time" "$t0" "$t1" "$rc" "$DATA/db" "$JSONL" <<'EOF'
import json, os, sys
out, summ, tfile, t0, t1, rc, db, jsonl = sys.argv[1:]
s = json.load(open(summ)) if os.path.getsize(summ) else {}
rss = None
for l in open(tfile):
    if "Maximum resident set size" in l: rss = int(l.split(":")[1]) * 1024
disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(db) for f in fs)
secs = (int(t1) - int(t0)) / 1e9
n = s.get("created", 0) + s.get("existing", 0)
jb = os.path.getsize(jsonl)
lines = s.get("lines", 0) or 1
json.dump({"exitCode": int(rc), "summary": s, "seconds": secs, "licencesPerSecond": n / secs if secs else 0,
           "peakRssBytes": rss, "diskBytes": disk, "diskBytesPerLicence": disk / lines,
           "jsonlBytes": jb, "jsonlBytesPerLicence": jb / lines}, open(out, "w"))
EOF
  cat "$RESULTS/import.json" >&2; echo >&2
fi

# ----- 4. in-process ceiling of a read -----------------------------------------------------------

if want extract; then
  say "extract: Vault::extract in-process over random stored ids"
  "$BENCH" extract --data "$DATA" --ids "$IDS" --seconds "$MEASURE_SECONDS" > "$RESULTS/extract.json" 2> >(tee -a "$LOG" >&2)
fi

# ----- 5. restart and HTTP load ------------------------------------------------------------------

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

if want restart || want http; then
  "$BENCH" requests --ids "$IDS" --tokens "$DATA/demo-tokens.json" --out "$WORK/requests.txt" > /dev/null
  read -r FIRST_PATH FIRST_TOKEN < "$WORK/requests.txt"
  URL=http://127.0.0.1:$PORT
  say "restart: open $DATA to the first successful GET (load $(load_avg))"
  t0=$(now_ns)
  RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >> "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  tries=0
  until curl -sf -o /dev/null -H "Authorization: Bearer $FIRST_TOKEN" "$URL$FIRST_PATH"; do
    tries=$((tries + 1))
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $tries -gt 6000 ]; then
      echo "the vault did not come up; see $WORK/server.log" >&2; exit 1
    fi
    sleep 0.005
  done
  t1=$(now_ns)
  echo "{\"millisecondsToFirstRead\": $(( (t1 - t0) / 1000000 )), \"polls\": $tries}" > "$RESULTS/restart.json"
  cat "$RESULTS/restart.json" >&2
fi

if want http; then
  for c in 1 16 64; do
    t=$(( c < 2 ? 1 : 2 ))
    say "http: GET /v1/licences/{id}, $c connections, ${HTTP_SECONDS}s (load $(load_avg))"
    wrk -t"$t" -c"$c" -d"${HTTP_SECONDS}s" --timeout 10s -s benches/http/get_licence.lua "$URL" -- "$WORK/requests.txt" \
      > "$WORK/wrk-get-$c.txt" 2>&1
    grep '^{"requests"' "$WORK/wrk-get-$c.txt" > "$RESULTS/http-get-$c.json"
    cat "$RESULTS/http-get-$c.json" >&2
  done
  # ----- POST /v1/reuse: slot -----
  # The reuse endpoint (consent check + durable access record + verify + vault-signed copy) is
  # measured here once src/http/reuse.rs serves it: benches/http/reuse.lua then exists and this
  # block runs it at the same connection counts. Until then the results say "pending".
  if [ -f benches/http/reuse.lua ] && grep -q '"/v1/reuse"' src/http.rs; then
    for c in 1 16 64; do
      t=$(( c < 2 ? 1 : 2 ))
      say "http: POST /v1/reuse, $c connections, ${HTTP_SECONDS}s"
      wrk -t"$t" -c"$c" -d"${HTTP_SECONDS}s" --timeout 10s -s benches/http/reuse.lua "$URL" -- "$WORK/reuse-requests.txt" \
        > "$WORK/wrk-reuse-$c.txt" 2>&1
      grep '^{"requests"' "$WORK/wrk-reuse-$c.txt" > "$RESULTS/http-reuse-$c.json"
    done
  else
    echo '{"pending": "POST /v1/reuse is not served yet (src/http/reuse.rs)"}' > "$RESULTS/http-reuse.json"
  fi
  SERVER_RSS=$(awk '/VmHWM/{print $2 * 1024}' "/proc/$SERVER_PID/status" 2>/dev/null || echo null)
  echo "{\"serverPeakRssBytes\": ${SERVER_RSS:-null}}" > "$RESULTS/server.json"
fi
stop_server
if [ -d "$DATA/db" ]; then
  du -sb "$DATA/db" | awk '{print "{\"diskBytesAfterServing\": " $1 "}"}' > "$RESULTS/disk-after.json"
fi

# ----- 6. the peer: digitalbazaar's JavaScript suite vs licence-vault -----------------------------

if want peer; then
  PEER=$WORK/peer.jsonl
  head -n "$PEER_DOCS" "$JSONL" > "$PEER"
  say "peer: $(wc -l < "$PEER") licences, JavaScript (load $(load_avg))"
  node benches/peer/verify.mjs "$PEER" --workers "$(nproc)" > "$RESULTS/peer-js.json" 2>> "$LOG"
  cat "$RESULTS/peer-js.json" >&2
  say "peer: the same licences, licence-vault in-process"
  "$BENCH" verify --in "$PEER" > "$RESULTS/peer-rust.json" 2> >(tee -a "$LOG" >&2)
  say "peer: licence-vault verify CLI, one process per document (first 200)"
  REG=$WORK/registry.json
  python3 - "$REG" <<'EOF'
import json, sys
r = lambda f: json.load(open("fixtures/" + f))
json.dump({"types": r("catalogue.json")["types"], "matters": r("matters.json")["matters"],
           "agencies": r("agencies.json")["agencies"],
           "vaultKeys": [open("keys/vault.pub").read().strip()]}, open(sys.argv[1], "w"), ensure_ascii=False)
EOF
  mkdir -p "$WORK/peer-docs"
  head -n 200 "$PEER" | split -l 1 -d -a 4 - "$WORK/peer-docs/doc-"
  ok=0; n=0
  t0=$(now_ns)
  for f in "$WORK"/peer-docs/doc-*; do
    n=$((n + 1))
    if "$BIN" verify --in "$f" --registry "$REG" > /dev/null; then ok=$((ok + 1)); fi
  done
  t1=$(now_ns)
  python3 -c "import json,sys; n,ok,t0,t1=map(int,sys.argv[1:]); s=(t1-t0)/1e9; print(json.dumps({'documents':n,'accepted':ok,'seconds':s,'docsPerSecond':n/s}))" \
    "$n" "$ok" "$t0" "$t1" > "$RESULTS/peer-cli.json"
  cat "$RESULTS/peer-cli.json" >&2
fi

# ----- 7. report ---------------------------------------------------------------------------------

python3 - "$RESULTS" "$WORK/results.json" "$WORK/report.md" <<'EOF'
import glob, json, os, sys
res, out_json, out_md = sys.argv[1:]
R = {}
for f in sorted(glob.glob(os.path.join(res, "*.json"))):
    try: R[os.path.basename(f)[:-5]] = json.load(open(f))
    except Exception as e: R[os.path.basename(f)[:-5]] = {"error": str(e)}
json.dump(R, open(out_json, "w"), indent=1, ensure_ascii=False)
def g(*path, d=None):
    v = R
    for k in path:
        v = v.get(k) if isinstance(v, dict) else None
    return d if v is None else v
def f0(x): return "–" if x is None else f"{x:,.0f}"
def f1(x): return "–" if x is None else f"{x:,.1f}"
def pct(a, b): return "–" if not a or not b else f"{100 * a / b:.0f} %"
m = R.get("machine", {})
L = []
L.append(f"Run {m.get('date')} · scale **{m.get('scale')}** ({f0(m.get('count'))} licences) · {m.get('nproc')} cores, {m.get('memory')} RAM, {m.get('cpu')} · commit {m.get('commit')}{' (dirty tree)' if m.get('dirty') else ''} · load average at start {m.get('loadAvgAtStart')}")
L.append("")
ed = g("limits", "ed25519", d={}) or {}
rk = g("limits", "rocksdb", d={}) or {}
L.append("| limit (same run) | 1 thread | all cores |")
L.append("| --- | ---: | ---: |")
for k, name in [("sign", "Ed25519 sign /s"), ("verify_strict", "Ed25519 verify_strict /s"), ("verify_batch64", "Ed25519 batch verify (64) signatures/s"), ("r_torsion_check", "R decompress + torsion check /s")]:
    L.append(f"| {name} | {f0(ed.get(k, {}).get('perSecond1'))} | {f0(ed.get(k, {}).get('perSecondAll'))} |")
L.append(f"| RocksDB point reads /s ({f0(rk.get('pointReadKeys'))} keys) | {f0(rk.get('pointReadsPerSecond1'))} | {f0(rk.get('pointReadsPerSecondAll'))} |")
L.append(f"| RocksDB synced batch writes ({rk.get('batchLicences')} licences): licences/s | {f0(rk.get('syncedBatchLicencesPerSecond'))} | |")
L.append(f"| RocksDB synced single-licence writes /s | {f0(rk.get('syncedSingleWritesPerSecond'))} | |")
L.append("")
imp = R.get("import", {})
bv = ed.get("verify_batch64", {}).get("perSecondAll")
if imp:
    s = imp.get("summary", {})
    L.append("| import | figure | ratio / target |")
    L.append("| --- | ---: | --- |")
    L.append(f"| throughput | {f0(imp.get('licencesPerSecond'))} licences/s | {pct(imp.get('licencesPerSecond'), bv)} of raw batch verify ({f0(bv)}/s); target ≥ 80 % |")
    L.append(f"| total time | {f1(imp.get('seconds'))} s | 12 M at this rate: {f1(12e6 / imp['licencesPerSecond'] / 60 if imp.get('licencesPerSecond') else None)} min; target < 10 min |")
    L.append(f"| disk bytes per licence | {f0(imp.get('diskBytesPerLicence'))} B | {imp.get('diskBytesPerLicence', 0) / max(imp.get('jsonlBytesPerLicence', 1), 1):.2f} × JSONL ({f0(imp.get('jsonlBytesPerLicence'))} B); target ≤ 0.6 × |")
    rss = imp.get("peakRssBytes")
    L.append(f"| peak RSS | {f1(rss / 2**20 if rss else None)} MiB | target < 1024 MiB |")
    L.append(f"| outcome | {f0(s.get('created'))} created, {f0(s.get('rejected'))} rejected | {s.get('reasons', {})} |")
    L.append("")
ex = R.get("extract", {})
rs = R.get("restart", {})
if rs: L.append(f"Restart (open to first successful `GET`): **{rs.get('millisecondsToFirstRead')} ms** (target < 3 s).")
if ex: L.append(f"In-process `Vault::extract` (read + digest + parse + verify_strict + verdict): {f0(ex.get('perSecond1'))}/s on 1 thread, {f0(ex.get('perSecondAll'))}/s on {ex.get('threads')}; {ex.get('errors')} errors.")
L.append("")
vs = ed.get("verify_strict", {}).get("perSecondAll")
rows = [(c, R.get(f"http-get-{c}")) for c in (1, 16, 64)]
if any(r for _, r in rows):
    L.append("| GET /v1/licences/{id} | req/s | p50 ms | p99 ms | p99.9 ms | errors | vs verify_strict (all cores) | vs in-process extract |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c, r in rows:
        if not r: continue
        rps = r["requests"] / (r["durationUs"] / 1e6)
        errs = sum(r["errors"].values())
        lat = r["latencyUs"]
        L.append(f"| {c} connections | {f0(rps)} | {lat['p50']/1000:.2f} | {lat['p99']/1000:.2f} | {lat['p999']/1000:.2f} | {errs} | {pct(rps, vs)} | {pct(rps, ex.get('perSecondAll'))} |")
    L.append("")
if "http-reuse" in R: L.append(f"POST /v1/reuse: {R['http-reuse'].get('pending', R['http-reuse'])}")
pj, pr, pc = R.get("peer-js", {}), R.get("peer-rust", {}), R.get("peer-cli", {})
if pj and pr:
    L.append("")
    L.append(f"| peer: verify the same {f0(pj.get('documents'))} licences | accepted | docs/s, 1 thread | docs/s, all cores |")
    L.append("| --- | ---: | ---: | ---: |")
    L.append(f"| digitalbazaar eddsa-jcs-2022 (Node {pj.get('node')}) | {f0(pj.get('accepted'))} | {f0(pj.get('docsPerSecond1'))} | {f0(pj.get('docsPerSecondWorkers'))} ({pj.get('workers')} workers) |")
    L.append(f"| licence-vault, in-process, full verdict | {f0(pr.get('accepted'))} | {f0(pr.get('docsPerSecond1'))} | {f0(pr.get('docsPerSecondAll'))} |")
    L.append(f"| licence-vault, in-process, batched as on deposit | {f0(pr.get('acceptedBatched'))} | | {f0(pr.get('docsPerSecondBatched'))} |")
    if pc: L.append(f"| `licence-vault verify` CLI, one process per document | {pc.get('accepted')}/{pc.get('documents')} | {f0(pc.get('docsPerSecond'))} | |")
    def ratio(a, b): return "–" if not a or not b else f"{a / b:.1f}×"
    L.append("")
    L.append(f"Ratio licence-vault / JavaScript: {ratio(pr.get('docsPerSecond1'), pj.get('docsPerSecond1'))} on one thread, {ratio(pr.get('docsPerSecondAll'), pj.get('docsPerSecondWorkers'))} on all cores, {ratio(pr.get('docsPerSecondBatched'), pj.get('docsPerSecondWorkers'))} batched (target ≥ 20×).")
open(out_md, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
say "done: $WORK/results.json, $WORK/report.md (load $(load_avg))"
