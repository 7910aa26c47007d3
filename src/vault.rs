//! The vault service: the `Vault` type, its options and errors, and `open`. Each capability is a
//! file of its own under `vault/` (ARCHITECTURE.md has the table); every decision that changes
//! state goes through a door of `vault/door`.
//!
//! Composes the domain (codes, proofs, verifier) with a [`Store`]. Every method that changes
//! state builds one [`Change`]; deposits are durable (WAL synced) before they are acknowledged.
//!
//! **Invariants:** the bytes verified are the bytes stored and served (JCS of the signed licence);
//! a stored licence is re-verified on every read and is never presented as valid when its bytes no
//! longer verify; nothing here knows HTTP.

use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes::{HolderCode, LicenceId};
use crate::jcs;
use crate::keys::{DidKey, Signer};

use crate::licence::Licence;
use crate::metrics::Metrics;
use crate::registry::Registries;
use crate::store::{Store, StoreError};
use crate::verdict::{Reason, Rejection, Verdict};
use crate::verify::SigningError;

mod access_log;
pub mod backup;
mod consents;
pub mod corrections;
mod delegations;
mod deposit;
mod door;
mod exports;
mod extraction;
mod ids;
mod issuers;
pub mod keyring;
pub mod layout;
mod lifecycle;
pub mod logs;
mod notices;
mod notifications;
pub mod objections;
pub mod oid4vp;
pub mod page;
pub mod pkcs11;
mod presentations;
pub mod prints;
mod pull;
mod registries;
mod requests;
mod statistics;
mod tokens;
pub mod wallet;
pub mod wallet_vp;
pub mod witness;

use layout::HolderDigest;

pub use door::At;
pub(crate) use door::Tx;
use door::HOLDER_STRIPES;
pub use keyring::{FileKeys, IndexKey, KeyRing, KeySource};
pub use registries::KeyEdit;
pub use tokens::Caller;
use tokens::TokenCache;

pub use access_log::{
    AccessKind, AccessOutcome, AccessPage, AccessRecord, HolderSummary, MatterSummary,
};
pub use exports::{ExportTicket, EXPORT_TTL_MINUTES};
pub use notifications::{Notification, NotificationKind, NotificationPage, EXPIRING_WITHIN_DAYS};
pub use presentations::{NewPresentation, Presentation, Redeemed, StoredPresentation};
pub use pull::{ClaimAnswer, Pull, TypeResult};
pub use requests::{PendingLimits, PendingPage, PreviewItem, PreviewLicence, StoredRequest};
pub use statistics::{LicenceCount, PullCount, ReuseStats, StatsTotals};

pub use issuers::{IssuerDeposit, IssuerNotice, IssuerPage};
pub use lifecycle::{StatusRecord, StoredStatement};
pub use notices::{NoticePage, StoredNotice, NOTICE_WINDOW_DAYS};

/// Most licences one batch deposit may carry (SPEC §7).
pub const MAX_BATCH: usize = 1000;

/// A licence that passed every deposit check, with its storage form.
#[derive(Debug, Clone)]
pub struct Checked {
    pub licence: Licence,
    /// The JCS bytes to store (what was verified).
    pub bytes: Vec<u8>,
    pub sha256: String,
    /// Its leaf in the public log (canonical JSON), made here on all cores rather than under the
    /// write lock: the deposit's time is the one it was checked at.
    pub leaf: Vec<u8>,
    /// Its key in the holder index.
    pub holder_key: Vec<u8>,
    /// Its key in the company's representative index, when its type names a legal
    /// representative and it names one.
    pub representative_key: Option<Vec<u8>>,
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
    /// Where backups asked of the serving vault are made (`POST /v1/admin/backups`); none: the
    /// serving vault makes none.
    pub backup_dir: Option<std::path::PathBuf>,
    /// The witnesses of the transparency logs, and how many must cosign (`vault/witness`).
    pub witnesses: witness::WitnessPolicy,
    /// How many consent requests may wait for one holder (`vault/requests`).
    pub pending: requests::PendingLimits,
    /// Working days an agency has to answer a correction request (`vault/corrections`).
    pub correction_working_days: u32,
    /// Whether the vault as wallet may reach verifiers over http and at non-public addresses
    /// (`vault/wallet_vp`).
    pub allow_private_verifiers: bool,
    /// The font and rendering keys of printable copies (`vault/prints`); none: no PDFs.
    pub printing: Option<Arc<prints::Printing>>,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            idp_keys: Vec::new(),
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            backup_dir: None,
            witnesses: witness::WitnessPolicy::default(),
            pending: requests::PendingLimits::default(),
            correction_working_days: crate::reuse::correction::DEFAULT_WORKING_DAYS,
            allow_private_verifiers: false,
            printing: None,
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

pub struct Vault {
    store: Arc<dyn Store>,
    /// The key history, the signing keys this process holds, the holder index secret.
    keys: KeyRing,
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
    backup_dir: Option<std::path::PathBuf>,
    /// One integration at a time per log in this process (`vault/logs`).
    log_locks: [Mutex<()>; 2],
    pub log_health: logs::LogHealth,
    allow_private_verifiers: bool,
    witnesses: witness::WitnessPolicy,
    witness_memory: witness::WitnessMemory,
    pending: requests::PendingLimits,
    correction_working_days: u32,
    printing: Option<Arc<prints::Printing>>,
    pub metrics: Metrics,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("keys", &self.keys.source().describe())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the vault over `store` with one in-memory key (tests, benchmarks). `idp_keys` are
    /// the identity providers trusted for holder JWS tokens.
    pub fn open(
        store: Arc<dyn Store>,
        signer: Signer,
        idp_keys: Vec<DidKey>,
    ) -> Result<Self, VaultError> {
        Self::open_with(
            store,
            KeyRing::in_memory(signer),
            VaultOptions {
                idp_keys,
                printing: prints::printing_for_tests("127.0.0.1"),
                ..VaultOptions::default()
            },
        )
    }

    /// Opens the vault over `store` with its keys; refuses keys of another vault
    /// ([`keyring::bind`]).
    pub fn open_with(
        store: Arc<dyn Store>,
        keys: KeyRing,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        keyring::bind(&*store, &keys)?;
        let vault = Self {
            store,
            keys,
            registries: RwLock::new((None, Arc::new(Registries::default()))),
            write: Mutex::new(()),
            holders: (0..HOLDER_STRIPES).map(|_| Mutex::new(())).collect(),
            idp_keys: options.idp_keys,
            tokens: RwLock::default(),
            public_url: options.public_url.trim_end_matches('/').to_owned(),
            backup_dir: options.backup_dir,
            log_locks: [Mutex::new(()), Mutex::new(())],
            log_health: logs::LogHealth::default(),
            witnesses: options.witnesses,
            pending: options.pending,
            correction_working_days: options.correction_working_days,
            allow_private_verifiers: options.allow_private_verifiers,
            printing: options.printing,
            witness_memory: witness::WitnessMemory::default(),
            metrics: Metrics::default(),
        };
        vault.reload_registries()?;
        vault.load_reuse_stats()?;
        vault.index_pending()?;
        vault.index_representatives()?;
        vault.begin_logs();
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

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A MAC by the vault's index secret (shared by every node of the vault) of `data` for
    /// `purpose`: values the vault mints and later recognises without storing them (the pages'
    /// pre-sign-in cookie). The input starts with a NUL byte, which no holder key has, so no
    /// such MAC is a holder digest.
    pub fn mint_mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let input = [&[0][..], purpose.as_bytes(), &[0], data].concat();
        self.keys.index().mac(&input)
    }

    /// Builds an index a store written before it lacks, once: unless `marker` is set in `meta`,
    /// `index` adds to a change what each entry of `table` gives, a chunk of entries per durable
    /// change, and then the marker is set. Returns how many entries gave something.
    pub(crate) fn backfill_once(
        &self,
        marker: &[u8],
        table: crate::store::Table,
        mut index: impl FnMut(
            &crate::store::Entry,
            &mut crate::store::Change,
        ) -> Result<bool, StoreError>,
    ) -> Result<u64, StoreError> {
        use crate::store::{Change, Table};
        if self.store.get(Table::Meta, marker)?.is_some() {
            return Ok(0);
        }
        let mut after: Option<Vec<u8>> = None;
        let mut indexed = 0;
        loop {
            let chunk = match &after {
                None => self.store.scan(table, b"", false, 4096)?,
                Some(k) => self.store.scan_after(table, b"", k, false, 4096)?,
            };
            let Some((last, _)) = chunk.last() else { break };
            after = Some(last.clone());
            let mut change = Change::durable();
            for entry in &chunk {
                indexed += u64::from(index(entry, &mut change)?);
            }
            if !change.is_empty() {
                self.store.commit(change)?;
            }
        }
        let mut change = Change::durable();
        change.put(
            Table::Meta,
            marker.to_vec(),
            layout::encode(&chrono::Utc::now()),
        );
        self.store.commit(change)?;
        Ok(indexed)
    }

    /// The keyed digest under which a holder's licences are indexed.
    pub fn holder_digest(&self, holder: &HolderCode) -> HolderDigest {
        self.keys.index().mac(holder.key().as_bytes())
    }
}
