//! The transparency logs (SPEC §14): `public` (deposits, status statements, registry edits,
//! vault key events) and `access` (one salted leaf per release).
//!
//! A leaf is written by [`append`] into the very change that writes what it logs, as a pending
//! leaf: it is durable exactly when the record is, and nothing is released before. The
//! integration ([`Vault::integrate`]) then takes the pending leaves in their order, gives them
//! their indices, writes the tiles (C2SP `tlog-tiles`), checks that the tree it has grown still
//! leads to the last checkpoint, signs the new checkpoint with the vault key (C2SP
//! `signed-note`, key name = the log's origin) and commits all of it in one change conditioned on
//! the state it read — so on many nodes over one database there is one tree per log, and two
//! checkpoints of one size never differ. Integration runs in the background every
//! [`INTEGRATION_INTERVAL_MS`] (`cli/serve`), and on demand when a proof is asked for a leaf that
//! is still pending.
//!
//! **Invariants:** leaves are only appended by [`append`], and tiles, entries and the state only
//! written by the integration; the vault never signs a checkpoint whose tree does not contain
//! the last one it signed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::layout;
use super::{Vault, VaultError};
use crate::jcs;
use crate::store::{Change, StoreError, Table};
use crate::tlog::leaves;
use crate::tlog::note::{self, Checkpoint, Note, NoteVerifier, TlogProof};
use crate::tlog::tiles::{self, TilePath, TreeReader};
use crate::tlog::{leaf_hash, Hash, ProofError};
use crate::verdict::Reason;
use crate::verify::SigningError;

/// How often the background integration runs: the bound on the delay between a leaf's commit
/// and a checkpoint that includes it, with the integration's own time (docs/DECISIONS.md).
pub const INTEGRATION_INTERVAL_MS: u64 = 200;

/// The most leaves one integration takes (one change of bounded size); the rest wait for the
/// next, which follows at once.
const MAX_BATCH: usize = 4096;

/// The two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogName {
    Public,
    Access,
}

impl LogName {
    pub const ALL: [LogName; 2] = [LogName::Public, LogName::Access];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Access => "access",
        }
    }

    fn id(self) -> u8 {
        match self {
            Self::Public => 1,
            Self::Access => 2,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// A log's state, as the last integration left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogState {
    pub origin: String,
    pub size: u64,
    /// The tree's root, base64.
    pub root: String,
    /// The signed checkpoint of `size` (a C2SP signed note).
    pub checkpoint: String,
    pub at: DateTime<Utc>,
    /// Why no checkpoint is signed until an operator resumes the log (after a restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<String>,
}

/// What an answer carries of the leaf its record was logged under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogReceipt {
    pub log: LogName,
    /// The leaf as logged (canonical JSON).
    pub leaf: String,
    /// `SHA-256(0x00 ‖ leaf)`, base64: ask `GET /v1/logs/{log}/proof?leaf=` for its inclusion.
    pub leaf_hash: String,
}

/// Adds `leaf` to `log` in `change`, pending its integration; the receipt names it.
pub(super) fn append(
    change: &mut Change,
    log: LogName,
    at: DateTime<Utc>,
    leaf: &Value,
) -> LogReceipt {
    let bytes = jcs::canonicalize(leaf);
    let text = String::from_utf8(bytes.clone()).unwrap_or_default();
    let hash = append_canonical(change, log, at, bytes);
    LogReceipt {
        log,
        leaf: text,
        leaf_hash: STANDARD.encode(hash),
    }
}

/// Adds the leaf whose canonical bytes are `bytes`: its hash. Canonicalised once per leaf.
fn append_canonical(change: &mut Change, log: LogName, at: DateTime<Utc>, bytes: Vec<u8>) -> Hash {
    let hash = leaf_hash(&bytes);
    let mut random = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut random);
    change.put(
        Table::LogPending,
        layout::log_pending(log.id(), at, random),
        bytes,
    );
    hash
}

/// Appends a deposit's leaf (canonical bytes) to the public log, findable by the licence's digest.
pub(super) fn append_deposit(change: &mut Change, at: DateTime<Utc>, leaf: Vec<u8>, sha256: &str) {
    let hash = append_canonical(change, LogName::Public, at, leaf);
    change.put(Table::LogLeaf, layout::log_deposit(sha256), hash.to_vec());
}

/// Hex SHA-256.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Why a log cannot be read or grown.
fn log_error(e: ProofError) -> VaultError {
    VaultError::new(Reason::Internal, "log", e.0)
}

impl From<ProofError> for VaultError {
    fn from(e: ProofError) -> Self {
        log_error(e)
    }
}

/// Whether each log refused to sign because its stored tree no longer leads to its last
/// checkpoint (`/healthz` says so).
#[derive(Debug, Default)]
pub struct LogHealth {
    broken: [AtomicBool; 2],
}

impl LogHealth {
    fn set(&self, log: LogName, broken: bool) {
        self.broken[usize::from(log.id() - 1)].store(broken, Ordering::Relaxed);
    }
    pub fn broken(&self, log: LogName) -> bool {
        self.broken[usize::from(log.id() - 1)].load(Ordering::Relaxed)
    }
}

/// Freezes every begun log of `store` in `change` (a restore): see [`LogState::frozen`].
pub(super) fn freeze_logs(
    store: &dyn crate::store::Store,
    change: &mut Change,
    why: &str,
) -> Result<(), StoreError> {
    for log in LogName::ALL {
        let key = layout::log_state(log.as_str());
        if let Some(v) = store.get(Table::Meta, &key)? {
            let mut s: LogState = layout::decode(Table::Meta, &v)?;
            s.frozen = Some(why.to_owned());
            change.put(Table::Meta, key, layout::encode(&s));
        }
    }
    Ok(())
}

/// The origin a log continues under after a restore lost what it had published: the same
/// prefix with a generation number (`…/log/public` → `…/log/public/2` → `…/log/public/3`).
fn next_origin(origin: &str) -> String {
    match origin.rsplit_once('/') {
        Some((head, n)) if n.parse::<u32>().is_ok_and(|n| n >= 2) && !head.ends_with("/log") => {
            format!("{head}/{}", n.parse::<u32>().unwrap_or(1) + 1)
        }
        _ => format!("{origin}/2"),
    }
}

impl Vault {
    /// The origin of `log`: the public URL without its scheme, then `/log/{name}` (the log's
    /// prefix, as C2SP `tlog-tiles` recommends). Fixed at the log's first leaf.
    fn new_origin(&self, log: LogName) -> String {
        let host = self
            .public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, h)| h);
        format!("{}/log/{}", host.trim_end_matches('/'), log.as_str())
    }

    /// The checkpoint `/log/{name}/checkpoint` serves: the latest one, or with witnesses the
    /// latest a quorum cosigned (`None`: none yet).
    pub fn served_checkpoint(&self, log: LogName) -> Result<Option<String>, VaultError> {
        if !self.witnesses.witnesses.is_empty() {
            return Ok(self.witnessed(log)?.map(|w| w.checkpoint));
        }
        Ok(Some(self.log_begun(log)?.checkpoint))
    }

    /// A log's state, begun now if it was not (its first integration writes its first leaves:
    /// the store's state; normally done at open).
    pub fn log_begun(&self, log: LogName) -> Result<LogState, VaultError> {
        match self.log_state(log)? {
            Some(s) => Ok(s),
            None => Ok(self.integrate(log)?.0),
        }
    }

    /// A log's state; `None` before its first integration.
    pub fn log_state(&self, log: LogName) -> Result<Option<LogState>, VaultError> {
        Ok(self
            .store
            .get(Table::Meta, &layout::log_state(log.as_str()))?
            .map(|v| layout::decode(Table::Meta, &v))
            .transpose()?)
    }

    /// The verifier keys of a log's checkpoints: one per vault key in the history.
    pub fn log_verifiers(&self, log: LogName) -> Result<Vec<NoteVerifier>, VaultError> {
        let origin = match self.log_state(log)? {
            Some(s) => s.origin,
            None => self.new_origin(log),
        };
        self.key_history()?
            .keys()
            .iter()
            .map(|k| {
                NoteVerifier::new(&origin, *k.did_key.verifying_key()).map_err(VaultError::from)
            })
            .collect()
    }

    /// The hashes of a stored tile, the first `width` of them.
    pub(super) fn log_tile_hashes(
        &self,
        log: LogName,
        level: u8,
        index: u64,
        width: u64,
    ) -> Result<Vec<Hash>, VaultError> {
        let row = self
            .store
            .get(Table::LogTile, &layout::log_tile(log.id(), level, index))?
            .ok_or_else(|| layout::corrupt(Table::LogTile, "a tile of the tree is missing"))?;
        let hashes = tiles::hashes_of(&row)?;
        let w = usize::try_from(width).unwrap_or(usize::MAX);
        if hashes.len() < w {
            return Err(layout::corrupt(Table::LogTile, "a tile is shorter than the tree").into());
        }
        Ok(hashes[..w].to_vec())
    }

    /// Begins the logs of a store that has none (a new store, or the first start of this release
    /// on an older one): their first leaf commits to the store as it is now. A failure is left
    /// to the background integration, which begins them at its first round.
    pub(super) fn begin_logs(&self) {
        for log in LogName::ALL {
            if let Err(e) = self.log_begun(log) {
                tracing::warn!(log = log.as_str(), error = %e, "the log could not begin now; the integration will retry");
            }
        }
    }

    /// Integrates every pending leaf of every log (the background task, and tests).
    pub fn integrate_logs(&self) -> Result<(), VaultError> {
        for log in LogName::ALL {
            loop {
                let (_, more) = self.integrate(log)?;
                if !more {
                    break;
                }
            }
        }
        Ok(())
    }

    /// One integration of `log`: at most [`MAX_BATCH`] pending leaves into the tree, with a new
    /// signed checkpoint. Returns the state and whether leaves are still pending.
    pub fn integrate(&self, log: LogName) -> Result<(LogState, bool), VaultError> {
        let _one = self.log_locks[usize::from(log.id() - 1)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut attempt = 0;
        loop {
            match self.integrate_once(log) {
                Err(VaultError::Store(StoreError::Conflict(_))) if attempt < 16 => attempt += 1,
                other => return other,
            }
        }
    }

    fn integrate_once(&self, log: LogName) -> Result<(LogState, bool), VaultError> {
        let state_key = layout::log_state(log.as_str());
        let raw = self.store.get(Table::Meta, &state_key)?;
        let state: Option<LogState> = raw
            .as_ref()
            .map(|v| layout::decode(Table::Meta, v))
            .transpose()?;
        let pending = self
            .store
            .scan(Table::LogPending, &[log.id()], false, MAX_BATCH)?;
        if let Some(why) = state.as_ref().and_then(|s| s.frozen.clone()) {
            return Err(VaultError::new(
                Reason::Unavailable,
                "log",
                format!(
                    "the {} log is frozen ({why}); an operator resumes it",
                    log.as_str()
                ),
            ));
        }
        let more = pending.len() == MAX_BATCH;
        let now = Utc::now();
        let mut leaves: Vec<Vec<u8>> = Vec::with_capacity(pending.len() + 1);
        if state.is_none() {
            leaves.extend(self.genesis_leaves(log, now)?.iter().map(jcs::canonicalize));
        }
        if let Some(s) = &state {
            if pending.is_empty() {
                return Ok((s.clone(), false));
            }
        }
        leaves.extend(pending.iter().map(|(_, v)| v.clone()));
        let size = state.as_ref().map_or(0, |s| s.size);
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let written = tiles::append(size, &hashes, |l, n, w| self.log_tile_hashes(log, l, n, w))?;
        let overlay: HashMap<(u8, u64), Vec<Hash>> = written
            .iter()
            .map(|(l, n, row)| ((*l, *n), row.clone()))
            .collect();
        let new_size = size + leaves.len() as u64;
        let mut tree = TreeReader::new(new_size, |l, n, w| match overlay.get(&(l, n)) {
            Some(row) => Ok(row[..usize::try_from(w).unwrap_or(0).min(row.len())].to_vec()),
            None => self.log_tile_hashes(log, l, n, w),
        });
        let root = tree.root()?;
        // The tree grown must contain the last signed one: its first leaves, hashed from the
        // very tiles the new root comes from, must give the root signed. Else nothing is signed.
        if let Some(s) = state.as_ref().filter(|s| s.size > 0) {
            if STANDARD.encode(tree.range(0, s.size)?) != s.root {
                self.log_health.set(log, true);
                tracing::error!(log = log.as_str(), size = s.size, "the stored tree no longer leads to the last checkpoint; no checkpoint is signed");
                return Err(VaultError::new(
                    Reason::Internal,
                    "log",
                    format!(
                        "the {} log's stored tree does not contain its last checkpoint (size {}): it was altered; no new checkpoint is signed",
                        log.as_str(),
                        s.size
                    ),
                ));
            }
        }
        let origin = state
            .as_ref()
            .map_or_else(|| self.new_origin(log), |s| s.origin.clone());
        let cp = Checkpoint {
            origin: origin.clone(),
            size: new_size,
            root,
        };
        let key = self.signing_key(now)?;
        let signed = note::sign(&cp.to_text(), &origin, &*key)
            .map_err(|e| SigningError::unavailable("checkpoint", e))?;
        let next = LogState {
            origin,
            size: new_size,
            root: STANDARD.encode(root),
            checkpoint: signed.to_text(),
            at: now,
            frozen: None,
        };
        let mut c = Change::durable();
        c.expect(Table::Meta, state_key.clone(), raw).put(
            Table::Meta,
            state_key,
            layout::encode(&next),
        );
        for (i, (leaf, hash)) in leaves.iter().zip(&hashes).enumerate() {
            let index = size + i as u64;
            c.put(
                Table::LogEntry,
                layout::log_entry(log.id(), index),
                leaf.clone(),
            );
            c.put(
                Table::LogLeaf,
                layout::log_leaf(log.id(), hash),
                layout::encode_count(index),
            );
        }
        for (l, n, row) in written {
            c.put(
                Table::LogTile,
                layout::log_tile(log.id(), l, n),
                row.concat(),
            );
        }
        // The state is read before the pending leaves, and the change applies only if the state
        // is unchanged: two nodes never integrate one leaf twice, nor grow two trees.
        for (k, _) in pending {
            c.delete(Table::LogPending, k);
        }
        self.store.commit(c)?;
        self.log_health.set(log, false);
        Ok((next, more))
    }

    /// Resumes a log frozen by a restore. `published` is the latest checkpoint of it anyone
    /// saw (a witness's, a monitor's): when this tree contains it, the log goes on as it was;
    /// otherwise — or when nobody knows — what was published beyond this tree is lost, and the
    /// log goes on under a new origin ([`next_origin`]) whose first leaf says from where. No
    /// checkpoint of the old origin is ever signed again at a size it may have had.
    pub fn resume_log(
        &self,
        log: LogName,
        published: Option<&str>,
    ) -> Result<LogState, VaultError> {
        let bad = |m: String| VaultError::new(Reason::InvalidRequest, "published", m);
        let key = layout::log_state(log.as_str());
        {
            let _one = self.log_locks[usize::from(log.id() - 1)]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let raw = self.store.get(Table::Meta, &key)?;
            let Some(mut state) = raw
                .as_ref()
                .map(|v| layout::decode::<LogState>(Table::Meta, v))
                .transpose()?
            else {
                return Err(VaultError::new(
                    Reason::NotFound,
                    "log",
                    "this log has not begun",
                ));
            };
            if state.frozen.is_none() {
                return Err(VaultError::new(
                    Reason::Conflict,
                    "log",
                    "this log is not frozen",
                ));
            }
            let contained = match published {
                None => false,
                Some(text) => {
                    let cp = open_checkpoint(text, &self.log_verifiers(log)?)
                        .map_err(|e| bad(format!("the published checkpoint: {e}")))?;
                    if cp.origin != state.origin {
                        return Err(bad(format!(
                            "the published checkpoint is of {}, not {}",
                            cp.origin, state.origin
                        )));
                    }
                    cp.size <= state.size && cp.size > 0 && {
                        let mut tree = TreeReader::new(state.size, |l, n, w| {
                            self.log_tile_hashes(log, l, n, w)
                        });
                        tree.range(0, cp.size)? == cp.root
                    }
                }
            };
            let mut c = Change::durable();
            if !contained {
                let previous = state.origin.clone();
                state.origin = next_origin(&previous);
                append(
                    &mut c,
                    log,
                    Utc::now(),
                    &serde_json::json!({"event": "continued", "at": Utc::now(), "from": previous,
                        "size": state.size, "root": state.root, "published": published}),
                );
                tracing::warn!(log = log.as_str(), from = %previous, to = %state.origin, "the log goes on under a new origin after a restore");
            }
            state.frozen = None;
            c.expect(Table::Meta, key.clone(), raw)
                .put(Table::Meta, key, layout::encode(&state));
            self.store.commit(c)?;
        }
        Ok(self.integrate(log)?.0)
    }

    /// The first leaves of a log: what the store held when the log began (counts and a digest
    /// of every stored licence's digest, in id order), the vault's key history then, and for the
    /// public log the registries as they stood.
    fn genesis_leaves(&self, log: LogName, now: DateTime<Utc>) -> Result<Vec<Value>, VaultError> {
        let mut licences = 0u64;
        let mut digest = Sha256::new();
        self.each_entry(Table::LicenceMeta, |k, v| {
            let meta: super::LicenceMeta = layout::decode(Table::LicenceMeta, v)?;
            digest.update(k);
            digest.update(b" ");
            digest.update(meta.sha256.as_bytes());
            digest.update(b"\n");
            licences += 1;
            Ok(())
        })?;
        let mut records = 0u64;
        self.each_entry(Table::AccessRecord, |_, _| {
            records += 1;
            Ok(())
        })?;
        let keys = serde_json::to_value(self.key_history()?).unwrap_or(Value::Null);
        let digests = hex::encode(digest.finalize());
        let mut out = vec![leaves::genesis(
            log.as_str(),
            now,
            licences,
            &digests,
            records,
            &keys,
        )];
        // The public log begins with the registries as they stand, so that a replay knows
        // which agency keys existed before its first edit.
        if log == LogName::Public {
            let reg = self.registries();
            let value = |v: Result<Value, serde_json::Error>| v.unwrap_or_default();
            let entries = reg
                .agencies
                .values()
                .map(|a| ("agency", a.uscc.to_string(), value(serde_json::to_value(a))))
                .chain(reg.types.values().map(|t| {
                    (
                        "type",
                        t.type_code.to_string(),
                        value(serde_json::to_value(t)),
                    )
                }))
                .chain(
                    reg.matters
                        .values()
                        .map(|m| ("matter", m.code.clone(), value(serde_json::to_value(m)))),
                )
                .chain(
                    reg.requesters
                        .values()
                        .map(|r| ("requester", r.id.clone(), value(serde_json::to_value(r)))),
                );
            for (kind, id, entry) in entries {
                out.push(leaves::registry(now, kind, &id, &entry, true));
            }
        }
        Ok(out)
    }

    /// Every entry of `table`, in key order, page by page.
    fn each_entry(
        &self,
        table: Table,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = match &after {
                None => self.store.scan(table, &[], false, 10_000)?,
                Some(a) => self.store.scan_after(table, &[], a, false, 10_000)?,
            };
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            for (k, v) in &page {
                f(k, v)?;
            }
        }
    }

    /// A tile or entry bundle of `log` as of its current checkpoint; `None` when the tree has
    /// no such tile (a size beyond it, a partial width it never had).
    pub fn log_tile(&self, log: LogName, path: &TilePath) -> Result<Option<Vec<u8>>, VaultError> {
        let Some(state) = self.log_state(log)? else {
            return Ok(None);
        };
        if !path.exists_at(state.size) {
            return Ok(None);
        }
        let width = path.width();
        match path.level {
            Some(l) => Ok(Some(
                self.log_tile_hashes(log, l, path.index, width)?.concat(),
            )),
            None => {
                let start = path.index * tiles::TILE_WIDTH;
                let n = usize::try_from(width).unwrap_or(256);
                let entries = if start == 0 {
                    self.store.scan(Table::LogEntry, &[log.id()], false, n)?
                } else {
                    self.store.scan_after(
                        Table::LogEntry,
                        &[log.id()],
                        &layout::log_entry(log.id(), start - 1),
                        false,
                        n,
                    )?
                };
                if entries.len() != n {
                    return Err(layout::corrupt(
                        Table::LogEntry,
                        "entries of the tree are missing",
                    )
                    .into());
                }
                let leaves: Vec<Vec<u8>> = entries.into_iter().map(|(_, v)| v).collect();
                Ok(Some(tiles::bundle(&leaves)?))
            }
        }
    }

    /// The C2SP `tlog-proof` of the leaf whose hash is `leaf` against the current checkpoint;
    /// a leaf still pending is integrated first. `None`: no such leaf.
    pub fn log_proof(&self, log: LogName, leaf: &Hash) -> Result<Option<TlogProof>, VaultError> {
        let key = layout::log_leaf(log.id(), leaf);
        let mut index = self.store.get(Table::LogLeaf, &key)?;
        if index.is_none() {
            self.integrate(log)?;
            index = self.store.get(Table::LogLeaf, &key)?;
        }
        let Some(index) = index else { return Ok(None) };
        let index = layout::decode_count(Table::LogLeaf, &index)?;
        let Some(state) = self.log_state(log)? else {
            return Ok(None);
        };
        // Against the checkpoint the witnesses cosigned, when there is one that holds the leaf.
        let (size, checkpoint) = match self.witnessed(log)? {
            Some(w) if index < w.size => (w.size, w.checkpoint),
            _ => (state.size, state.checkpoint),
        };
        let mut tree = TreeReader::new(size, |l, n, w| self.log_tile_hashes(log, l, n, w));
        if tree.leaf(index)? != *leaf {
            return Err(
                layout::corrupt(Table::LogLeaf, "a leaf index that names another leaf").into(),
            );
        }
        Ok(Some(TlogProof {
            extra: None,
            index,
            proof: tree.inclusion(index)?,
            checkpoint,
        }))
    }

    /// The public leaf of the deposit of the licence whose digest (hex) is `sha256`, integrated
    /// first if it is still pending. `None`: no such deposit in the log.
    pub fn deposit_leaf(&self, sha256: &str) -> Result<Option<Vec<u8>>, VaultError> {
        let Some(hash) = self
            .store
            .get(Table::LogLeaf, &layout::log_deposit(sha256))?
        else {
            return Ok(None);
        };
        let key = layout::log_leaf(
            LogName::Public.id(),
            &Hash::try_from(hash.as_slice())
                .map_err(|_| layout::corrupt(Table::LogLeaf, "a deposit's leaf hash"))?,
        );
        let mut index = self.store.get(Table::LogLeaf, &key)?;
        if index.is_none() {
            self.integrate(LogName::Public)?;
            index = self.store.get(Table::LogLeaf, &key)?;
        }
        let Some(index) = index else { return Ok(None) };
        let index = layout::decode_count(Table::LogLeaf, &index)?;
        Ok(self.store.get(
            Table::LogEntry,
            &layout::log_entry(LogName::Public.id(), index),
        )?)
    }

    /// The consistency proof between the trees of `from` and `to` leaves (`to` at most the
    /// current size), with the roots of both.
    pub fn log_consistency(
        &self,
        log: LogName,
        from: u64,
        to: u64,
    ) -> Result<Option<(Hash, Hash, Vec<Hash>)>, VaultError> {
        let Some(state) = self.log_state(log)? else {
            return Ok(None);
        };
        if from > to || to > state.size {
            return Ok(None);
        }
        let mut tree = TreeReader::new(to, |l, n, w| self.log_tile_hashes(log, l, n, w));
        let from_root = if from == 0 {
            crate::tlog::tree_hash(&[])
        } else {
            tree.range(0, from)?
        };
        Ok(Some((from_root, tree.root()?, tree.consistency(from)?)))
    }
}

/// Starts the background integration of `vault`'s logs: every [`INTEGRATION_INTERVAL_MS`],
/// until the vault is dropped. A failure is logged when it first happens and retried.
pub fn spawn_integrator(vault: &std::sync::Arc<Vault>) {
    let weak = std::sync::Arc::downgrade(vault);
    let run = move || {
        let mut failing: Option<String> = None;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(INTEGRATION_INTERVAL_MS));
            let Some(v) = weak.upgrade() else { return };
            let witnessed = v.integrate_logs().and_then(|()| {
                LogName::ALL
                    .into_iter()
                    .try_for_each(|log| v.witness(log).map(|_| ()))
            });
            match witnessed {
                Ok(()) if failing.is_some() => {
                    tracing::info!("log integration works again");
                    failing = None;
                }
                Ok(()) => {}
                Err(e) => {
                    let e = e.to_string();
                    if failing.as_ref() != Some(&e) {
                        tracing::error!(error = %e, "log integration failed; retrying");
                        failing = Some(e);
                    }
                }
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("log-integrator".into())
        .spawn(run)
    {
        tracing::error!(error = %e, "the log integrator did not start");
    }
}

/// Parses a signed checkpoint and checks it against the log's verifier keys.
pub fn open_checkpoint(text: &str, keys: &[NoteVerifier]) -> Result<Checkpoint, ProofError> {
    let n = Note::parse(text)?;
    note::verify(&n, keys)?;
    Checkpoint::parse(&n.text)
}
