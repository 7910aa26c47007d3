//! The in-process half of the benchmark suite (`scripts/bench.sh` drives it; BENCHMARKS.md has the
//! figures). Each subcommand prints one JSON object on stdout and a human line on stderr.
//!
//! - `limits`: what this machine can do at best — raw Ed25519 sign, `verify_strict` and batch
//!   verification, raw RocksDB point reads and synced batch writes — the denominators of every ratio;
//! - `components`: what one licence costs in each library step of a deposit, on real generated
//!   licences (where import time goes);
//! - `seed`: a data directory with the demo registries and tokens (what `serve --demo` seeds);
//! - `verify`: verify a JSONL file in-process, as `licence-vault verify --registry` does, one
//!   thread, all threads, and batched as a deposit does (the peer comparison's Rust side);
//! - `extract`: `Vault::extract` of random stored ids, the in-process ceiling of `GET /v1/licences/{id}`;
//! - `requests`: the wrk input (path and issuer token per line) for the HTTP load;
//! - `reuse-setup`: consents for holders spread over the stored set, and the wrk input for
//!   `POST /v1/reuse` (requester token, holder, matter per line);
//! - `deposits`: the wrk input (issuer token and licence per line) for `POST /v1/licences`;
//! - `store-reads`: raw RocksDB point reads of the stored licences (document, and metadata and
//!   document as a read does), the storage limit at the scale actually stored;
//! - `reuse`: `Vault::reuse` of those pulls in-process (consent check, durable access record,
//!   verify, vault-signed copies), the in-process ceiling of `POST /v1/reuse`;
//! - `prints`: a licence's page laid out, its font subset and the PDF sealed (SPEC §16), one
//!   thread and all threads, the seal checked, and the bytes of a PDF.
//!
//! `cargo bench` runs `limits` for a few seconds; `cargo test --all-targets` runs every measurement
//! once on tiny inputs (a smoke test, nothing is timed or asserted on time).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rayon::prelude::*;
use serde_json::{json, Value};

use licence_vault::codes::LicenceId;
use licence_vault::registry::{Agency, LicenceType, Matter, Registries};
use licence_vault::store::{Change, RocksStore, Store, Table};
use licence_vault::verify::{self, Evidence, RecordFacts};
use licence_vault::{jcs, proof};

#[derive(Debug, Parser)]
#[command(name = "vault-bench", about = "licence-vault in-process benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Passed by `cargo bench`: run `limits` briefly.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    Limits(LimitsOpt),
    Components(ComponentsOpt),
    Seed(SeedOpt),
    Prints(PrintsOpt),
    Verify(VerifyOpt),
    Extract(ExtractOpt),
    Requests(RequestsOpt),
    ReuseSetup(ReuseSetupOpt),
    Reuse(ReuseOpt),
    StoreReads(StoreReadsOpt),
    Deposits(DepositsOpt),
}

/// Which engine holds DATA's licences, as `serve --store` takes it.
#[derive(Debug, Args)]
struct StoreOpt {
    /// `rocksdb` (DATA/db) or a `postgres://` URL.
    #[arg(long, env = "LICENCE_VAULT_STORE", default_value = "rocksdb")]
    store: String,
    /// The PostgreSQL schema.
    #[arg(long, env = "LICENCE_VAULT_PG_SCHEMA", default_value = licence_vault::cli::DEFAULT_PG_SCHEMA)]
    pg_schema: String,
}

impl StoreOpt {
    /// The vault of `data` on this engine (`keys`: the demo keys, for a first open).
    fn open(
        &self,
        data: &Path,
        keys: Option<&Path>,
    ) -> anyhow::Result<std::sync::Arc<licence_vault::vault::Vault>> {
        let spec = licence_vault::cli::StoreSpec::parse(
            &self.store,
            &self.pg_schema,
            licence_vault::store::rocks::RocksConfig::default(),
        )?;
        licence_vault::cli::open_vault_with(data, None, keys, Default::default(), &spec)
    }
}

#[derive(Debug, Args)]
struct DepositsOpt {
    /// Signed licences (JSONL), not yet stored.
    #[arg(long = "in")]
    input: PathBuf,
    /// DATA/demo-tokens.json (issuer tokens).
    #[arg(long)]
    tokens: PathBuf,
    /// The wrk input: "TOKEN<TAB>LICENCE" per line.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct StoreReadsOpt {
    #[arg(long)]
    data: PathBuf,
    /// Bare licence ids, one per line.
    #[arg(long)]
    ids: PathBuf,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(Debug, Args)]
struct ReuseSetupOpt {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: StoreOpt,
    /// Bare licence ids spread over the stored set; their holders are the ones pulled.
    #[arg(long)]
    ids: PathBuf,
    /// DATA/demo-tokens.json (requester tokens).
    #[arg(long)]
    tokens: PathBuf,
    /// Holders to grant a consent (at most one per id).
    #[arg(long, default_value_t = 2000)]
    holders: usize,
    /// The wrk input: "TOKEN HOLDER MATTER" per line.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct ReuseOpt {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: StoreOpt,
    /// The file `reuse-setup` wrote.
    #[arg(long = "requests")]
    requests: PathBuf,
    /// DATA/demo-tokens.json, to map requester tokens back to requester ids.
    #[arg(long)]
    tokens: PathBuf,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Exactly this many pulls on one thread instead of timed runs (for instruction counts).
    #[arg(long)]
    ops: Option<u64>,
    /// Each operation grants a consent (`Vault::create_consent`) for a pull's holder, requester
    /// and matter instead of pulling.
    #[arg(long)]
    grant: bool,
}

#[derive(Debug, Args)]
struct LimitsOpt {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Directory for the RocksDB measurements (the disk under test); a temp dir when absent.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keys written before the point-read measurement.
    #[arg(long, default_value_t = 200_000)]
    read_keys: u64,
    /// Licences per synced batch write (the deposit and import batch).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
}

#[derive(Debug, Args)]
struct ComponentsOpt {
    /// Generated licences (JSONL).
    #[arg(long = "in")]
    input: PathBuf,
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    #[arg(long, default_value = "keys")]
    keys: PathBuf,
    /// Licences to use (from the start of the file).
    #[arg(long, default_value_t = 5000)]
    count: usize,
}

#[derive(Debug, Args)]
struct SeedOpt {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: StoreOpt,
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    #[arg(long, default_value = "keys")]
    keys: PathBuf,
}

#[derive(Debug, Args)]
struct VerifyOpt {
    /// Signed licences (JSONL).
    #[arg(long = "in")]
    input: PathBuf,
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Repeat each measurement this many times and keep the best.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(Debug, Args)]
struct ExtractOpt {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: StoreOpt,
    /// Bare licence ids, one per line.
    #[arg(long)]
    ids: PathBuf,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Exactly this many reads on one thread instead of timed runs (for instruction counts).
    #[arg(long)]
    ops: Option<u64>,
}

#[derive(Debug, Args)]
struct PrintsOpt {
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(Debug, Args)]
struct RequestsOpt {
    /// Bare licence ids, one per line.
    #[arg(long)]
    ids: PathBuf,
    /// DATA/demo-tokens.json.
    #[arg(long)]
    tokens: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

/// The allocator of the `licence-vault` binary, so in-process figures compare with the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(cmd) => run(cmd),
        None if cli.bench => run(Cmd::Limits(LimitsOpt {
            seconds: 2.0,
            dir: None,
            read_keys: 100_000,
            batch: 1000,
        })),
        // `cargo test --all-targets` runs bench targets without arguments: a smoke run.
        None => smoke(),
    };
    match result {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vault-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> anyhow::Result<Value> {
    match cmd {
        Cmd::Limits(o) => limits(&o),
        Cmd::Components(o) => components(&o),
        Cmd::Seed(o) => seed(&o),
        Cmd::Prints(o) => prints(&o),
        Cmd::Verify(o) => verify_file(&o),
        Cmd::Extract(o) => extract(&o),
        Cmd::Requests(o) => requests(&o),
        Cmd::ReuseSetup(o) => reuse_setup(&o),
        Cmd::Reuse(o) => reuse(&o),
        Cmd::StoreReads(o) => store_reads(&o),
        Cmd::Deposits(o) => deposits(&o),
    }
}

/// Every measurement once, tiny, so that `cargo test --all-targets` proves the harness works.
fn smoke() -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lim = limits(&LimitsOpt {
        seconds: 0.02,
        dir: Some(dir.path().join("limits")),
        read_keys: 500,
        batch: 10,
    })?;
    let jsonl = dir.path().join("smoke.jsonl");
    let docs: Vec<String> = licence_vault::demo::sample_licences(&root.join("fixtures"))?
        .into_iter()
        .map(|(_, d)| String::from_utf8(jcs::canonicalize(&d)))
        .collect::<Result<_, _>>()?;
    std::fs::write(&jsonl, docs.join("\n") + "\n")?;
    let ver = verify_file(&VerifyOpt {
        input: jsonl.clone(),
        fixtures: root.join("fixtures"),
        repeat: 1,
    })?;
    if ver["accepted"] != json!(docs.len()) {
        bail!("smoke: the sample licences did not all verify: {ver}");
    }
    let comp = components(&ComponentsOpt {
        input: jsonl,
        fixtures: root.join("fixtures"),
        keys: root.join("keys"),
        count: 10,
    })?;
    let pr = prints(&PrintsOpt {
        fixtures: root.join("fixtures"),
        seconds: 0.02,
    })?;
    Ok(json!({"smoke": true, "limits": lim, "verify": ver, "components": comp, "prints": pr}))
}

// ----- measuring ---------------------------------------------------------------------------------

/// Runs `op` (which does `per_call` operations) repeatedly on `threads` threads for about
/// `seconds`, and returns operations per second.
fn rate(threads: usize, seconds: f64, per_call: u64, op: impl Fn(u64) + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, done, op) = (&stop, &done, &op);
            s.spawn(move || {
                let mut i = t as u64 * 1_000_000_007;
                while !stop.load(Ordering::Relaxed) {
                    op(i);
                    i += 1;
                    done.fetch_add(per_call, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Runs `op` exactly `n` times on this thread: under `valgrind --tool=callgrind`, two runs with
/// different `n` give the instructions of one operation, set-up cancelled out (BENCHMARKS.md).
fn counted(n: u64, op: impl Fn(u64)) -> Value {
    for i in 0..n {
        op(i);
    }
    json!({"ops": n})
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn r0(x: f64) -> f64 {
    x.round()
}

// ----- prints ------------------------------------------------------------------------------------

/// Printable copies (SPEC §16): each sample licence's page, laid out, its font subset, the PDF
/// written and sealed (ECDSA P-256 over the CMS signed attributes), as `GET /v1/copies/{id}.pdf`
/// does after reading the kept copy; and the seal checked, as `POST /v1/verify` does first.
fn prints(o: &PrintsOpt) -> anyhow::Result<Value> {
    use licence_vault::print::{self, pdf, seal, PrintFacts};
    let printing = licence_vault::vault::prints::printing_for_tests("bench")
        .ok_or_else(|| anyhow!("no CJK font (scripts/install-deps.sh)"))?;
    let at = Utc::now();
    let pages: Vec<print::Page> = licence_vault::demo::sample_licences(&o.fixtures)?
        .into_iter()
        .map(|(_, doc)| {
            let facts = PrintFacts {
                type_name: doc["credentialSubject"]["licence"]["typeName"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                issuer_name: doc["issuer"]["name"].as_str().unwrap_or("").to_owned(),
                requester_name: None,
                matter_name: None,
                status: "active".into(),
                valid: true,
                at,
                vault_key: "did:key:z6Mk".into(),
            };
            print::page("urn:uuid:bench", &doc, &facts, "http://127.0.0.1:8080")
                .map_err(|e| anyhow!(e))
        })
        .collect::<Result<_, _>>()?;
    let make = |i: u64| -> anyhow::Result<Vec<u8>> {
        let page = &pages[i as usize % pages.len()];
        pdf::render(page, &printing.font, at)
            .map_err(|e| anyhow!("{e}"))?
            .sign_with(|d| printing.keys.sign(d))
            .map_err(|e| anyhow!(e))
    };
    let pdfs: Vec<Vec<u8>> = (0..pages.len() as u64)
        .map(make)
        .collect::<Result<_, _>>()?;
    let bytes: Vec<usize> = pdfs.iter().map(Vec::len).collect();
    let one = rate(1, o.seconds, 1, |i| {
        let _ = make(i);
    });
    let all = rate(cores(), o.seconds, 1, |i| {
        let _ = make(i);
    });
    let ca = [printing.keys.ca().clone()];
    let reads: Vec<pdf::Read> = pdfs
        .iter()
        .map(|p| pdf::read(p).map_err(|e| anyhow!(e.0)))
        .collect::<Result<_, _>>()?;
    let check = rate(1, o.seconds, 1, |i| {
        let r = &reads[i as usize % reads.len()];
        let _ = seal::check(&r.cms, &r.digest, &ca, at);
    });
    let v = json!({
        "pages": pages.len(),
        "sealed_per_s_1_thread": r0(one),
        "sealed_per_s_all_threads": r0(all),
        "threads": cores(),
        "seal_checks_per_s_1_thread": r0(check),
        "bytes_min": bytes.iter().min(),
        "bytes_max": bytes.iter().max(),
        "bytes_mean": bytes.iter().sum::<usize>() / bytes.len().max(1),
    });
    eprintln!(
        "prints: {} sealed PDFs/s on one thread, {} on {}; {} seal checks/s; {}–{} bytes",
        r0(one),
        r0(all),
        cores(),
        r0(check),
        v["bytes_min"],
        v["bytes_max"]
    );
    Ok(v)
}

// ----- limits ------------------------------------------------------------------------------------

fn limits(o: &LimitsOpt) -> anyhow::Result<Value> {
    let n = cores();
    let secs = o.seconds;
    // 64 keys and messages shaped like eddsa-jcs-2022's hash data (64 bytes).
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let vks: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let msgs: Vec<[u8; 64]> = (0..64u8).map(|i| [i; 64]).collect();
    let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();

    let sign = |i: u64| {
        let k = (i % 64) as usize;
        std::hint::black_box(keys[k].sign(&msgs[k]));
    };
    let strict = |i: u64| {
        let k = (i % 64) as usize;
        std::hint::black_box(vks[k].verify_strict(&msgs[k], &sigs[k]).is_ok());
    };
    // What deposit_batch does: batches of 64 (its rayon chunk).
    let batch = |_: u64| {
        std::hint::black_box(ed25519_dalek::verify_batch(&msg_refs, &sigs, &vks).is_ok());
    };
    // A torsion-free check of R, which would make a passing batch agree with verify_strict
    // exactly (proof::verify_batch checks only for small order; docs/DECISIONS.md).
    let r_check = |i: u64| {
        let s = &sigs[(i % 64) as usize];
        let ok = CompressedEdwardsY(*s.r_bytes())
            .decompress()
            .is_some_and(|r| r.is_torsion_free());
        std::hint::black_box(ok);
    };
    // The same answer in variable time ([ℓ-1]R + R = [ℓ]R; R is public, so variable time is safe).
    let l_minus_1 = Scalar::ZERO - Scalar::ONE;
    let r_check_vartime = |i: u64| {
        let s = &sigs[(i % 64) as usize];
        let ok = CompressedEdwardsY(*s.r_bytes())
            .decompress()
            .is_some_and(|r| {
                (EdwardsPoint::vartime_double_scalar_mul_basepoint(&l_minus_1, &r, &Scalar::ZERO)
                    + r)
                    .is_identity()
            });
        std::hint::black_box(ok);
    };
    let mut ed = BTreeMap::new();
    for (name, per, f) in [
        ("sign", 1, &sign as &(dyn Fn(u64) + Sync)),
        ("verify_strict", 1, &strict as &(dyn Fn(u64) + Sync)),
        ("verify_batch64", 64, &batch as &(dyn Fn(u64) + Sync)),
        ("r_torsion_check", 1, &r_check as &(dyn Fn(u64) + Sync)),
        (
            "r_torsion_check_vartime",
            1,
            &r_check_vartime as &(dyn Fn(u64) + Sync),
        ),
    ] {
        let one = rate(1, secs, per, f);
        let all = rate(n, secs, per, f);
        eprintln!("ed25519 {name}: {one:.0}/s on 1 thread, {all:.0}/s on {n}");
        ed.insert(
            name,
            json!({"perSecond1": r0(one), "perSecondAll": r0(all)}),
        );
    }

    let tmp;
    let dir = match &o.dir {
        Some(d) => {
            if d.exists() {
                std::fs::remove_dir_all(d).with_context(|| format!("clearing {}", d.display()))?;
            }
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().join("limits")
        }
    };
    let rocks = rocks_limits(&dir, o, n)?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(json!({"threads": n, "seconds": secs, "ed25519": ed, "rocksdb": rocks}))
}

/// A realistic value: a licence-sized JSON text (compressible like the real ones).
fn licence_like(i: u64) -> Vec<u8> {
    format!(
        r#"{{"@context":["https://www.w3.org/ns/credentials/v2"],"credentialSubject":{{"holder":{{"code":"3501021985{i:08}","codeType":"111","name":"林志强"}},"licence":{{"fields":{{"住址":"福建省福州市鼓楼区五四路{}号3栋502室","姓名":"林志强","性别":"男","民族":"汉","出生":"1985-03-12","签发机关":"福州市公安局鼓楼分局"}},"issueDate":"2024-02-20","jurisdiction":"350102","number":"35010219850312013X","typeCode":"11100000000019713D001","typeName":"居民身份证","version":"001"}}}},"id":"urn:gbt36904:1.2.156.3005.2.11100000000019713D001.113501000035902487.{i:016}.001.X","issuer":{{"id":"urn:uscc:113501000035902487","name":"福州市公安局"}},"proof":{{"@context":["https://www.w3.org/ns/credentials/v2"],"created":"2024-02-20T01:30:00Z","cryptosuite":"eddsa-jcs-2022","proofPurpose":"assertionMethod","proofValue":"z{:086x}","type":"DataIntegrityProof","verificationMethod":"did:key:z6MkrFdS88MCMfyeY9pS8zyHMzZX3Aa4xuMsgLXBxrmP1oT1#z6MkrFdS88MCMfyeY9pS8zyHMzZX3Aa4xuMsgLXBxrmP1oT1"}},"type":["VerifiableCredential","ElectronicLicence"],"validFrom":"2024-02-20T00:00:00Z","validUntil":"2044-02-19T23:59:59Z"}}"#,
        i % 300,
        u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
    .into_bytes()
}

fn key_of(i: u64) -> Vec<u8> {
    format!("1.2.156.3005.2.11100000000019713D001.113501000035902487.{i:016}.001.X").into_bytes()
}

fn rocks_limits(dir: &Path, o: &LimitsOpt, n: usize) -> anyhow::Result<Value> {
    let store = RocksStore::open(dir).map_err(|e| anyhow!("{e}"))?;
    let meta = vec![b'm'; 900];
    // Synced batch writes shaped like a deposit batch: document, metadata, holder index per licence.
    let write_batch = |start: u64, size: usize| -> anyhow::Result<()> {
        let mut c = Change::durable();
        for i in start..start + size as u64 {
            let mut holder = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .to_be_bytes()
                .to_vec();
            holder.extend_from_slice(&key_of(i));
            c.put(Table::LicenceDocument, key_of(i), licence_like(i))
                .put(Table::LicenceMeta, key_of(i), meta.clone())
                .put(Table::HolderLicence, holder, Vec::new());
        }
        store.commit(c).map_err(|e| anyhow!("{e}"))
    };
    let mut next = 0u64;
    let started = Instant::now();
    let mut batches = 0u64;
    while started.elapsed().as_secs_f64() < o.seconds.max(0.01) * 2.0 {
        write_batch(next, o.batch)?;
        next += o.batch as u64;
        batches += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let batch_rate = batches as f64 / elapsed;
    eprintln!(
        "rocksdb synced batch writes ({} licences each): {batch_rate:.1} batches/s = {:.0} licences/s",
        o.batch,
        batch_rate * o.batch as f64
    );
    // Single-licence synced writes: the floor under one HTTP deposit.
    let started = Instant::now();
    let mut singles = 0u64;
    while started.elapsed().as_secs_f64() < o.seconds.max(0.01) {
        write_batch(next, 1)?;
        next += 1;
        singles += 1;
    }
    let single_rate = singles as f64 / started.elapsed().as_secs_f64();
    eprintln!("rocksdb synced single-licence writes: {single_rate:.0}/s");

    // Fill up to read_keys (unsynced: only the read side is measured here), flush, read at random.
    while next < o.read_keys {
        let mut c = Change::default();
        for i in next..(next + 1000).min(o.read_keys) {
            c.put(Table::LicenceDocument, key_of(i), licence_like(i));
        }
        store.commit(c).map_err(|e| anyhow!("{e}"))?;
        next = (next + 1000).min(o.read_keys);
    }
    store.flush().map_err(|e| anyhow!("{e}"))?;
    let keys = next.max(1);
    let errors = AtomicU64::new(0);
    let read = |i: u64| {
        let k = licence_vault_mix(i) % keys;
        match store.get(Table::LicenceDocument, &key_of(k)) {
            Ok(Some(v)) => {
                std::hint::black_box(v);
            }
            _ => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let read1 = rate(1, o.seconds, 1, read);
    let read_all = rate(n, o.seconds, 1, read);
    eprintln!(
        "rocksdb point reads over {keys} keys: {read1:.0}/s on 1 thread, {read_all:.0}/s on {n}"
    );
    if errors.load(Ordering::Relaxed) > 0 {
        bail!("{} point reads missed", errors.load(Ordering::Relaxed));
    }
    Ok(json!({
        "batchLicences": o.batch,
        "syncedBatchesPerSecond": (batch_rate * 10.0).round() / 10.0,
        "syncedBatchLicencesPerSecond": r0(batch_rate * o.batch as f64),
        "syncedSingleWritesPerSecond": r0(single_rate),
        "pointReadKeys": keys,
        "pointReadsPerSecond1": r0(read1),
        "pointReadsPerSecondAll": r0(read_all),
    }))
}

fn licence_vault_mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ----- registries --------------------------------------------------------------------------------

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    jcs::parse(&bytes).with_context(|| format!("{} is not I-JSON", path.display()))
}

fn registries(fixtures: &Path) -> anyhow::Result<Registries> {
    let types: Vec<LicenceType> =
        serde_json::from_value(read_json(&fixtures.join("catalogue.json"))?["types"].take())?;
    let matters: Vec<Matter> =
        serde_json::from_value(read_json(&fixtures.join("matters.json"))?["matters"].take())?;
    let agencies: Vec<Agency> =
        serde_json::from_value(read_json(&fixtures.join("agencies.json"))?["agencies"].take())?;
    Ok(Registries::new(types, matters, agencies, Vec::new()))
}

fn read_lines(path: &Path, max: usize) -> anyhow::Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::with_capacity(1 << 20, f).lines().take(max) {
        let line = line?;
        if !line.trim().is_empty() {
            out.push(line);
        }
    }
    Ok(out)
}

// ----- components --------------------------------------------------------------------------------

/// Cost of each step a deposit performs per licence, measured on one thread over real licences.
fn components(o: &ComponentsOpt) -> anyhow::Result<Value> {
    let lines = read_lines(&o.input, o.count)?;
    if lines.is_empty() {
        bail!("{} has no licences", o.input.display());
    }
    let reg = registries(&o.fixtures)?;
    let signer = licence_vault::cli::read_signer(&o.keys.join("vault.key"))?;
    let now = Utc::now();
    let n = lines.len() as f64;
    let mut out = BTreeMap::new();
    let mut time = |name: &'static str, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        let t = Instant::now();
        let r = f();
        let us = t.elapsed().as_secs_f64() * 1e6 / n;
        eprintln!("  {name}: {us:.1} µs per licence");
        out.insert(name, (us * 10.0).round() / 10.0);
        r
    };

    let mut docs = Vec::new();
    time("parse (I-JSON)", &mut || {
        docs = lines
            .iter()
            .map(|l| jcs::parse(l.as_bytes()))
            .collect::<Result<_, _>>()?;
        Ok(())
    })?;
    let mut prepared = Vec::new();
    time("prepare (2× JCS + 2× SHA-256)", &mut || {
        prepared = docs
            .iter()
            .map(proof::prepare)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(())
    })?;
    time("verify_strict", &mut || {
        for p in &prepared {
            if !p.verify() {
                bail!("a signature does not verify");
            }
        }
        Ok(())
    })?;
    time(
        "proof::verify_batch (chunks of 64, with its R and s checks)",
        &mut || {
            for c in prepared.chunks(64) {
                let refs: Vec<&proof::Prepared> = c.iter().collect();
                if proof::verify_batch(&refs).iter().any(|ok| !ok) {
                    bail!("a signature does not verify");
                }
            }
            Ok(())
        },
    )?;
    time("raw ed25519 verify_batch (chunks of 64)", &mut || {
        for c in prepared.chunks(64) {
            let msgs: Vec<&[u8]> = c.iter().map(|p| &p.message[..]).collect();
            let sigs: Vec<Signature> = c.iter().map(|p| p.signature).collect();
            let keys: Vec<VerifyingKey> = c.iter().map(|p| *p.key.verifying_key()).collect();
            ed25519_dalek::verify_batch(&msgs, &sigs, &keys).map_err(|e| anyhow!("batch: {e}"))?;
        }
        Ok(())
    })?;
    let facts = RecordFacts {
        deposited_at: now,
        integrity: Ok(()),
        status: None,
        superseded_by: None,
    };
    time(
        "verify::licence_prepared, signature given (parse, schema, keys, validity)",
        &mut || {
            for (d, p) in docs.iter().zip(&prepared) {
                let ev = Evidence {
                    registries: Some(&reg),
                    record: Some(&facts),
                    now,
                    signature: Some(true),
                };
                if !verify::licence_prepared(d, &Ok(p.clone()), ev).0.valid {
                    bail!("a licence is not valid");
                }
            }
            Ok(())
        },
    )?;
    let mut stored = Vec::new();
    time("canonicalize + SHA-256 for storage", &mut || {
        stored = docs
            .iter()
            .map(|d| {
                let b = jcs::canonicalize(d);
                let h = <sha2::Sha256 as sha2::Digest>::digest(&b);
                (b, h)
            })
            .collect();
        Ok(())
    })?;
    time("sign receipt (proof::sign)", &mut || {
        for d in &docs {
            let id = d["id"].as_str().unwrap_or_default();
            let receipt = json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential", "DepositReceipt"],
                "issuer": signer.did_key().as_str(),
                "validFrom": proof::format_time(now),
                "credentialSubject": {"licence": id, "sha256": "0".repeat(64), "depositedAt": proof::format_time(now)}
            });
            std::hint::black_box(proof::sign(receipt.clone(), &signer, now)?);
        }
        Ok(())
    })?;
    let doc_bytes: usize = stored.iter().map(|(b, _)| b.len()).sum();
    Ok(
        json!({"licences": lines.len(), "microsecondsPerLicence": out, "jcsBytesPerLicence": doc_bytes / lines.len()}),
    )
}

// ----- seed --------------------------------------------------------------------------------------

fn seed(o: &SeedOpt) -> anyhow::Result<Value> {
    let vault = o.store.open(&o.data, Some(&o.keys))?;
    licence_vault::demo::seed(&vault, &o.fixtures, &o.data)?;
    vault.store().flush().map_err(|e| anyhow!("{e}"))?;
    let reg = vault.registries();
    eprintln!(
        "seeded {}: {} agencies, {} types, {} matters, {} requesters, tokens in demo-tokens.json",
        o.data.display(),
        reg.agencies.len(),
        reg.types.len(),
        reg.matters.len(),
        reg.requesters.len()
    );
    Ok(json!({"data": o.data, "agencies": reg.agencies.len(), "types": reg.types.len()}))
}

// ----- verify (peer comparison, Rust side) -------------------------------------------------------

fn verify_file(o: &VerifyOpt) -> anyhow::Result<Value> {
    let lines = read_lines(&o.input, usize::MAX)?;
    let reg = registries(&o.fixtures)?;
    let now = Utc::now();
    let n = lines.len();
    // As `licence-vault verify --registry` does for each document: parse, then the full verdict.
    let one = |l: &String| -> bool {
        jcs::parse(l.as_bytes())
            .map(|d| verify::licence(&d, Evidence::new(Some(&reg), now)).0.valid)
            .unwrap_or(false)
    };
    let best = |f: &dyn Fn() -> usize| -> (f64, usize) {
        let mut best = f64::MAX;
        let mut accepted = 0;
        for _ in 0..o.repeat.max(1) {
            let t = Instant::now();
            accepted = f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        (best, accepted)
    };
    let (t1, accepted) = best(&|| lines.iter().filter(|&l| one(l)).count());
    let (tn, accepted_n) = best(&|| lines.par_iter().filter(|&l| one(l)).count());
    // As a deposit does: parse and prepare, Ed25519 batches of 64 on all cores, then the verdict.
    let batched = || {
        lines
            .par_chunks(64)
            .map(|chunk| {
                let docs: Vec<Value> = chunk
                    .iter()
                    .filter_map(|l| jcs::parse(l.as_bytes()).ok())
                    .collect();
                let prepared: Vec<_> = docs.iter().map(proof::prepare).collect();
                let ok: Vec<&proof::Prepared> =
                    prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
                let mut sig = proof::verify_batch(&ok).into_iter();
                docs.iter()
                    .zip(&prepared)
                    .filter(|(d, p)| {
                        let signature = if p.is_ok() { sig.next() } else { Some(false) };
                        let ev = Evidence {
                            registries: Some(&reg),
                            record: None,
                            now,
                            signature,
                        };
                        verify::licence_prepared(d, p, ev).0.valid
                    })
                    .count()
            })
            .sum::<usize>()
    };
    let (tb, accepted_b) = best(&batched);
    let per = |t: f64| r0(n as f64 / t.max(1e-9));
    eprintln!(
        "verified {n} licences in-process: {:.0}/s on 1 thread, {:.0}/s on {} threads, {:.0}/s batched; {accepted} valid",
        per(t1),
        per(tn),
        cores(),
        per(tb)
    );
    Ok(json!({
        "documents": n,
        "accepted": accepted,
        "acceptedAllThreads": accepted_n,
        "acceptedBatched": accepted_b,
        "threads": cores(),
        "docsPerSecond1": per(t1),
        "docsPerSecondAll": per(tn),
        "docsPerSecondBatched": per(tb),
    }))
}

// ----- extract -----------------------------------------------------------------------------------

fn extract(o: &ExtractOpt) -> anyhow::Result<Value> {
    let ids: Vec<LicenceId> = read_lines(&o.ids, usize::MAX)?
        .iter()
        .map(|l| l.trim().parse::<LicenceId>())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{}: {e}", o.ids.display()))?;
    if ids.is_empty() {
        bail!("{} has no ids", o.ids.display());
    }
    let vault = o.store.open(&o.data, None)?;
    let threads = o.threads.unwrap_or_else(cores);
    let errors = AtomicU64::new(0);
    let now = Utc::now();
    let op = |i: u64| {
        let id = &ids[(licence_vault_mix(i) % ids.len() as u64) as usize];
        match vault.extract(id, now) {
            Ok(Some(e)) if e.verdict.valid => {
                std::hint::black_box(e);
            }
            _ => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    if let Some(n) = o.ops {
        let mut out = counted(n, op);
        out["errors"] = json!(errors.load(Ordering::Relaxed));
        return Ok(out);
    }
    let one = rate(1, o.seconds, 1, op);
    let all = rate(threads, o.seconds, 1, op);
    let errors = errors.load(Ordering::Relaxed);
    eprintln!("Vault::extract: {one:.0}/s on 1 thread, {all:.0}/s on {threads}; {errors} errors");
    Ok(
        json!({"ids": ids.len(), "threads": threads, "perSecond1": r0(one), "perSecondAll": r0(all), "errors": errors}),
    )
}

// ----- requests (wrk input) ----------------------------------------------------------------------

fn requests(o: &RequestsOpt) -> anyhow::Result<Value> {
    let ids = read_lines(&o.ids, usize::MAX)?
        .into_iter()
        .map(|line| {
            let id: LicenceId = line
                .trim()
                .parse()
                .map_err(|e| anyhow!("{}: {line}: {e}", o.ids.display()))?;
            Ok((id.clone(), id.to_string()))
        })
        .collect::<anyhow::Result<_>>()?;
    let n = write_with_tokens(&o.tokens, &o.out, ids, |token, id| {
        format!("/v1/licences/{id} {token}")
    })?;
    Ok(json!({"requests": n, "out": o.out}))
}

/// Writes one wrk input line per item, `line(issuer token, payload)`, with the token of the
/// licence's issuer from DATA/demo-tokens.json; returns the lines written.
fn write_with_tokens(
    tokens: &Path,
    out: &Path,
    items: Vec<(LicenceId, String)>,
    line: impl Fn(&str, &str) -> String,
) -> anyhow::Result<u64> {
    let all = read_json(tokens)?;
    let issuers = all["issuers"]
        .as_object()
        .ok_or_else(|| anyhow!("{}: no issuers", tokens.display()))?;
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    for (id, payload) in &items {
        let token = issuers
            .get(id.issuer().as_str())
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("no issuer token for {}", id.issuer()))?;
        writeln!(w, "{}", line(token, payload))?;
    }
    w.flush()?;
    Ok(items.len() as u64)
}

// ----- deposits (wrk input) ----------------------------------------------------------------------

/// Each licence of `--in` with its issuer's token, for `POST /v1/licences` under wrk.
fn deposits(o: &DepositsOpt) -> anyhow::Result<Value> {
    let licences = read_lines(&o.input, usize::MAX)?
        .into_iter()
        .map(|line| {
            let doc =
                jcs::parse(line.as_bytes()).map_err(|e| anyhow!("{}: {e}", o.input.display()))?;
            let id = doc["id"]
                .as_str()
                .ok_or_else(|| anyhow!("{}: a licence without an id", o.input.display()))
                .and_then(|s| {
                    LicenceId::from_urn_or_bare(s)
                        .map_err(|e| anyhow!("{}: {e}", o.input.display()))
                })?;
            Ok((id, line.trim().to_owned()))
        })
        .collect::<anyhow::Result<_>>()?;
    let n = write_with_tokens(&o.tokens, &o.out, licences, |token, licence| {
        format!("{token}\t{licence}")
    })?;
    Ok(json!({"deposits": n, "out": o.out}))
}

// ----- reuse -------------------------------------------------------------------------------------

fn reuse_setup(o: &ReuseSetupOpt) -> anyhow::Result<Value> {
    use licence_vault::reuse::NewConsent;
    let tokens = read_json(&o.tokens)?;
    let vault = o.store.open(&o.data, None)?;
    let reg = vault.registries();
    let now = Utc::now();
    let ids = read_lines(&o.ids, usize::MAX)?;
    let stride = (ids.len() / o.holders.max(1)).max(1);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&o.out).with_context(|| format!("creating {}", o.out.display()))?,
    );
    let (mut granted, mut reused, mut licences, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut per_matter: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in ids.iter().step_by(stride) {
        let id: LicenceId = line.trim().parse().map_err(|e| anyhow!("{line}: {e}"))?;
        let Some(lic) = vault
            .extract(&id, now)
            .map_err(|e| anyhow!("{e}"))?
            .and_then(|e| e.licence)
        else {
            skipped += 1;
            continue;
        };
        if !seen.insert(lic.holder.key()) {
            continue;
        }
        let held: std::collections::BTreeSet<_> = vault
            .holder_licences(&lic.holder, now)
            .map_err(|e| anyhow!("{e}"))?
            .into_iter()
            .filter_map(|e| e.licence.map(|l| l.type_code))
            .collect();
        // The matter with the most types this holder can satisfy, and a requester registered for it.
        let choice = reg
            .matters
            .values()
            .filter(|m| m.types.iter().all(|t| held.contains(t)))
            .filter_map(|m| {
                reg.requesters
                    .values()
                    .find(|r| r.matters.contains(&m.code))
                    .map(|r| (m, r))
            })
            .max_by_key(|(m, _)| m.types.len());
        let Some((matter, requester)) = choice else {
            skipped += 1;
            continue;
        };
        let token = tokens["requesters"][&requester.id]
            .as_str()
            .ok_or_else(|| anyhow!("no token for requester {}", requester.id))?;
        // A consent from an earlier run is used again, so every run pulls against one consent per
        // holder (granting anew each run made every pull read one more consent than the last).
        let earlier = vault
            .consents(&lic.holder)
            .map_err(|e| anyhow!("{e}"))?
            .into_iter()
            .any(|c| {
                c.requester == requester.id
                    && c.matter == matter.code
                    && c.state(now) == licence_vault::reuse::ConsentState::Active
            });
        if earlier {
            reused += 1;
        } else {
            vault
                .create_consent(
                    &licence_vault::reuse::delegation::Acting::own(lic.holder.clone()),
                    NewConsent {
                        requester: requester.id.clone(),
                        matter: matter.code.clone(),
                        purpose: format!("基准测试：{}", matter.name),
                        types: matter.types.clone(),
                        licences: Vec::new(),
                        expires_at: now + chrono::Duration::days(300),
                        max_uses: None,
                    },
                    now,
                )
                .map_err(|e| anyhow!("consent for {}: {e}", lic.holder))?;
        }
        writeln!(out, "{token} {} {}", lic.holder.key(), matter.code)?;
        granted += 1;
        licences += matter.types.len() as u64;
        *per_matter.entry(matter.code.clone()).or_default() += 1;
        if granted as usize >= o.holders {
            break;
        }
    }
    out.flush()?;
    vault.store().flush().map_err(|e| anyhow!("{e}"))?;
    if granted == 0 {
        bail!(
            "no holder in {} holds the types of any matter",
            o.ids.display()
        );
    }
    let per_pull = licences as f64 / granted as f64;
    eprintln!(
        "{granted} holders with a consent ({reused} of them from an earlier run; {per_pull:.2} licences per pull); skipped {skipped} ids"
    );
    Ok(
        json!({"consents": granted, "fromEarlierRun": reused, "licencesPerPull": per_pull, "perMatter": per_matter, "skipped": skipped}),
    )
}

fn reuse(o: &ReuseOpt) -> anyhow::Result<Value> {
    use licence_vault::reuse::{Outcome, PullRequest};
    let tokens = read_json(&o.tokens)?;
    let by_token: BTreeMap<String, String> = tokens["requesters"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(id, t)| t.as_str().map(|t| (t.to_owned(), id.clone())))
                .collect()
        })
        .unwrap_or_default();
    let pulls: Vec<(String, licence_vault::codes::HolderCode, String)> =
        read_lines(&o.requests, usize::MAX)?
            .iter()
            .map(|l| {
                let mut f = l.split(' ');
                let (Some(t), Some(h), Some(m)) = (f.next(), f.next(), f.next()) else {
                    bail!("bad line {l}");
                };
                let requester = by_token.get(t).ok_or_else(|| anyhow!("unknown token"))?;
                Ok((
                    requester.clone(),
                    h.parse().map_err(|e| anyhow!("{h}: {e}"))?,
                    m.to_owned(),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
    if pulls.is_empty() {
        bail!("{} has no pulls", o.requests.display());
    }
    let vault = o.store.open(&o.data, None)?;
    if o.grant {
        return grant(&vault, &pulls, o);
    }
    let errors = AtomicU64::new(0);
    let provided = AtomicU64::new(0);
    let op = |i: u64| {
        let (requester, holder, matter) =
            &pulls[(licence_vault_mix(i) % pulls.len() as u64) as usize];
        let req = PullRequest {
            holder: holder.clone(),
            matter: matter.clone(),
            purpose: "基准测试".to_owned(),
            types: None,
        };
        match vault.reuse(requester, req, Utc::now()) {
            Ok(p) => {
                let n = p
                    .results
                    .iter()
                    .filter(|r| r.outcome == Outcome::Provided)
                    .count();
                provided.fetch_add(n as u64, Ordering::Relaxed);
                if n != p.results.len() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    if let Some(n) = o.ops {
        let mut out = counted(n, op);
        out["notFullyProvided"] = json!(errors.load(Ordering::Relaxed));
        return Ok(out);
    }
    let one = rate(1, o.seconds, 1, op);
    let all = rate(cores(), o.seconds, 1, op);
    let errors = errors.load(Ordering::Relaxed);
    eprintln!("Vault::reuse: {one:.0} pulls/s on 1 thread, {all:.0}/s on {}; {errors} pulls not fully provided", cores());
    Ok(
        json!({"pulls": pulls.len(), "threads": cores(), "perSecond1": r0(one), "perSecondAll": r0(all),
              "licencesProvided": provided.load(Ordering::Relaxed), "notFullyProvided": errors}),
    )
}

/// Consents granted for the pulls' holders, requesters and matters (each a new consent).
fn grant(
    vault: &licence_vault::vault::Vault,
    pulls: &[(String, licence_vault::codes::HolderCode, String)],
    o: &ReuseOpt,
) -> anyhow::Result<Value> {
    let reg = vault.registries();
    let errors = AtomicU64::new(0);
    let op = |i: u64| {
        let (requester, holder, matter) =
            &pulls[(licence_vault_mix(i) % pulls.len() as u64) as usize];
        let types = reg
            .matters
            .get(matter)
            .map(|m| m.types.clone())
            .unwrap_or_default();
        let new = licence_vault::reuse::NewConsent {
            requester: requester.clone(),
            matter: matter.clone(),
            purpose: "基准测试".to_owned(),
            types,
            licences: Vec::new(),
            expires_at: Utc::now() + chrono::Duration::days(30),
            max_uses: None,
        };
        let acting = licence_vault::reuse::delegation::Acting::own(holder.clone());
        if vault.create_consent(&acting, new, Utc::now()).is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    let out = match o.ops {
        Some(n) => counted(n, op),
        None => {
            let one = rate(1, o.seconds, 1, op);
            eprintln!("Vault::create_consent: {one:.0} grants/s on 1 thread");
            json!({"perSecond1": r0(one)})
        }
    };
    let errors = errors.load(Ordering::Relaxed);
    if errors > 0 {
        bail!("{errors} grants were refused");
    }
    Ok(out)
}

// ----- raw reads of the stored set ---------------------------------------------------------------

fn store_reads(o: &StoreReadsOpt) -> anyhow::Result<Value> {
    let ids: Vec<Vec<u8>> = read_lines(&o.ids, usize::MAX)?
        .into_iter()
        .map(|l| {
            let id: LicenceId = l.trim().parse().map_err(|e| anyhow!("{l}: {e}"))?;
            Ok(licence_vault::vault::layout::licence(&id).to_vec())
        })
        .collect::<anyhow::Result<_>>()?;
    if ids.is_empty() {
        bail!("{} has no ids", o.ids.display());
    }
    let store = RocksStore::open(&o.data.join("db")).map_err(|e| anyhow!("{e}"))?;
    let errors = AtomicU64::new(0);
    let pick = |i: u64| &ids[(licence_vault_mix(i) % ids.len() as u64) as usize];
    let doc = |i: u64| match store.get(Table::LicenceDocument, pick(i)) {
        Ok(Some(v)) => {
            std::hint::black_box(v);
        }
        _ => {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    // What Vault::extract reads: the metadata, then the document.
    let both = |i: u64| {
        let k = pick(i);
        match (
            store.get(Table::LicenceMeta, k),
            store.get(Table::LicenceDocument, k),
        ) {
            (Ok(Some(m)), Ok(Some(d))) => {
                std::hint::black_box((m, d));
            }
            _ => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let n = cores();
    let doc1 = rate(1, o.seconds, 1, doc);
    let doc_all = rate(n, o.seconds, 1, doc);
    let both1 = rate(1, o.seconds, 1, both);
    let both_all = rate(n, o.seconds, 1, both);
    let errors = errors.load(Ordering::Relaxed);
    eprintln!(
        "rocksdb reads of stored licences: documents {doc1:.0}/s on 1 thread, {doc_all:.0}/s on {n}; \
         metadata + document {both1:.0}/s, {both_all:.0}/s; {errors} misses"
    );
    if errors > 0 {
        bail!("{errors} stored licences were not found");
    }
    Ok(
        json!({"ids": ids.len(), "threads": n, "documentPerSecond1": r0(doc1), "documentPerSecondAll": r0(doc_all),
              "metaAndDocumentPerSecond1": r0(both1), "metaAndDocumentPerSecondAll": r0(both_all)}),
    )
}
