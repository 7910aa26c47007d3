#!/usr/bin/env bash
# Installs what building licence-vault needs beyond the Rust toolchain: clang and libclang (the
# rocksdb crate compiles RocksDB from C++ and generates its bindings with libclang), plus the
# rustfmt and clippy components, schemathesis (the API fuzzer of `make test`) in a Python venv
# under the build cache, cargo-fuzz with a nightly toolchain (the parser fuzzer), and for the page
# tests Debian's Chromium, a Chinese font, Node.js and the pinned node packages of tests/web,
# Debian's PostgreSQL server for the suite's run on PostgreSQL, and SoftHSM2 with opensc for the
# keys kept in a PKCS#11 module, Go with golang.org/x/mod for the logs' outside checker, and
# valgrind (callgrind) for the instruction-count comparisons of the suite.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Any one match will do (`ls` of several globs fails as soon as one of them matches nothing).
have_libclang() {
  local f
  for f in /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/*-linux-gnu/libclang*.so*; do
    [ -e "$f" ] && return 0
  done
  return 1
}

missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
have_libclang || missing+=(libclang-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The page tests: Debian's Chromium, a font with Chinese glyphs for the screenshots, Node.js and npm
# for playwright-core and axe-core, and curl for the scripts' readiness checks.
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The same font (a TrueType collection) is the one printable copies embed (SPEC §16).
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# PostgreSQL, the engine for many nodes: its server for scripts/pg.sh and the suite run on it.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
# The failover test (scripts/test-ha.sh): Patroni with etcd as its consensus store, and iptables
# for the partition.
command -v patroni >/dev/null 2>&1 || missing+=(patroni)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# Keys in a hardware security module: SoftHSM2 as the PKCS#11 module of the tests, and opensc's
# pkcs11-tool, which acts on the token from outside the vault (a key removed mid-run).
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
# The transparency logs' outside checker (tests/tlog-check): Go with golang.org/x/mod's sumdb/tlog
# and note packages, both from Debian, built offline with GO111MODULE=off.
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || missing+=(golang-golang-x-mod-dev)
# Printable copies' outside checkers (scripts/pdf-check.sh): poppler's pdfsig, pdftotext, pdffonts
# and pdftoppm, qpdf, zbar's zbarimg for the QR code, and NSS's certutil for pdfsig's trust store.
command -v pdfsig >/dev/null 2>&1 || missing+=(poppler-utils)
command -v qpdf >/dev/null 2>&1 || missing+=(qpdf)
command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
# Existence oracles are compared by instruction counts, not wall time (tests/it/oracle.rs).
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "installing ${missing[*]} with sudo apt-get" >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]}. Run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

# schemathesis, pinned, in its own venv (never the system's Python packages).
SCHEMATHESIS_VERSION=4.32.5
VENV=${LICENCE_VAULT_VENV:-$HOME/.cache/licence-vault/venv/schemathesis}
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# pyHanko's command line, pinned, in its own venv: it validates the seal of printable copies.
PYHANKO_VERSION=0.6.0
PYHANKO_VENV=${LICENCE_VAULT_PYHANKO_VENV:-$HOME/.cache/licence-vault/venv/pyhanko}
if ! "$PYHANKO_VENV/bin/pip" show pyhanko-cli 2>/dev/null | grep -q "^Version: $PYHANKO_VERSION"; then
  echo "installing pyhanko-cli $PYHANKO_VERSION into $PYHANKO_VENV" >&2
  python3 -m venv "$PYHANKO_VENV"
  "$PYHANKO_VENV/bin/pip" install -q --disable-pip-version-check "pyhanko-cli==$PYHANKO_VERSION"
fi

# cargo-fuzz, pinned, on a nightly toolchain (scripts/fuzz.sh; libFuzzer needs nightly's
# sanitizer flags). rustup installs a missing nightly; cargo installs cargo-fuzz into ~/.cargo/bin.
CARGO_FUZZ_VERSION=0.13.2
if command -v rustup >/dev/null 2>&1 && ! cargo +nightly --version >/dev/null 2>&1; then
  echo "installing the nightly toolchain (minimal profile) for cargo-fuzz" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install -q --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# playwright-core and axe-core for the page tests, and digitalbazaar's VC libraries for the VC
# client tests, each pinned by its package-lock.json.
for dir in tests/web tests/vc-js; do
  stamp=$dir/node_modules/.lock-sha256
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing $dir's node packages (npm ci)" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
done
