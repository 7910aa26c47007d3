# The two commands of the README: `make run` (demo vault) and `make test` (the whole suite).
# Builds go to a cache outside the clone so repeated runs and CI reuse compiled RocksDB.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/licence-vault/target
CARGO ?= cargo
SHELL := bash
.SHELLFLAGS := -o pipefail -c
DATA ?= ./data
LISTEN ?= 127.0.0.1:8080

.PHONY: run test deps lint unit test-pg test-ha api-fuzz web-test vc-clients pdf-check screenshots fuzz-short fuzz crash-short test-crash drill flood bench fresh-clone-check
deps:
	@scripts/install-deps.sh

## Build and start the vault on embedded RocksDB with demo data.
run: deps
	$(CARGO) run --bin licence-vault -- serve --demo --data $(DATA) --listen $(LISTEN)

## Format, lint and run every test (unit, integration over the router, CLI and a real socket),
## then fuzz the API with schemathesis against the real server, test the pages in headless Chromium,
## fuzz the parsers with cargo-fuzz, crash the server under load and run the disaster drill.
test: deps lint unit test-pg test-ha api-fuzz web-test vc-clients pdf-check fuzz-short crash-short drill

lint:
	$(CARGO) fmt --check
	$(CARGO) fmt --check --manifest-path fuzz/Cargo.toml
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --lib --no-default-features -- -D warnings

# The last line is the total over every test binary (lib, integration, examples, bench smoke).
unit:
	mkdir -p $(CARGO_TARGET_DIR)
	$(CARGO) test --all-targets 2>&1 | tee $(CARGO_TARGET_DIR)/make-test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "%d passed, %d failed\n", p, f }' $(CARGO_TARGET_DIR)/make-test.log

## The integration suite again on a throwaway PostgreSQL on loopback (scripts/test-pg.sh).
test-pg:
	scripts/test-pg.sh

## Failover (scripts/ha-suite.py): three vault nodes over Patroni, etcd and three PostgreSQL members
## with synchronous replication on loopback, under load; SIGKILL of the primary, then a partition.
## Needs root (iptables, cgroups).
test-ha:
	$(CARGO) build --bin licence-vault
	scripts/ha-suite.py $(CARGO_TARGET_DIR)/debug/licence-vault

## schemathesis against /v1/openapi.json with every role's token: no 5xx, no undocumented status.
api-fuzz:
	scripts/api-fuzz.sh 20

## One holder flooded with 40,000 consent requests on the real server, rate limits on; the other
## principals' latency beside an idle run (docs/OPERATIONS.md, "Rate limits and caps").
flood:
	$(CARGO) build --release --bin licence-vault
	scripts/flood.py $(CARGO_TARGET_DIR)/release/licence-vault --requests 40000

## The pages (/me, /verify, /agency) in headless Chromium against the real server (tests/web).
web-test:
	$(CARGO) build --bin licence-vault
	scripts/web-test.sh $(CARGO_TARGET_DIR)/debug/licence-vault

## The VC-API verifiers and `sign` against digitalbazaar's VC libraries (scripts/vc-clients.sh).
vc-clients:
	$(CARGO) build --bin licence-vault
	scripts/vc-clients.sh $(CARGO_TARGET_DIR)/debug/licence-vault

## Printable copies (SPEC §16) checked by pyHanko, poppler (pdfsig, pdftotext, pdffonts, pdftoppm),
## zbarimg and qpdf: a licence, a stamped and a minimised copy as the vault prints them
## (scripts/pdf-check.py).
export LICENCE_VAULT_PYHANKO_VENV ?= $(HOME)/.cache/licence-vault/venv/pyhanko
pdf-check:
	rm -rf $(CARGO_TARGET_DIR)/pdf-samples
	LICENCE_VAULT_PRINT_SAMPLES=$(CARGO_TARGET_DIR)/pdf-samples $(CARGO) test --test it -- prints::copies_and_licences_print_as_sealed_pdfs_that_verify --exact
	$(LICENCE_VAULT_PYHANKO_VENV)/bin/python scripts/pdf-check.py $(CARGO_TARGET_DIR)/pdf-samples

## The same, writing the pages' screenshots into docs/screenshots/.
screenshots: deps
	$(CARGO) build --bin licence-vault
	UPDATE_SCREENSHOTS=1 scripts/web-test.sh $(CARGO_TARGET_DIR)/debug/licence-vault

## cargo-fuzz targets (fuzz/) for the I-JSON parser and canonicaliser, codes, did:key, proofs and
## licences, from the committed seed corpus: 10 s each in `make test`, FUZZ_SECONDS each in `make fuzz`.
FUZZ_SECONDS ?= 300
fuzz-short:
	scripts/fuzz.sh 10

fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

## The crash suite (scripts/crash-suite.py): mixed load, SIGKILL, restart, every acknowledged write
## checked. A short run in `make test`; `make test-crash` kills it 100 times.
crash-short:
	$(CARGO) build --bin licence-vault
	scripts/crash-suite.py $(CARGO_TARGET_DIR)/debug/licence-vault --kills 5

test-crash: deps
	$(CARGO) build --bin licence-vault
	scripts/crash-suite.py $(CARGO_TARGET_DIR)/debug/licence-vault --kills 100 --seed 7

## The disaster drill (scripts/drill.py), on RocksDB and on PostgreSQL with its WAL archived: writes
## under load, a backup, more writes, SIGKILL, the data wiped, restore (scripts/pg-backup.sh for
## PostgreSQL), start; every write acknowledged before the backup is there and verifies, and the
## vault says at start and in /healthz that it was restored, and from when.
drill:
	$(CARGO) build --bin licence-vault
	scripts/drill.py $(CARGO_TARGET_DIR)/debug/licence-vault

bench: deps
	$(CARGO) bench

## Clone into a temp dir with an empty target dir and run `make run` and `make test` there, timed.
fresh-clone-check:
	scripts/fresh-clone-check.sh
