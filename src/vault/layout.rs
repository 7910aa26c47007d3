//! The store layout: every table's key layout and value codec, in one place.
//!
//! The vault reads and writes [`Table`]s of byte keys and values; this module is the only code
//! that builds or takes apart a key, or encodes or decodes a value. Engines see tables and bytes
//! only (`store`), and the rest of the vault sees typed keys and values.
//!
//! | table | key | value |
//! |---|---|---|
//! | `licenceid_document` | licence id | the JCS bytes of the signed licence |
//! | `licenceid_meta` | licence id | [`LicenceMeta`] (JSON) |
//! | `holderdigest_licenceid` | holder digest ‖ licence id | empty |
//! | `licenceid_statement` | licence id ‖ `0x00` ‖ u32 BE sequence | [`StoredStatement`] (JSON) |
//! | `typecode_type`, `mattercode_matter`, `uscc_agency`, `requesterid_requester` | the code | the registry entry (JSON) |
//! | `tokendigest_token` | SHA-256 of the token | [`TokenRecord`] (JSON) |
//! | `tokenid_tokendigest` | token id | SHA-256 of the token |
//! | `meta` | `vault_did`, `demo_seeded`, `notice_seq`, `registry_generation`, `status_index/{uscc}`, `status_bits/{uscc}/{purpose}/{list}` | text, u64 BE, a bitstring |
//! | `holderdigest_consent` | holder digest ‖ consent id | [`Consent`] (JSON) |
//! | `consentkey_uses` | the consent's key | u64 BE |
//! | `holderdigest_access` | holder digest ‖ u64 BE µs ‖ 8 random bytes | empty (older stores: the record) |
//! | `accesstime_record` | u64 BE µs ‖ 8 random bytes | [`AccessRecord`] (JSON) |
//! | `reusestat_count` | [`StatKey`] | u64 BE |
//! | `requestid_request` | consent request id | [`StoredRequest`] (JSON) |
//! | `holderdigest_request` | holder digest ‖ consent request id | empty |
//! | `codedigest_presentation` | SHA-256 of the presentation code | [`StoredPresentation`] (JSON) |
//! | `holderdigest_presentation` | holder digest ‖ presentation id | SHA-256 of the code |
//! | `holderdigest_pendingrequest` | holder digest ‖ consent request id | [`PendingEntry`] (JSON) |
//! | `holderdigest_summary` | holder digest (built mark), holder digest ‖ matter code | the summary of one matter (JSON) |
//! | `companydigest_representative` | company digest ‖ representative digest ‖ licence id | empty |
//! | `holderdigest_export` | holder digest ‖ export id | [`ExportEntry`] (JSON) |
//! | `correctionid_correction` | correction id | [`StoredCorrection`] (JSON) |
//! | `holderdigest_correction` | holder digest ‖ correction id | empty |
//! | `uscc_correction` | USCC ‖ `0x00` ‖ correction id | empty |
//! | `licenceid_opencorrection` | licence id | [`OpenCorrection`] (JSON) |
//! | `objectionid_objection` | objection id | [`StoredObjection`] (JSON) |
//! | `holderdigest_objection` | holder digest ‖ objection id | empty |
//! | `requesterid_objection` | requester id ‖ `0x00` ‖ objection id | empty |
//! | `accessid_objection` | access record id | the objection id |
//! | `holderdigest_readmark` | holder digest | u64 BE ns since 1970: the notifications read up to then |
//! | `holderdigest_delegation` | holder digest ‖ delegation id | [`Delegation`] (JSON) |
//! | `delegatedigest_delegation` | delegate digest ‖ holder digest ‖ delegation id | empty |
//! | `delegationid_holder` | delegation id | the holder digest |
//! | `requesterid_notice` | requester id ‖ `0x00` ‖ u64 BE notice seq | [`StoredNotice`] (JSON) |
//! | `uscc_deposit` | USCC ‖ `0x00` ‖ u64 BE status-list index | the licence id |
//! | `uscc_notice` | USCC ‖ `0x00` ‖ u64 BE notice seq | the requester id |
//! | `holderdigest_version` | holder digest | u64 BE: the decisions made on the holder so far |
//! | `holderdigest_chain` | holder digest | `AccessChain` of the holder's newest record, with its digest (JSON) |
//! | `log_pending` | log byte ‖ u64 BE µs ‖ 16 random bytes | the leaf |
//! | `logindex_entry` | log byte ‖ u64 BE index | the leaf |
//! | `logtile_hashes` | log byte ‖ level byte ‖ u64 BE tile index | up to 256 hashes of 32 bytes |
//! | `leafhash_index` | log byte ‖ leaf hash | u64 BE index |
//! | `leafhash_index` | `deposit/` ‖ hex SHA-256 of a licence | its deposit's leaf hash |
//! | `meta` `log/{name}` | | `LogState` of `vault/logs` (JSON): origin, size, root, the signed checkpoint |
//! | `meta` `log/{name}/witnessed` | | `Witnessed` of `vault/witness` (JSON): the checkpoint a quorum cosigned |
//!
//! **Invariant:** no key or value of the store is built or parsed outside this module; holder
//! codes appear in keys only as the keyed [`HolderDigest`].

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codes::{LicenceId, Uscc};
use crate::lifecycle::Purpose;
use crate::store::{StoreError, Table, HOLDER_DIGEST_LEN};

#[cfg(doc)]
use {
    super::{
        AccessRecord, Consent, LicenceMeta, StoredNotice, StoredPresentation, StoredRequest,
        StoredStatement,
    },
    crate::auth::TokenRecord,
    crate::reuse::delegation::Delegation,
};

/// The keyed digest of a holder code that starts every key of a holder's tables.
pub type HolderDigest = [u8; HOLDER_DIGEST_LEN];

/// Length of the time-ordered part of an access key: u64 BE microseconds ‖ 8 random bytes.
const ACCESS_SUFFIX_LEN: usize = 16;

// ----- values ------------------------------------------------------------------------------------

/// The JSON form of a stored value.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising plain data structs to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// A stored JSON value read back; a value that does not decode is a corrupt store.
pub fn decode<T: DeserializeOwned>(table: Table, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| corrupt(table, e))
}

/// A counter value (u64 BE).
pub fn encode_count(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

pub fn decode_count(table: Table, v: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = v
        .try_into()
        .map_err(|_| corrupt(table, "count is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The error of a key or value that this layout cannot have written.
pub fn corrupt(table: Table, e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(format!("undecodable value in {}: {e}", table.name()))
}

// ----- licences ----------------------------------------------------------------------------------

/// The key of a licence in `licenceid_document` and `licenceid_meta` (borrowed: a read builds
/// nothing).
pub fn licence(id: &LicenceId) -> &[u8] {
    id.as_str().as_bytes()
}

/// The key of a licence in its holder's index.
pub fn holder_licence(holder: &HolderDigest, id: &LicenceId) -> Vec<u8> {
    let mut k = Vec::with_capacity(HOLDER_DIGEST_LEN + id.as_str().len());
    k.extend_from_slice(holder);
    k.extend_from_slice(id.as_str().as_bytes());
    k
}

/// The licence id of a holder index key, as text (not yet parsed: parsing checks every check
/// character, so a scan parses only what it needs).
pub fn holder_licence_text(key: &[u8]) -> Result<&str, StoreError> {
    key.get(HOLDER_DIGEST_LEN..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(|| corrupt(Table::HolderLicence, "bad licence id in key"))
}

/// The holder digest a holder index key starts with.
pub fn holder_licence_digest(key: &[u8]) -> Result<HolderDigest, StoreError> {
    key.get(..HOLDER_DIGEST_LEN)
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| corrupt(Table::HolderLicence, "short key"))
}

/// The licence id of a holder index key.
pub fn holder_licence_id(key: &[u8]) -> Result<LicenceId, StoreError> {
    holder_licence_text(key)?
        .parse()
        .map_err(|_| corrupt(Table::HolderLicence, "bad licence id in key"))
}

/// The prefix of a licence's statements: a prefix scan returns them in the order accepted.
pub fn statements(id: &LicenceId) -> Vec<u8> {
    let mut k = id.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

/// The key of a licence's statement number `seq` (from 0).
pub fn statement(id: &LicenceId, seq: u32) -> Vec<u8> {
    let mut k = statements(id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

// ----- the vault's own settings (`meta`) ---------------------------------------------------------

/// The did:key of the vault's first key (stores written before key histories have only this).
pub const VAULT_DID: &[u8] = b"vault_did";
/// The vault's key history (JSON, `verify::VaultKeys`).
pub const VAULT_KEYS: &[u8] = b"vault_keys";
/// When the store was restored from a backup, and from which (JSON, `vault::backup::Restored`).
pub const RESTORED: &[u8] = b"restored";
/// A MAC by the holder index key of a fixed text: recognises the index key without storing it.
pub const INDEX_KEY_CHECK: &[u8] = b"index_key_check";
/// Set once the pending consent requests of a store written before `holderdigest_pendingrequest`
/// are in it (`Vault::index_pending`).
pub const PENDING_INDEXED: &[u8] = b"pending_indexed";
/// When the demo data was seeded.
pub const DEMO_SEEDED: &[u8] = b"demo_seeded";
/// A holder's version in `holderdigest_version`.
pub fn holder_version(digest: &HolderDigest) -> Vec<u8> {
    digest.to_vec()
}

/// How many registry edits were made (u64 BE): a node whose registries were read at another
/// generation reads them again.
pub const REGISTRY_GENERATION: &[u8] = b"registry_generation";

/// An agency's next status-list index (u64 BE).
pub fn status_index(issuer: &Uscc) -> Vec<u8> {
    format!("status_index/{issuer}").into_bytes()
}

/// One of an agency's status-list bitstrings.
pub fn status_bits(issuer: &Uscc, purpose: Purpose, list: u64) -> Vec<u8> {
    format!("status_bits/{issuer}/{}/{list}", purpose.as_str()).into_bytes()
}

// ----- registries and tokens ---------------------------------------------------------------------

/// The key of a registry entry: its code (type code, matter code, USCC or requester id).
pub fn registry(code: &str) -> Vec<u8> {
    code.as_bytes().to_vec()
}

/// The key of a token record: the SHA-256 of the token.
pub fn token(digest: &[u8; 32]) -> Vec<u8> {
    digest.to_vec()
}

/// The key of a token id (for revocation by id).
pub fn token_id(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// A token digest as `tokenid_tokendigest` stores it.
pub fn decode_token_digest(v: &[u8]) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| corrupt(Table::TokenIdTokenDigest, "token digest is not 32 bytes"))
}

// ----- consents ----------------------------------------------------------------------------------

/// The key of a consent (`holderdigest_consent`), also the key of its use count
/// (`consentkey_uses`). Consent ids start with their creation time, so a holder's consents scan
/// in creation order.
pub fn consent(holder: &HolderDigest, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(HOLDER_DIGEST_LEN + id.len());
    k.extend_from_slice(holder);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The key of a consent request in `requestid_request`.
pub fn consent_request(id: &str) -> &[u8] {
    id.as_bytes()
}

/// The key of a consent request in its holder's `holderdigest_request` (ids start with their
/// time, so a holder's requests sort by creation).
pub fn holder_request(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The request id of a holder's request index key.
pub fn holder_request_id(key: &[u8]) -> Result<&str, StoreError> {
    key.get(HOLDER_DIGEST_LEN..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(|| corrupt(Table::HolderRequest, "bad request id in key"))
}

/// The prefix of the licences of `company` that name `representative` in
/// `companydigest_representative`.
pub fn company_representative(company: &HolderDigest, representative: &HolderDigest) -> Vec<u8> {
    [&company[..], &representative[..]].concat()
}

/// The key of `licence` of `company`, naming `representative`, in `companydigest_representative`.
pub fn company_representative_licence(
    company: &HolderDigest,
    representative: &HolderDigest,
    licence: &LicenceId,
) -> Vec<u8> {
    [
        &company[..],
        &representative[..],
        licence.as_str().as_bytes(),
    ]
    .concat()
}

/// Set once the representatives of a store written before `companydigest_representative` are in
/// it (`Vault::index_representatives`).
pub const REPRESENTATIVES_INDEXED: &[u8] = b"representatives_indexed";

/// The key of a holder's summary of one matter in `holderdigest_summary`.
pub fn holder_summary(holder: &HolderDigest, matter: &str) -> Vec<u8> {
    consent(holder, matter)
}

/// The key that marks a holder's summary built (the digest alone, first in the holder's range).
pub fn holder_summary_built(holder: &HolderDigest) -> Vec<u8> {
    holder.to_vec()
}

/// The key of a pending request in its holder's `holderdigest_pendingrequest` (ids start with
/// their time, so the oldest come first).
pub fn holder_pending(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The request id of a holder's pending-request key.
pub fn holder_pending_id(key: &[u8]) -> Result<&str, StoreError> {
    key.get(HOLDER_DIGEST_LEN..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(|| corrupt(Table::HolderPending, "bad request id in key"))
}

/// What the pending-request index keeps of a request: enough to count a requester's requests
/// and to prune expired ones without reading the requests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEntry {
    pub requester: String,
    pub expires_at: DateTime<Utc>,
}

/// The key of an export in its holder's `holderdigest_export` (ids start with their time).
pub fn holder_export(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The export id of a holder's export key.
pub fn holder_export_id(key: &[u8]) -> Result<&str, StoreError> {
    key.get(HOLDER_DIGEST_LEN..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(|| corrupt(Table::HolderExport, "bad export id in key"))
}

/// What the export index keeps of an export: who made it (the actor's holder digest, hex), the
/// access record that logged it, and until when it may be downloaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportEntry {
    pub actor: String,
    pub access_record: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A holder digest written as hex in a stored value of `table` (whose holder it is, for the door).
pub fn holder_digest_from_hex(table: Table, hex_digest: &str) -> Result<HolderDigest, StoreError> {
    hex::decode(hex_digest)
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| corrupt(table, "bad holder digest"))
}

/// The key of a correction in `correctionid_correction`.
pub fn correction(id: &str) -> &[u8] {
    id.as_bytes()
}

/// The key of a correction in its holder's `holderdigest_correction` (ids start with their time).
pub fn holder_correction(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The id that ends a key of an index keyed `prefix` ‖ id (`prefix_len` bytes of prefix).
pub fn index_id(table: Table, key: &[u8], prefix_len: usize) -> Result<&str, StoreError> {
    key.get(prefix_len..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(|| corrupt(table, "bad id in key"))
}

/// The key of a correction in its issuer's `uscc_correction` (after the prefix [`issuer`]).
pub fn issuer_correction(issuer_code: &Uscc, id: &str) -> Vec<u8> {
    let mut k = issuer(issuer_code);
    k.extend_from_slice(id.as_bytes());
    k
}

/// A correction as stored: whose it is (the holder digest, hex, for the holder's door) and the
/// correction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCorrection {
    pub holder_digest: String,
    pub correction: crate::reuse::correction::Correction,
}

/// A licence's open correction, and its dispute when the holder marked one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenCorrection {
    pub correction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disputed: Option<crate::verdict::Disputed>,
}

/// The key of an objection in `objectionid_objection`.
pub fn objection(id: &str) -> &[u8] {
    id.as_bytes()
}

/// The key of an objection in its holder's `holderdigest_objection`.
pub fn holder_objection(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The prefix of the objections to a requester's uses in `requesterid_objection`.
pub fn requester_objections(requester: &str) -> Vec<u8> {
    let mut k = requester.as_bytes().to_vec();
    k.push(0);
    k
}

/// The key of an objection in `requesterid_objection`.
pub fn requester_objection(requester: &str, id: &str) -> Vec<u8> {
    let mut k = requester_objections(requester);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The key of the objection to one use in `accessid_objection`.
pub fn access_objection(access_record: &str) -> &[u8] {
    access_record.as_bytes()
}

/// An id kept as a value (the objection to one use).
pub fn id_value(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// The id an [`id_value`] holds.
pub fn id_of_value(table: Table, value: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(value).map_err(|_| corrupt(table, "bad id"))
}

/// An objection as stored: whose it is (the holder digest, hex) and the objection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObjection {
    pub holder_digest: String,
    pub objection: crate::reuse::objection::Objection,
}

/// The key of a presentation in its holder's `holderdigest_presentation` (ids start with their
/// time, so a holder's codes sort by creation).
pub fn holder_presentation(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The key of a wallet offer in its holder's `holderdigest_walletoffer` (ids start with their
/// time).
pub fn holder_wallet_offer(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The key of a presentation transaction in `txid_vptransaction`.
pub fn vp_transaction(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// The key of a print in `printid_print`.
pub fn print(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// A print as kept: whose it is (`requester:<id>` or `holder:<digest hex>`), the signed document
/// (its canonical text) and what its page shows besides (SPEC §16). A stamped copy is kept without
/// the licence it embeds (`credentialSubject.document` null, `elided`): those bytes are the
/// licence's stored document, spliced back when the copy is read.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredPrint {
    pub owner: String,
    pub document: String,
    pub facts: crate::print::PrintFacts,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub elided: bool,
}

/// The key of a verifier's request under its holder in `holderdigest_vprequest`.
pub fn holder_vp_request(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

// ----- delegations -------------------------------------------------------------------------------

/// The key of an authorisation under its holder (the company or the ward).
pub fn holder_delegation(holder: &HolderDigest, id: &str) -> Vec<u8> {
    consent(holder, id)
}

/// The key of an authorisation under its delegate: a prefix scan with an empty `id` finds what
/// the delegate received from one holder.
pub fn delegate_index(delegate: &HolderDigest, holder: &HolderDigest, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 * HOLDER_DIGEST_LEN + id.len());
    k.extend_from_slice(delegate);
    k.extend_from_slice(holder);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The holder digest and the id of a delegate index key.
pub fn delegate_index_parts(key: &[u8]) -> Result<(HolderDigest, &str), StoreError> {
    let bad = || corrupt(Table::DelegateDelegation, "bad delegate index key");
    let holder: HolderDigest = key
        .get(HOLDER_DIGEST_LEN..2 * HOLDER_DIGEST_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(bad)?;
    let id = key
        .get(2 * HOLDER_DIGEST_LEN..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(bad)?;
    Ok((holder, id))
}

/// The key of an authorisation's id, which names its holder.
pub fn delegation_id(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

// ----- revocation notices ------------------------------------------------------------------------

/// The next number of the vault's notice sequence (`meta`), u64 BE.
pub const NOTICE_SEQ: &[u8] = b"notice_seq";

/// The prefix of a requester's notices in `requesterid_notice`.
pub fn notices(requester: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(requester.len() + 9);
    k.extend_from_slice(requester.as_bytes());
    k.push(0);
    k
}

/// The key of one of a requester's notices: the sequence orders the feed.
pub fn notice(requester: &str, seq: u64) -> Vec<u8> {
    let mut k = notices(requester);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

// ----- an issuer's deposits and the notices they caused -------------------------------------------

/// The prefix of an issuer's keys in `uscc_deposit` and `uscc_notice`.
pub fn issuer(issuer: &Uscc) -> Vec<u8> {
    let mut k = issuer.to_string().into_bytes();
    k.push(0);
    k
}

/// An issuer's deposit, ordered by the status-list index allocated to it (one per deposit, in
/// deposit order); the value is the licence id.
pub fn issuer_deposit(issuer_code: &Uscc, status_index: u64) -> Vec<u8> {
    let mut k = issuer(issuer_code);
    k.extend_from_slice(&status_index.to_be_bytes());
    k
}

/// A notice caused by one of an issuer's licences, by notice sequence; the value is the requester id.
pub fn issuer_notice(issuer_code: &Uscc, seq: u64) -> Vec<u8> {
    issuer_deposit(issuer_code, seq)
}

/// The number that ends an `uscc_deposit` or `uscc_notice` key.
pub fn issuer_key_number(table: Table, key: &[u8]) -> Result<u64, StoreError> {
    key.len()
        .checked_sub(8)
        .and_then(|at| key[at..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(table, "bad issuer index key"))
}

// ----- the access log ----------------------------------------------------------------------------

/// Where one access record goes: `record` in `accesstime_record` (time order), `index` in the
/// holder's `holderdigest_access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub index: Vec<u8>,
    pub record: Vec<u8>,
}

impl AccessKey {
    /// The keys of a record written at `at`, told apart from others of the same microsecond by
    /// `random`.
    pub fn new(holder: &HolderDigest, at: DateTime<Utc>, random: [u8; 8]) -> Self {
        let mut record = Vec::with_capacity(ACCESS_SUFFIX_LEN);
        record.extend_from_slice(&micros(at).to_be_bytes());
        record.extend_from_slice(&random);
        let mut index = holder.to_vec();
        index.extend_from_slice(&record);
        Self { index, record }
    }
}

/// The index key just after every record of a holder's at or before `t`: a newest-first scan
/// after it starts at the records of `t`'s microsecond.
pub fn access_until(holder: &HolderDigest, t: DateTime<Utc>) -> Vec<u8> {
    let mut k = holder.to_vec();
    k.extend_from_slice(&micros(t).saturating_add(1).to_be_bytes());
    k.extend_from_slice(&[0; 8]);
    k
}

/// The `accesstime_record` key an index entry names.
pub fn access_record_of(index: &[u8]) -> Result<&[u8], StoreError> {
    index
        .get(HOLDER_DIGEST_LEN..)
        .filter(|s| s.len() == ACCESS_SUFFIX_LEN)
        .ok_or_else(|| corrupt(Table::HolderAccess, "bad access key"))
}

/// The page cursor after an index entry: its time-ordered part, in hex.
pub fn access_cursor(index: &[u8]) -> Result<String, StoreError> {
    access_record_of(index).map(hex::encode)
}

/// The index key a cursor stands for, `None` if no page ever returned that cursor.
pub fn access_after(holder: &HolderDigest, cursor: &str) -> Option<Vec<u8>> {
    let suffix = hex::decode(cursor)
        .ok()
        .filter(|s| s.len() == ACCESS_SUFFIX_LEN)?;
    let mut k = holder.to_vec();
    k.extend_from_slice(&suffix);
    Some(k)
}

/// Microseconds since the epoch (0 before it), the time order of ids and keys.
pub fn micros(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_micros()).unwrap_or(0)
}

// ----- reuse statistics --------------------------------------------------------------------------

/// A key of `reusestat_count`: `pulls\0matter` or `licences\0agency\0type\0matter\0outcome`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatKey {
    Pulls {
        matter: String,
    },
    Licences {
        agency: String,
        type_code: String,
        matter: String,
        outcome: String,
    },
}

impl StatKey {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Pulls { matter } => format!("pulls\0{matter}"),
            Self::Licences {
                agency,
                type_code,
                matter,
                outcome,
            } => {
                format!("licences\0{agency}\0{type_code}\0{matter}\0{outcome}")
            }
        }
        .into_bytes()
    }

    pub fn decode(key: &[u8]) -> Result<Self, StoreError> {
        let bad = || corrupt(Table::ReuseStats, "bad key");
        let text = std::str::from_utf8(key).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split('\0').collect();
        match parts.as_slice() {
            ["pulls", matter] => Ok(Self::Pulls {
                matter: (*matter).to_owned(),
            }),
            ["licences", agency, type_code, matter, outcome] => Ok(Self::Licences {
                agency: (*agency).to_owned(),
                type_code: (*type_code).to_owned(),
                matter: (*matter).to_owned(),
                outcome: (*outcome).to_owned(),
            }),
            _ => Err(bad()),
        }
    }
}

// ----- the transparency logs ---------------------------------------------------------------------

/// A log's state in `meta`.
pub fn log_state(name: &str) -> Vec<u8> {
    format!("log/{name}").into_bytes()
}

/// The key of a holder's chain head in `holderdigest_chain`.
pub fn holder_chain(digest: &HolderDigest) -> Vec<u8> {
    digest.to_vec()
}

/// The checkpoint of a log a quorum of witnesses cosigned, in `meta`.
pub fn log_witnessed(name: &str) -> Vec<u8> {
    format!("log/{name}/witnessed").into_bytes()
}

/// The key of a deposit's leaf hash in `leafhash_index`, by the licence's digest (hex): how a
/// deposit receipt finds its leaf.
pub fn log_deposit(sha256: &str) -> Vec<u8> {
    format!("deposit/{sha256}").into_bytes()
}

/// The key of a leaf waiting for its log's integration: in time order, then at random.
pub fn log_pending(log: u8, at: DateTime<Utc>, random: [u8; 16]) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.push(log);
    k.extend_from_slice(&micros(at).to_be_bytes());
    k.extend_from_slice(&random);
    k
}

/// The key of leaf `index` of a log.
pub fn log_entry(log: u8, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(log);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The key of tile `level`/`index` of a log.
pub fn log_tile(log: u8, level: u8, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(10);
    k.push(log);
    k.push(level);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The key of a leaf hash in a log's index of leaves.
pub fn log_leaf(log: u8, hash: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(log);
    k.extend_from_slice(hash);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_keys_round_trip() {
        for key in [
            StatKey::Pulls {
                matter: "350100-SJ-004".into(),
            },
            StatKey::Licences {
                agency: "none".into(),
                type_code: "11100000000013338W001".into(),
                matter: "350100-SJ-004".into(),
                outcome: "no_consent".into(),
            },
        ] {
            let encoded = key.encode();
            assert_eq!(
                StatKey::decode(&encoded).map(|k| k.encode()).ok(),
                Some(encoded)
            );
        }
        assert!(StatKey::decode(b"pulls").is_err());
    }

    #[test]
    fn keys_have_the_documented_layout() {
        let id: LicenceId = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
            .parse()
            .unwrap();
        let holder = [7u8; HOLDER_DIGEST_LEN];
        let k = holder_licence(&holder, &id);
        assert_eq!(
            (&k[..32], holder_licence_id(&k).unwrap()),
            (&holder[..], id.clone())
        );
        assert_eq!(statement(&id, 2)[id.as_str().len()..], [0, 0, 0, 0, 2]);
        assert!(statement(&id, 2).starts_with(&statements(&id)));

        let at = crate::proof::parse_time("2025-01-01T00:00:00Z").unwrap();
        let a = AccessKey::new(&holder, at, [9; 8]);
        assert_eq!(a.index[32..], a.record[..]);
        assert_eq!(a.record[..8], micros(at).to_be_bytes());
        assert_eq!(access_record_of(&a.index).unwrap(), &a.record[..]);
        let cursor = access_cursor(&a.index).unwrap();
        assert_eq!(access_after(&holder, &cursor), Some(a.index.clone()));
        assert_eq!(access_after(&holder, "00"), None);
        assert_eq!(access_after(&holder, "zz"), None);
        assert!(access_record_of(&holder).is_err());
        assert_eq!(
            decode_count(Table::ConsentUses, &encode_count(5)).unwrap(),
            5
        );
        assert!(decode_count(Table::ConsentUses, b"xyz").is_err());
    }
}
