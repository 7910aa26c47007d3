//! Storage behind a trait the vault owns.
//!
//! The vault speaks to storage in tables of ordered byte keys ([`Table`]) and atomic
//! [`Change`]s: every logical change — a deposit, a registry edit, a token — is one `Change`,
//! which an engine must apply all-or-nothing (RocksDB: one `WriteBatch`) and, when `durable`,
//! make durable before returning (RocksDB: WAL fsync).
//!
//! A `Change` may also say what must still be true for it to apply ([`Condition`]: a key absent,
//! or holding the value the vault read). That is how the vault's rules hold across many vault
//! processes on one database (SPEC §13): a decision is read, made and committed on the condition
//! that what it read is unchanged; an engine refuses a change whose condition no longer holds
//! with [`StoreError::Conflict`], and the vault decides again on what is there now.
//!
//! **Invariant:** storage never signs, verifies or interprets values, and knows nothing of HTTP.

pub mod postgres;
pub mod rocks;

pub use postgres::PgStore;
pub use rocks::RocksStore;

/// Length of the holder digest that starts every key of the holder-keyed tables
/// ([`Table::key_prefix_len`]); the keys themselves are built by the vault's layout
/// (`vault::layout`), never here.
pub const HOLDER_DIGEST_LEN: usize = 32;

/// The tables of the vault, named `key_value` after what they map. Their keys and values are
/// built and read by the vault's layout (`vault::layout`, whose module doc has the table of
/// layouts); to an engine they are ordered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Licence id → the signed licence, exactly as verified at deposit.
    LicenceDocument,
    /// Licence id → what the vault records about it (digest, deposit time, receipt, status).
    LicenceMeta,
    /// A holder's index of licences. No holder code in clear.
    HolderLicence,
    /// A licence's status statements, in the order accepted.
    LicenceStatement,
    /// Type code → catalogue entry.
    TypeCodeType,
    /// Matter code → matter.
    MatterCodeMatter,
    /// USCC → agency with its keys.
    UsccAgency,
    /// Requester id → requester.
    RequesterIdRequester,
    /// SHA-256 of a bearer token → token record. Tokens themselves are never stored.
    TokenDigestToken,
    /// Token id → SHA-256 of the token, for revocation by id.
    TokenIdTokenDigest,
    /// Settings and counters of the vault itself.
    Meta,
    /// A holder's consents, in creation order.
    HolderConsent,
    /// Consent → the pulls that released a licence under it. Rewritten by every such pull, so kept
    /// out of the holder scans (which would step over every older version still in the memtable)
    /// and read by point lookups.
    ConsentUses,
    /// A holder's index of its access records (older stores: the records themselves). Written in
    /// the same durable change as the consent uses, before anything is released.
    HolderAccess,
    /// Access records of pulls, in time order, so new records go after all others and compactions
    /// move files instead of rewriting them.
    AccessRecord,
    /// Reuse statistics → counts.
    ReuseStats,
    /// Consent request id → the request, its holder (as the digest) and its answer.
    ConsentRequest,
    /// A holder's index of consent requests, in creation order.
    HolderRequest,
    /// A holder's consent requests that may still be answered, in creation order → the requester
    /// and the expiry. Answered ones leave it in the answer's change; expired ones are pruned by
    /// the next request (so it holds at most the per-holder cap).
    HolderPending,
    /// A holder's summary per matter (what `GET /v1/me/summary` shows), kept with each access
    /// record that provided something, once built from the holder's log (the digest alone marks
    /// it built).
    HolderSummary,
    /// A company's licences that name a legal representative, by the representative: company
    /// digest ‖ representative digest ‖ licence id. Who may be the representative is found by
    /// one lookup, the same work whatever the company holds.
    CompanyRepresentative,
    /// A holder's exports that may still be downloaded, by export id → who made it and until
    /// when (SPEC §17). Expired ones are pruned by the holder's next export.
    HolderExport,
    /// Correction id → the correction and whose it is (SPEC §17).
    Correction,
    /// A holder's corrections, in creation order.
    HolderCorrection,
    /// An issuing agency's corrections to answer, in creation order.
    IssuerCorrection,
    /// Licence id → its open correction and, when the holder marked it, the dispute (read with
    /// every verification of the licence).
    LicenceCorrection,
    /// Objection id → the objection and whose it is (SPEC §17); in id (time) order, the
    /// supervisor's feed.
    Objection,
    /// A holder's objections, in creation order.
    HolderObjection,
    /// The objections to an approval system's uses, in creation order.
    RequesterObjection,
    /// Access record id → the objection to that use (one at a time; a withdrawal frees it).
    AccessObjection,
    /// A requester's revocation notices, in the vault's notice order.
    RequesterNotice,
    /// SHA-256 of a presentation code → the presentation. Codes themselves are never stored.
    PresentationCode,
    /// A holder's index of presentation codes, in creation order.
    HolderPresentation,
    /// SHA-256 of a wallet offer's pre-authorized code → the offer, its holder and the digests of
    /// its transaction code and access token (SPEC §15). Codes themselves are never stored.
    WalletOffer,
    /// A holder's index of wallet offers, in creation order.
    HolderWalletOffer,
    /// OpenID4VP presentation transaction id → the transaction, its signed request object and,
    /// once answered, the verdicts (SPEC §15).
    VpTransaction,
    /// The OpenID4VP requests a holder's wallet (the vault) resolved, by holder: the verifier, the
    /// licences that answer, and the holder's answer.
    HolderVpRequest,
    /// A holder's notification read mark.
    HolderReadMark,
    /// The authorisations to act for a holder (delegations of a company, guardianships of a ward).
    HolderDelegation,
    /// A delegate's index of the authorisations it received, by holder.
    DelegateDelegation,
    /// Authorisation id → its holder's digest.
    DelegationHolder,
    /// An issuer's deposits, in the order of their status-list index: the agency's recent deposits.
    IssuerDeposit,
    /// The revocation notices caused by an issuer's licences, by notice sequence → the requester.
    IssuerNotice,
    /// Holder digest → the holder's version: a counter every decision on the holder's state
    /// (a pull, a withdrawal, an answer, a notice) reads first and bumps on the condition that it
    /// is unchanged, so two such decisions on different nodes never both apply.
    HolderVersion,
    /// Holder digest → the newest record of the holder's access chain (its number and digest),
    /// written with each access record under the holder's door.
    HolderChain,
    /// Leaves of the transparency logs written with the records they log, not yet in a tree:
    /// the integration moves them into `LogEntry` in one change.
    LogPending,
    /// A log's leaves by index.
    LogEntry,
    /// A log's tiles (C2SP `tlog-tiles`): the hashes at one tile level, up to 256 per row.
    LogTile,
    /// A log's leaf hash → its index, for proofs asked by leaf.
    LogLeaf,
    /// Print id → a printable copy (SPEC §16): each stamped or minimised copy as given, and each
    /// holder's print of a licence, with whose it is and what its page shows besides the document.
    Print,
}

impl Table {
    pub const ALL: [Table; 50] = [
        Table::LicenceDocument,
        Table::LicenceMeta,
        Table::HolderLicence,
        Table::LicenceStatement,
        Table::TypeCodeType,
        Table::MatterCodeMatter,
        Table::UsccAgency,
        Table::RequesterIdRequester,
        Table::TokenDigestToken,
        Table::TokenIdTokenDigest,
        Table::Meta,
        Table::HolderConsent,
        Table::ConsentUses,
        Table::HolderAccess,
        Table::AccessRecord,
        Table::ReuseStats,
        Table::ConsentRequest,
        Table::HolderRequest,
        Table::RequesterNotice,
        Table::PresentationCode,
        Table::HolderPresentation,
        Table::HolderReadMark,
        Table::HolderDelegation,
        Table::DelegateDelegation,
        Table::DelegationHolder,
        Table::IssuerDeposit,
        Table::IssuerNotice,
        Table::HolderVersion,
        Table::HolderChain,
        Table::LogPending,
        Table::LogEntry,
        Table::LogTile,
        Table::LogLeaf,
        Table::HolderPending,
        Table::HolderSummary,
        Table::CompanyRepresentative,
        Table::HolderExport,
        Table::Correction,
        Table::HolderCorrection,
        Table::IssuerCorrection,
        Table::LicenceCorrection,
        Table::Objection,
        Table::HolderObjection,
        Table::RequesterObjection,
        Table::AccessObjection,
        Table::WalletOffer,
        Table::HolderWalletOffer,
        Table::VpTransaction,
        Table::HolderVpRequest,
        Table::Print,
    ];

    /// The length of the fixed prefix every key of the table starts with and scans ask for (a
    /// holder digest), if any. Engines may index it (RocksDB: prefix Bloom filters).
    pub fn key_prefix_len(self) -> Option<usize> {
        match self {
            Table::HolderLicence
            | Table::HolderConsent
            | Table::HolderAccess
            | Table::HolderRequest
            | Table::HolderPending
            | Table::HolderSummary
            | Table::CompanyRepresentative
            | Table::HolderExport
            | Table::HolderCorrection
            | Table::HolderObjection
            | Table::HolderPresentation
            | Table::HolderWalletOffer
            | Table::HolderVpRequest
            | Table::HolderDelegation
            | Table::DelegateDelegation => Some(HOLDER_DIGEST_LEN),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::LicenceDocument => "licenceid_document",
            Table::LicenceMeta => "licenceid_meta",
            Table::HolderLicence => "holderdigest_licenceid",
            Table::LicenceStatement => "licenceid_statement",
            Table::TypeCodeType => "typecode_type",
            Table::MatterCodeMatter => "mattercode_matter",
            Table::UsccAgency => "uscc_agency",
            Table::RequesterIdRequester => "requesterid_requester",
            Table::TokenDigestToken => "tokendigest_token",
            Table::TokenIdTokenDigest => "tokenid_tokendigest",
            Table::Meta => "meta",
            Table::HolderConsent => "holderdigest_consent",
            Table::ConsentUses => "consentkey_uses",
            Table::HolderAccess => "holderdigest_access",
            Table::AccessRecord => "accesstime_record",
            Table::ReuseStats => "reusestat_count",
            Table::ConsentRequest => "requestid_request",
            Table::HolderRequest => "holderdigest_request",
            Table::RequesterNotice => "requesterid_notice",
            Table::PresentationCode => "codedigest_presentation",
            Table::HolderPresentation => "holderdigest_presentation",
            Table::HolderReadMark => "holderdigest_readmark",
            Table::HolderDelegation => "holderdigest_delegation",
            Table::DelegateDelegation => "delegatedigest_delegation",
            Table::DelegationHolder => "delegationid_holder",
            Table::IssuerDeposit => "uscc_deposit",
            Table::IssuerNotice => "uscc_notice",
            Table::HolderVersion => "holderdigest_version",
            Table::HolderChain => "holderdigest_chain",
            Table::LogPending => "log_pending",
            Table::LogEntry => "logindex_entry",
            Table::LogTile => "logtile_hashes",
            Table::LogLeaf => "leafhash_index",
            Table::HolderPending => "holderdigest_pendingrequest",
            Table::HolderSummary => "holderdigest_summary",
            Table::CompanyRepresentative => "companydigest_representative",
            Table::HolderExport => "holderdigest_export",
            Table::Correction => "correctionid_correction",
            Table::HolderCorrection => "holderdigest_correction",
            Table::IssuerCorrection => "uscc_correction",
            Table::LicenceCorrection => "licenceid_opencorrection",
            Table::Objection => "objectionid_objection",
            Table::HolderObjection => "holderdigest_objection",
            Table::RequesterObjection => "requesterid_objection",
            Table::AccessObjection => "accessid_objection",
            Table::WalletOffer => "codedigest_walletoffer",
            Table::HolderWalletOffer => "holderdigest_walletoffer",
            Table::VpTransaction => "txid_vptransaction",
            Table::Print => "printid_print",
            Table::HolderVpRequest => "holderdigest_vprequest",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Engine(String),
    #[error("storage is closed")]
    Closed,
    /// The disk is full: nothing was written. The engine recovers by itself once there is space
    /// again ([`Store::ready`]).
    #[error("storage full: {0}")]
    Full(String),
    /// The engine cannot be reached, or is not accepting writes now (a database failing over):
    /// the same request may succeed shortly. Nothing was written — unless the connection was lost
    /// while the commit itself was under way, when the change may have applied whole (never in
    /// part).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A condition of the change no longer held (another change came first): nothing was
    /// written, and the caller decides again ([`crate::vault`] retries).
    #[error("storage conflict: {0}")]
    Conflict(String),
}

/// The smallest key greater than every key starting with `prefix` (the exclusive end of a prefix
/// scan); `None` when there is none (the prefix is empty or all `0xff`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

/// A key and its value, as scans return them.
pub type Entry = (Vec<u8>, Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Table, Vec<u8>, Vec<u8>),
    Delete(Table, Vec<u8>),
    /// Adds to a counter: an 8-byte big-endian `u64` (absent counts as 0). Concurrent adds to one
    /// key need no read-modify-write, so counters shared by every request need no lock.
    Add(Table, Vec<u8>, u64),
}

/// What a change needs of one key to apply: `expect` is the value the key must hold, or `None`
/// for a key that must be absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub table: Table,
    pub key: Vec<u8>,
    pub expect: Option<Vec<u8>>,
}

/// One logical change: applied atomically, durably when `durable` is set, and only if every
/// condition holds when it is applied (else [`StoreError::Conflict`] and nothing is written).
/// A key that some change conditions on is written only by changes that condition on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub ops: Vec<Op>,
    pub durable: bool,
    pub conditions: Vec<Condition>,
}

impl Change {
    pub fn durable() -> Self {
        Self {
            ops: Vec::new(),
            durable: true,
            conditions: Vec::new(),
        }
    }
    /// Applies only if `key` still holds `value` as read (`None`: is still absent). Every
    /// condition on a key must hold: two that contradict (a key read twice, with a write by
    /// another node in between) refuse the change, and the decision is made again.
    pub fn expect(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        value: Option<Vec<u8>>,
    ) -> &mut Self {
        self.conditions.push(Condition {
            table,
            key: key.into(),
            expect: value,
        });
        self
    }
    pub fn put(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(Op::Put(table, key.into(), value.into()));
        self
    }
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete(table, key.into()));
        self
    }
    pub fn add(&mut self, table: Table, key: impl Into<Vec<u8>>, n: u64) -> &mut Self {
        self.ops.push(Op::Add(table, key.into(), n));
        self
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One read of a flight ([`Store::read_all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read<'a> {
    /// The value of one key: no entry or one.
    Get(Table, &'a [u8]),
    /// Entries whose key starts with `prefix`, as [`Store::scan`] gives them.
    Scan {
        table: Table,
        prefix: &'a [u8],
        reverse: bool,
        limit: usize,
    },
}

/// The value of a [`Read::Get`]'s answer.
pub fn value(entries: Vec<Entry>) -> Option<Vec<u8>> {
    entries.into_iter().next().map(|(_, v)| v)
}

/// A key-ordered store of tables with atomic, optionally durable changes.
pub trait Store: Send + Sync + 'static {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads that do not depend on each other, at once (a database server gets them as one
    /// statement, which reads them all in one snapshot): each read's entries, in order.
    fn read_all(&self, reads: &[Read<'_>]) -> Result<Vec<Vec<Entry>>, StoreError> {
        reads
            .iter()
            .map(|r| match *r {
                Read::Get(table, key) => Ok(self
                    .get(table, key)?
                    .map(|v| (key.to_vec(), v))
                    .into_iter()
                    .collect()),
                Read::Scan {
                    table,
                    prefix,
                    reverse,
                    limit,
                } => self.scan(table, prefix, reverse, limit),
            })
            .collect()
    }
    /// Point reads of many keys in one call; one result per key, in order.
    fn multi_get(&self, table: Table, keys: &[Vec<u8>])
        -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Entries whose key starts with `prefix`, in key order (reverse order when `reverse`), at most `limit`.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Like [`Store::scan`], but only entries strictly beyond `after` in scan order: a page after
    /// the last key of the previous page, found by seeking, not by filtering a full scan.
    fn scan_after(
        &self,
        table: Table,
        prefix: &[u8],
        after: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Applies `change` whole or not at all; [`StoreError::Conflict`] when one of its conditions
    /// does not hold.
    fn commit(&self, change: Change) -> Result<(), StoreError>;
    /// Whether other processes may write the same data (a database server): then nothing read
    /// may be kept in memory as current (tokens, registries) without asking the store.
    fn shared(&self) -> bool {
        false
    }
    /// Whether writes can be accepted now; an engine that stopped writing (a full disk) tries to
    /// recover here and on the next write.
    fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Flushes memtables and syncs the WAL (used at shutdown).
    fn flush(&self) -> Result<(), StoreError>;
    /// A consistent copy of the data as of now in the directory `to`, taken while serving.
    /// Engines backed up by their own tools (PostgreSQL: `pg_basebackup`) refuse.
    fn checkpoint(&self, to: &std::path::Path) -> Result<(), StoreError> {
        let _ = to;
        Err(StoreError::Engine(
            "this engine is backed up with its own tools (docs/OPERATIONS.md)".into(),
        ))
    }
}
