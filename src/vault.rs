//! The vault service: deposit, extraction with verification, registries, tokens.
//!
//! Composes the domain (codes, proofs, verifier) with a [`Store`]. Every method that changes
//! state builds one [`Change`]; deposits are durable (WAL synced) before they are acknowledged.
//!
//! **Invariants:** the bytes verified are the bytes stored and served (JCS of the signed licence);
//! a stored licence is re-verified on every read and is never presented as valid when its bytes no
//! longer verify; nothing here knows HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use rand::RngCore as _;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::{self, Principal, TokenRecord};
use crate::codes::{HolderCode, LicenceId, Uscc};
use crate::jcs;
use crate::keys::{DidKey, Signer};
use crate::licence::Licence;
use crate::metrics::{Counter, Metrics};
use crate::proof;
use crate::registry::{Agency, AgencyKey, LicenceType, Matter, Registries, Requester};
use crate::store::{Change, Store, StoreError, Table};
use crate::verdict::{Check, CheckName, Reason, Rejection, Verdict};
use crate::verify::{self, Evidence, RecordFacts, SigningError, Status};

mod delegations;
mod issuers;
pub mod layout;
mod lifecycle;
mod notices;
mod notifications;
mod presentations;
mod requests;
mod reuse;

use layout::HolderDigest;

pub use notifications::{
    Notification, NotificationKind, NotificationPage, EXPIRING_WITHIN_DAYS, NOTIFICATIONS_MAX_PAGE,
};
pub use presentations::{NewPresentation, Presentation, Redeemed, StoredPresentation};
pub use requests::{PreviewItem, PreviewLicence, StoredRequest};
pub use reuse::{
    AccessKind, AccessOutcome, AccessPage, AccessRecord, ClaimAnswer, HolderSummary, LicenceCount,
    MatterSummary, Pull, PullCount, ReuseStats, StatsTotals, TypeResult, ACCESS_LOG_MAX_PAGE,
    ACCESS_LOG_PAGE,
};

pub use issuers::{IssuerDeposit, IssuerNotice, IssuerPage, ISSUER_MAX_PAGE};
pub use lifecycle::{StatusRecord, StoredStatement};
pub use notices::{NoticePage, StoredNotice, NOTICE_MAX_PAGE, NOTICE_WINDOW_DAYS};

/// Most licences one batch deposit may carry (SPEC §7).
pub const MAX_BATCH: usize = 1000;

/// A licence that passed every deposit check, with its storage form.
#[derive(Debug, Clone)]
pub struct Checked {
    pub licence: Licence,
    /// The JCS bytes to store (what was verified).
    pub bytes: Vec<u8>,
    pub sha256: String,
    /// Its key in the holder index.
    pub holder_key: Vec<u8>,
}

/// What the vault records about a deposited licence, besides its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceMeta {
    /// Hex SHA-256 of the stored JCS bytes.
    pub sha256: String,
    pub deposited_at: DateTime<Utc>,
    /// The signed receipt, when it was signed at deposit. Bulk import defers signing to the first
    /// read ([`Vault::receipt_of`]); Ed25519 is deterministic, so the bytes are the same either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<LicenceId>,
    /// The licence's position in its issuer's status lists (SPEC §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_index: Option<u64>,
    /// The status set by the latest accepted statement; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusRecord>,
}

/// How the vault is run beyond its store and key.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// Identity providers trusted to sign holder JWS tokens.
    pub idp_keys: Vec<DidKey>,
    /// The base URL under which this vault is reached; status list URLs in receipts start with it.
    pub public_url: String,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            idp_keys: Vec::new(),
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
        }
    }
}

pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// The result of a deposit that was not refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Deposited {
    /// Newly stored; the receipt was just signed.
    Created(Value),
    /// The same bytes were deposited before; the first receipt.
    Existing(Value),
}

/// A licence read out of the vault with a fresh verdict. `document` is the stored canonical bytes,
/// `None` when they are damaged: they are never served.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub id: LicenceId,
    pub document: Option<jcs::Canonical>,
    pub licence: Option<Licence>,
    pub meta: LicenceMeta,
    pub verdict: Verdict,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document the vault issues (receipt, copy, status list) could not be signed.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl VaultError {
    fn new(reason: Reason, field: &str, message: impl Into<String>) -> Self {
        Self::Rejected(Rejection::new(reason, field, message))
    }
}

/// When a change happens. `Now` is read where the order of changes is decided — under the lock
/// that orders them — so the times in the store follow that order (a withdrawal's `withdrawnAt` is
/// never after a pull it was ordered before). A fixed time is for tests and replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Now,
    Fixed(DateTime<Utc>),
}

impl At {
    /// The time: call it under the lock that orders the change.
    pub fn resolve(self) -> DateTime<Utc> {
        match self {
            Self::Now => Utc::now(),
            Self::Fixed(t) => t,
        }
    }
}

impl From<DateTime<Utc>> for At {
    fn from(t: DateTime<Utc>) -> Self {
        Self::Fixed(t)
    }
}

/// Stripes of [`Vault::holder_lock`]: with 64 concurrent pulls, two land on one stripe in about
/// 12 % of the cases (birthday bound), and then only wait for one pull.
const HOLDER_STRIPES: usize = 16_384;

/// A stored licence's bytes checked against the digest recorded at deposit, parsed, and its
/// proof prepared: each done once per read.
struct Loaded {
    bytes: Vec<u8>,
    doc: Value,
    prepared: Result<proof::Prepared, proof::ProofError>,
}

impl Loaded {
    /// Why the bytes cannot be judged at all, as the integrity check's detail.
    fn new(bytes: Option<Vec<u8>>, meta: &LicenceMeta) -> Result<Self, String> {
        let b = bytes.ok_or_else(|| "document bytes are missing".to_owned())?;
        if hex::encode(Sha256::digest(&b)) != meta.sha256 {
            return Err("stored bytes do not match the digest recorded at deposit".to_owned());
        }
        let doc = jcs::parse(&b).map_err(|e| format!("stored bytes are not JSON: {e}"))?;
        // Stored bytes are canonical (that is how they were stored, and the digest says they
        // are unchanged): hash them without re-canonicalising.
        let prepared = proof::prepare_canonical(&doc, &b);
        Ok(Self {
            bytes: b,
            doc,
            prepared,
        })
    }
}

/// One item's outcome in [`Vault::store_checked`]: `(created, receipt if signed)` or why not.
type StoredItem = Result<(bool, Option<Value>), VaultError>;

/// What a batch of deposits will write, built item by item under the write lock: later items see
/// earlier ones (a duplicate, a renewal of a licence in the same batch, the next status index).
#[derive(Default)]
struct DepositPlan {
    change: Change,
    /// Licences of this batch: digest and receipt.
    in_batch: HashMap<LicenceId, (String, Option<Value>)>,
    /// Predecessors superseded by this batch, with their new metadata.
    successors: HashMap<LicenceId, LicenceMeta>,
    /// Each issuer's next status index after this batch.
    next_index: HashMap<Uscc, u64>,
}

impl DepositPlan {
    /// The batch's one durable change.
    fn into_change(self) -> Change {
        let mut change = self.change;
        change.durable = true;
        for (pred, meta) in self.successors {
            change.put(
                Table::LicenceMeta,
                layout::licence(&pred),
                layout::encode(&meta),
            );
        }
        for (issuer, next) in self.next_index {
            change.put(
                Table::Meta,
                layout::status_index(&issuer),
                layout::encode_count(next),
            );
        }
        change
    }
}

/// How many times a decision is made before its lost races are reported (`503`).
const ATTEMPTS: u32 = 24;

/// An error that may mean another change came first, so the decision should be made again.
pub(crate) trait LostRace {
    fn lost_race(&self) -> bool;
}

impl LostRace for StoreError {
    fn lost_race(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

impl LostRace for VaultError {
    fn lost_race(&self) -> bool {
        matches!(self, VaultError::Store(e) if e.lost_race())
    }
}

/// Held while deciding on one or more holders' state (a pull, a withdrawal, an answer, a
/// notice): the in-process stripe locks, which order the decisions of this process, and the
/// holders' versions as read under them, which order them across processes. A decision's change
/// is [`HolderGuard::seal`]ed: it bumps each version, and applies only if none moved since it
/// was read — so whatever the decision read of these holders is still true when it lands.
pub(crate) struct HolderGuard<'a> {
    _stripes: Vec<std::sync::MutexGuard<'a, ()>>,
    versions: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl HolderGuard<'_> {
    pub(crate) fn seal(&self, change: &mut Change) -> Result<(), StoreError> {
        for (key, read) in &self.versions {
            let n = match read {
                Some(v) => layout::decode_count(Table::HolderVersion, v)?,
                None => 0,
            };
            change.expect(Table::HolderVersion, key.clone(), read.clone());
            change.put(
                Table::HolderVersion,
                key.clone(),
                layout::encode_count(n + 1),
            );
        }
        Ok(())
    }
}

pub struct Vault {
    store: Arc<dyn Store>,
    signer: Signer,
    holder_key: [u8; 32],
    /// The registries as read, with the registry generation they were read at.
    registries: RwLock<(Option<Vec<u8>>, Arc<Registries>)>,
    /// Serialises check-then-write sequences (deposit idempotency, registry edits).
    write: Mutex<()>,
    /// Serialise a holder's consent check-and-use against other pulls and withdrawals of the
    /// same holder: striped by holder digest, so pulls for different holders run (and group
    /// their WAL syncs) concurrently.
    holders: Box<[Mutex<()>]>,
    idp_keys: Vec<DidKey>,
    /// Vault tokens already resolved, so that a known token is a memory lookup (see
    /// [`Vault::known_token`]).
    tokens: RwLock<TokenCache>,
    public_url: String,
    pub metrics: Metrics,
}

/// Token digest → principal, for tokens seen since the vault opened, kept only on a store no other
/// process writes (RocksDB admits one): on a shared one each request reads its token. A revocation bumps `generation` after its
/// delete is durable, so a lookup that read the table before the revocation cannot cache what it read.
#[derive(Default)]
struct TokenCache {
    generation: u64,
    principals: HashMap<[u8; 32], Principal>,
}

/// Tokens remembered at most; beyond it, the others are read from the store each time.
const MAX_CACHED_TOKENS: usize = 100_000;

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("did", self.signer.did_key())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the vault over `store`, signing receipts with `signer`. `idp_keys` are the identity
    /// providers trusted for holder JWS tokens.
    pub fn open(
        store: Arc<dyn Store>,
        signer: Signer,
        idp_keys: Vec<DidKey>,
    ) -> Result<Self, StoreError> {
        Self::open_with(
            store,
            signer,
            VaultOptions {
                idp_keys,
                ..VaultOptions::default()
            },
        )
    }

    pub fn open_with(
        store: Arc<dyn Store>,
        signer: Signer,
        options: VaultOptions,
    ) -> Result<Self, StoreError> {
        // The holder index key is derived from the vault's secret, so a copy of the database alone
        // does not reveal which holder owns which licences.
        let mut h = Sha256::new();
        h.update(b"licence-vault holder index v1\0");
        h.update(signer.to_private_multibase().as_bytes());
        let holder_key: [u8; 32] = h.finalize().into();
        let vault = Self {
            store,
            signer,
            holder_key,
            registries: RwLock::new((None, Arc::new(Registries::default()))),
            write: Mutex::new(()),
            holders: (0..HOLDER_STRIPES).map(|_| Mutex::new(())).collect(),
            idp_keys: options.idp_keys,
            tokens: RwLock::default(),
            public_url: options.public_url.trim_end_matches('/').to_owned(),
            metrics: Metrics::default(),
        };
        vault.reload_registries()?;
        vault.load_reuse_stats()?;
        Ok(vault)
    }

    /// Whether the vault can accept writes now (readiness): the store's answer, after it tried
    /// to recover from a full disk.
    pub fn ready(&self) -> Result<(), StoreError> {
        self.store.ready()
    }

    /// The base URL under which this vault is reached.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn did_key(&self) -> &DidKey {
        self.signer.did_key()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The registries. On a store other processes write too, they are read again first when
    /// another node edited them since (one point read of the registry generation); if that read
    /// fails, the registries as last read.
    pub fn registries(&self) -> Arc<Registries> {
        if self.store.shared() {
            match self.current_registries() {
                Ok((_, reg)) => return reg,
                Err(e) => {
                    tracing::warn!(error = %e, "registry generation not read; registries as last read")
                }
            }
        }
        self.loaded_registries().1
    }

    fn loaded_registries(&self) -> (Option<Vec<u8>>, Arc<Registries>) {
        self.registries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The registry generation in the store and the registries at it (read again if they were
    /// read at another).
    fn current_registries(&self) -> Result<(Option<Vec<u8>>, Arc<Registries>), StoreError> {
        let generation = self.store.get(Table::Meta, layout::REGISTRY_GENERATION)?;
        let (loaded, reg) = self.loaded_registries();
        if loaded == generation {
            return Ok((generation, reg));
        }
        self.reload_registries()?;
        Ok(self.loaded_registries())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stripe(&self, digest: &HolderDigest) -> usize {
        usize::from(u16::from_be_bytes([digest[0], digest[1]])) % self.holders.len()
    }

    /// The lock of the stripe holding `digest` (a holder digest), with the holder's version read
    /// under it: see [`HolderGuard`].
    fn holder_lock(&self, digest: &HolderDigest) -> Result<HolderGuard<'_>, StoreError> {
        self.holder_locks(std::iter::once(digest))
    }

    /// The locks of the stripes holding several holders, each once and in stripe order, with
    /// the holders' versions. Only a holder of the vault's write lock takes more than one
    /// stripe, so two such sets never wait on each other.
    fn holder_locks<'d>(
        &self,
        digests: impl Iterator<Item = &'d HolderDigest>,
    ) -> Result<HolderGuard<'_>, StoreError> {
        let digests: std::collections::BTreeSet<&HolderDigest> = digests.collect();
        let stripes: std::collections::BTreeSet<usize> =
            digests.iter().map(|d| self.stripe(d)).collect();
        let stripes = stripes
            .into_iter()
            .map(|i| self.holders[i].lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let keys: Vec<Vec<u8>> = digests.iter().map(|d| layout::holder_version(d)).collect();
        let read = self.store.multi_get(Table::HolderVersion, &keys)?;
        Ok(HolderGuard {
            _stripes: stripes,
            versions: keys.into_iter().zip(read).collect(),
        })
    }

    /// Runs `decide` — which reads, decides and commits one conditional change — again while
    /// another change (on another node) beat it to what it read, at most [`ATTEMPTS`] times,
    /// after a short random pause that grows with each attempt.
    pub(crate) fn retrying<T, E: LostRace>(
        &self,
        mut decide: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 1;
        loop {
            match decide() {
                Err(e) if e.lost_race() && attempt < ATTEMPTS => {
                    self.metrics.inc(crate::metrics::Counter::StoreRetries);
                    let cap = 1u64 << attempt.min(6);
                    let micros = rand::rngs::OsRng.next_u64() % (cap * 1000);
                    std::thread::sleep(std::time::Duration::from_micros(micros));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Reads the registries (and the generation before them: an edit after that read is seen at
    /// the next).
    fn reload_registries(&self) -> Result<(), StoreError> {
        let generation = self.store.get(Table::Meta, layout::REGISTRY_GENERATION)?;
        fn all<T: DeserializeOwned>(store: &dyn Store, table: Table) -> Result<Vec<T>, StoreError> {
            store
                .scan(table, b"", false, usize::MAX)?
                .into_iter()
                .map(|(_, v)| layout::decode(table, &v))
                .collect()
        }
        let s = &*self.store;
        let reg = Registries::new(
            all::<LicenceType>(s, Table::TypeCodeType)?,
            all::<Matter>(s, Table::MatterCodeMatter)?,
            all::<Agency>(s, Table::UsccAgency)?,
            all::<Requester>(s, Table::RequesterIdRequester)?,
        );
        *self.registries.write().unwrap_or_else(|p| p.into_inner()) = (generation, Arc::new(reg));
        Ok(())
    }

    /// The keyed digest under which a holder's licences are indexed.
    pub fn holder_digest(&self, holder: &HolderCode) -> HolderDigest {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.holder_key)
            .unwrap_or_else(|_| unreachable!());
        mac.update(holder.key().as_bytes());
        mac.finalize().into_bytes().into()
    }

    // ----- deposit -------------------------------------------------------------------------

    /// Deposits one signed licence on behalf of `issuer`.
    pub fn deposit(
        &self,
        issuer: &Uscc,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> Result<Deposited, VaultError> {
        // deposit_batch returns exactly one result per document.
        self.deposit_batch(Some(issuer), std::slice::from_ref(doc), now)?
            .pop()
            .unwrap_or_else(|| unreachable!("one document, one result"))
    }

    /// Deposits many licences: all signatures in one batch verification, all accepted items in one
    /// durable write. One result per item, in order; valid items land even if others fail.
    /// `issuer` restricts the batch to one agency's licences (`None`: any, for offline import).
    pub fn deposit_batch(
        &self,
        issuer: Option<&Uscc>,
        docs: &[Value],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<Deposited, VaultError>>, VaultError> {
        let checked = self.check_for_deposit(&self.registries(), docs, now);
        Ok(self
            .store_checked(issuer, checked, now, true)?
            .into_iter()
            .map(|r| match r? {
                (created, Some(receipt)) if created => Ok(Deposited::Created(receipt)),
                (_, Some(receipt)) => Ok(Deposited::Existing(receipt)),
                (_, None) => Err(SigningError::new("deposit receipt", "not signed").into()),
            })
            .collect())
    }

    /// Bulk import (offline) of items checked with [`Vault::check_for_deposit`] (so an import can
    /// check one batch while storing another): like [`Vault::deposit_batch`] for any issuer, but
    /// receipts are signed when first read instead of now. `Ok(true)`: created, `Ok(false)`:
    /// already present.
    pub fn import_checked(
        &self,
        checked: Vec<Result<Checked, Rejection>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<bool, VaultError>>, VaultError> {
        Ok(self
            .store_checked(None, checked, now, false)?
            .into_iter()
            .map(|r| r.map(|(created, _)| created))
            .collect())
    }

    /// Stores checked items in one durable write (idempotency, version chains and status-list
    /// positions decided under the vault's write lock). Each accepted item gives
    /// `(created, receipt if signed)`.
    fn store_checked(
        &self,
        issuer: Option<&Uscc>,
        checked: Vec<Result<Checked, Rejection>>,
        now: DateTime<Utc>,
        sign_receipts: bool,
    ) -> Result<Vec<StoredItem>, VaultError> {
        let mut results: Vec<Option<StoredItem>> = Vec::with_capacity(checked.len());
        let mut accepted = Vec::new();
        for (i, c) in checked.into_iter().enumerate() {
            match c
                .map_err(VaultError::from)
                .and_then(|c| deposited_by(issuer, c))
            {
                Ok(c) => {
                    results.push(None);
                    accepted.push((i, c));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }

        // Decided under the write lock (this process) on the condition that what was read is
        // unchanged (other processes): each new licence id still absent, each issuer's
        // status-list counter (so that no two deposits get one index), the predecessors renewed,
        // and the holders notified. (The counter alone would not keep a licence id absent: its
        // metadata is read before the counter, so a deposit committed between the two reads
        // would be missed and then written over.)
        let decided = self.retrying(|| {
            let guard = self.lock();
            // One multi-get for the idempotency check of the whole batch.
            let keys: Vec<Vec<u8>> = accepted
                .iter()
                .map(|(_, c)| layout::licence(&c.licence.id).to_vec())
                .collect();
            let stored = self.store.multi_get(Table::LicenceMeta, &keys)?;
            let mut plan = DepositPlan::default();
            let mut decided = Vec::with_capacity(accepted.len());
            for ((i, c), stored) in accepted.iter().zip(stored) {
                let stored = stored
                    .map(|v| layout::decode::<LicenceMeta>(Table::LicenceMeta, &v))
                    .transpose()?;
                decided.push((
                    *i,
                    self.plan_deposit(&mut plan, c.clone(), stored, now, sign_receipts)?,
                ));
            }
            let holders = self.notify_superseded(&mut plan, now)?;
            let mut change = plan.into_change();
            if let Some(h) = &holders {
                h.seal(&mut change)?;
            }
            if !change.is_empty() {
                self.store.commit(change)?;
            }
            drop(holders);
            drop(guard);
            Ok::<_, VaultError>(decided)
        })?;
        for (i, item) in decided {
            results[i] = Some(item);
        }

        let results: Vec<StoredItem> = results
            .into_iter()
            // Every slot was filled: refused items before the write, accepted ones while building it.
            .map(|r| r.unwrap_or_else(|| unreachable!("every item has a result")))
            .collect();
        self.count_deposits(&results);
        Ok(results)
    }

    /// Adds one checked licence to `plan`, or says why it is not stored: a duplicate (the same
    /// bytes: not created; other bytes: a conflict), or a renewal of a predecessor that cannot be
    /// renewed. Store and signing errors fail the whole batch.
    fn plan_deposit(
        &self,
        plan: &mut DepositPlan,
        checked: Checked,
        stored: Option<LicenceMeta>,
        now: DateTime<Utc>,
        sign_receipts: bool,
    ) -> Result<StoredItem, VaultError> {
        let Checked {
            licence: lic,
            bytes,
            sha256,
            holder_key,
        } = checked;
        let existing = match (plan.in_batch.get(&lic.id), stored) {
            (Some((s, r)), _) => Some((s.clone(), r.clone())),
            (None, Some(m)) if sign_receipts => {
                let receipt = self.receipt_of(&lic.id, &m)?;
                Some((m.sha256, Some(receipt)))
            }
            (None, Some(m)) => Some((m.sha256, None)),
            (None, None) => None,
        };
        if let Some((prev_sha, receipt)) = existing {
            return Ok(if prev_sha == sha256 {
                Ok((false, receipt))
            } else {
                Err(VaultError::new(
                    Reason::Conflict,
                    "$.id",
                    format!("{} was deposited before with other content", lic.id.urn()),
                ))
            });
        }
        if let Some(pred) = &lic.predecessor {
            let meta = match plan.successors.get(pred) {
                Some(m) => Some(m.clone()),
                None => {
                    let key = layout::licence(pred);
                    let read = self.store.get(Table::LicenceMeta, key)?;
                    plan.change.expect(Table::LicenceMeta, key, read.clone());
                    read.map(|v| layout::decode(Table::LicenceMeta, &v))
                        .transpose()?
                }
            };
            match renewable(pred, meta) {
                Ok(mut m) => {
                    m.superseded_by = Some(lic.id.clone());
                    plan.successors.insert(pred.clone(), m);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        let issuer = lic.id.issuer();
        let status_index = match plan.next_index.get(&issuer) {
            Some(i) => *i,
            None => self.next_status_index(&issuer, &mut plan.change)?,
        };
        plan.change.put(
            Table::IssuerDeposit,
            layout::issuer_deposit(&issuer, status_index),
            lic.id.to_string().into_bytes(),
        );
        plan.next_index.insert(issuer, status_index + 1);
        let receipt = if sign_receipts {
            Some(self.receipt(&lic.id, &sha256, status_index, now)?)
        } else {
            None
        };
        let meta = LicenceMeta {
            sha256: sha256.clone(),
            deposited_at: now,
            receipt: receipt.clone(),
            superseded_by: None,
            status_index: Some(status_index),
            status: None,
        };
        let key = layout::licence(&lic.id);
        plan.change
            .expect(Table::LicenceMeta, key, None)
            .put(Table::LicenceDocument, key, bytes)
            .put(Table::LicenceMeta, key, layout::encode(&meta))
            .put(Table::HolderLicence, holder_key, Vec::new());
        plan.in_batch.insert(lic.id, (sha256, receipt.clone()));
        Ok(Ok((true, receipt)))
    }

    /// Adds to the batch the notices of the predecessors it supersedes, and returns the locks of
    /// their holders, to be held until the batch is committed (see `vault/notices`).
    fn notify_superseded(
        &self,
        plan: &mut DepositPlan,
        now: DateTime<Utc>,
    ) -> Result<Option<HolderGuard<'_>>, VaultError> {
        let mut holders = Vec::new();
        for (pred, meta) in &plan.successors {
            if let Some(h) = self.holder_of_licence(pred)? {
                holders.push((pred.clone(), meta.clone(), h));
            }
        }
        if holders.is_empty() {
            return Ok(None);
        }
        let guards = self.holder_locks(holders.iter().map(|(_, _, (_, d))| d))?;
        let mut seq = self.next_notice_seq(&mut plan.change)?;
        for (pred, meta, (holder, _)) in &holders {
            let Some(next) = &meta.superseded_by else {
                continue;
            };
            let cause = plan
                .in_batch
                .get(next)
                .map_or_else(String::new, |(sha, _)| sha.clone());
            let recipients = self.provided_to(holder, pred, now)?;
            let reason = format!("superseded by {}", next.urn());
            self.add_notices(
                &mut plan.change,
                &verify::notice::StatusChange {
                    licence: pred,
                    previous: meta.status.as_ref().map_or(Status::Active, |s| s.status),
                    status: Status::Superseded,
                    reason: &reason,
                    effective_at: now,
                    received_at: now,
                    cause: &cause,
                    superseded_by: Some(next),
                },
                &recipients,
                &mut seq,
            )?;
        }
        Ok(Some(guards))
    }

    fn count_deposits(&self, results: &[StoredItem]) {
        let mut outcomes: HashMap<&str, u64> = HashMap::new();
        for r in results {
            let outcome = match r {
                Ok((true, _)) => "created",
                Ok((false, _)) => "existing",
                Err(VaultError::Rejected(rej)) => rej.reason.as_str(),
                Err(VaultError::Store(_) | VaultError::Signing(_)) => "internal",
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
        for (outcome, n) in outcomes {
            self.metrics.add(Counter::Deposits { outcome }, n);
        }
    }

    /// Verifies documents for deposit, signatures in batches on all cores. A licence is accepted
    /// only when every check passes.
    pub fn check_for_deposit(
        &self,
        reg: &Registries,
        docs: &[Value],
        now: DateTime<Utc>,
    ) -> Vec<Result<Checked, Rejection>> {
        use rayon::prelude::*;
        const CHUNK: usize = 64;
        if docs.len() > CHUNK {
            return docs
                .par_chunks(CHUNK)
                .flat_map_iter(|c| self.check_for_deposit(reg, c, now))
                .collect();
        }
        // Canonicalised once: the bytes to store, and (proof cut out) the signed document.
        let mut canonical: Vec<Vec<u8>> = docs.iter().map(jcs::canonicalize).collect();
        let prepared: Vec<_> = docs
            .iter()
            .zip(&canonical)
            .map(|(d, c)| proof::prepare_canonical(d, c))
            .collect();
        let ok: Vec<&proof::Prepared> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
        let mut batch = proof::verify_batch(&ok).into_iter();
        let facts = RecordFacts {
            deposited_at: now,
            integrity: Ok(()),
            status: None,
            superseded_by: None,
        };
        docs.iter()
            .zip(&prepared)
            .zip(canonical.iter_mut())
            .map(|((doc, p), canonical)| {
                let signature = if p.is_ok() { batch.next() } else { Some(false) };
                let ev = Evidence {
                    registries: Some(reg),
                    record: Some(&facts),
                    now,
                    signature,
                };
                let (verdict, lic) = verify::licence_prepared(doc, p, ev);
                let failure = verdict.checks.iter().find(|c| c.ok == Some(false));
                match (failure, lic) {
                    // The storage form is computed here too, on all cores, not under the lock.
                    (None, Some(licence)) => {
                        let bytes = std::mem::take(canonical);
                        let sha256 = hex::encode(Sha256::digest(&bytes));
                        let holder_key = layout::holder_licence(
                            &self.holder_digest(&licence.holder),
                            &licence.id,
                        );
                        Ok(Checked {
                            licence,
                            bytes,
                            sha256,
                            holder_key,
                        })
                    }
                    (Some(c), _) => Err(check_rejection(c, p)),
                    (None, None) => Err(Rejection::new(
                        Reason::SchemaViolation,
                        "$",
                        "not a licence",
                    )),
                }
            })
            .collect()
    }

    /// The deposit receipt of a stored licence: the one signed at deposit, or signed now from the
    /// recorded facts (identical bytes: Ed25519 is deterministic and `created` is the deposit time).
    pub fn receipt_of(&self, id: &LicenceId, meta: &LicenceMeta) -> Result<Value, SigningError> {
        match &meta.receipt {
            Some(r) => Ok(r.clone()),
            None => self.receipt(
                id,
                &meta.sha256,
                meta.status_index.unwrap_or(0),
                meta.deposited_at,
            ),
        }
    }

    fn receipt(
        &self,
        id: &LicenceId,
        sha: &str,
        status_index: u64,
        at: DateTime<Utc>,
    ) -> Result<Value, SigningError> {
        verify::receipt::issue(&self.signer, &self.public_url, id, sha, status_index, at)
    }

    // ----- extraction ----------------------------------------------------------------------

    pub fn meta(&self, id: &LicenceId) -> Result<Option<LicenceMeta>, StoreError> {
        self.store
            .get(Table::LicenceMeta, layout::licence(id))?
            .map(|v| layout::decode(Table::LicenceMeta, &v))
            .transpose()
    }

    /// Reads a licence and verifies it afresh. `None` if the vault does not hold it.
    pub fn extract(
        &self,
        id: &LicenceId,
        now: DateTime<Utc>,
    ) -> Result<Option<Extracted>, StoreError> {
        let Some(meta) = self.meta(id)? else {
            return Ok(None);
        };
        let bytes = self
            .store
            .get(Table::LicenceDocument, layout::licence(id))?;
        Ok(Some(self.verify_stored(id, bytes, meta, now)))
    }

    /// Verifies a stored licence afresh: its digest, then every check with `verify_strict` for
    /// the signature, as of `now`.
    fn verify_stored(
        &self,
        id: &LicenceId,
        bytes: Option<Vec<u8>>,
        meta: LicenceMeta,
        now: DateTime<Utc>,
    ) -> Extracted {
        let loaded = Loaded::new(bytes, &meta);
        let reg = self.registries();
        let mut facts = RecordFacts {
            deposited_at: meta.deposited_at,
            integrity: Ok(()),
            status: meta
                .status
                .as_ref()
                .map(|s| (s.status, s.effective_at, s.reason.clone())),
            superseded_by: meta.superseded_by.clone(),
        };
        let (verdict, licence, document) = match loaded {
            Err(detail) => {
                let v = Verdict::new(
                    vec![Check::fail(
                        CheckName::Integrity,
                        Reason::IntegrityFailure,
                        detail,
                    )],
                    now,
                );
                (v, None, None)
            }
            Ok(Loaded {
                bytes,
                doc,
                prepared,
            }) => {
                let ev = Evidence {
                    registries: Some(&reg),
                    record: Some(&facts),
                    now,
                    signature: None,
                };
                let (mut v, lic) = verify::licence_prepared(&doc, &prepared, ev);
                if v.check(CheckName::Signature)
                    .is_some_and(|c| c.ok != Some(true))
                {
                    facts.integrity =
                        Err("stored bytes no longer verify against their signature".into());
                    let ev = Evidence {
                        registries: Some(&reg),
                        record: Some(&facts),
                        now,
                        signature: Some(false),
                    };
                    v = verify::licence_prepared(&doc, &prepared, ev).0;
                }
                // Served as stored: the bytes just checked, not the parsed tree serialised again.
                let served = facts
                    .integrity
                    .is_ok()
                    .then_some(bytes)
                    .and_then(|b| jcs::Canonical::new(b).ok());
                (v, lic, served)
            }
        };
        if verdict.reason() == Some(Reason::IntegrityFailure) {
            tracing::error!(licence = %id, "INTEGRITY FAILURE: stored licence no longer verifies; it will not be served as valid");
            self.metrics.inc(Counter::IntegrityFailures);
        }
        let verdict_label = verdict.reason().map_or("valid", Reason::as_str);
        self.metrics.inc(Counter::Extractions {
            verdict: verdict_label,
        });
        Extracted {
            id: id.clone(),
            document,
            licence,
            meta,
            verdict,
        }
    }

    /// All licences of a holder, each freshly verified, in identifier order.
    pub fn holder_licences(
        &self,
        holder: &HolderCode,
        now: DateTime<Utc>,
    ) -> Result<Vec<Extracted>, StoreError> {
        let digest = self.holder_digest(holder);
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderLicence, &digest, false, usize::MAX)?
        {
            let id = layout::holder_licence_id(&k)?;
            if let Some(e) = self.extract(&id, now)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Whether `principal` may read the stored licence (its issuer or its holder).
    pub fn may_read(&self, principal: &Principal, e: &Extracted) -> Result<bool, StoreError> {
        Ok(match principal {
            Principal::Issuer(u) => &e.id.issuer() == u,
            Principal::Holder(h) => self.holds(&self.holder_digest(h), &e.id)?,
            Principal::Admin | Principal::Requester(_) => false,
        })
    }

    /// Whether the holder of `digest` holds `id`.
    fn holds(&self, digest: &HolderDigest, id: &LicenceId) -> Result<bool, StoreError> {
        let key = layout::holder_licence(digest, id);
        Ok(self.store.get(Table::HolderLicence, &key)?.is_some())
    }

    /// Verifies a presented document: a licence (against the registries and, when the vault holds
    /// the same bytes, its deposit time and status) or a vault-signed document (receipt, copy).
    pub fn verify_presented(&self, doc: &Value, now: DateTime<Utc>) -> Result<Verdict, StoreError> {
        self.judge(doc, now, |d| self.presented_verdict(d, now))
    }

    /// The verdict of a document presented to the public VC-API verifier: judged from public data
    /// only (the registries and the vault's key), never from what the vault holds, so asking tells
    /// nothing about its records.
    pub fn verify_public(&self, doc: &Value, now: DateTime<Utc>) -> Verdict {
        let reg = self.registries();
        self.judge(doc, now, |d| {
            Ok::<_, std::convert::Infallible>(if Licence::is_licence(d) {
                verify::licence(d, Evidence::new(Some(&reg), now)).0
            } else {
                verify::document(d, None, now)
            })
        })
        .unwrap_or_else(|never| match never {})
    }

    /// The one dispatch of both verifiers, counted in the metrics: a consent receipt or a stamped
    /// copy is checked against the vault's key (a copy's embedded licence judged by `judge`), any
    /// other document by `judge`.
    fn judge<E>(
        &self,
        doc: &Value,
        now: DateTime<Utc>,
        judge: impl Fn(&Value) -> Result<Verdict, E>,
    ) -> Result<Verdict, E> {
        let keys = std::slice::from_ref(self.signer.did_key());
        let verdict = if let Some(v) = verify::vault_signed(doc, Some(keys), now) {
            v
        } else if verify::copy::is_stamped_copy(doc) {
            verify::copy::check(doc, Some(keys), now, &judge)?
        } else {
            judge(doc)?
        };
        self.metrics.inc(Counter::Verifications {
            verdict: verdict.reason().map_or("valid", Reason::as_str),
        });
        Ok(verdict)
    }

    /// The verdict of a presented licence or vault-signed document, not counted in the metrics.
    fn presented_verdict(&self, doc: &Value, now: DateTime<Utc>) -> Result<Verdict, StoreError> {
        let reg = self.registries();
        let verdict = if Licence::is_licence(doc) {
            let stored = match doc
                .get("id")
                .and_then(Value::as_str)
                .map(LicenceId::from_urn_or_bare)
            {
                Some(Ok(id)) => self.meta(&id)?.map(|m| (id, m)),
                _ => None,
            };
            let sha = hex::encode(Sha256::digest(jcs::canonicalize(doc)));
            match stored {
                Some((id, meta)) if meta.sha256 == sha => {
                    let bytes = self
                        .store
                        .get(Table::LicenceDocument, layout::licence(&id))?;
                    self.verify_stored(&id, bytes, meta, now).verdict
                }
                Some((_, meta)) => {
                    // The vault holds other content under this identifier. A forgery simply fails its
                    // signature; a validly signed second version of the same licence is a conflict.
                    let (v, _) = verify::licence(doc, Evidence::new(Some(&reg), now));
                    let signed = v.check(CheckName::Signature).and_then(|c| c.ok) == Some(true);
                    let status = if signed {
                        Check::fail(
                            CheckName::Status,
                            Reason::Conflict,
                            format!(
                                "the vault holds other content under this identifier (sha256 {})",
                                meta.sha256
                            ),
                        )
                    } else {
                        Check::not_checked(
                            CheckName::Status,
                            "the vault holds other content under this identifier",
                        )
                    };
                    v.replacing(status)
                }
                None => verify::licence(doc, Evidence::new(Some(&reg), now)).0,
            }
        } else {
            verify::document(doc, Some(std::slice::from_ref(self.signer.did_key())), now)
        };
        Ok(verdict)
    }

    // ----- registries ----------------------------------------------------------------------

    /// Applies one registry edit: `decide` gets the registries as they are in the store now
    /// and says what to write (table, code, entry) and what to answer. The edit applies on the
    /// condition that no other edit (on any node) came after that read, and moves the registry
    /// generation, so that every node reads the registries again.
    fn edit_registry<T, E: Serialize>(
        &self,
        decide: impl Fn(&Registries) -> Result<(Table, String, E, T), VaultError>,
    ) -> Result<T, VaultError> {
        self.retrying(|| {
            let _g = self.lock();
            let (generation, reg) = self.current_registries()?;
            let (table, code, entry, answer) = decide(&reg)?;
            let next = match &generation {
                Some(v) => layout::decode_count(Table::Meta, v)? + 1,
                None => 1,
            };
            let mut c = Change::durable();
            c.expect(Table::Meta, layout::REGISTRY_GENERATION, generation)
                .put(
                    Table::Meta,
                    layout::REGISTRY_GENERATION,
                    layout::encode_count(next),
                )
                .put(table, layout::registry(&code), layout::encode(&entry));
            self.store.commit(c)?;
            self.reload_registries()?;
            Ok(answer)
        })
    }

    /// Registers a new agency with its keys. Returns a conflict if the agency or a key exists.
    pub fn create_agency(&self, agency: Agency) -> Result<(), VaultError> {
        self.edit_registry(|reg| {
            if reg.agencies.contains_key(&agency.uscc) {
                return Err(VaultError::new(
                    Reason::Conflict,
                    "$.uscc",
                    format!("agency {} exists", agency.uscc),
                ));
            }
            check_keys_unique(reg, &agency.keys, "$.keys")?;
            Ok((
                Table::UsccAgency,
                agency.uscc.to_string(),
                agency.clone(),
                (),
            ))
        })
    }

    /// Applies `edit` to one key of an agency (`None` = add `new_key`).
    pub fn edit_agency_key(&self, uscc: &Uscc, edit: KeyEdit) -> Result<Agency, VaultError> {
        self.edit_registry(|reg| {
            let mut agency = reg.agencies.get(uscc).cloned().ok_or_else(|| {
                VaultError::new(Reason::NotFound, "uscc", format!("no agency {uscc}"))
            })?;
            match edit.clone() {
                KeyEdit::Add(key) => {
                    check_keys_unique(reg, std::slice::from_ref(&key), "$.didKey")?;
                    agency.keys.push(key);
                }
                KeyEdit::Retire(did, at) | KeyEdit::Compromise(did, at)
                    if !agency.keys.iter().any(|k| k.did_key == did) =>
                {
                    let _ = at;
                    return Err(VaultError::new(
                        Reason::NotFound,
                        "didKey",
                        format!("{did} is not a key of {uscc}"),
                    ));
                }
                KeyEdit::Retire(did, at) => {
                    for k in agency.keys.iter_mut().filter(|k| k.did_key == did) {
                        k.retired_at = Some(at);
                    }
                }
                KeyEdit::Compromise(did, at) => {
                    for k in agency.keys.iter_mut().filter(|k| k.did_key == did) {
                        k.compromised_at = Some(at);
                    }
                }
            }
            Ok((Table::UsccAgency, uscc.to_string(), agency.clone(), agency))
        })
    }

    /// Registers or replaces a licence type. Its issuers must be registered agencies.
    /// Returns whether it was new.
    pub fn put_type(&self, ty: LicenceType) -> Result<bool, VaultError> {
        self.edit_registry(|reg| {
            for (i, u) in ty.issuers.iter().enumerate() {
                if !reg.agencies.contains_key(u) {
                    return Err(VaultError::new(
                        Reason::InvalidAgencyCode,
                        &format!("$.issuers[{i}]"),
                        format!("agency {u} is not registered"),
                    ));
                }
            }
            for (i, f) in ty.fields.iter().enumerate() {
                if f.field_type == crate::registry::FieldType::Enum && f.values.is_empty() {
                    return Err(VaultError::new(
                        Reason::InvalidRequest,
                        &format!("$.fields[{i}].values"),
                        "an enum field needs values",
                    ));
                }
                if ty.fields[..i].iter().any(|g| g.name == f.name) {
                    return Err(VaultError::new(
                        Reason::InvalidRequest,
                        &format!("$.fields[{i}].name"),
                        "duplicate field name",
                    ));
                }
            }
            let new = !reg.types.contains_key(&ty.type_code);
            Ok((
                Table::TypeCodeType,
                ty.type_code.to_string(),
                ty.clone(),
                new,
            ))
        })
    }

    /// Registers or replaces a matter. Its types must be catalogued. Returns whether it was new.
    pub fn put_matter(&self, matter: Matter) -> Result<bool, VaultError> {
        self.edit_registry(|reg| {
            check_code("$.code", &matter.code)?;
            for (i, t) in matter.types.iter().enumerate() {
                if !reg.types.contains_key(t) {
                    return Err(VaultError::new(
                        Reason::UnknownType,
                        &format!("$.types[{i}]"),
                        format!("type {t} is not catalogued"),
                    ));
                }
            }
            matter
                .check_fields(&reg.types)
                .map_err(|v| VaultError::new(Reason::InvalidRequest, &v.field, v.message))?;
            let new = !reg.matters.contains_key(&matter.code);
            Ok((
                Table::MatterCodeMatter,
                matter.code.clone(),
                matter.clone(),
                new,
            ))
        })
    }

    /// Registers or replaces a requester. Its matters must be registered. Returns whether it was new.
    pub fn put_requester(&self, requester: Requester) -> Result<bool, VaultError> {
        self.edit_registry(|reg| {
            check_code("$.id", &requester.id)?;
            for (i, m) in requester.matters.iter().enumerate() {
                if !reg.matters.contains_key(m) {
                    return Err(VaultError::new(
                        Reason::NotFound,
                        &format!("$.matters[{i}]"),
                        format!("matter {m} is not registered"),
                    ));
                }
            }
            let new = !reg.requesters.contains_key(&requester.id);
            Ok((
                Table::RequesterIdRequester,
                requester.id.clone(),
                requester.clone(),
                new,
            ))
        })
    }

    // ----- tokens --------------------------------------------------------------------------

    /// Issues a token for `principal`; returns `(id, token)`. The token is not stored.
    pub fn create_token(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(String, String), VaultError> {
        let reg = self.registries();
        match principal {
            Principal::Issuer(u) if !reg.agencies.contains_key(u) => {
                return Err(VaultError::new(
                    Reason::NotFound,
                    "$.subject",
                    format!("agency {u} is not registered"),
                ));
            }
            Principal::Requester(r) if !reg.requesters.contains_key(r) => {
                return Err(VaultError::new(
                    Reason::NotFound,
                    "$.subject",
                    format!("requester {r} is not registered"),
                ));
            }
            _ => {}
        }
        let (id, token) = auth::new_token();
        let record = TokenRecord {
            id: id.clone(),
            role: principal.role(),
            subject: principal.subject(),
            created_at: now,
        };
        let digest = auth::token_digest(&token);
        let mut c = Change::durable();
        c.put(
            Table::TokenDigestToken,
            layout::token(&digest),
            layout::encode(&record),
        )
        .put(
            Table::TokenIdTokenDigest,
            layout::token_id(&id),
            layout::token(&digest),
        );
        self.store.commit(c)?;
        Ok((id, token))
    }

    /// Revokes a token by id; `false` if there is no such token.
    pub fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let Some(v) = self
            .store
            .get(Table::TokenIdTokenDigest, &layout::token_id(id))?
        else {
            return Ok(false);
        };
        let digest = layout::decode_token_digest(&v)?;
        let mut c = Change::durable();
        c.delete(Table::TokenDigestToken, layout::token(&digest))
            .delete(Table::TokenIdTokenDigest, layout::token_id(id));
        self.store.commit(c)?;
        let mut cache = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        cache.principals.remove(&digest);
        Ok(true)
    }

    /// Whether any admin token exists (to bootstrap one on first start).
    pub fn has_admin_token(&self) -> Result<bool, StoreError> {
        for (_, v) in self
            .store
            .scan(Table::TokenDigestToken, b"", false, usize::MAX)?
        {
            let r: TokenRecord = layout::decode(Table::TokenDigestToken, &v)?;
            if r.role == auth::Role::Admin {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Resolves a bearer credential: a vault token (read from the store and remembered for
    /// [`Vault::known_token`]), or a holder JWS from a trusted identity provider.
    pub fn authenticate(
        &self,
        bearer: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        if bearer.matches('.').count() == 2 && !self.idp_keys.is_empty() {
            return Ok(auth::verify_holder_jws(bearer, &self.idp_keys, now)
                .ok()
                .map(Principal::Holder));
        }
        // Always read from the store (the HTTP layer asks `known_token` first), then remembered.
        let digest = auth::token_digest(bearer);
        let generation = self.read_tokens().generation;
        let Some(v) = self
            .store
            .get(Table::TokenDigestToken, &layout::token(&digest))?
        else {
            return Ok(None);
        };
        let r: TokenRecord = layout::decode(Table::TokenDigestToken, &v)?;
        let principal = Principal::from_role(r.role, &r.subject).ok();
        // On a store other nodes write, a revocation there must be refused here at the next
        // request: nothing is remembered.
        if let (Some(p), false) = (&principal, self.store.shared()) {
            let mut cache = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            if cache.generation == generation && cache.principals.len() < MAX_CACHED_TOKENS {
                cache.principals.insert(digest, p.clone());
            }
        }
        Ok(principal)
    }

    /// The principal of a vault token this vault has already resolved, from memory: no I/O, so
    /// the HTTP layer asks this before handing [`Vault::authenticate`] to a blocking task.
    pub fn known_token(&self, bearer: &str) -> Option<Principal> {
        self.read_tokens()
            .principals
            .get(&auth::token_digest(bearer))
            .cloned()
    }

    fn read_tokens(&self) -> std::sync::RwLockReadGuard<'_, TokenCache> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Binds a data directory to its vault key on first open, and refuses any other key afterwards:
/// receipts and the holder index depend on it.
pub fn bind_vault_key(store: &dyn Store, did: &DidKey) -> Result<(), VaultError> {
    match store.get(Table::Meta, layout::VAULT_DID)? {
        None => {
            let mut c = Change::durable();
            c.expect(Table::Meta, layout::VAULT_DID, None).put(
                Table::Meta,
                layout::VAULT_DID,
                did.as_str().as_bytes().to_vec(),
            );
            match store.commit(c) {
                // Another node bound the database first: to its key, or to this one.
                Err(StoreError::Conflict(_)) => bind_vault_key(store, did),
                other => Ok(other?),
            }
        }
        Some(v) if v == did.as_str().as_bytes() => Ok(()),
        Some(v) => Err(VaultError::new(
            Reason::Conflict,
            "vault key",
            format!(
                "this data directory belongs to vault key {}, not {did}",
                String::from_utf8_lossy(&v)
            ),
        )),
    }
}

/// An edit of one agency key.
#[derive(Debug, Clone)]
pub enum KeyEdit {
    Add(AgencyKey),
    Retire(DidKey, DateTime<Utc>),
    Compromise(DidKey, DateTime<Utc>),
}

fn check_keys_unique(reg: &Registries, keys: &[AgencyKey], field: &str) -> Result<(), VaultError> {
    for (i, k) in keys.iter().enumerate() {
        if reg.key(&k.did_key).is_some() || keys[..i].iter().any(|o| o.did_key == k.did_key) {
            return Err(VaultError::new(
                Reason::Conflict,
                field,
                format!("{} is already registered", k.did_key),
            ));
        }
    }
    Ok(())
}

/// Matter codes and requester ids become store keys and URL segments: keep them plain.
fn check_code(field: &str, code: &str) -> Result<(), VaultError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(VaultError::new(
            Reason::InvalidRequest,
            field,
            "must be 1–64 characters of A-Z a-z 0-9 - _ .",
        ))
    }
}

/// The deposit refusal of a failed check: its reason, and the member it is about (the check's own
/// JSON path, or the member that check is about).
fn check_rejection(c: &Check, p: &Result<proof::Prepared, proof::ProofError>) -> Rejection {
    let reason = c.code.unwrap_or(Reason::InvalidRequest);
    let field = c.field.clone().unwrap_or_else(|| {
        match c.check {
            CheckName::Signature => p.as_ref().err().map_or("$.proof.proofValue", |e| e.field()),
            CheckName::IssuerKey => "$.proof.verificationMethod",
            CheckName::Issuer => "$.issuer.id",
            CheckName::Validity => "$.validUntil",
            _ => "$",
        }
        .to_owned()
    });
    Rejection::new(reason, field, c.detail.clone().unwrap_or_default())
}

/// The item itself if `issuer` (when given) may deposit it.
fn deposited_by(issuer: Option<&Uscc>, c: Checked) -> Result<Checked, VaultError> {
    match issuer {
        Some(u) if u != &c.licence.id.issuer() => Err(VaultError::new(
            Reason::Forbidden,
            "$.issuer.id",
            format!("this token may deposit only licences issued by {u}"),
        )),
        _ => Ok(c),
    }
}

/// The metadata of a predecessor that a new version may supersede: present, not yet superseded,
/// and in force (a suspended, revoked or cancelled licence must be reinstated first, or stays
/// ended).
fn renewable(pred: &LicenceId, meta: Option<LicenceMeta>) -> Result<LicenceMeta, VaultError> {
    const FIELD: &str = "$.credentialSubject.licence.predecessor";
    let m = meta.ok_or_else(|| {
        VaultError::new(
            Reason::InvalidIdentifier,
            FIELD,
            format!("{} is not in the vault", pred.urn()),
        )
    })?;
    if m.superseded_by.is_some() {
        return Err(VaultError::new(
            Reason::Conflict,
            FIELD,
            format!("{} is already superseded", pred.urn()),
        ));
    }
    if let Some(s) = m
        .status
        .as_ref()
        .filter(|s| s.status != verify::Status::Active)
    {
        return Err(VaultError::new(
            Reason::InvalidTransition,
            FIELD,
            format!(
                "{} is {} and cannot be renewed",
                pred.urn(),
                crate::lifecycle::status_name(s.status)
            ),
        ));
    }
    Ok(m)
}
