//! Authorised reuse in the vault (SPEC §7): storing consents, pulls by approval systems, the
//! access log written before anything leaves, purpose-stamped copies, reuse statistics. What a
//! consent allows is decided by the rules in [`crate::reuse`]; this module reads what they need
//! and writes what they decided.
//!
//! **Invariants:** no licence is read for a type the requester holds no usable consent for; the
//! access record, the consent use counters and the statistics of a pull are one durable
//! [`Change`], committed before anything is returned; consent counters are checked and incremented
//! under the holder's lock ([`Vault::holder_lock`]), so concurrent pulls never exceed `maxUses`;
//! holder codes appear in store keys and records only as the keyed holder digest.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::layout::{self, AccessKey, HolderDigest, StatKey};
use super::{At, Extracted, HolderGuard, LicenceMeta, LostRace as _, Vault, VaultError};
use crate::codes::{HolderCode, LicenceId, TypeCode};
use crate::jcs;
use crate::metrics::Counter;
use crate::registry::Registries;
use crate::reuse::{
    self, Ask, Candidate, ClaimCheck, Consent, ConsentEvent, ConsentEventKind, ConsentState,
    Narrowing, Need, NewConsent, Outcome, PullRequest, Refusal,
};
use crate::store::{Change, StoreError, Table};
use crate::verdict::{Reason, Verdict};
use crate::verify::consent_receipt::{self, Event, ReceiptFacts};
use crate::verify::copy::{self, CopyFacts, COPY_VALIDITY_DAYS};
use crate::verify::SigningError;
use serde_json::Value;

/// Default and largest page of the access log.
pub const ACCESS_LOG_PAGE: usize = 50;
pub const ACCESS_LOG_MAX_PAGE: usize = 200;

/// The agency label of outcomes for which no licence was looked at.
const NO_AGENCY: &str = "none";

// ----- pulls -------------------------------------------------------------------------------

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
    /// The signed licence, as stored: only when provided, and never for a matter that declares
    /// the fields it needs of the type (the stamped copy then discloses only those).
    pub licence: Option<jcs::Canonical>,
    /// The face fields released, when the matter declares them for the type.
    pub disclosed: Option<Vec<String>>,
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

/// The answer to a check (`POST /v1/reuse:check`), released only after its access record is
/// durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    pub access_record: String,
    pub checked_at: DateTime<Utc>,
    pub matter: String,
    pub type_code: TypeCode,
    /// `provided`: the claims were compared; otherwise why not.
    pub outcome: Outcome,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    pub claims: Option<BTreeMap<String, bool>>,
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
    /// The face fields released, when the matter declares them for the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosed: Option<Vec<String>>,
    /// For a check: whether each claimed face field matched (the claimed values are not kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<BTreeMap<String, bool>>,
}

/// What kind of use of the holder's licences an access record is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// `POST /v1/reuse`: licences (or their declared fields) released.
    #[default]
    Pull,
    /// `POST /v1/reuse:check`: claimed face values compared, only the answers released.
    Check,
    /// `POST /v1/presentations:redeem`: the holder showed the licence in person (亮证).
    InPerson,
}

/// The record of one pull or check, written durably before anything is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    pub id: String,
    /// Records of before checks existed are pulls.
    #[serde(default)]
    pub kind: AccessKind,
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
    /// The presentation code redeemed, for an in-person record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation: Option<String>,
    /// Who acted for the holder in what this record rests on: the delegate or guardian who
    /// granted the consent a licence was provided under, or who made the presentation code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_by: Option<String>,
}

/// A page of the access log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPage {
    pub records: Vec<AccessRecord>,
    pub next_cursor: Option<String>,
}

// ----- the holder's summary --------------------------------------------------------------------

/// Per matter, what the holder did not have to upload again (SPEC §10, `GET /v1/me/summary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatterSummary {
    pub matter: String,
    pub matter_name: String,
    /// Licences provided by pulls for this matter (each one a document not uploaded again).
    pub licences_provided: u64,
    /// Pulls that provided at least one licence.
    pub pulls: u64,
    /// Checks of claimed values answered (核验).
    pub checks: u64,
    #[schema(value_type = String, format = DateTime)]
    pub first_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub last_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HolderSummary {
    /// Over all matters.
    pub licences_provided: u64,
    /// The matters licences were provided or checked for, the most recent first.
    pub matters: Vec<MatterSummary>,
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

fn add_to_metrics(vault: &Vault, key: &StatKey, n: u64) {
    let counter = match key {
        StatKey::Pulls { matter } => Counter::ReusePulls { matter },
        StatKey::Licences {
            agency,
            type_code,
            matter,
            outcome,
        } => Counter::ReuseLicences {
            agency,
            type_code,
            matter,
            outcome,
        },
    };
    vault.metrics.add(counter, n);
}

/// A fresh `urn:uuid:` (version 4).
/// Adds an access record to `change`: in time order, named by the holder's index.
pub(super) fn put_access_record(change: &mut Change, digest: &HolderDigest, record: &AccessRecord) {
    let mut random = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let key = AccessKey::new(digest, record.at, random);
    change.put(Table::AccessRecord, key.record, layout::encode(record));
    change.put(Table::HolderAccess, key.index, Vec::new());
}

fn new_uuid_urn() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    crate::verify::uuid_urn(b, 4)
}

pub(super) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The best candidate found for one looked-for type, and the consent it would be charged to.
pub(super) struct Found {
    pub(super) extracted: Extracted,
    pub(super) consent: usize,
}

/// The decision for one type, under the lock.
struct Decision {
    type_code: TypeCode,
    /// The consent charged (an index into the consents read under the lock), or why not provided.
    outcome: Result<usize, Refusal>,
    /// The licence considered, when the consents allowed looking and one was found.
    extracted: Option<Extracted>,
    /// The id of the stamped copy to issue, when provided.
    copy_id: Option<String>,
}

impl Decision {
    fn reason(&self) -> Option<Reason> {
        self.outcome.as_ref().err().map(|r| r.reason)
    }
    fn outcome(&self) -> Outcome {
        if self.outcome.is_ok() {
            Outcome::Provided
        } else {
            Outcome::NotProvided
        }
    }
}

impl Vault {
    /// Seeds the reuse counters in `/metrics` from the persistent statistics (at open).
    pub(super) fn load_reuse_stats(&self) -> Result<(), StoreError> {
        for (k, v) in self.store.scan(Table::ReuseStats, b"", false, usize::MAX)? {
            let n = layout::decode_count(Table::ReuseStats, &v)?;
            add_to_metrics(self, &StatKey::decode(&k)?, n);
        }
        Ok(())
    }

    /// The holder's consents that `keep` keeps, with their store keys (newest first when
    /// `reverse`), each with its use count (`Table::ConsentUses`; the stored `uses` counted only
    /// before the count was kept apart).
    fn holder_consents(
        &self,
        digest: &HolderDigest,
        reverse: bool,
        keep: impl Fn(&Consent) -> bool,
    ) -> Result<Vec<(Vec<u8>, Consent)>, StoreError> {
        let mut consents = Vec::new();
        for (k, v) in self
            .store
            .scan(Table::HolderConsent, digest, reverse, usize::MAX)?
        {
            let c: Consent = layout::decode(Table::HolderConsent, &v)?;
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
                let n = layout::decode_count(Table::ConsentUses, &n)?;
                c.uses = u32::try_from(n).unwrap_or(u32::MAX);
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

    /// Records a holder's consent, checked by [`reuse::check_new_consent`]: named licences must be
    /// the holder's own.
    pub fn create_consent(
        &self,
        holder: &HolderCode,
        by: Option<&HolderCode>,
        new: NewConsent,
        now: DateTime<Utc>,
    ) -> Result<Consent, VaultError> {
        let digest = self.holder_digest(holder);
        let consent = self.checked_consent(&digest, by, new, None, now)?;
        let mut c = Change::durable();
        c.put(
            Table::HolderConsent,
            layout::consent(&digest, &consent.id),
            layout::encode(&consent),
        );
        self.store.commit(c)?;
        tracing::info!(holder = %holder, consent = %consent.id, requester = %consent.requester, matter = %consent.matter, "consent granted");
        Ok(consent)
    }

    /// A new consent checked by [`reuse::check_new_consent`], not yet stored; `request` names the
    /// consent request it answers.
    pub(super) fn checked_consent(
        &self,
        digest: &HolderDigest,
        by: Option<&HolderCode>,
        new: NewConsent,
        request: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Consent, VaultError> {
        let reg = self.registries();
        let (requester, matter, purpose) = reuse::check_new_consent(&reg, &new, now, |id| {
            self.holds(digest, id).map_err(VaultError::from)
        })?;
        let mut licences = new.licences;
        licences.dedup();
        let mut types = new.types;
        types.dedup();
        let mut consent = Consent {
            // Time first, so a holder's consents sort by creation.
            id: format!("cst_{:016x}{}", layout::micros(now), random_hex(6)),
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
            history: Vec::new(),
            request,
        };
        consent
            .history
            .push(ConsentEvent::new(ConsentEventKind::Created, now, Some(consent.terms())).by(by));
        Ok(consent)
    }

    /// A holder's consent under the holder's lock (which the caller holds), with its use count.
    fn locked_consent(
        &self,
        digest: &HolderDigest,
        id: &str,
    ) -> Result<Option<(Vec<u8>, Consent)>, StoreError> {
        let key = layout::consent(digest, id);
        let Some(v) = self.store.get(Table::HolderConsent, &key)? else {
            return Ok(None);
        };
        let mut one = [(key, layout::decode(Table::HolderConsent, &v)?)];
        self.count_uses(&mut one)?;
        let [found] = one;
        Ok(Some(found))
    }

    /// Withdraws a holder's consent, effective for the next pull. `None` if the holder has no such
    /// consent; withdrawing twice changes nothing.
    pub fn withdraw_consent(
        &self,
        holder: &HolderCode,
        by: Option<&HolderCode>,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Option<Consent>, StoreError> {
        let digest = self.holder_digest(holder);
        let at = at.into();
        // Under the holder's lock and version: a pull's check-and-increment must not overwrite a
        // withdrawal, and the withdrawal's time is taken here, in the order the lock gives.
        self.retrying(|| {
            let guard = self.holder_lock(&digest)?;
            let now = at.resolve();
            let Some((key, mut consent)) = self.locked_consent(&digest, id)? else {
                return Ok(None);
            };
            if consent.withdrawn_at.is_none() {
                consent.withdrawn_at = Some(now);
                consent
                    .history
                    .push(ConsentEvent::new(ConsentEventKind::Withdrawn, now, None).by(by));
                let mut c = Change::durable();
                c.put(Table::HolderConsent, key, layout::encode(&consent));
                guard.seal(&mut c)?;
                self.store.commit(c)?;
                tracing::info!(holder = %holder, consent = %consent.id, "consent withdrawn");
            }
            Ok(Some(consent))
        })
    }

    /// Narrows an active consent's terms ([`reuse::narrow`]), effective for the next pull. `None`
    /// if the holder has no such consent; `409 invalid_transition` if it is no longer active.
    pub fn narrow_consent(
        &self,
        holder: &HolderCode,
        by: Option<&HolderCode>,
        id: &str,
        narrowing: &Narrowing,
        at: impl Into<At>,
    ) -> Result<Option<Consent>, VaultError> {
        let digest = self.holder_digest(holder);
        let at = at.into();
        self.retrying(|| {
            let guard = self.holder_lock(&digest)?;
            let now = at.resolve();
            let Some((key, mut consent)) = self.locked_consent(&digest, id)? else {
                return Ok(None);
            };
            let ended = match consent.state(now) {
                ConsentState::Active | ConsentState::Exhausted => None,
                ConsentState::Expired => Some("expired"),
                ConsentState::Withdrawn => Some("withdrawn"),
            };
            if let Some(ended) = ended {
                return Err(VaultError::new(
                    Reason::InvalidTransition,
                    "id",
                    format!("consent {id} is {ended}; only a consent in force can be narrowed"),
                ));
            }
            if narrowing.is_empty() {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$",
                    "name what to narrow: types, licences, expiresAt or maxUses",
                ));
            }
            let terms = reuse::narrow(&consent.terms(), narrowing, consent.uses, now)?;
            consent.set_terms(terms.clone());
            consent
                .history
                .push(ConsentEvent::new(ConsentEventKind::Narrowed, now, Some(terms)).by(by));
            let mut c = Change::durable();
            c.put(Table::HolderConsent, key, layout::encode(&consent));
            guard.seal(&mut c)?;
            self.store.commit(c)?;
            tracing::info!(holder = %holder, consent = %consent.id, "consent narrowed");
            Ok(Some(consent))
        })
    }

    /// The consent receipts of a holder's consent, one per event of its history that has one
    /// (granted or approved, narrowed, withdrawn), oldest first. The same event always gives the
    /// same bytes.
    pub fn consent_receipts(
        &self,
        holder: &HolderCode,
        consent: &Consent,
    ) -> Result<Vec<Value>, SigningError> {
        self.receipts(holder, consent, usize::MAX)
    }

    /// The consent receipt of the consent's latest event that has one (what was just done); only
    /// that one is signed.
    pub fn latest_consent_receipt(
        &self,
        holder: &HolderCode,
        consent: &Consent,
    ) -> Result<Option<Value>, SigningError> {
        Ok(self.receipts(holder, consent, 1)?.pop())
    }

    /// The receipts of the consent's last `most` events that have one, oldest first.
    fn receipts(
        &self,
        holder: &HolderCode,
        consent: &Consent,
        most: usize,
    ) -> Result<Vec<Value>, SigningError> {
        let reg = self.registries();
        let requester = reg
            .requesters
            .get(&consent.requester)
            .map_or(consent.requester.as_str(), |r| r.name.as_str());
        let matter = reg
            .matters
            .get(&consent.matter)
            .map_or(consent.matter.as_str(), |m| m.name.as_str());
        let events: Vec<_> = consent
            .events_with_terms()
            .into_iter()
            .filter_map(|(e, terms)| {
                let event = match e.event {
                    ConsentEventKind::Created if consent.request.is_some() => Event::Approved,
                    ConsentEventKind::Created => Event::Granted,
                    ConsentEventKind::Narrowed => Event::Narrowed,
                    ConsentEventKind::Withdrawn => Event::Withdrawn,
                    ConsentEventKind::Used => return None,
                };
                Some((e, event, terms))
            })
            .collect();
        let skip = events.len().saturating_sub(most);
        let mut out = Vec::new();
        for (e, event, terms) in events.into_iter().skip(skip) {
            out.push(consent_receipt::issue(
                &self.signer,
                &ReceiptFacts {
                    event,
                    at: e.at,
                    holder,
                    consent: &consent.id,
                    request: consent.request.as_deref(),
                    requester: (&consent.requester, requester),
                    matter: (&consent.matter, matter),
                    purpose: &consent.purpose,
                    terms: &terms,
                    acted_by: e.acted_by.as_deref(),
                },
            )?);
        }
        Ok(out)
    }

    /// Pulls the licences a matter needs for `requester`, with the holder's consent. Every pull —
    /// whatever it provides — is recorded before the answer exists; if the record cannot be
    /// written, the pull fails and no consent use is counted.
    pub fn reuse(
        &self,
        requester: &str,
        req: PullRequest,
        at: impl Into<At>,
    ) -> Result<Pull, VaultError> {
        let reg = self.registries();
        let ask = Ask::new(&reg, requester, req)?;
        let (consents, decisions, record) =
            self.decide_and_record(&ask, AccessKind::Pull, |_, _| {}, at.into())?;
        let now = record.at;
        self.release(&reg, &ask, &consents, decisions, &record, now)
    }

    /// Checks claimed face values of one of the holder's licences for `requester` (核验): under the
    /// same consent rules and the same audit-before-release as a pull, and nothing but whether
    /// each claim matches leaves.
    pub fn check_claims(
        &self,
        requester: &str,
        check: ClaimCheck,
        at: impl Into<At>,
    ) -> Result<ClaimAnswer, VaultError> {
        let reg = self.registries();
        let ask = Ask::new(
            &reg,
            requester,
            PullRequest {
                holder: check.holder.clone(),
                matter: check.matter.clone(),
                purpose: check.purpose.clone(),
                types: Some(vec![check.type_code.clone()]),
            },
        )?;
        reuse::check_claims(&reg, ask.matter, &check)?;
        let (_, decisions, record) = self.decide_and_record(
            &ask,
            AccessKind::Check,
            |record, decisions| {
                for (o, d) in record.outcomes.iter_mut().zip(decisions) {
                    if let (Ok(_), Some(lic)) = (
                        &d.outcome,
                        d.extracted.as_ref().and_then(|e| e.licence.as_ref()),
                    ) {
                        o.claims = Some(reuse::matches(&lic.fields, &check.claims));
                    }
                }
            },
            at.into(),
        )?;
        let d = decisions.into_iter().next();
        let outcome = record.outcomes.first();
        Ok(ClaimAnswer {
            access_record: record.id.clone(),
            checked_at: record.at,
            matter: ask.matter.code.clone(),
            type_code: check.type_code,
            outcome: d.as_ref().map_or(Outcome::NotProvided, Decision::outcome),
            reason: d.as_ref().and_then(Decision::reason),
            message: d.and_then(|d| d.outcome.err().map(|r| r.message)),
            claims: outcome.and_then(|o| o.claims.clone()),
        })
    }

    /// Decides a pull or a check under the holder's lock and commits its access record (filled
    /// in by `fill`), consent uses and statistics before anything is released.
    fn decide_and_record(
        &self,
        ask: &Ask<'_>,
        kind: AccessKind,
        fill: impl Fn(&mut AccessRecord, &[Decision]),
        at: At,
    ) -> Result<(Vec<Consent>, Vec<Decision>, AccessRecord), VaultError> {
        let digest = self.holder_digest(&ask.holder);
        let (consents, decisions, record) =
            self.retrying(|| self.decide(ask, kind, &digest, &fill, at))?;
        let provided = decisions.iter().filter(|d| d.outcome.is_ok()).count();
        tracing::info!(access_record = %record.id, kind = ?kind, requester = %ask.requester.id, matter = %ask.matter.code, holder = %ask.holder, provided, not_provided = decisions.len() - provided, "reuse pull recorded");
        Ok((consents, decisions, record))
    }

    /// One attempt of [`Vault::decide_and_record`]: its change applies only if the holder's
    /// version is still the one read under the lock.
    fn decide(
        &self,
        ask: &Ask<'_>,
        kind: AccessKind,
        digest: &HolderDigest,
        fill: &impl Fn(&mut AccessRecord, &[Decision]),
        at: At,
    ) -> Result<(Vec<Consent>, Vec<Decision>, AccessRecord), VaultError> {
        // The holder's stripe is held from reading the consents to the durable commit, so a
        // concurrent pull or withdrawal for the same holder sees all of this pull or none of it;
        // pulls for other holders run alongside and share WAL syncs. The time is taken under it:
        // the log's order is the order decided here.
        let guard = self.holder_lock(digest)?;
        let now = at.resolve();
        let (keys, consents): (Vec<Vec<u8>>, Vec<Consent>) = self
            .holder_consents(digest, false, |c| {
                c.requester == ask.requester.id && c.matter == ask.matter.code
            })?
            .into_iter()
            .unzip();
        let needs = reuse::needs(&ask.types, ask.matter, &consents, now);
        // Read and verify only what a usable consent admits.
        let found = self.find_licences(digest, &ask.types, &needs, &consents, now)?;
        let mut decisions = decide_all(&ask.types, &needs, found);
        let mut record = access_record(ask, kind, digest, &consents, &mut decisions, now);
        fill(&mut record, &decisions);
        self.commit_pull(ask, &guard, digest, (&keys, &consents), &decisions, &record)?;
        drop(guard);
        Ok((consents, decisions, record))
    }

    /// Writes a pull's access record, its consent uses and its statistics in one durable change
    /// (still under the holder's lock), then counts the statistics in the metrics.
    fn commit_pull(
        &self,
        ask: &Ask<'_>,
        guard: &HolderGuard<'_>,
        digest: &HolderDigest,
        (keys, consents): (&[Vec<u8>], &[Consent]),
        decisions: &[Decision],
        record: &AccessRecord,
    ) -> Result<(), VaultError> {
        let mut stats: BTreeMap<StatKey, u64> = BTreeMap::new();
        *stats
            .entry(StatKey::Pulls {
                matter: ask.matter.code.clone(),
            })
            .or_default() += 1;
        for d in decisions {
            let key = StatKey::Licences {
                agency: d
                    .extracted
                    .as_ref()
                    .map_or_else(|| NO_AGENCY.to_owned(), |e| e.id.issuer().to_string()),
                type_code: d.type_code.to_string(),
                matter: ask.matter.code.clone(),
                outcome: d.reason().map_or("provided", Reason::as_str).to_owned(),
            };
            *stats.entry(key).or_default() += 1;
        }

        let mut change = Change::durable();
        put_access_record(&mut change, digest, record);
        // The count is read and written under the holder's lock, so a plain put is exact (a
        // merge operand per pull would leave every later read folding them until a compaction).
        let used: std::collections::BTreeSet<usize> = decisions
            .iter()
            .filter_map(|d| d.outcome.clone().ok())
            .collect();
        for i in used {
            let uses = u64::from(consents[i].uses) + 1;
            change.put(
                Table::ConsentUses,
                keys[i].clone(),
                layout::encode_count(uses),
            );
        }
        for (k, n) in &stats {
            change.add(Table::ReuseStats, k.encode(), *n);
        }
        guard.seal(&mut change)?;
        self.store.commit(change).inspect_err(|e| {
            if !e.lost_race() {
                tracing::error!(error = %e, requester = %ask.requester.id, matter = %ask.matter.code, holder = %ask.holder, "access record not written; pull refused");
            }
        })?;
        for (key, n) in &stats {
            add_to_metrics(self, key, *n);
        }
        Ok(())
    }

    /// The answer to a recorded pull: each provided licence as stored, with its stamped copy.
    fn release(
        &self,
        reg: &Registries,
        ask: &Ask<'_>,
        consents: &[Consent],
        decisions: Vec<Decision>,
        record: &AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<Pull, VaultError> {
        let expires = now + Duration::days(COPY_VALIDITY_DAYS);
        let mut results = Vec::with_capacity(decisions.len());
        for d in decisions {
            let outcome = d.outcome();
            let type_name = reg.types.get(&d.type_code).map(|t| t.name.clone());
            let (reason, message, consent) = match &d.outcome {
                Ok(i) => (None, None, Some(consents[*i].id.clone())),
                Err(r) => (Some(r.reason), Some(r.message.clone()), None),
            };
            let fields = ask.matter.fields_of(&d.type_code);
            let (licence, stamped_copy) = match (&d.copy_id, &d.extracted) {
                (Some(copy_id), Some(e)) => {
                    let licence = e.document.clone().ok_or_else(|| {
                        crate::verify::SigningError::new("stamped copy", "licence not servable")
                    })?;
                    let facts = CopyFacts {
                        id: copy_id,
                        licence: &e.id,
                        sha256: &e.meta.sha256,
                        requester: &ask.requester.id,
                        matter: &ask.matter.code,
                        purpose: &ask.purpose,
                        access_record: &record.id,
                        issued: now,
                        expires,
                    };
                    match (fields, &e.licence) {
                        (None, _) => {
                            let copy = copy::issue(&self.signer, &facts, &licence)?;
                            (Some(licence), Some(copy))
                        }
                        (Some(names), Some(lic)) => {
                            let copy =
                                copy::issue_minimised(&self.signer, &facts, lic.face(names))?;
                            (None, Some(copy))
                        }
                        (Some(_), None) => {
                            return Err(crate::verify::SigningError::new(
                                "stamped copy",
                                "licence not parsed",
                            )
                            .into())
                        }
                    }
                }
                _ => (None, None),
            };
            let disclosed = stamped_copy.as_ref().and(fields).map(<[String]>::to_vec);
            results.push(TypeResult {
                type_code: d.type_code,
                type_name,
                outcome,
                reason,
                message,
                licence_id: d.extracted.as_ref().map(|e| e.id.clone()),
                licence,
                disclosed,
                verdict: d.extracted.map(|e| e.verdict),
                stamped_copy,
                consent,
            });
        }
        Ok(Pull {
            access_record: record.id.clone(),
            pulled_at: now,
            matter: ask.matter.code.clone(),
            purpose: ask.purpose.clone(),
            results,
        })
    }

    /// For each looked-for type, the holder's best licence of that type that one of its consents
    /// admits (not superseded, verified afresh), and the consent it would be charged to. No
    /// licence is read when no type is looked for.
    pub(super) fn find_licences(
        &self,
        digest: &HolderDigest,
        types: &[TypeCode],
        needs: &[Need],
        consents: &[Consent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Found>>, StoreError> {
        let look = |i: usize| match &needs[i] {
            Need::Look(l) => Some(l.as_slice()),
            Need::Refused(_) => None,
        };
        let mut best: Vec<Option<Found>> = types.iter().map(|_| None).collect();
        if (0..types.len()).all(|i| look(i).is_none()) {
            return Ok(best);
        }
        // Candidates: of a looked-for type, admitted by one of its consents, and (below) not
        // superseded.
        let mut admitted: Vec<(usize, LicenceId, usize)> = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderLicence, digest, false, usize::MAX)?
        {
            let text = layout::holder_licence_text(&k)?;
            // Only identifiers of a looked-for type are parsed (check characters and all).
            let ty = LicenceId::type_field(text);
            let Some(i) =
                (0..types.len()).find(|&i| look(i).is_some() && Some(types[i].as_str()) == ty)
            else {
                continue;
            };
            let id = layout::holder_licence_id(&k)?;
            if let Some(c) = look(i).and_then(|l| reuse::charge(l, consents, &id)) {
                admitted.push((i, id, c));
            }
        }
        // Their metadata, in one multi-get.
        let keys: Vec<Vec<u8>> = admitted
            .iter()
            .map(|(_, id, _)| layout::licence(id).to_vec())
            .collect();
        let metas = self.store.multi_get(Table::LicenceMeta, &keys)?;
        let mut candidates = Vec::with_capacity(admitted.len());
        for ((i, id, c), meta) in admitted.into_iter().zip(metas) {
            let Some(meta) = meta
                .map(|m| layout::decode::<LicenceMeta>(Table::LicenceMeta, &m))
                .transpose()?
            else {
                continue;
            };
            if meta.superseded_by.is_none() {
                candidates.push((i, id, c, meta));
            }
        }
        let keys: Vec<Vec<u8>> = candidates
            .iter()
            .map(|(_, id, _, _)| layout::licence(id).to_vec())
            .collect();
        let bytes = self.store.multi_get(Table::LicenceDocument, &keys)?;
        // Each candidate is verified with verify_strict, as every extraction is: a batch (which
        // may accept a mixed-order R that verify_strict refuses, docs/DECISIONS.md) is for
        // deposits only, and with two or three signatures per pull it saves little.
        for ((i, id, consent, meta), b) in candidates.into_iter().zip(bytes) {
            let e = self.verify_stored(&id, b, meta, now);
            let rank =
                |e: &Extracted| reuse::preference(e.verdict.valid, &e.id, e.meta.deposited_at);
            if best[i]
                .as_ref()
                .is_none_or(|cur| rank(&e) > rank(&cur.extracted))
            {
                best[i] = Some(Found {
                    extracted: e,
                    consent,
                });
            }
        }
        Ok(best)
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
        let after = match cursor {
            None => None,
            Some(c) => Some(layout::access_after(&digest, c).ok_or_else(|| {
                VaultError::new(
                    Reason::InvalidRequest,
                    "cursor",
                    "not a cursor this endpoint returned",
                )
            })?),
        };
        let mut records = self.access_records(&digest, after.as_deref(), limit + 1)?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next_cursor = match records.last() {
            Some((k, _)) if more => Some(layout::access_cursor(k)?),
            _ => None,
        };
        Ok(AccessPage {
            records: records.into_iter().map(|(_, r)| r).collect(),
            next_cursor,
        })
    }

    /// Up to `n` of a holder's access records with their index keys, newest first, strictly
    /// older than the index key `after` when given.
    pub(super) fn access_records(
        &self,
        digest: &HolderDigest,
        after: Option<&[u8]>,
        n: usize,
    ) -> Result<Vec<(Vec<u8>, AccessRecord)>, StoreError> {
        let entries = match after {
            None => self.store.scan(Table::HolderAccess, digest, true, n)?,
            Some(a) => self
                .store
                .scan_after(Table::HolderAccess, digest, a, true, n)?,
        };
        // An index entry is empty; one written before the split holds its record itself.
        let keys = entries
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| layout::access_record_of(k).map(<[u8]>::to_vec))
            .collect::<Result<Vec<_>, _>>()?;
        let mut indexed = self
            .store
            .multi_get(Table::AccessRecord, &keys)?
            .into_iter();
        let mut records = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            records.push((
                k,
                if v.is_empty() {
                    let r = indexed.next().flatten().ok_or_else(|| {
                        layout::corrupt(Table::AccessRecord, "indexed record missing")
                    })?;
                    layout::decode(Table::AccessRecord, &r)?
                } else {
                    layout::decode(Table::HolderAccess, &v)?
                },
            ));
        }
        Ok(records)
    }

    /// The holder's summary, from the whole access log: per matter, the licences provided
    /// without being uploaded again, and when.
    pub fn holder_summary(&self, holder: &HolderCode) -> Result<HolderSummary, VaultError> {
        let mut by_matter: BTreeMap<String, MatterSummary> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.access_log(holder, ACCESS_LOG_MAX_PAGE, cursor.as_deref())?;
            for r in &page.records {
                let provided = r
                    .outcomes
                    .iter()
                    .filter(|o| o.outcome == Outcome::Provided)
                    .count() as u64;
                // An in-person showing serves no matter.
                if provided == 0 || r.kind == AccessKind::InPerson {
                    continue;
                }
                let m = by_matter
                    .entry(r.matter.clone())
                    .or_insert_with(|| MatterSummary {
                        matter: r.matter.clone(),
                        matter_name: r.matter_name.clone(),
                        licences_provided: 0,
                        pulls: 0,
                        checks: 0,
                        first_at: r.at,
                        last_at: r.at,
                    });
                match r.kind {
                    AccessKind::Pull => {
                        m.pulls += 1;
                        m.licences_provided += provided;
                    }
                    AccessKind::Check => m.checks += 1,
                    AccessKind::InPerson => {}
                }
                m.first_at = m.first_at.min(r.at);
                m.last_at = m.last_at.max(r.at);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut matters: Vec<MatterSummary> = by_matter.into_values().collect();
        matters.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(a.matter.cmp(&b.matter)));
        Ok(HolderSummary {
            licences_provided: matters.iter().map(|m| m.licences_provided).sum(),
            matters,
        })
    }

    /// The persistent reuse statistics.
    pub fn reuse_stats(&self) -> Result<ReuseStats, StoreError> {
        let mut stats = ReuseStats::default();
        for (k, v) in self.store.scan(Table::ReuseStats, b"", false, usize::MAX)? {
            let n = layout::decode_count(Table::ReuseStats, &v)?;
            match StatKey::decode(&k)? {
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

/// Each type's decision by the rules, with the licence considered.
fn decide_all(types: &[TypeCode], needs: &[Need], found: Vec<Option<Found>>) -> Vec<Decision> {
    types
        .iter()
        .zip(needs)
        .zip(found)
        .map(|((ty, need), found)| {
            let candidate = found.as_ref().map(|f| Candidate {
                id: &f.extracted.id,
                verdict: &f.extracted.verdict,
                servable: f.extracted.document.is_some(),
                consent: f.consent,
            });
            Decision {
                type_code: ty.clone(),
                outcome: reuse::decide(ty, need, candidate),
                extracted: found.map(|f| f.extracted),
                copy_id: None,
            }
        })
        .collect()
}

/// The access record of a pull or check, naming each provided type's stamped copy (a pull's copy
/// id is set here) and the fields it discloses.
fn access_record(
    ask: &Ask<'_>,
    kind: AccessKind,
    digest: &HolderDigest,
    consents: &[Consent],
    decisions: &mut [Decision],
    now: DateTime<Utc>,
) -> AccessRecord {
    let mut record = AccessRecord {
        id: format!("acc_{:016x}{}", layout::micros(now), random_hex(8)),
        kind,
        at: now,
        requester: ask.requester.id.clone(),
        requester_name: ask.requester.name.clone(),
        matter: ask.matter.code.clone(),
        matter_name: ask.matter.name.clone(),
        purpose: ask.purpose.clone(),
        holder_digest: hex::encode(digest),
        licences: Vec::new(),
        outcomes: Vec::with_capacity(decisions.len()),
        presentation: None,
        acted_by: None,
    };
    for d in decisions {
        let licence = d.extracted.as_ref().map(|e| e.id.urn());
        let consent = d.outcome.as_ref().ok().map(|&i| consents[i].id.clone());
        if let (Ok(i), None) = (&d.outcome, &record.acted_by) {
            record.acted_by = consents[*i].granted_by().map(str::to_owned);
        }
        let pulled = consent.is_some() && kind == AccessKind::Pull;
        if pulled {
            d.copy_id = Some(new_uuid_urn());
            record.licences.extend(licence.clone());
        }
        record.outcomes.push(AccessOutcome {
            type_code: d.type_code.clone(),
            outcome: d.outcome(),
            reason: d.reason(),
            licence,
            consent,
            stamped_copy: d.copy_id.clone(),
            disclosed: ask
                .matter
                .fields_of(&d.type_code)
                .filter(|_| pulled)
                .map(<[String]>::to_vec),
            claims: None,
        });
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let u = new_uuid_urn();
        assert_eq!(u.len(), "urn:uuid:".len() + 36);
        assert_eq!(&u[23..24], "4");
    }
}
