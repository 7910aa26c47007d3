//! Authorised reuse (SPEC §7, issue "Authorised reuse"): consents, pulls by approval systems,
//! the access log written before anything leaves, purpose-stamped copies, reuse statistics.
//!
//! **Invariants:** no licence is read for a type the requester holds no usable consent for; the
//! access record, the consent use counters and the statistics of a pull are one durable
//! [`Change`], committed before anything is returned; consent counters are checked and incremented
//! under the holder's lock ([`Vault::holder_lock`]), so concurrent pulls never exceed `maxUses`;
//! holder codes appear in store keys and records only as the keyed holder digest.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Months, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{corrupt, decode_meta, to_vec, Extracted, Vault, VaultError};
use crate::codes::{HolderCode, LicenceId, TypeCode};
use crate::jcs;
use crate::keys::DidKey;
use crate::licence::{Licence, VC_CONTEXT};
use crate::metrics::label;
use crate::proof::{self, format_time};
use crate::registry::{Matter, Requester};
use crate::store::{Change, Entry, StoreError, Table};
use crate::verdict::{Check, CheckName, Reason, Verdict};

/// The `type` that marks a purpose-stamped copy (加注件).
pub const STAMPED_COPY_TYPE: &str = "PurposeStampedCopy";
/// How long a stamped copy is valid (SPEC §7: default 30 days).
pub const COPY_VALIDITY_DAYS: i64 = 30;
/// Longest purpose text of a consent or a pull, in characters.
pub const MAX_PURPOSE_CHARS: usize = 500;
/// Most types one consent or one pull may name.
pub const MAX_TYPES: usize = 32;
/// Default and largest page of the access log.
pub const ACCESS_LOG_PAGE: usize = 50;
pub const ACCESS_LOG_MAX_PAGE: usize = 200;

const PULLS_METRIC: &str = "licence_vault_reuse_pulls_total";
const LICENCES_METRIC: &str = "licence_vault_reuse_licences_total";
/// The agency label of outcomes for which no licence was looked at.
const NO_AGENCY: &str = "none";

// ----- consents ----------------------------------------------------------------------------

/// A holder's authorisation of one requester for one matter (stored under the holder digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    pub id: String,
    /// The approval system authorised.
    pub requester: String,
    pub matter: String,
    pub purpose: String,
    /// Licence types covered (any licence of the holder of these types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub types: Vec<TypeCode>,
    /// Specific licences covered, with their later versions (same type, issuer and serial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub licences: Vec<LicenceId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Pulls that released at least one licence under this consent (each is in the access log).
    pub uses: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Created and withdrawn, oldest first. Uses are counted in `uses` and listed in the access
    /// log.
    pub history: Vec<ConsentEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentEvent {
    pub event: ConsentEventKind,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// For `used` (kept by vaults of before the access log held uses): the access record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_record: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentEventKind {
    Created,
    /// Only in consents written before uses were counted apart (see [`Consent::uses`]).
    Used,
    Withdrawn,
}

/// Where a consent stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Active,
    Expired,
    Exhausted,
    Withdrawn,
}

impl ConsentState {
    /// The reuse reason of a consent in this state (`None` when it can be used).
    pub fn reason(self) -> Option<Reason> {
        match self {
            Self::Active => None,
            Self::Expired => Some(Reason::ConsentExpired),
            Self::Exhausted => Some(Reason::ConsentExhausted),
            Self::Withdrawn => Some(Reason::ConsentWithdrawn),
        }
    }
}

impl Consent {
    pub fn state(&self, now: DateTime<Utc>) -> ConsentState {
        if self.withdrawn_at.is_some() {
            ConsentState::Withdrawn
        } else if now >= self.expires_at {
            ConsentState::Expired
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            ConsentState::Exhausted
        } else {
            ConsentState::Active
        }
    }

    /// Uses left, `None` when unlimited.
    pub fn remaining_uses(&self) -> Option<u32> {
        self.max_uses.map(|m| m.saturating_sub(self.uses))
    }

    fn covers(&self, ty: &TypeCode) -> bool {
        self.types.contains(ty) || self.licences.iter().any(|l| &l.type_code() == ty)
    }

    /// Whether the consent lets `id` out: any licence of a covered type, or a named licence and
    /// its later versions.
    fn admits(&self, id: &LicenceId) -> bool {
        self.types.contains(&id.type_code()) || self.licences.iter().any(|l| same_lineage(l, id))
    }
}

fn same_lineage(a: &LicenceId, b: &LicenceId) -> bool {
    a.type_code() == b.type_code() && a.issuer() == b.issuer() && a.serial() == b.serial()
}

/// What a holder asks for when granting a consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsent {
    pub requester: String,
    pub matter: String,
    pub purpose: String,
    pub types: Vec<TypeCode>,
    pub licences: Vec<LicenceId>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<u32>,
}

// ----- pulls -------------------------------------------------------------------------------

/// A requester's pull (`POST /v1/reuse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub holder: HolderCode,
    pub matter: String,
    pub purpose: String,
    /// `None`: the matter's needed types.
    pub types: Option<Vec<TypeCode>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Provided,
    NotProvided,
}

/// What a pull answered for one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeResult {
    pub type_code: TypeCode,
    pub type_name: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    /// The licence considered (provided, or refused for its own state); absent otherwise.
    pub licence_id: Option<LicenceId>,
    /// The signed licence, as stored: only when provided.
    pub licence: Option<jcs::Canonical>,
    /// Its fresh verdict: when a licence was considered.
    pub verdict: Option<Verdict>,
    /// The vault-signed purpose-stamped copy, canonical: only when provided.
    pub stamped_copy: Option<jcs::Canonical>,
    /// The consent charged: only when provided.
    pub consent: Option<String>,
}

/// The answer to a pull, released only after its access record is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub access_record: String,
    pub pulled_at: DateTime<Utc>,
    pub matter: String,
    pub purpose: String,
    pub results: Vec<TypeResult>,
}

/// One type's outcome as the access log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessOutcome {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub type_code: TypeCode,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The licence (URN) provided, or refused for its own state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// The `id` of the stamped copy released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamped_copy: Option<String>,
}

/// The record of one pull, written durably before anything is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub requester: String,
    pub requester_name: String,
    pub matter: String,
    pub matter_name: String,
    pub purpose: String,
    /// The keyed digest of the holder (hex); the holder code itself is never stored here.
    pub holder_digest: String,
    /// Licences released (URNs).
    pub licences: Vec<String>,
    pub outcomes: Vec<AccessOutcome>,
}

/// A page of the access log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPage {
    pub records: Vec<AccessRecord>,
    pub next_cursor: Option<String>,
}

// ----- statistics --------------------------------------------------------------------------

/// Pulls per matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PullCount {
    pub matter: String,
    pub pulls: u64,
}

/// Licences provided or not (by reason) per issuing agency, type and matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LicenceCount {
    /// The issuing agency's USCC, or `none` when no licence was looked at.
    pub agency: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub matter: String,
    /// `provided` or the reason code.
    pub outcome: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsTotals {
    pub pulls: u64,
    pub provided: u64,
    pub not_provided: BTreeMap<String, u64>,
}

/// Reuse statistics since the vault was created (persistent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReuseStats {
    pub totals: StatsTotals,
    pub pulls: Vec<PullCount>,
    pub licences: Vec<LicenceCount>,
}

enum StatKey {
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
    fn encode(&self) -> Vec<u8> {
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

    fn decode(key: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(key).ok()?;
        let parts: Vec<&str> = text.split('\0').collect();
        match parts.as_slice() {
            ["pulls", matter] => Some(Self::Pulls {
                matter: (*matter).to_owned(),
            }),
            ["licences", agency, type_code, matter, outcome] => Some(Self::Licences {
                agency: (*agency).to_owned(),
                type_code: (*type_code).to_owned(),
                matter: (*matter).to_owned(),
                outcome: (*outcome).to_owned(),
            }),
            _ => None,
        }
    }

    fn add_to_metrics(&self, vault: &Vault, n: u64) {
        match self {
            Self::Pulls { matter } => {
                vault
                    .metrics
                    .add(PULLS_METRIC, format!("matter=\"{}\"", label(matter)), n)
            }
            Self::Licences {
                agency,
                type_code,
                matter,
                outcome,
            } => vault.metrics.add(
                LICENCES_METRIC,
                format!(
                    "agency=\"{}\",type=\"{}\",matter=\"{}\",outcome=\"{}\"",
                    label(agency),
                    label(type_code),
                    label(matter),
                    label(outcome)
                ),
                n,
            ),
        }
    }
}

fn decode_count(table: Table, v: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = v
        .try_into()
        .map_err(|_| corrupt(table, "count is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

// ----- stamped copies ----------------------------------------------------------------------

/// Whether a document claims to be a purpose-stamped copy.
pub fn is_stamped_copy(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == STAMPED_COPY_TYPE))
}

/// Verifies a purpose-stamped copy: the copy's own signature by a `trusted` vault key and its
/// validity (`expired` after `expiresAt`), its `binding` (the embedded licence's JCS SHA-256 and id
/// are the ones the copy names), then the embedded licence's own checks as `licence_verdict` judges
/// them (each detail prefixed with `licence:`). No I/O: the caller decides how licences are judged.
pub fn verify_stamped_copy<E>(
    doc: &Value,
    trusted: Option<&[DidKey]>,
    now: DateTime<Utc>,
    licence_verdict: impl FnOnce(&Value) -> Result<Verdict, E>,
) -> Result<Verdict, E> {
    let mut checks = crate::verify::document(doc, trusted, now).checks;
    let subject = doc.get("credentialSubject");
    let field = |name: &str| subject.and_then(|s| s.get(name));
    let text = |name: &str| field(name).and_then(Value::as_str);

    // The copy's expiresAt is its validUntil; if they ever disagree, the earlier one holds.
    if let Some(expires) = text("expiresAt").and_then(proof::parse_time) {
        if let Some(c) = checks.iter_mut().find(|c| c.check == CheckName::Validity) {
            if c.ok == Some(true) && now >= expires {
                *c = Check::fail(
                    CheckName::Validity,
                    Reason::Expired,
                    format!("stamped copy expired {}", format_time(expires)),
                );
            }
        }
    }

    let embedded = field("document").filter(|d| Licence::is_licence(d) && !is_stamped_copy(d));
    checks.push(match (embedded, text("licence"), text("sha256")) {
        (Some(lic), Some(bound_id), Some(bound_sha)) => {
            let sha = hex::encode(Sha256::digest(jcs::canonicalize(lic)));
            let id = lic.get("id").and_then(Value::as_str).unwrap_or_default();
            if sha != bound_sha {
                Check::fail(
                    CheckName::Binding,
                    Reason::IntegrityFailure,
                    format!("the embedded licence has SHA-256 {sha}, the copy binds {bound_sha}"),
                )
            } else if id != bound_id {
                Check::fail(
                    CheckName::Binding,
                    Reason::IntegrityFailure,
                    format!("the embedded licence is {id}, the copy binds {bound_id}"),
                )
            } else {
                Check::pass_with(CheckName::Binding, format!("binds {bound_id}, SHA-256 {sha}"))
            }
        }
        _ => Check::fail(
            CheckName::Binding,
            Reason::IntegrityFailure,
            "a stamped copy must name credentialSubject.licence and .sha256 and embed the licence in .document",
        ),
    });
    if let Some(lic) = embedded {
        for mut c in licence_verdict(lic)?.checks {
            c.detail = Some(match c.detail {
                Some(d) => format!("licence: {d}"),
                None => "licence".to_owned(),
            });
            checks.push(c);
        }
    }
    Ok(Verdict::new(checks, now))
}

/// A fresh `urn:uuid:` (version 4).
fn new_uuid_urn() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn micros(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_micros()).unwrap_or(0)
}

/// What a pull found for one type, given the consents read under the holder's lock.
enum Found {
    /// No usable consent covers the type: no licence was read.
    NotLooked,
    NoLicence,
    /// The best candidate and whether it may be released (a valid verdict).
    Licence(Box<Extracted>),
}

/// What a stamped copy binds besides the licence.
#[derive(Clone, Copy)]
struct CopyContext<'a> {
    requester: &'a Requester,
    matter: &'a Matter,
    purpose: &'a str,
    record_id: &'a str,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
}

/// The decision for one type, under the lock.
struct Decision {
    type_code: TypeCode,
    reason: Option<Reason>,
    message: Option<String>,
    /// The licence considered, when the consent allowed looking.
    extracted: Option<Box<Extracted>>,
    /// Index into the consents read under the lock, when provided.
    consent: Option<usize>,
    copy_id: Option<String>,
}

impl Vault {
    /// Seeds the reuse counters in `/metrics` from the persistent statistics (at open).
    pub(super) fn load_reuse_stats(&self) -> Result<(), StoreError> {
        for (k, v) in self.store.scan(Table::ReuseStats, b"", false, usize::MAX)? {
            let key = StatKey::decode(&k).ok_or_else(|| corrupt(Table::ReuseStats, "bad key"))?;
            key.add_to_metrics(self, decode_count(Table::ReuseStats, &v)?);
        }
        Ok(())
    }

    fn consent_key(digest: &[u8; 32], id: &str) -> Vec<u8> {
        let mut k = digest.to_vec();
        k.extend_from_slice(id.as_bytes());
        k
    }

    fn decode_consent(v: &[u8]) -> Result<Consent, StoreError> {
        serde_json::from_slice(v).map_err(|e| corrupt(Table::HolderConsent, e))
    }

    /// The holder's consents that `keep` keeps, with their store keys (newest first when
    /// `reverse`), each with its use count (`Table::ConsentUses`; the stored `uses` counted only
    /// before the count was kept apart).
    fn holder_consents(
        &self,
        digest: &[u8; 32],
        reverse: bool,
        keep: impl Fn(&Consent) -> bool,
    ) -> Result<Vec<(Vec<u8>, Consent)>, StoreError> {
        let mut consents = Vec::new();
        for (k, v) in self
            .store
            .scan(Table::HolderConsent, digest, reverse, usize::MAX)?
        {
            let c = Self::decode_consent(&v)?;
            if keep(&c) {
                consents.push((k, c));
            }
        }
        self.count_uses(&mut consents)?;
        Ok(consents)
    }

    /// Sets each consent's `uses` from its count, where it has one.
    fn count_uses(&self, consents: &mut [(Vec<u8>, Consent)]) -> Result<(), StoreError> {
        if consents.is_empty() {
            return Ok(());
        }
        let keys: Vec<Vec<u8>> = consents.iter().map(|(k, _)| k.clone()).collect();
        let counts = self.store.multi_get(Table::ConsentUses, &keys)?;
        for ((_, c), n) in consents.iter_mut().zip(counts) {
            if let Some(n) = n {
                c.uses = u32::try_from(decode_count(Table::ConsentUses, &n)?).unwrap_or(u32::MAX);
            }
        }
        Ok(())
    }

    /// A holder's consents, newest first.
    pub fn consents(&self, holder: &HolderCode) -> Result<Vec<Consent>, StoreError> {
        Ok(self
            .holder_consents(&self.holder_digest(holder), true, |_| true)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Records a holder's consent. The requester must be registered for the matter, the types
    /// needed by it, and named licences the holder's own; `expiresAt` in the future and at most
    /// one year ahead.
    pub fn create_consent(
        &self,
        holder: &HolderCode,
        new: NewConsent,
        now: DateTime<Utc>,
    ) -> Result<Consent, VaultError> {
        let reg = self.registries();
        let purpose = check_purpose(&new.purpose)?;
        let requester = reg.requesters.get(&new.requester).ok_or_else(|| {
            VaultError::new(
                Reason::NotFound,
                "$.requester",
                format!("requester {} is not registered", new.requester),
            )
        })?;
        let matter = reg.matters.get(&new.matter).ok_or_else(|| {
            VaultError::new(
                Reason::NotFound,
                "$.matter",
                format!("matter {} is not registered", new.matter),
            )
        })?;
        if !requester.matters.contains(&matter.code) {
            return Err(VaultError::new(
                Reason::InvalidRequest,
                "$.matter",
                format!("{} may not pull for matter {}", requester.id, matter.code),
            ));
        }
        match (new.types.is_empty(), new.licences.is_empty()) {
            (true, true) | (false, false) => {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$.types",
                    "name either the licence types or the licences the consent covers",
                ))
            }
            _ => {}
        }
        if new.types.len() + new.licences.len() > MAX_TYPES {
            let field = if new.types.is_empty() {
                "$.licences"
            } else {
                "$.types"
            };
            return Err(VaultError::new(
                Reason::InvalidRequest,
                field,
                format!("at most {MAX_TYPES} entries"),
            ));
        }
        for (i, t) in new.types.iter().enumerate() {
            let field = format!("$.types[{i}]");
            if !reg.types.contains_key(t) {
                return Err(VaultError::new(
                    Reason::UnknownType,
                    &field,
                    format!("type {t} is not catalogued"),
                ));
            }
            if !matter.types.contains(t) {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    &field,
                    format!("matter {} does not need type {t}", matter.code),
                ));
            }
        }
        let digest = self.holder_digest(holder);
        for (i, id) in new.licences.iter().enumerate() {
            let field = format!("$.licences[{i}]");
            let mut key = digest.to_vec();
            key.extend_from_slice(id.as_str().as_bytes());
            // Absent and foreign licences get the same answer: nothing about others leaks.
            if self.store.get(Table::HolderLicence, &key)?.is_none() {
                return Err(VaultError::new(
                    Reason::Forbidden,
                    &field,
                    format!("{} is not one of your licences", id.urn()),
                ));
            }
            if !matter.types.contains(&id.type_code()) {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    &field,
                    format!(
                        "matter {} does not need type {}",
                        matter.code,
                        id.type_code()
                    ),
                ));
            }
        }
        if new.expires_at <= now {
            return Err(VaultError::new(
                Reason::InvalidRequest,
                "$.expiresAt",
                "must be in the future",
            ));
        }
        let limit = now.checked_add_months(Months::new(12)).unwrap_or(now);
        if new.expires_at > limit {
            return Err(VaultError::new(
                Reason::InvalidRequest,
                "$.expiresAt",
                format!(
                    "must be at most one year ahead (before {})",
                    format_time(limit)
                ),
            ));
        }
        if new.max_uses == Some(0) {
            return Err(VaultError::new(
                Reason::InvalidRequest,
                "$.maxUses",
                "must be at least 1",
            ));
        }
        let mut licences = new.licences;
        licences.dedup();
        let mut types = new.types;
        types.dedup();
        let consent = Consent {
            // Time first, so a holder's consents sort by creation.
            id: format!("cst_{:016x}{}", micros(now), random_hex(6)),
            requester: requester.id.clone(),
            matter: matter.code.clone(),
            purpose,
            types,
            licences,
            created_at: now,
            expires_at: new.expires_at,
            max_uses: new.max_uses,
            uses: 0,
            withdrawn_at: None,
            history: vec![ConsentEvent {
                event: ConsentEventKind::Created,
                at: now,
                access_record: None,
            }],
        };
        let mut c = Change::durable();
        c.put(
            Table::HolderConsent,
            Self::consent_key(&digest, &consent.id),
            to_vec(&consent),
        );
        self.store.commit(c)?;
        tracing::info!(holder = %holder, consent = %consent.id, requester = %consent.requester, matter = %consent.matter, "consent granted");
        Ok(consent)
    }

    /// Withdraws a holder's consent, effective for the next pull. `None` if the holder has no such
    /// consent; withdrawing twice changes nothing.
    pub fn withdraw_consent(
        &self,
        holder: &HolderCode,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Consent>, StoreError> {
        let digest = self.holder_digest(holder);
        let key = Self::consent_key(&digest, id);
        // Under the holder's lock: a pull's check-and-increment must not overwrite a withdrawal.
        let _guard = self.holder_lock(&digest);
        let Some(v) = self.store.get(Table::HolderConsent, &key)? else {
            return Ok(None);
        };
        let mut one = [(key, Self::decode_consent(&v)?)];
        self.count_uses(&mut one)?;
        let [(key, mut consent)] = one;
        if consent.withdrawn_at.is_none() {
            consent.withdrawn_at = Some(now);
            consent.history.push(ConsentEvent {
                event: ConsentEventKind::Withdrawn,
                at: now,
                access_record: None,
            });
            let mut c = Change::durable();
            c.put(Table::HolderConsent, key, to_vec(&consent));
            self.store.commit(c)?;
            tracing::info!(holder = %holder, consent = %consent.id, "consent withdrawn");
        }
        Ok(Some(consent))
    }

    /// The holder's consents for one requester and matter, with their store keys.
    fn consents_for(
        &self,
        digest: &[u8; 32],
        requester: &str,
        matter: &str,
    ) -> Result<Vec<(Vec<u8>, Consent)>, StoreError> {
        self.holder_consents(digest, false, |c| {
            c.requester == requester && c.matter == matter
        })
    }

    /// Pulls the licences a matter needs for `requester`, with the holder's consent. Every pull —
    /// whatever it provides — is recorded before the answer exists; if the record cannot be
    /// written, the pull fails and no consent use is counted.
    pub fn reuse(
        &self,
        requester_id: &str,
        req: PullRequest,
        now: DateTime<Utc>,
    ) -> Result<Pull, VaultError> {
        let reg = self.registries();
        let requester = reg.requesters.get(requester_id).ok_or_else(|| {
            VaultError::new(
                Reason::Forbidden,
                "$",
                format!("requester {requester_id} is not registered"),
            )
        })?;
        let matter = match reg.matters.get(&req.matter) {
            Some(m) if requester.matters.contains(&m.code) => m,
            _ => {
                return Err(VaultError::new(
                    Reason::MatterNotAllowed,
                    "$.matter",
                    format!(
                        "{} is not registered for matter {}",
                        requester.id, req.matter
                    ),
                ))
            }
        };
        let purpose = check_purpose(&req.purpose)?;
        let types = match req.types {
            None => matter.types.clone(),
            Some(t) if t.is_empty() => {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$.types",
                    "name at least one type, or leave types out for the matter's needed types",
                ))
            }
            Some(t) if t.len() > MAX_TYPES => {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$.types",
                    format!("at most {MAX_TYPES} types"),
                ))
            }
            Some(t) => {
                let mut seen = BTreeSet::new();
                t.into_iter().filter(|x| seen.insert(x.clone())).collect()
            }
        };
        let digest = self.holder_digest(&req.holder);

        // The holder's stripe is held from reading the consents to the durable commit, so a
        // concurrent pull or withdrawal for the same holder sees all of this pull or none of it;
        // pulls for other holders run alongside and share WAL syncs.
        let guard = self.holder_lock(&digest);
        let consents = self.consents_for(&digest, &requester.id, &matter.code)?;
        // Read and verify only what a usable consent admits.
        let found = self.find_licences(&digest, &types, matter, &consents, now)?;
        let mut decisions = Vec::with_capacity(types.len());
        for (ty, found) in types.iter().zip(found) {
            decisions.push(decide(ty, matter, &consents, found, now));
        }
        let record_id = format!("acc_{:016x}{}", micros(now), random_hex(8));
        let mut record = AccessRecord {
            id: record_id.clone(),
            at: now,
            requester: requester.id.clone(),
            requester_name: requester.name.clone(),
            matter: matter.code.clone(),
            matter_name: matter.name.clone(),
            purpose: purpose.clone(),
            holder_digest: hex::encode(digest),
            licences: Vec::new(),
            outcomes: Vec::with_capacity(decisions.len()),
        };
        let mut used = BTreeSet::new();
        let mut stats: BTreeMap<Vec<u8>, (StatKey, u64)> = BTreeMap::new();
        let mut count = |key: StatKey| {
            stats.entry(key.encode()).or_insert((key, 0)).1 += 1;
        };
        count(StatKey::Pulls {
            matter: matter.code.clone(),
        });
        for d in &mut decisions {
            let licence = d.extracted.as_ref().map(|e| e.id.urn());
            if let Some(i) = d.consent {
                used.insert(i);
                d.copy_id = Some(new_uuid_urn());
                record.licences.extend(licence.clone());
            }
            count(StatKey::Licences {
                agency: d
                    .extracted
                    .as_ref()
                    .map_or_else(|| NO_AGENCY.to_owned(), |e| e.id.issuer().to_string()),
                type_code: d.type_code.to_string(),
                matter: matter.code.clone(),
                outcome: d.reason.map_or("provided", Reason::as_str).to_owned(),
            });
            record.outcomes.push(AccessOutcome {
                type_code: d.type_code.clone(),
                outcome: if d.reason.is_none() {
                    Outcome::Provided
                } else {
                    Outcome::NotProvided
                },
                reason: d.reason,
                licence,
                consent: d.consent.map(|i| consents[i].1.id.clone()),
                stamped_copy: d.copy_id.clone(),
            });
        }

        let mut change = Change::durable();
        let mut access_key = digest.to_vec();
        access_key.extend_from_slice(&micros(now).to_be_bytes());
        let mut seq = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut seq);
        access_key.extend_from_slice(&seq);
        // The record goes in time order; the holder's index names it.
        change.put(
            Table::AccessRecord,
            access_key[32..].to_vec(),
            to_vec(&record),
        );
        change.put(Table::HolderAccess, access_key, Vec::new());
        // The count is read and written under the holder's lock, so a plain put is exact (a
        // merge operand per pull would leave every later read folding them until a compaction).
        for &i in &used {
            let (key, consent) = &consents[i];
            let uses = u64::from(consent.uses) + 1;
            change.put(Table::ConsentUses, key.clone(), uses.to_be_bytes().to_vec());
        }
        for (k, (_, n)) in &stats {
            change.add(Table::ReuseStats, k.clone(), *n);
        }
        self.store.commit(change).inspect_err(|e| {
            tracing::error!(error = %e, requester = %requester.id, matter = %matter.code, holder = %req.holder, "access record not written; pull refused");
        })?;
        drop(guard);

        for (key, n) in stats.values() {
            key.add_to_metrics(self, *n);
        }
        let provided = decisions.iter().filter(|d| d.reason.is_none()).count();
        tracing::info!(access_record = %record_id, requester = %requester.id, matter = %matter.code, holder = %req.holder, provided, not_provided = decisions.len() - provided, "reuse pull recorded");

        let ctx = CopyContext {
            requester,
            matter,
            purpose: &purpose,
            record_id: &record_id,
            issued: now,
            expires: now + Duration::days(COPY_VALIDITY_DAYS),
        };
        let mut results = Vec::with_capacity(decisions.len());
        for d in decisions {
            let consent = d.consent.map(|i| consents[i].1.id.clone());
            let type_name = reg.types.get(&d.type_code).map(|t| t.name.clone());
            let (licence, stamped_copy) = match (&d.copy_id, &d.extracted) {
                (Some(copy_id), Some(e)) => {
                    let copy = self.stamped_copy(copy_id, e, &ctx)?;
                    (e.document.clone(), Some(copy))
                }
                _ => (None, None),
            };
            results.push(TypeResult {
                type_code: d.type_code,
                type_name,
                outcome: if d.reason.is_none() {
                    Outcome::Provided
                } else {
                    Outcome::NotProvided
                },
                reason: d.reason,
                message: d.message,
                licence_id: d.extracted.as_ref().map(|e| e.id.clone()),
                licence,
                verdict: d.extracted.map(|e| e.verdict),
                stamped_copy,
                consent,
            });
        }
        Ok(Pull {
            access_record: record_id,
            pulled_at: now,
            matter: matter.code.clone(),
            purpose,
            results,
        })
    }

    /// For each type with a usable consent, the holder's best licence of that type, verified
    /// afresh.
    fn find_licences(
        &self,
        digest: &[u8; 32],
        types: &[TypeCode],
        matter: &Matter,
        consents: &[(Vec<u8>, Consent)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Found>, StoreError> {
        let usable: Vec<&Consent> = consents
            .iter()
            .map(|(_, c)| c)
            .filter(|c| c.state(now) == ConsentState::Active)
            .collect();
        let wanted: Vec<bool> = types
            .iter()
            .map(|t| matter.types.contains(t) && usable.iter().any(|c| c.covers(t)))
            .collect();
        if !wanted.iter().any(|w| *w) {
            return Ok(types.iter().map(|_| Found::NotLooked).collect());
        }
        // Candidates: of a wanted type, admitted by a usable consent, and (below) not superseded.
        let mut admitted: Vec<(usize, LicenceId)> = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderLicence, digest, false, usize::MAX)?
        {
            let text = std::str::from_utf8(&k[32..])
                .map_err(|_| corrupt(Table::HolderLicence, "bad licence id in key"))?;
            // Only identifiers of a wanted type are parsed (check characters and all).
            let ty = LicenceId::type_field(text);
            let Some(i) = types
                .iter()
                .zip(&wanted)
                .position(|(t, w)| *w && Some(t.as_str()) == ty)
            else {
                continue;
            };
            let id = text
                .parse::<LicenceId>()
                .map_err(|_| corrupt(Table::HolderLicence, "bad licence id in key"))?;
            if usable.iter().any(|c| c.covers(&types[i]) && c.admits(&id)) {
                admitted.push((i, id));
            }
        }
        // Their metadata, in one multi-get.
        let keys: Vec<Vec<u8>> = admitted
            .iter()
            .map(|(_, id)| id.as_str().as_bytes().to_vec())
            .collect();
        let metas = self.store.multi_get(Table::LicenceMeta, &keys)?;
        let mut candidates = Vec::with_capacity(admitted.len());
        for ((i, id), meta) in admitted.into_iter().zip(metas) {
            let Some(meta) = meta.map(|m| decode_meta(&m)).transpose()? else {
                continue;
            };
            if meta.superseded_by.is_none() {
                candidates.push((i, id, meta));
            }
        }
        let keys: Vec<Vec<u8>> = candidates
            .iter()
            .map(|(_, id, _)| id.as_str().as_bytes().to_vec())
            .collect();
        let bytes = self.store.multi_get(Table::LicenceDocument, &keys)?;
        // Each candidate is verified with verify_strict, as every extraction is: a batch (which
        // may accept a mixed-order R that verify_strict refuses, docs/DECISIONS.md) is for
        // deposits only, and with two or three signatures per pull it saves little.
        let mut best: Vec<Option<Extracted>> = types.iter().map(|_| None).collect();
        for ((i, id, meta), b) in candidates.into_iter().zip(bytes) {
            let e = self.verify_stored(&id, b, meta, now);
            let better = match &best[i] {
                None => true,
                Some(cur) => rank(&e) > rank(cur),
            };
            if better {
                best[i] = Some(e);
            }
        }
        Ok(wanted
            .into_iter()
            .zip(best)
            .map(|(w, b)| match (w, b) {
                (false, _) => Found::NotLooked,
                (true, None) => Found::NoLicence,
                (true, Some(e)) => Found::Licence(Box::new(e)),
            })
            .collect())
    }

    fn stamped_copy(
        &self,
        copy_id: &str,
        e: &Extracted,
        ctx: &CopyContext<'_>,
    ) -> Result<jcs::Canonical, StoreError> {
        let CopyContext {
            requester,
            matter,
            purpose,
            record_id,
            issued,
            expires,
        } = *ctx;
        let licence = e
            .document
            .as_ref()
            .ok_or_else(|| StoreError::Engine("a stamped copy of an unserved licence".into()))?;
        let mut copy = json!({
            "@context": [VC_CONTEXT],
            "id": copy_id,
            "type": ["VerifiableCredential", STAMPED_COPY_TYPE],
            "issuer": self.signer.did_key().as_str(),
            "validFrom": format_time(issued),
            "validUntil": format_time(expires),
            "credentialSubject": {
                "licence": e.id.urn(),
                "sha256": e.meta.sha256,
                "requester": requester.id,
                "matter": matter.code,
                "purpose": purpose,
                "issuedAt": format_time(issued),
                "expiresAt": format_time(expires),
                "accessRecord": record_id,
                "document": null,
            }
        });
        // The licence goes in as its stored canonical bytes, spliced into the copy's canonical
        // bytes in place of the null: signed and served without parsing or serialising it again.
        let embed = |copy: &Value| {
            jcs::splice(
                &jcs::canonicalize(copy),
                &["credentialSubject", "document"],
                licence.as_bytes(),
            )
            .ok_or_else(|| StoreError::Engine("a stamped copy without its document slot".into()))
        };
        let proof = proof::proof_for(&embed(&copy)?, copy.get("@context"), &self.signer, issued);
        copy["proof"] = proof;
        jcs::Canonical::new(embed(&copy)?)
            .map_err(|e| StoreError::Engine(format!("a stamped copy is not JSON: {e}")))
    }

    /// The verdict of a presented stamped copy: signed by this vault, bound to the licence it
    /// embeds, and that licence judged as if presented itself.
    pub(super) fn verify_stamped_copy(
        &self,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> Result<Verdict, StoreError> {
        verify_stamped_copy(
            doc,
            Some(std::slice::from_ref(self.signer.did_key())),
            now,
            |lic| self.presented_verdict(lic, now),
        )
    }

    /// A page of the holder's access log, newest first. `cursor` is the `nextCursor` of the
    /// previous page.
    pub fn access_log(
        &self,
        holder: &HolderCode,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AccessPage, VaultError> {
        let digest = self.holder_digest(holder);
        let limit = limit.clamp(1, ACCESS_LOG_MAX_PAGE);
        let entries = match cursor {
            None => self
                .store
                .scan(Table::HolderAccess, &digest, true, limit + 1)?,
            Some(c) => {
                let suffix = hex::decode(c)
                    .ok()
                    .filter(|s| s.len() == 16)
                    .ok_or_else(|| {
                        VaultError::new(
                            Reason::InvalidRequest,
                            "cursor",
                            "not a cursor this endpoint returned",
                        )
                    })?;
                let mut after = digest.to_vec();
                after.extend_from_slice(&suffix);
                self.store
                    .scan_after(Table::HolderAccess, &digest, &after, true, limit + 1)?
            }
        };
        let more = entries.len() > limit;
        let entries: Vec<Entry> = entries.into_iter().take(limit).collect();
        let next_cursor = entries.last().map(|(k, _)| hex::encode(&k[32..]));
        // An index entry is empty; one written before the split holds its record itself.
        let keys: Vec<Vec<u8>> = entries
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| k[32..].to_vec())
            .collect();
        let mut indexed = self
            .store
            .multi_get(Table::AccessRecord, &keys)?
            .into_iter();
        let mut records = Vec::with_capacity(entries.len());
        for (_, v) in entries {
            let (table, bytes) = if v.is_empty() {
                let r = indexed.next().flatten();
                (
                    Table::AccessRecord,
                    r.ok_or_else(|| corrupt(Table::AccessRecord, "indexed record missing"))?,
                )
            } else {
                (Table::HolderAccess, v)
            };
            records.push(serde_json::from_slice(&bytes).map_err(|e| corrupt(table, e))?);
        }
        Ok(AccessPage {
            records,
            next_cursor: if more { next_cursor } else { None },
        })
    }

    /// The persistent reuse statistics.
    pub fn reuse_stats(&self) -> Result<ReuseStats, StoreError> {
        let mut stats = ReuseStats::default();
        for (k, v) in self.store.scan(Table::ReuseStats, b"", false, usize::MAX)? {
            let n = decode_count(Table::ReuseStats, &v)?;
            match StatKey::decode(&k).ok_or_else(|| corrupt(Table::ReuseStats, "bad key"))? {
                StatKey::Pulls { matter } => {
                    stats.totals.pulls += n;
                    stats.pulls.push(PullCount { matter, pulls: n });
                }
                StatKey::Licences {
                    agency,
                    type_code,
                    matter,
                    outcome,
                } => {
                    if outcome == "provided" {
                        stats.totals.provided += n;
                    } else {
                        *stats
                            .totals
                            .not_provided
                            .entry(outcome.clone())
                            .or_default() += n;
                    }
                    stats.licences.push(LicenceCount {
                        agency,
                        type_code,
                        matter,
                        outcome,
                        count: n,
                    });
                }
            }
        }
        Ok(stats)
    }
}

/// Order of preference among a holder's candidate licences of one type: valid first, then the
/// highest version, then the latest deposit.
fn rank(e: &Extracted) -> (bool, u16, DateTime<Utc>) {
    (e.verdict.valid, e.id.version(), e.meta.deposited_at)
}

/// Decides one type under the lock, from the consents as they are now.
fn decide(
    ty: &TypeCode,
    matter: &Matter,
    consents: &[(Vec<u8>, Consent)],
    found: Found,
    now: DateTime<Utc>,
) -> Decision {
    let not = |reason: Reason, message: String, extracted: Option<Box<Extracted>>| Decision {
        type_code: ty.clone(),
        reason: Some(reason),
        message: Some(message),
        extracted,
        consent: None,
        copy_id: None,
    };
    if !matter.types.contains(ty) {
        return not(
            Reason::MatterNotAllowed,
            format!("matter {} does not need type {ty}", matter.code),
            None,
        );
    }
    let covering: Vec<(usize, &Consent)> = consents
        .iter()
        .enumerate()
        .map(|(i, (_, c))| (i, c))
        .filter(|(_, c)| c.covers(ty))
        .collect();
    let active: Vec<(usize, &Consent)> = covering
        .iter()
        .copied()
        .filter(|(_, c)| c.state(now) == ConsentState::Active)
        .collect();
    if active.is_empty() {
        // The newest covering consent says why; none at all is no_consent.
        return match covering.iter().max_by_key(|(_, c)| c.created_at) {
            Some((_, c)) => {
                let state = c.state(now);
                let reason = state.reason().unwrap_or(Reason::NoConsent);
                not(
                    reason,
                    format!(
                        "consent {} is {}",
                        c.id,
                        reason.as_str().trim_start_matches("consent_")
                    ),
                    None,
                )
            }
            None => not(
                Reason::NoConsent,
                "the holder has not consented to this pull".into(),
                None,
            ),
        };
    }
    match found {
        // Unreachable with `active` non-empty (find_licences looked for every covered type);
        // answered as no consent rather than trusted.
        Found::NotLooked => not(
            Reason::NoConsent,
            "the holder has not consented to this pull".into(),
            None,
        ),
        Found::NoLicence => not(
            Reason::NoLicence,
            format!("the holder holds no current licence of type {ty}"),
            None,
        ),
        Found::Licence(e) => {
            // Prefer a consent with a use limit, so unlimited ones are not charged needlessly.
            let Some((i, _)) = active
                .iter()
                .filter(|(_, c)| c.admits(&e.id))
                .min_by_key(|(_, c)| (c.max_uses.is_none(), c.created_at))
                .copied()
            else {
                return not(
                    Reason::NoConsent,
                    format!("no active consent admits {}", e.id.urn()),
                    None,
                );
            };
            match e.verdict.reason() {
                Some(reason) if !e.verdict.valid || e.document.is_none() => {
                    let message = format!("{} does not verify: {}", e.id.urn(), reason.as_str());
                    not(reason, message, Some(e))
                }
                _ if !e.verdict.valid || e.document.is_none() => not(
                    Reason::IntegrityFailure,
                    format!("{} cannot be served", e.id.urn()),
                    Some(e),
                ),
                _ => Decision {
                    type_code: ty.clone(),
                    reason: None,
                    message: None,
                    extracted: Some(e),
                    consent: Some(i),
                    copy_id: None,
                },
            }
        }
    }
}

fn check_purpose(purpose: &str) -> Result<String, VaultError> {
    let p = purpose.trim();
    if p.is_empty() {
        return Err(VaultError::new(
            Reason::InvalidRequest,
            "$.purpose",
            "must not be empty",
        ));
    }
    if p.chars().count() > MAX_PURPOSE_CHARS {
        return Err(VaultError::new(
            Reason::InvalidRequest,
            "$.purpose",
            format!("at most {MAX_PURPOSE_CHARS} characters"),
        ));
    }
    Ok(p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::proof::parse_time(s).unwrap()
    }

    fn consent() -> Consent {
        Consent {
            id: "cst_1".into(),
            requester: "r".into(),
            matter: "m".into(),
            purpose: "p".into(),
            types: Vec::new(),
            licences: vec![
                "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
                    .parse()
                    .unwrap(),
            ],
            created_at: t("2025-01-01T00:00:00Z"),
            expires_at: t("2025-02-01T00:00:00Z"),
            max_uses: Some(2),
            uses: 0,
            withdrawn_at: None,
            history: Vec::new(),
        }
    }

    #[test]
    fn consent_state_prefers_withdrawn_then_expired_then_exhausted() {
        let now = t("2025-01-15T00:00:00Z");
        let mut c = consent();
        assert_eq!(
            (c.state(now), c.remaining_uses()),
            (ConsentState::Active, Some(2))
        );
        c.uses = 2;
        assert_eq!(
            (c.state(now), c.remaining_uses()),
            (ConsentState::Exhausted, Some(0))
        );
        assert_eq!(c.state(c.expires_at), ConsentState::Expired);
        c.withdrawn_at = Some(now);
        assert_eq!(c.state(c.expires_at), ConsentState::Withdrawn);
        assert_eq!(ConsentState::Active.reason(), None);
    }

    #[test]
    fn a_consent_by_id_covers_later_versions_of_the_same_licence_only() {
        let c = consent();
        let v1 = &c.licences[0];
        assert!(c.covers(&v1.type_code()));
        assert!(c.admits(&v1.with_version(2).unwrap()));
        let other = LicenceId::new(&v1.type_code(), &v1.issuer(), "2430600", 1).unwrap();
        assert!(!c.admits(&other));
    }

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
            assert_eq!(StatKey::decode(&encoded).map(|k| k.encode()), Some(encoded));
        }
        assert!(StatKey::decode(b"pulls").is_none());
    }

    #[test]
    fn a_copy_without_a_licence_fails_binding_and_is_not_a_licence() {
        let signer = crate::keys::Signer::generate();
        let now = t("2025-01-15T00:00:00Z");
        let copy = json!({
            "@context": [VC_CONTEXT], "type": ["VerifiableCredential", STAMPED_COPY_TYPE],
            "validFrom": "2025-01-01T00:00:00Z", "validUntil": "2025-02-01T00:00:00Z",
            "credentialSubject": {"licence": "urn:x", "sha256": "00"},
        });
        let signed = proof::sign(copy.clone(), &signer, now).unwrap();
        assert!(is_stamped_copy(&signed) && !Licence::is_licence(&signed));
        let v = verify_stamped_copy(
            &signed,
            Some(std::slice::from_ref(signer.did_key())),
            now,
            |_| Err::<Verdict, ()>(()),
        )
        .unwrap();
        assert!(!v.valid);
        assert_eq!(
            v.check(CheckName::Binding).and_then(|c| c.code),
            Some(Reason::IntegrityFailure)
        );
        assert_eq!(v.reason(), Some(Reason::IntegrityFailure));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = new_uuid_urn();
        assert_eq!(u.len(), "urn:uuid:".len() + 36);
        assert_eq!(&u[23..24], "4");
    }
}
