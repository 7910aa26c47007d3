//! `licence-vault import`: bulk deposit from JSON Lines into a stopped vault, with the same
//! verification as `POST /v1/licences`, a progress bar and a summary of what was refused and why.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::DEFAULT_DATA;
use crate::store::rocks::RocksConfig;
use crate::vault::{Vault, VaultError, VaultOptions, MAX_BATCH};

#[derive(Debug, Args)]
pub struct ImportOpt {
    /// JSON Lines file: one signed licence per line ('-' for stdin).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Data directory of a stopped vault.
    #[arg(long, env = "LICENCE_VAULT_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// The vault's secret key file (default DATA/vault.key).
    #[arg(long, env = "LICENCE_VAULT_KEY")]
    pub vault_key: Option<PathBuf>,
    /// Write refused lines here as JSON Lines: {"line": N, "code": …, "field": …, "message": …}.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Licences per durable write.
    #[arg(long, default_value_t = MAX_BATCH)]
    pub batch: usize,
    /// No progress bar (it is also hidden when stderr is not a terminal or CI is set).
    #[arg(long)]
    pub quiet: bool,
    /// `rocksdb` (DATA/db, bulk-load mode) or a PostgreSQL URL, as for `serve --store`.
    #[arg(long, env = "LICENCE_VAULT_STORE", default_value = "rocksdb")]
    pub store: String,
    /// The PostgreSQL schema, as for `serve --pg-schema`.
    #[arg(long, env = "LICENCE_VAULT_PG_SCHEMA", default_value = super::serve::DEFAULT_PG_SCHEMA)]
    pub pg_schema: String,
}

/// What an import did, for the summary and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub lines: u64,
    pub created: u64,
    pub existing: u64,
    pub rejected: u64,
    pub reasons: BTreeMap<String, u64>,
}

pub fn run(opt: ImportOpt) -> anyhow::Result<i32> {
    let summary = import(&opt)?;
    eprintln!(
        "imported {} lines: {} created, {} already present, {} rejected",
        summary.lines, summary.created, summary.existing, summary.rejected
    );
    for (reason, n) in &summary.reasons {
        eprintln!("  rejected {reason}: {n}");
    }
    println!("{}", serde_json::to_string(&summary)?);
    Ok(if summary.rejected == 0 { 0 } else { 1 })
}

pub fn import(opt: &ImportOpt) -> anyhow::Result<Summary> {
    let rocks = RocksConfig {
        bulk_load: true,
        ..RocksConfig::default()
    };
    let spec = super::serve::StoreSpec::parse(&opt.store, &opt.pg_schema, rocks)?;
    let vault = super::serve::open_vault_with(
        &opt.data,
        opt.vault_key.as_deref(),
        None,
        VaultOptions::default(),
        &spec,
    )?;
    let (reader, total): (Box<dyn std::io::BufRead>, u64) = if opt.input.as_os_str() == "-" {
        (Box::new(BufReader::new(std::io::stdin())), 0)
    } else {
        let f = std::fs::File::open(&opt.input)
            .with_context(|| format!("opening {}", opt.input.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, f)), len)
    };
    let hide = opt.quiet
        || std::env::var_os("CI").is_some()
        || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = if hide {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let rejects = opt
        .rejects
        .as_ref()
        .map(|p| std::fs::File::create(p).with_context(|| format!("creating {}", p.display())))
        .transpose()?
        .map(std::io::BufWriter::new);

    // Two stages: this thread reads, parses and verifies batch k+1 (on all cores) while the
    // writer stores batch k, whose write is serial.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(1);
    let (read, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_batches(&vault, rx, rejects, &bar));
        // `tx` moves in and is dropped when reading ends, however it ends: the writer then stops.
        let read = read_batches(&vault, reader, tx, opt.batch, &bar);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the import writer panicked")));
        (read, written)
    });
    bar.finish_and_clear();
    // Whatever happened, what was stored reaches the files (the WAL is off during an import).
    let flushed = vault.store().flush().context("flushing RocksDB");
    // A writer failure closes the channel and stops the reader: report the writer's error first.
    let summary = written?;
    let lines = read?;
    flushed?;
    Ok(Summary { lines, ..summary })
}

/// Reads lines into batches, parses and verifies each, and hands it to the writer. The number of
/// non-blank lines read.
fn read_batches(
    vault: &Vault,
    reader: Box<dyn std::io::BufRead>,
    tx: std::sync::mpsc::SyncSender<Batch>,
    batch: usize,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let mut lines = 0;
    let mut chunk: Vec<(u64, String)> = Vec::with_capacity(batch);
    for (n, line) in reader.lines().enumerate() {
        let line_no = n as u64 + 1;
        let line = line.with_context(|| format!("reading line {line_no}"))?;
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        chunk.push((line_no, line));
        if chunk.len() >= batch && tx.send(check(vault, &mut chunk)).is_err() {
            // The writer stopped on an error, which the caller reports.
            return Ok(lines);
        }
    }
    if !chunk.is_empty() {
        // As above: if the writer is gone, its error is what the caller reports.
        let _ = tx.send(check(vault, &mut chunk));
    }
    Ok(lines)
}

/// One batch, parsed and verified, waiting to be stored.
struct Batch {
    now: chrono::DateTime<chrono::Utc>,
    /// Every line in order, with its parse error if it was not JSON.
    slots: Vec<(u64, Option<crate::jcs::JsonError>)>,
    /// The verdicts of the lines that parsed, in order.
    checked: Vec<Result<crate::vault::Checked, crate::verdict::Rejection>>,
}

fn check(vault: &Vault, chunk: &mut Vec<(u64, String)>) -> Batch {
    use rayon::prelude::*;
    let now = chrono::Utc::now();
    let parsed: Vec<_> = chunk
        .par_drain(..)
        .map(|(line, text)| (line, crate::jcs::parse(text.as_bytes())))
        .collect();
    let mut docs = Vec::with_capacity(parsed.len());
    let mut slots = Vec::with_capacity(parsed.len());
    for (line, item) in parsed {
        match item {
            Ok(doc) => {
                docs.push(doc);
                slots.push((line, None));
            }
            Err(e) => slots.push((line, Some(e))),
        }
    }
    let checked = vault.check_for_deposit(&vault.registries(), &docs, now);
    Batch {
        now,
        slots,
        checked,
    }
}

/// The writer stage: stores each batch and tallies the outcome of every line.
fn write_batches(
    vault: &Vault,
    batches: std::sync::mpsc::Receiver<Batch>,
    mut rejects: Option<impl std::io::Write>,
    bar: &ProgressBar,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut record = |line: u64,
                      code: &str,
                      field: Option<&str>,
                      message: &str,
                      summary: &mut Summary|
     -> anyhow::Result<()> {
        summary.rejected += 1;
        *summary.reasons.entry(code.to_owned()).or_default() += 1;
        if let Some(w) = rejects.as_mut() {
            let row =
                serde_json::json!({"line": line, "code": code, "field": field, "message": message});
            writeln!(w, "{row}")?;
        }
        Ok(())
    };
    for batch in batches {
        let mut results = vault.import_checked(batch.checked, batch.now)?.into_iter();
        for (line, parse_error) in batch.slots {
            if let Some(e) = parse_error {
                record(
                    line,
                    "malformed_json",
                    e.path.as_deref(),
                    &e.to_string(),
                    &mut summary,
                )?;
                continue;
            }
            let r = results
                .next()
                .ok_or_else(|| anyhow::anyhow!("missing result for line {line}"))?;
            match r {
                Ok(true) => summary.created += 1,
                Ok(false) => summary.existing += 1,
                Err(VaultError::Rejected(rej)) => record(
                    line,
                    rej.reason.as_str(),
                    Some(&rej.field),
                    &rej.message,
                    &mut summary,
                )?,
                Err(VaultError::Store(e)) => return Err(e).context("writing to RocksDB"),
                Err(e @ VaultError::Signing(_)) => return Err(e.into()),
            }
        }
        bar.set_message(format!(
            "{} created, {} rejected",
            summary.created, summary.rejected
        ));
    }
    if let Some(mut w) = rejects {
        w.flush()?;
    }
    Ok(summary)
}
