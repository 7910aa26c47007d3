#!/usr/bin/env bash
# Parser fuzzing: runs each cargo-fuzz target in fuzz/ for SECONDS (default 30) with libFuzzer and
# AddressSanitizer, starting from the committed seed corpus: fixtures/ (licences, bad documents,
# the conformance vectors) for the JSON targets, fuzz/seeds/<target> for the others. New inputs go
# to a scratch corpus, never into the repository; a crash leaves its input in fuzz/artifacts/ and
# fails the run.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: json codes did_key proof licence tlog
#
# Needs cargo-fuzz and a nightly toolchain (scripts/install-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(json codes did_key proof licence tlog)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/licence-vault/target}
FUZZ_TARGET_DIR=$CARGO_TARGET_DIR/fuzz
cargo fuzz --version >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz missing; run scripts/install-deps.sh" >&2; exit 1; }

echo "fuzz: building the targets (nightly, AddressSanitizer)" >&2
cargo +nightly fuzz build --target-dir "$FUZZ_TARGET_DIR" 2>&1 \
  | { grep -vE '^ +(Compiling|Downloaded|Downloading) ' || true; } >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/licence-vault-libfuzzer.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failed=0
for t in "${TARGETS[@]}"; do
  case $t in
    json|proof|licence) seeds=(fixtures) ;;
    codes|did_key|tlog) seeds=("fuzz/seeds/$t") ;;
    *) echo "fuzz: unknown target $t" >&2; exit 2 ;;
  esac
  mkdir -p "$WORK/$t" "fuzz/artifacts/$t"
  log=$WORK/$t.log
  if cargo +nightly fuzz run --target-dir "$FUZZ_TARGET_DIR" "$t" "$WORK/$t" "${seeds[@]}" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
    echo "fuzz: $t ok: $runs runs in ${SECONDS_EACH}s, coverage $cov, corpus $(ls "$WORK/$t" | wc -l) new inputs"
  else
    failed=1
    echo "fuzz: $t FAILED; last lines of its log:" >&2
    tail -40 "$log" >&2
    echo "fuzz: the failing input is in fuzz/artifacts/$t/" >&2
  fi
done
exit $failed
