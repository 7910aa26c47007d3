#!/usr/bin/env bash
# Instructions per in-process operation, counted by callgrind (repeatable, unlike seconds on a
# shared machine), for one or more builds side by side on the same data:
#
#   scripts/count-instructions.sh [--count N] [--ops A,B] [--work DIR] NAME=LV,BENCH [NAME=LV,BENCH ...]
#
# LV is a release `licence-vault` binary and BENCH the matching bench binary (`cargo bench --bench
# vault --no-run` prints its path). The first pair generates COUNT signed licences (default 20000),
# imports them into a data directory seeded with the demo registries and sets up consents for the
# reuse pulls. Then, for each build and each operation (`extract`: Vault::extract of random stored
# ids; `reuse`: Vault::reuse of consented pulls; `grant`: Vault::create_consent for those pulls'
# holders; OPS_LIST="extract reuse" picks some), it runs the bench under
# `valgrind --tool=callgrind` twice, with A and B operations (default 200,1200) on a fresh copy of
# the data, and reports (I_B - I_A) / (B - A): the instructions of one operation, with opening the
# vault and everything else done once cancelled out. Prints a Markdown table; needs valgrind.
set -euo pipefail

COUNT=20000
OPS=200,1200
WORK=""
BUILDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*)
      name=${1%%=*}; pair=${1#*=}
      BUILDS+=("$name=$(realpath "${pair%,*}"),$(realpath "${pair#*,}")"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#BUILDS[@]} -gt 0 ] || { echo "name at least one NAME=LV,BENCH" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
WORK=${WORK:+$(realpath -m "$WORK")}
# The bench's `seed` reads fixtures/ and keys/ from the repository root.
cd "$(dirname "$0")/.."
A=${OPS%,*}
B=${OPS#*,}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/licence-vault-instr.XXXXXX")}
mkdir -p "$WORK"

first=${BUILDS[0]#*=}
LV=${first%,*}
BENCH=${first#*,}
DATA=$WORK/data
if [ ! -d "$DATA/db" ]; then
  echo "count-instructions: $COUNT licences into $DATA" >&2
  "$LV" gen --count "$COUNT" --seed 1 --out "$WORK/licences.jsonl" --ids "$WORK/ids.txt" --quiet >/dev/null
  "$BENCH" seed --data "$DATA" >/dev/null 2>&1
  "$LV" import --in "$WORK/licences.jsonl" --data "$DATA" --quiet >/dev/null
  "$BENCH" reuse-setup --data "$DATA" --ids "$WORK/ids.txt" --tokens "$DATA/demo-tokens.json" \
    --out "$WORK/reuse-requests.txt" >/dev/null 2>&1
fi

# Total instructions of one callgrind run of the bench.
instructions() {
  local name=$1 bench=$2 op=$3 n=$4 out=$WORK/$1-$3-$4
  rm -rf "$out.data"
  cp -a "$DATA" "$out.data"
  local args=(extract --data "$out.data" --ids "$WORK/ids.txt" --threads 1)
  case $op in
    reuse) args=(reuse --data "$out.data" --requests "$WORK/reuse-requests.txt" --tokens "$DATA/demo-tokens.json") ;;
    grant) args=(reuse --grant --data "$out.data" --requests "$WORK/reuse-requests.txt" --tokens "$DATA/demo-tokens.json") ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" "$bench" "${args[@]}" --ops "$n" \
    >"$out.json" 2>"$out.log"
  rm -rf "$out.data"
  awk '/^(summary|totals):/ { print $2; exit }' "$out.callgrind"
}

echo "| build | operation | instructions per operation | runs ($A and $B operations) |"
echo "|---|---|---|---|"
for build in "${BUILDS[@]}"; do
  name=${build%%=*}
  pair=${build#*=}
  bench=${pair#*,}
  for op in ${OPS_LIST:-extract reuse grant}; do
    ia=$(instructions "$name" "$bench" "$op" "$A")
    ib=$(instructions "$name" "$bench" "$op" "$B")
    per=$(( (ib - ia) / (B - A) ))
    echo "| $name | $op | $per | $ia, $ib |"
  done
done
