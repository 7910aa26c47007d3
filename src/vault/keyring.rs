//! The vault's own keys (SPEC §18): the key history that every node reads from the store, the
//! signing keys this process holds (files in a key directory, or objects in a PKCS#11 token that
//! never leave it), and the holder index secret, which is not a signing key and survives
//! rotations.
//!
//! **Invariants:** a document is signed only by the key the history puts in force at the
//! document's time, read at most [`MAX_VIEW_AGE_SECS`] before it (so a node that has not yet seen
//! a rotation still signs inside the retired key's overlap); a node that does not hold the key in
//! force signs nothing and says so (`vault_key_unavailable`); the history only grows.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{layout, At, Vault, VaultError};
use crate::keys::{DidKey, Sign, Signer};
use crate::store::{Change, Store, StoreError, Table};
use crate::verdict::Reason;
use crate::verify::vault_keys::HistoryError;
use crate::verify::{SigningError, VaultKey, VaultKeys};

/// A node re-reads the key history before signing when its copy is older than this: less than
/// the overlap a rotation gives the retired key, so a signature never falls after it.
pub const MAX_VIEW_AGE_SECS: i64 = 2;

/// Where the private halves of the vault's keys are: what this process can sign with, and how a
/// rotation makes a new key.
pub trait KeySource: Send + Sync {
    /// The keys this process can sign with now.
    fn held(&self) -> Result<Vec<Arc<dyn Sign>>, String>;
    /// Makes a new key (in the key directory, or inside the token) and returns it.
    fn create(&self) -> Result<Arc<dyn Sign>, String>;
    /// Where the keys are, for messages and the backup manifest (no secret).
    fn describe(&self) -> String;
    /// The files that hold the keys (what a backup must keep beside the data): the first key
    /// first, then the rotations' keys. None for keys that never leave their module.
    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// Keys in memory only (tests and benchmarks): a rotation's new key is lost with the process.
pub struct MemoryKeys(RwLock<Vec<Arc<dyn Sign>>>);

impl MemoryKeys {
    pub fn new(first: Signer) -> Self {
        Self(RwLock::new(vec![Arc::new(first)]))
    }
}

impl KeySource for MemoryKeys {
    fn held(&self) -> Result<Vec<Arc<dyn Sign>>, String> {
        Ok(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
    fn create(&self) -> Result<Arc<dyn Sign>, String> {
        let k: Arc<dyn Sign> = Arc::new(Signer::generate());
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(k.clone());
        Ok(k)
    }
    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

/// Key files (one `privateKeyMultibase` line each, mode 0600): the first key (`DATA/vault.key`,
/// or `--vault-key`) and the keys rotations made, in `DATA/vault-keys/`.
pub struct FileKeys {
    pub first: PathBuf,
    pub dir: PathBuf,
}

impl FileKeys {
    pub fn read(path: &Path) -> Result<Signer, String> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?,
        );
        Signer::from_private_multibase(text.trim())
            .map_err(|e| format!("{} is not a privateKeyMultibase: {e}", path.display()))
    }

    /// Writes a secret key file that only its owner may read; refuses to overwrite one.
    pub fn write(path: &Path, signer: &Signer) -> Result<(), String> {
        write_secret_line(path, &signer.to_private_multibase())
    }
}

/// Writes one line of secret text to a new file that only its owner may read, synced; refuses to
/// overwrite a file. The one way key material is written.
pub(super) fn write_secret_line(path: &Path, secret: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let line = Zeroizing::new(format!("{secret}\n"));
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

impl KeySource for FileKeys {
    fn held(&self) -> Result<Vec<Arc<dyn Sign>>, String> {
        self.files()
            .iter()
            .map(|p| Ok(Arc::new(Self::read(p)?) as Arc<dyn Sign>))
            .collect()
    }
    fn files(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "key"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths.insert(0, self.first.clone());
        paths
    }
    fn create(&self) -> Result<Arc<dyn Sign>, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        let signer = Signer::generate();
        let path = self
            .dir
            .join(format!("{}.key", signer.did_key().fingerprint()));
        Self::write(&path, &signer)?;
        Ok(Arc::new(signer))
    }
    fn describe(&self) -> String {
        format!(
            "key files {} and {}/",
            self.first.display(),
            self.dir.display()
        )
    }
}

/// The holder index secret: the HMAC key of the index from holder codes to their licences. A
/// copy of the database alone does not tell whose licences are whose.
pub struct IndexKey(Zeroizing<[u8; 32]>);

impl IndexKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }
    pub fn generate() -> Self {
        Self::new(rand::random())
    }
    /// The key the vault derived from its signing key before the index key was a secret of its
    /// own: a store written then keeps its index.
    pub fn legacy(signer: &Signer) -> Self {
        let mut h = Sha256::new();
        h.update(b"licence-vault holder index v1\0");
        h.update(signer.to_private_multibase().as_bytes());
        Self::new(h.finalize().into())
    }
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.0))
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        let v = Zeroizing::new(hex::decode(s.trim()).ok()?);
        Some(Self::new(v.as_slice().try_into().ok()?))
    }
    /// Reads an index key file (64 hex digits).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?,
        );
        Self::from_hex(&text).ok_or_else(|| format!("{} is not 64 hex digits", path.display()))
    }
    /// Writes it to a new file only its owner may read.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        write_secret_line(path, &self.to_hex())
    }
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.0).unwrap_or_else(|_| unreachable!());
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
    /// What the store keeps to recognise the key (not the key): a wrong index key would file
    /// every holder's licences under digests nobody asks for.
    pub fn check_value(&self) -> Vec<u8> {
        self.mac(b"licence-vault index key check").to_vec()
    }
}

/// The key history as this process last read it.
struct View {
    keys: VaultKeys,
    read_at: DateTime<Utc>,
}

/// The vault's keys: history, held signing keys, index secret.
pub struct KeyRing {
    source: Box<dyn KeySource>,
    held: RwLock<Vec<Arc<dyn Sign>>>,
    view: RwLock<View>,
    index: IndexKey,
    /// The file the index key was read from, for backups.
    index_file: Option<PathBuf>,
}

impl KeyRing {
    /// The keys of `source`, with `index` as the holder index secret. The history is read when
    /// the vault opens ([`bind`]).
    pub fn new(source: Box<dyn KeySource>, index: IndexKey) -> Result<Self, String> {
        let held = source.held()?;
        if held.is_empty() {
            return Err(format!("no vault key in {}", source.describe()));
        }
        Ok(Self::holding(source, held, index))
    }

    /// A ring that holds no signing key: it verifies (a backup being checked), never signs.
    pub fn verify_only(index: IndexKey) -> Self {
        let source = MemoryKeys(RwLock::new(Vec::new()));
        Self::holding(Box::new(source), Vec::new(), index)
    }

    fn holding(source: Box<dyn KeySource>, held: Vec<Arc<dyn Sign>>, index: IndexKey) -> Self {
        Self {
            source,
            held: RwLock::new(held),
            view: RwLock::new(View {
                keys: VaultKeys::default(),
                read_at: DateTime::UNIX_EPOCH,
            }),
            index,
            index_file: None,
        }
    }

    /// The same ring, its index key read from `path` (backed up with the keys).
    pub fn with_index_file(mut self, path: PathBuf) -> Self {
        self.index_file = Some(path);
        self
    }

    pub fn index_file(&self) -> Option<&Path> {
        self.index_file.as_deref()
    }

    /// One in-memory key (tests, benchmarks), with the index key it had before the index key was
    /// a secret of its own.
    pub fn in_memory(signer: Signer) -> Self {
        let index = IndexKey::legacy(&signer);
        Self::new(Box::new(MemoryKeys::new(signer)), index).unwrap_or_else(|_| unreachable!())
    }

    pub fn index(&self) -> &IndexKey {
        &self.index
    }

    pub fn source(&self) -> &dyn KeySource {
        &*self.source
    }

    /// The history as last read.
    pub fn history(&self) -> VaultKeys {
        self.view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .clone()
    }

    fn set_history(&self, keys: VaultKeys, read_at: DateTime<Utc>) {
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = View { keys, read_at };
    }

    fn held_key(&self, did: &DidKey) -> Option<Arc<dyn Sign>> {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        held.iter().find(|k| k.did_key() == did).cloned()
    }

    /// The first key this process holds (what it was started with), if it holds any.
    pub fn first_held(&self) -> Option<DidKey> {
        self.held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .first()
            .map(|k| k.did_key().clone())
    }
}

/// Reads the key history from `store`: the stored one, or (a store written before histories)
/// the bound key, or (a new store) `first` (none without a key). Not written. A vault's first key
/// signs from the epoch: documents dated before the vault began (imports, fixed-time
/// decisions) are signed by it.
fn stored_history(
    store: &dyn Store,
    first: Option<&DidKey>,
) -> Result<(Option<Vec<u8>>, VaultKeys), StoreError> {
    let raw = store.get(Table::Meta, layout::VAULT_KEYS)?;
    if let Some(v) = &raw {
        return Ok((raw.clone(), layout::decode(Table::Meta, v)?));
    }
    let keys = match store.get(Table::Meta, layout::VAULT_DID)? {
        Some(v) => {
            let did: DidKey = String::from_utf8_lossy(&v)
                .parse()
                .map_err(|e| layout::corrupt(Table::Meta, e))?;
            VaultKeys::first(did, DateTime::UNIX_EPOCH)
        }
        None => first.map_or_else(VaultKeys::default, |f| {
            VaultKeys::first(f.clone(), DateTime::UNIX_EPOCH)
        }),
    };
    Ok((None, keys))
}

/// Binds a store to its keys when a vault opens, and refuses keys of another vault: the held key
/// must be in the store's key history, and the index key must be the one the store was written
/// with. A store written before histories gets one (its bound key, since the epoch).
pub fn bind(store: &dyn Store, ring: &KeyRing) -> Result<(), VaultError> {
    let now = Utc::now();
    let Some(first) = ring.first_held() else {
        // A ring that only verifies reads the history as it is and writes nothing.
        let (_, keys) = stored_history(store, None)?;
        ring.set_history(keys, now);
        return Ok(());
    };
    let (raw, keys) = stored_history(store, Some(&first))?;
    if keys.get(&first).is_none() {
        let known: Vec<&str> = keys.keys().iter().map(|k| k.did_key.as_str()).collect();
        return Err(VaultError::new(
            Reason::Conflict,
            "vault key",
            format!(
                "this data directory belongs to vault key {}, not {first}",
                known.join(", ")
            ),
        ));
    }
    let check = ring.index().check_value();
    let stored_check = store.get(Table::Meta, layout::INDEX_KEY_CHECK)?;
    if let Some(c) = &stored_check {
        if *c != check {
            return Err(VaultError::new(
                Reason::Conflict,
                "index key",
                "the holder index key is not the one this store was written with",
            ));
        }
    }
    if raw.is_none() || stored_check.is_none() {
        let mut c = Change::durable();
        c.expect(Table::Meta, layout::VAULT_KEYS, raw.clone())
            .expect(Table::Meta, layout::INDEX_KEY_CHECK, stored_check.clone())
            .put(Table::Meta, layout::VAULT_KEYS, layout::encode(&keys))
            .put(Table::Meta, layout::INDEX_KEY_CHECK, check);
        if raw.is_none() {
            c.put(
                Table::Meta,
                layout::VAULT_DID,
                keys.keys()[0].did_key.as_str().as_bytes().to_vec(),
            );
        }
        match store.commit(c) {
            // Another node bound the store first: judge again what it wrote.
            Err(StoreError::Conflict(_)) => return bind(store, ring),
            other => other?,
        }
    }
    ring.set_history(keys, now);
    Ok(())
}

impl Vault {
    /// The vault's key history (`GET /v1/vault/keys`), read again from a shared store.
    pub fn key_history(&self) -> Result<VaultKeys, VaultError> {
        self.refresh_keys(Utc::now())?;
        Ok(self.keys.history())
    }

    /// The key in force now (`GET /v1/vault`).
    pub fn did_key(&self) -> DidKey {
        let now = Utc::now();
        let h = self.keys.history();
        h.signing_at(now)
            .or(h.current())
            .or(h.keys().last())
            .map(|k| k.did_key.clone())
            .or_else(|| self.keys.first_held())
            .unwrap_or_else(|| unreachable!("a vault opens with a key history or a key"))
    }

    fn refresh_keys(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let first = self.keys.first_held();
        let (_, keys) = stored_history(&*self.store, first.as_ref())?;
        self.keys.set_history(keys, now);
        Ok(())
    }

    /// The key that signs what the vault issues at `at`: the one the history puts in force
    /// then, from a reading of the history at most [`MAX_VIEW_AGE_SECS`] old.
    pub(crate) fn signing_key(&self, at: DateTime<Utc>) -> Result<Arc<dyn Sign>, SigningError> {
        let stale = {
            let v = self.keys.view.read().unwrap_or_else(|p| p.into_inner());
            at - v.read_at > Duration::seconds(MAX_VIEW_AGE_SECS)
        };
        if stale && self.store.shared() {
            self.refresh_keys(Utc::now())
                .map_err(|e| SigningError::unavailable("vault key", e))?;
        }
        let in_force = {
            let v = self.keys.view.read().unwrap_or_else(|p| p.into_inner());
            v.keys.signing_at(at).map(|k| k.did_key.clone())
        };
        let Some(did) = in_force else {
            return Err(SigningError::unavailable(
                "vault key",
                "no vault key is in force (the last one was declared compromised): rotate",
            ));
        };
        if let Some(k) = self.keys.held_key(&did) {
            return Ok(k);
        }
        // A rotation on another node, or by the CLI: the new key may have been put where this
        // process finds its keys since it started.
        if let Ok(held) = self.keys.source.held() {
            *self.keys.held.write().unwrap_or_else(|p| p.into_inner()) = held;
        }
        self.keys.held_key(&did).ok_or_else(|| {
            SigningError::unavailable(
                "vault key",
                format!("this node does not hold {did}, the vault key in force"),
            )
        })
    }

    /// Whether a document dated `at` can be signed: asked inside a decision's door before a
    /// change whose answer carries signed documents is recorded, so that without a key nothing
    /// is written (a module that fails between this and the signature still can: the answer is
    /// then 503 with the change made, and the holder's log shows it).
    pub(crate) fn can_sign(&self, at: DateTime<Utc>) -> Result<(), VaultError> {
        self.signing_key(at).map(|_| ()).map_err(VaultError::from)
    }

    /// Rotates the vault key: a new key made by the key source signs from now on; the current
    /// key is retired after the overlap. Every node sees the new history at its next read.
    pub fn rotate_key(&self) -> Result<VaultKey, VaultError> {
        self.rotate_key_to(None)
    }

    /// [`Vault::rotate_key`] to a key made beforehand (`key rotate --prepare`, copied to every
    /// node), or to a new one.
    pub fn rotate_key_to(&self, prepared: Option<&DidKey>) -> Result<VaultKey, VaultError> {
        let new = match prepared {
            None => self.keys.source.create(),
            Some(did) => self.keys.source.held().and_then(|held| {
                held.into_iter()
                    .find(|k| k.did_key() == did)
                    .ok_or_else(|| format!("{did} is not among this vault's prepared keys"))
            }),
        }
        .map_err(|e| SigningError::unavailable("vault key", e))?;
        self.edit_keys(|h, at| h.rotated(new.did_key().clone(), at))?;
        self.keys
            .held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(new.clone());
        let h = self.keys.history();
        h.get(new.did_key())
            .cloned()
            .ok_or_else(|| VaultError::new(Reason::Internal, "vault key", "rotation not recorded"))
    }

    /// Declares a vault key compromised since `since`: documents it signed at or after that time
    /// are refused from now on, online and by every verifier that reads the history.
    pub fn declare_key_compromised(
        &self,
        did: &DidKey,
        since: DateTime<Utc>,
    ) -> Result<VaultKeys, VaultError> {
        self.edit_keys(|h, _| h.compromised(did, since))?;
        Ok(self.keys.history())
    }

    /// One change of the key history, on the condition that nobody changed it since it was read.
    fn edit_keys(
        &self,
        edit: impl Fn(&VaultKeys, DateTime<Utc>) -> Result<VaultKeys, HistoryError>,
    ) -> Result<(), VaultError> {
        let first = self.keys.first_held();
        let keys = self.exclusively(At::Now, |tx| {
            let (raw, h) = stored_history(&*self.store, first.as_ref())?;
            let next = edit(&h, tx.now())
                .map_err(|e| VaultError::new(Reason::Conflict, "vault key", e.0))?;
            tx.change()
                .expect(Table::Meta, layout::VAULT_KEYS, raw)
                .put(Table::Meta, layout::VAULT_KEYS, layout::encode(&next));
            let leaf = crate::tlog::leaves::vault_keys(
                tx.now(),
                &serde_json::to_value(&next).unwrap_or_default(),
            );
            tx.log(super::logs::LogName::Public, &leaf);
            Ok(next)
        })?;
        self.keys.set_history(keys, Utc::now());
        Ok(())
    }
}

/// What a store says about its holder index key before the vault opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKeyState {
    /// A new store: any index key (a new one).
    New,
    /// A store written before the index key was a secret of its own: its index was keyed by
    /// [`IndexKey::legacy`] of its first vault key.
    Legacy,
    /// A store that knows its index key: only that one opens it.
    Bound,
}

pub fn index_key_state(store: &dyn Store) -> Result<IndexKeyState, StoreError> {
    if store.get(Table::Meta, layout::INDEX_KEY_CHECK)?.is_some() {
        Ok(IndexKeyState::Bound)
    } else if store.get(Table::Meta, layout::VAULT_DID)?.is_some() {
        Ok(IndexKeyState::Legacy)
    } else {
        Ok(IndexKeyState::New)
    }
}
