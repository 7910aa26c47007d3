//! `licence-vault log verify`: a monitor of a vault's transparency logs, as anyone outside the
//! vault would run it (SPEC §14). It reads only what the vault serves to everyone — the signed
//! checkpoint, the entry bundles and tiles of C2SP `tlog-tiles` — and checks that:
//!
//! - the checkpoint is signed by a trusted key (given with `--key`, or the vault's own list
//!   trusted on first use and kept in the state file);
//! - the entries hash to the checkpoint's root, and so do the tiles;
//! - the log still contains what the monitor saw last time (`--state`): not smaller (a rollback),
//!   not different at the old size (a fork or a rewrite);
//! - with `--replay`, every deposit and status statement of the public log is under an agency key
//!   the log showed registered at the time (`tlog::leaves::Replay`).
//!
//! It never uses the vault's code beyond the domain's tree and note checks: no store, no vault.
//! Exit 0: every check held; 1: a problem was found (listed); 2: the log could not be checked.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::tlog::leaves::{Problem, Replay};
use crate::tlog::note::{self, Checkpoint, Note, NoteVerifier};
use crate::tlog::tiles::{unbundle, TilePath, TreeReader};
use crate::tlog::{leaf_hash, CompactRange, Hash, ProofError};

#[derive(Debug, Subcommand)]
pub enum LogCmd {
    /// Check a vault's transparency log as an outside monitor would: the checkpoint's signature,
    /// that entries and tiles give its root, that it still holds what was seen last time, and
    /// (`--replay`) that every deposit is under a key the log showed registered. Exit 0 all
    /// held, 1 a problem was found, 2 the log could not be checked.
    Verify(LogVerifyOpt),
}

#[derive(Debug, Args)]
pub struct LogVerifyOpt {
    /// The vault's base URL (the logs are under URL/log/NAME/).
    #[arg(long)]
    pub url: String,
    /// The log: public or access.
    #[arg(long, default_value = "public")]
    pub log: String,
    /// A C2SP verifier key (name+id+key) the checkpoints must be signed by; repeat it for each
    /// vault key. Without one, the keys of `GET /v1/logs` are trusted on first use.
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// The file where the monitor keeps the last checkpoint it checked (read, then updated).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Replay the public log: report deposits and statements under keys it never showed.
    #[arg(long)]
    pub replay: bool,
    /// Check again every N seconds, one report per round, until stopped.
    #[arg(long)]
    pub follow: Option<u64>,
}

/// What the monitor keeps between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MonitorState {
    origin: String,
    size: u64,
    /// Base64.
    root: String,
    checkpoint: String,
    keys: Vec<String>,
}

/// One round's report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    log: String,
    origin: String,
    size: u64,
    root: String,
    previous_size: Option<u64>,
    entries: u64,
    tiles_fetched: u64,
    problems: Vec<Problem>,
}

struct Http {
    client: reqwest::blocking::Client,
    base: String,
}

impl Http {
    fn get(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.bytes().with_context(|| format!("GET {url}"))?.to_vec();
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }
}

pub fn run(cmd: LogCmd) -> anyhow::Result<i32> {
    let LogCmd::Verify(opt) = cmd;
    if !matches!(opt.log.as_str(), "public" | "access") {
        eprintln!("--log must be public or access");
        return Ok(2);
    }
    let http = Http {
        client: reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?,
        base: opt.url.trim_end_matches('/').to_owned(),
    };
    let mut saved: Option<MonitorState> = match &opt.state {
        Some(p) if p.exists() => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let v =
                crate::jcs::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(
                serde_json::from_value(v)
                    .with_context(|| format!("{} is not a monitor state", p.display()))?,
            )
        }
        _ => None,
    };
    loop {
        let code = match round(&http, &opt, saved.as_ref()) {
            Ok((report, next)) => {
                println!("{}", serde_json::to_string(&report)?);
                for p in &report.problems {
                    eprintln!("problem at leaf {}: {}", p.index, p.problem);
                }
                if report.problems.is_empty() {
                    if let Some(p) = &opt.state {
                        std::fs::write(p, serde_json::to_vec_pretty(&next)?)
                            .with_context(|| format!("writing {}", p.display()))?;
                    }
                    saved = Some(next);
                    0
                } else {
                    1
                }
            }
            Err(e) => {
                eprintln!("the {} log could not be checked: {e:#}", opt.log);
                2
            }
        };
        match opt.follow {
            Some(secs) if code != 1 => {
                std::thread::sleep(std::time::Duration::from_secs(secs.max(1)))
            }
            _ => return Ok(code),
        }
    }
}

fn problem(index: u64, p: impl Into<String>) -> Problem {
    Problem {
        index,
        problem: p.into(),
    }
}

/// One check of the log; the state to keep when it held.
fn round(
    http: &Http,
    opt: &LogVerifyOpt,
    saved: Option<&MonitorState>,
) -> anyhow::Result<(Report, MonitorState)> {
    let keys: Vec<String> = if !opt.keys.is_empty() {
        opt.keys.clone()
    } else if let Some(s) = saved {
        s.keys.clone()
    } else {
        let logs = crate::jcs::parse(&http.get("/v1/logs")?)
            .map_err(|e| anyhow::anyhow!("GET /v1/logs: {e}"))?;
        let found: Vec<String> = logs["logs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["name"] == opt.log.as_str())
            .flat_map(|l| l["verifierKeys"].as_array().cloned().unwrap_or_default())
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        eprintln!(
            "trusting the vault's own keys on first use: {}",
            found.join(", ")
        );
        found
    };
    let verifiers = keys
        .iter()
        .map(|k| NoteVerifier::parse(k).map_err(|e| anyhow::anyhow!("--key {k}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = String::from_utf8(http.get(&format!("/log/{}/checkpoint", opt.log))?)?;
    let mut problems = Vec::new();
    let n = Note::parse(&text).map_err(|e| anyhow::anyhow!("the checkpoint: {e}"))?;
    let cp = Checkpoint::parse(&n.text).map_err(|e| anyhow::anyhow!("the checkpoint: {e}"))?;
    if let Err(e) = note::verify(&n, &verifiers) {
        problems.push(problem(
            cp.size,
            format!("the checkpoint is not signed by a trusted key: {e}"),
        ));
    }
    if let Some(s) = saved {
        if s.origin != cp.origin {
            problems.push(problem(
                0,
                format!(
                    "the log's origin changed from {} to {}",
                    s.origin, cp.origin
                ),
            ));
        }
        if cp.size < s.size {
            problems.push(problem(
                cp.size,
                format!(
                    "the log is smaller than when last seen ({} < {}): rolled back",
                    cp.size, s.size
                ),
            ));
        }
    }

    // Every entry, hashed into the tree, from the first.
    let mut range = CompactRange::default();
    let mut replay = opt.replay.then(Replay::default);
    let mut old_root_seen: Option<Hash> = None;
    let saved_size = saved.map(|s| s.size);
    let mut tile = 0u64;
    while tile * 256 < cp.size {
        let w = (cp.size - tile * 256).min(256);
        let path = TilePath {
            level: None,
            index: tile,
            partial: (w < 256).then(|| u8::try_from(w).unwrap_or(255)),
        };
        let bundle = http.get(&format!("/log/{}/tile/{}", opt.log, path.to_path()))?;
        let entries = unbundle(&bundle).map_err(|e| anyhow::anyhow!("bundle {tile}: {e}"))?;
        if entries.len() as u64 != w {
            problems.push(problem(
                tile * 256,
                format!("bundle {tile} holds {} entries, not {w}", entries.len()),
            ));
            break;
        }
        for e in &entries {
            if Some(range.size) == saved_size {
                old_root_seen = Some(range.root());
            }
            if let Some(r) = replay.as_mut() {
                problems.extend(r.apply(range.size, e));
            }
            range.append(leaf_hash(e));
        }
        tile += 1;
    }
    if Some(range.size) == saved_size {
        old_root_seen = Some(range.root());
    }
    if range.root() != cp.root {
        problems.push(problem(
            cp.size,
            "the entries do not give the checkpoint's root",
        ));
    }
    if let (Some(s), Some(seen)) = (saved, old_root_seen) {
        if STANDARD.encode(seen) != s.root {
            problems.push(problem(
                s.size,
                format!("the log at size {} is not the one seen before: an entry was removed or rewritten", s.size),
            ));
        }
    }
    // The tiles, which proofs are made from, give the same root.
    let mut fetched = 0u64;
    let mut tree = TreeReader::new(cp.size, |l, n, w| -> Result<Vec<Hash>, ProofError> {
        fetched += 1;
        let p = TilePath {
            level: Some(l),
            index: n,
            partial: (w < 256).then(|| u8::try_from(w).unwrap_or(255)),
        };
        let bytes = http
            .get(&format!("/log/{}/tile/{}", opt.log, p.to_path()))
            .map_err(|_| ProofError("a tile could not be fetched"))?;
        crate::tlog::tiles::hashes_of(&bytes)
    });
    match tree.root() {
        Ok(r) if r == cp.root => {}
        Ok(_) => problems.push(problem(
            cp.size,
            "the tiles do not give the checkpoint's root",
        )),
        Err(e) => problems.push(problem(cp.size, format!("the tiles: {e}"))),
    }
    drop(tree);
    let report = Report {
        log: opt.log.clone(),
        origin: cp.origin.clone(),
        size: cp.size,
        root: STANDARD.encode(cp.root),
        previous_size: saved_size,
        entries: range.size,
        tiles_fetched: fetched,
        problems,
    };
    let next = MonitorState {
        origin: cp.origin,
        size: cp.size,
        root: STANDARD.encode(cp.root),
        checkpoint: text,
        keys,
    };
    Ok((report, next))
}
