//! Backups of a serving vault and their offline check (SPEC §18): a consistent copy of the
//! store (the engine's checkpoint), the key material beside it, and a manifest signed by the
//! vault that names every file with its SHA-256, the key history, what the store held (entries
//! per table, the newest access record) and when it was made. Restoring is the CLI's
//! (`cli/ops`): files only, checked against the manifest first.
//!
//! **Invariants:** a backup is complete or absent (it is made in a sibling directory and renamed
//! into place); a backup whose files or manifest do not match is never restored; the manifest
//! never holds a secret (the key files do, and are named as such).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{layout, AccessRecord, Vault, VaultError};
use crate::codes::LicenceId;
use crate::store::{StoreError, Table};
use crate::verdict::{CheckName, Reason};
use crate::verify::{SigningError, VaultKeys};

/// The manifest's `format`.
pub const FORMAT: &str = "licence-vault-backup/1";
/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// Where the store's copy is, in a backup directory.
pub const DB_DIR: &str = "db";
/// Where the key material is, in a backup directory.
pub const KEYS_DIR: &str = "keys";

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The newest access record a backup holds: what a restore brings back at least.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewestAccess {
    pub id: String,
    pub at: DateTime<Utc>,
}

/// What a backup holds, signed by the vault key in force when it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub engine: String,
    /// The vault's key history when the backup was made: the vault it belongs to.
    pub vault_keys: VaultKeys,
    /// Recognises the holder index key (not the key).
    pub index_key_check: String,
    /// Where the signing keys were (files, or a PKCS#11 token whose keys are not in the backup).
    pub key_source: String,
    /// Entries per table.
    pub counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_access_record: Option<NewestAccess>,
    pub files: Vec<FileEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<Value>,
}

/// Why a backup cannot be made, checked or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The backup is not what its manifest says (a file missing, changed or added, a manifest
    /// that is not the vault's): never restored.
    #[error("corrupt backup: {0}")]
    Corrupt(String),
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        Self::Vault(e.into())
    }
}

fn io(what: impl std::fmt::Display, e: std::io::Error) -> BackupError {
    BackupError::Io(format!("{what}: {e}"))
}

/// The SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path.display(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| io(path.display(), e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Every regular file under `root` but the manifest, relative, sorted.
pub fn list_files(root: &Path) -> Result<Vec<String>, BackupError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BackupError> {
        for e in std::fs::read_dir(dir).map_err(|e| io(dir.display(), e))? {
            let e = e.map_err(|e| io(dir.display(), e))?;
            let p = e.path();
            let t = e.file_type().map_err(|e| io(p.display(), e))?;
            if t.is_dir() {
                walk(root, &p, out)?;
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(rel.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.retain(|p| p != MANIFEST);
    out.sort();
    Ok(out)
}

/// Where a backup keeps the rendering keys, under its keys (restored to DATA/render-keys).
pub const RENDER_KEYS_DIR: &str = "render-keys";

fn copy_secret(from: &Path, to: &Path) -> Result<(), BackupError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir.display(), e))?;
    }
    std::fs::copy(from, to).map_err(|e| io(from.display(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io(to.display(), e))?;
    }
    Ok(())
}

/// What a backup's licences looked like when checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceAudit {
    pub licences: u64,
    /// Licences whose stored bytes no longer match or whose issuer signature does not verify.
    pub failed: Vec<String>,
}

impl Vault {
    /// Backs the vault up into `to` (which must not exist) while it serves: the store's
    /// checkpoint, the key files, and the signed manifest. Returns the manifest.
    pub fn backup(&self, to: &Path) -> Result<Manifest, BackupError> {
        if to.exists() {
            return Err(BackupError::Io(format!(
                "{} exists: a backup goes into a new directory",
                to.display()
            )));
        }
        let name = to
            .file_name()
            .ok_or_else(|| BackupError::Io(format!("{} names no directory", to.display())))?;
        let parent = to.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| io(parent.display(), e))?;
        let partial = parent.join(format!(".{}.partial", name.to_string_lossy()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| io(partial.display(), e))?;
        }
        std::fs::create_dir_all(&partial).map_err(|e| io(partial.display(), e))?;
        let made = self.backup_into(&partial);
        match made {
            Ok(m) => {
                std::fs::rename(&partial, to).map_err(|e| io(to.display(), e))?;
                Ok(m)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&partial);
                Err(e)
            }
        }
    }

    fn backup_into(&self, dir: &Path) -> Result<Manifest, BackupError> {
        let created_at = Utc::now();
        self.store.checkpoint(&dir.join(DB_DIR))?;
        let keys = dir.join(KEYS_DIR);
        let files = self.keys.source().files();
        for (i, f) in files.iter().enumerate() {
            let name = if i == 0 {
                "vault.key".to_owned()
            } else {
                format!(
                    "vault-keys/{}",
                    f.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                )
            };
            copy_secret(f, &keys.join(name))?;
        }
        if let Some(f) = self.keys.index_file() {
            copy_secret(f, &keys.join("index.key"))?;
        }
        // The rendering CA and key: a restored vault's seals chain to the same CA (SPEC §16).
        for f in self.render_key_files() {
            if let Some(name) = f.file_name() {
                copy_secret(&f, &keys.join(RENDER_KEYS_DIR).join(name))?;
            }
        }
        // What the copy holds, counted in the copy (not the live store, which moved on).
        let copy = crate::store::RocksStore::open_with(
            &dir.join(DB_DIR),
            &crate::store::rocks::RocksConfig {
                read_only: true,
                ..Default::default()
            },
        )?;
        let (counts, newest) = census(&copy)?;
        drop(copy);
        let mut entries = Vec::new();
        for rel in list_files(dir)? {
            let (sha256, bytes) = sha256_file(&dir.join(&rel))?;
            entries.push(FileEntry {
                path: rel,
                sha256,
                bytes,
            });
        }
        let mut manifest = Manifest {
            format: FORMAT.to_owned(),
            created_at,
            engine: "rocksdb".to_owned(),
            vault_keys: self.key_history()?,
            index_key_check: hex::encode(self.keys.index().check_value()),
            key_source: self.keys.source().describe(),
            counts,
            newest_access_record: newest,
            files: entries,
            proof: None,
        };
        let unsigned = serde_json::to_value(&manifest)
            .map_err(|e| BackupError::Io(format!("manifest: {e}")))?;
        let key = self.signing_key(created_at).map_err(VaultError::from)?;
        let signed = crate::proof::sign(unsigned, &*key, created_at)
            .map_err(|e| VaultError::from(SigningError::proof("backup manifest", e)))?;
        manifest.proof = signed.get("proof").cloned();
        let bytes = crate::jcs::canonicalize(&signed);
        write_synced(&dir.join(MANIFEST), &bytes)?;
        Ok(manifest)
    }

    /// Re-verifies every stored licence (its bytes against the recorded digest, the issuer's
    /// signature with `verify_strict`), reporting progress every `every` licences.
    pub fn audit_licences(
        &self,
        every: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<LicenceAudit, BackupError> {
        let mut audit = LicenceAudit::default();
        let mut after: Vec<u8> = Vec::new();
        let now = Utc::now();
        loop {
            let page = self
                .store
                .scan_after(Table::LicenceMeta, b"", &after, false, 1000)?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            for (k, _) in &page {
                let id: LicenceId = std::str::from_utf8(k)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| layout::corrupt(Table::LicenceMeta, "bad licence key"))?;
                let Some(e) = self.extract(&id, now)? else {
                    continue;
                };
                let sound = |c| e.verdict.check(c).and_then(|c| c.ok) == Some(true);
                if !sound(CheckName::Integrity) || !sound(CheckName::Signature) {
                    audit.failed.push(id.to_string());
                }
                audit.licences += 1;
                if audit.licences % every == 0 {
                    progress(audit.licences);
                }
            }
        }
        Ok(audit)
    }
}

/// That a store was restored, and from what: said at start and in `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Restored {
    pub restored_at: DateTime<Utc>,
    /// When the backup was made: writes after it were lost unless replayed.
    pub backup_created_at: DateTime<Utc>,
    /// The SHA-256 of the backup's manifest.
    pub manifest_sha256: String,
    /// After a point-in-time recovery (PostgreSQL's archived WAL replayed over the base backup):
    /// the time of the last transaction replayed. Writes up to it are here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_to: Option<DateTime<Utc>>,
}

/// Records in a restored store that it was restored (before any vault serves it).
pub fn mark_restored(store: &dyn crate::store::Store, mark: &Restored) -> Result<(), BackupError> {
    let mut c = crate::store::Change::durable();
    c.put(Table::Meta, layout::RESTORED, layout::encode(mark));
    // The logs may have published checkpoints beyond what the backup holds: none is signed
    // until an operator resumes them (`Vault::resume_log`), so that no size is signed twice.
    super::logs::freeze_logs(
        store,
        &mut c,
        &format!(
            "restored from a backup made {}: it may have published checkpoints beyond this tree",
            crate::proof::format_time(mark.backup_created_at)
        ),
    )?;
    store.commit(c)?;
    store.flush()?;
    Ok(())
}

/// Whether `name` may name a backup in the backup directory: one path segment of letters, digits,
/// `.`, `_` and `-`, not starting with a dot (never a path that leaves the directory).
pub fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Vault {
    /// A backup asked of the serving vault: made in its backup directory under `name` (see
    /// [`valid_name`]); where it is, and its manifest.
    pub fn backup_named(&self, name: &str) -> Result<(PathBuf, Manifest), BackupError> {
        let dir = self.backup_dir.as_ref().ok_or_else(|| {
            BackupError::Io("this vault was started without a backup directory".into())
        })?;
        if !valid_name(name) {
            return Err(BackupError::Io(format!(
                "{name:?}: a backup's name is letters, digits, '.', '_' and '-', not starting with '.'"
            )));
        }
        let to = dir.join(name);
        let m = self.backup(&to)?;
        Ok((to, m))
    }

    /// Whether this vault's store was restored from a backup, and from when.
    pub fn restored(&self) -> Result<Option<Restored>, StoreError> {
        self.store
            .get(Table::Meta, layout::RESTORED)?
            .map(|v| layout::decode(Table::Meta, &v))
            .transpose()
    }
}

/// Entries per table and the newest access record of a store.
fn census(
    store: &dyn crate::store::Store,
) -> Result<(BTreeMap<String, u64>, Option<NewestAccess>), BackupError> {
    let mut counts = BTreeMap::new();
    for t in Table::ALL {
        let mut n = 0u64;
        let mut after: Vec<u8> = Vec::new();
        loop {
            let page = store.scan_after(t, b"", &after, false, 4096)?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            n += page.len() as u64;
        }
        counts.insert(t.name().to_owned(), n);
    }
    let newest = store
        .scan(Table::AccessRecord, b"", true, 1)?
        .into_iter()
        .next()
        .map(|(_, v)| layout::decode::<AccessRecord>(Table::AccessRecord, &v))
        .transpose()?
        .map(|r| NewestAccess { id: r.id, at: r.at });
    Ok((counts, newest))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).map_err(|e| io(path.display(), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io(path.display(), e))
}

/// Reads a backup's manifest and checks it against the files: the manifest's signature by a key
/// of its own history, every file's digest and size, and no file the manifest does not name.
pub fn check_files(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|e| io(path.display(), e))?;
    let doc = crate::jcs::parse(&bytes)
        .map_err(|e| BackupError::Corrupt(format!("{MANIFEST} is not I-JSON: {e}")))?;
    let manifest: Manifest = serde_json::from_value(doc.clone())
        .map_err(|e| BackupError::Corrupt(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Corrupt(format!(
            "{MANIFEST} is format {}, not {FORMAT}",
            manifest.format
        )));
    }
    let v = crate::verify::document(&doc, Some(&manifest.vault_keys), Utc::now());
    for c in [CheckName::Signature, CheckName::IssuerKey] {
        if v.check(c).and_then(|c| c.ok) != Some(true) {
            return Err(BackupError::Corrupt(format!(
                "{MANIFEST} is not signed by a key of the vault it describes ({})",
                v.reason().map_or("not checked", Reason::as_str)
            )));
        }
    }
    let named: BTreeMap<&str, &FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let present = list_files(dir)?;
    for p in &present {
        if !named.contains_key(p.as_str()) {
            return Err(BackupError::Corrupt(format!("{p} is not in the manifest")));
        }
    }
    for f in &manifest.files {
        let p: PathBuf = dir.join(&f.path);
        if !p.is_file() {
            return Err(BackupError::Corrupt(format!("{} is missing", f.path)));
        }
        let (sha, n) = sha256_file(&p)?;
        if sha != f.sha256 || n != f.bytes {
            return Err(BackupError::Corrupt(format!(
                "{} does not match the manifest (sha256 {sha}, {n} bytes)",
                f.path
            )));
        }
    }
    Ok(manifest)
}
