//! The access log: one record per use of a holder's licences (a pull, a check, a code redeemed
//! in person), built here and written in the same change as the use; the holder's pages of it and
//! the summary by matter.

use super::ids;
use super::layout::{self, AccessKey, HolderDigest};
use super::page;
use super::{Extracted, Vault, VaultError};
use crate::codes::{HolderCode, TypeCode};
use crate::registry::Registries;
use crate::reuse::{Ask, Consent, Outcome, Refusal};
use crate::store::{self, Change, Entry, Read, StoreError, Table};
use crate::verdict::Reason;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

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
    /// `POST /v1/me/exports`: a copy of everything the vault holds about the holder was made
    /// for the holder (or a delegate, within its scope); nothing went to a requester.
    Export,
    /// OpenID4VCI: the licence was handed, as stored, to a wallet the holder chose (SPEC §15).
    Wallet,
    /// OpenID4VP: the vault, as the holder's wallet, presented licences to a verifier the holder
    /// approved (SPEC §15).
    Oid4vp,
}

impl AccessKind {
    /// Whether a record of this kind serves a matter (and counts in the holder's summary).
    pub fn serves_matter(self) -> bool {
        matches!(self, Self::Pull | Self::Check | Self::Oid4vp)
    }
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
    /// The presentation code redeemed, for an in-person record; the wallet offer taken up, for a
    /// wallet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation: Option<String>,
    /// Who acted for the holder in what this record rests on: the delegate or guardian who
    /// granted the consent a licence was provided under, or who made the presentation code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_by: Option<String>,
    /// The record's place in its holder's chain (absent on records made before the logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<AccessChain>,
    /// 32 random bytes (base64url), so that the record's digest — the leaf of the access log —
    /// cannot be found by guessing what the record says. Only the holder sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

/// Where an access record stands in its holder's chain: a holder who once saw record `seq` can
/// prove that nothing before it was removed or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessChain {
    /// 0 for the holder's first chained record, then one more for each.
    pub seq: u64,
    /// The digest (hex SHA-256 of its canonical JSON) of the holder's previous record, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

impl AccessRecord {
    /// Hex SHA-256 of the record's canonical JSON: what the chain links and the access log's
    /// leaf commits to.
    pub fn digest(&self) -> String {
        super::logs::sha256_hex(&crate::jcs::canonicalize(
            &serde_json::to_value(self).unwrap_or_default(),
        ))
    }
}

/// A page of the access log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPage {
    pub records: Vec<AccessRecord>,
    pub next_cursor: Option<String>,
}

/// Per matter, what the holder did not have to upload again (SPEC §10, `GET /v1/me/summary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// The newest record of a holder's chain: its place and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ChainHead {
    seq: u64,
    digest: String,
}

/// Adds an access record to `change`: in time order, named by the holder's index, with its
/// leaf in the access log and as the head of the holder's chain. The record must be chained by
/// [`Vault::chain_access`], which gives `record_digest`. The leaf's receipt, for the answer.
pub(super) fn put_access_record(
    change: &mut Change,
    digest: &HolderDigest,
    record: &AccessRecord,
    record_digest: String,
) -> super::logs::LogReceipt {
    let mut random = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let key = AccessKey::new(digest, record.at, random);
    change.put(Table::AccessRecord, key.record, layout::encode(record));
    change.put(Table::HolderAccess, key.index, Vec::new());
    let receipt = super::logs::append(
        change,
        super::logs::LogName::Access,
        record.at,
        &crate::tlog::leaves::access(record.at, &record_digest),
    );
    if let Some(c) = &record.chain {
        change.put(
            Table::HolderChain,
            layout::holder_chain(digest),
            layout::encode(&ChainHead {
                seq: c.seq,
                digest: record_digest,
            }),
        );
    }
    receipt
}

impl Vault {
    /// Gives `record` its place in the holder's chain (after the chain's head, read under the
    /// holder's lock, so that the order is the door's whatever the nodes' clocks say) and its
    /// salt: the last change to the record, whose digest it returns. A holder whose records
    /// predate the chain starts it after the newest of them.
    pub(super) fn chain_access(
        &self,
        digest: &HolderDigest,
        record: &mut AccessRecord,
    ) -> Result<String, VaultError> {
        let head = self
            .store
            .get(Table::HolderChain, &layout::holder_chain(digest))?;
        self.chain_access_after(head, digest, record)
    }

    /// [`Vault::chain_access`] after the chain's head as read (`layout::holder_chain`).
    pub(super) fn chain_access_after(
        &self,
        head: Option<Vec<u8>>,
        digest: &HolderDigest,
        record: &mut AccessRecord,
    ) -> Result<String, VaultError> {
        let head = head
            .map(|v| layout::decode::<ChainHead>(Table::HolderChain, &v))
            .transpose()?;
        record.chain = Some(match head {
            Some(h) => AccessChain {
                seq: h.seq + 1,
                prev: Some(h.digest),
            },
            None => match self.access_records(digest, None, 1)?.pop() {
                Some((_, prev)) => AccessChain {
                    seq: 0,
                    prev: Some(prev.digest()),
                },
                None => AccessChain { seq: 0, prev: None },
            },
        });
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        record.salt = Some(URL_SAFE_NO_PAD.encode(salt));
        Ok(record.digest())
    }
}

/// The decision for one type, under the lock.
pub(super) struct Decision {
    pub(super) type_code: TypeCode,
    /// The consent charged (an index into the consents read under the lock), or why not provided.
    pub(super) outcome: Result<usize, Refusal>,
    /// The licence considered, when the consents allowed looking and one was found.
    pub(super) extracted: Option<Extracted>,
    /// The id of the stamped copy to issue, when provided.
    pub(super) copy_id: Option<String>,
    /// The stamped copy, signed under the holder's door before the record is written.
    pub(super) copy: Option<crate::jcs::Canonical>,
}

impl Decision {
    pub(super) fn reason(&self) -> Option<Reason> {
        self.outcome.as_ref().err().map(|r| r.reason)
    }
    pub(super) fn outcome(&self) -> Outcome {
        if self.outcome.is_ok() {
            Outcome::Provided
        } else {
            Outcome::NotProvided
        }
    }
}

/// The access record of an export made for the holder: no requester, no matter, nothing
/// provided to anyone but the holder.
pub(super) fn export_record(
    digest: &HolderDigest,
    id: String,
    acted_by: Option<String>,
    now: DateTime<Utc>,
) -> AccessRecord {
    AccessRecord {
        id,
        kind: AccessKind::Export,
        at: now,
        requester: String::new(),
        requester_name: String::new(),
        matter: String::new(),
        matter_name: String::new(),
        purpose: String::new(),
        holder_digest: hex::encode(digest),
        licences: Vec::new(),
        outcomes: Vec::new(),
        presentation: None,
        acted_by,
        chain: None,
        salt: None,
    }
}

/// The outcome for one licence shown in person or handed to a wallet: provided (with the fields
/// it `disclosed`, if only some), or not, with the verdict's reason.
fn one_licence(
    e: &Extracted,
    licence: &str,
    provided: bool,
    disclosed: Option<Vec<String>>,
) -> AccessOutcome {
    AccessOutcome {
        type_code: e.id.type_code(),
        outcome: if provided {
            Outcome::Provided
        } else {
            Outcome::NotProvided
        },
        reason: if provided { None } else { e.verdict.reason() },
        licence: Some(licence.to_owned()),
        consent: None,
        stamped_copy: None,
        disclosed: disclosed.filter(|_| provided),
        claims: None,
    }
}

/// The access record of a licence handed to a wallet (OpenID4VCI): no requester, no matter; the
/// licence when `released`, or why it was not.
pub(super) fn wallet_record(
    digest: &HolderDigest,
    (offer, licence, acted_by): (&str, &str, Option<String>),
    e: &Extracted,
    released: bool,
    now: DateTime<Utc>,
) -> AccessRecord {
    AccessRecord {
        id: ids::access_record(now),
        kind: AccessKind::Wallet,
        at: now,
        requester: String::new(),
        requester_name: String::new(),
        matter: String::new(),
        matter_name: String::new(),
        purpose: String::new(),
        holder_digest: hex::encode(digest),
        licences: if released {
            vec![licence.to_owned()]
        } else {
            Vec::new()
        },
        outcomes: vec![one_licence(e, licence, released, None)],
        presentation: Some(offer.to_owned()),
        acted_by,
        chain: None,
        salt: None,
    }
}

/// Who an OpenID4VP answer went to, and what for (an access record's view of the request).
pub(super) struct VpRecipient<'a> {
    /// The approval system's registry id, or the outside verifier's client id.
    pub requester: &'a str,
    /// Its display name when the registry does not know it.
    pub verifier: &'a str,
    pub matter: &'a str,
    pub matter_name: &'a str,
    pub purpose: &'a str,
    /// The resolved request answered.
    pub request: &'a str,
}

/// The access record of an OpenID4VP answer the holder approved: the verifier (the approval
/// system when the vault knows it, else its client id), the matter and purpose when known, and
/// each licence presented.
pub(super) fn vp_record(
    reg: &Registries,
    digest: &HolderDigest,
    to: &VpRecipient<'_>,
    presented: &[(String, Extracted)],
    acted_by: Option<String>,
    now: DateTime<Utc>,
) -> AccessRecord {
    AccessRecord {
        id: ids::access_record(now),
        kind: AccessKind::Oid4vp,
        at: now,
        requester: to.requester.to_owned(),
        requester_name: reg
            .requesters
            .get(to.requester)
            .map_or_else(|| to.verifier.to_owned(), |q| q.name.clone()),
        matter: to.matter.to_owned(),
        matter_name: to.matter_name.to_owned(),
        purpose: to.purpose.to_owned(),
        holder_digest: hex::encode(digest),
        licences: presented.iter().map(|(_, e)| e.id.urn()).collect(),
        outcomes: presented
            .iter()
            .map(|(_, e)| AccessOutcome {
                type_code: e.id.type_code(),
                outcome: Outcome::Provided,
                reason: None,
                licence: Some(e.id.urn()),
                consent: None,
                stamped_copy: None,
                disclosed: None,
                claims: None,
            })
            .collect(),
        presentation: Some(to.request.to_owned()),
        acted_by,
        chain: None,
        salt: None,
    }
}

/// The access record of a presentation code redeemed in person: the licence, when `shown`, and
/// the fields it disclosed, or why it was not shown.
pub(super) fn in_person_record(
    reg: &Registries,
    requester: &str,
    digest: &HolderDigest,
    p: &super::Presentation,
    e: &Extracted,
    shown: bool,
    now: DateTime<Utc>,
) -> AccessRecord {
    AccessRecord {
        id: ids::access_record(now),
        kind: AccessKind::InPerson,
        at: now,
        requester: requester.to_owned(),
        requester_name: reg
            .requesters
            .get(requester)
            .map_or_else(|| requester.to_owned(), |r| r.name.clone()),
        matter: String::new(),
        matter_name: String::new(),
        purpose: String::new(),
        holder_digest: hex::encode(digest),
        licences: if shown {
            vec![p.licence.clone()]
        } else {
            Vec::new()
        },
        outcomes: vec![one_licence(e, &p.licence, shown, p.fields.clone())],
        presentation: Some(p.id.clone()),
        acted_by: p.acted_by.clone(),
        chain: None,
        salt: None,
    }
}

/// The access record of a pull or check, naming each provided type's stamped copy (a pull's copy
/// id is set here) and the fields it discloses.
pub(super) fn access_record(
    ask: &Ask<'_>,
    kind: AccessKind,
    digest: &HolderDigest,
    consents: &[Consent],
    decisions: &mut [Decision],
    now: DateTime<Utc>,
) -> AccessRecord {
    let mut record = AccessRecord {
        id: ids::access_record(now),
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
        chain: None,
        salt: None,
    };
    for d in decisions {
        let licence = d.extracted.as_ref().map(|e| e.id.urn());
        let consent = d.outcome.as_ref().ok().map(|&i| consents[i].id.clone());
        if let (Ok(i), None) = (&d.outcome, &record.acted_by) {
            record.acted_by = consents[*i].granted_by().map(str::to_owned);
        }
        let pulled = consent.is_some() && kind == AccessKind::Pull;
        if pulled {
            d.copy_id = Some(ids::uuid_urn());
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

impl Vault {
    /// A page of the holder's access log, newest first. `cursor` is the `nextCursor` of the
    /// previous page.
    pub fn access_log(
        &self,
        holder: &HolderCode,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AccessPage, VaultError> {
        self.access_log_shown(holder, limit, cursor, |_| true)
    }

    /// A page of the records of the holder's access log that `shown` lets through (a delegate's
    /// scope), newest first: the page is filled with shown records, and the cursor is the last
    /// one's, set only when a later shown record exists, so a page carries nothing of the
    /// records it filters out.
    pub fn access_log_shown(
        &self,
        holder: &HolderCode,
        limit: usize,
        cursor: Option<&str>,
        shown: impl Fn(&AccessRecord) -> bool,
    ) -> Result<AccessPage, VaultError> {
        let digest = self.holder_digest(holder);
        let limit = page::ACCESS_LOG.clamp(limit);
        let mut after = match cursor {
            None => None,
            Some(c) => Some(layout::access_after(&digest, c).ok_or_else(|| {
                VaultError::new(
                    Reason::InvalidRequest,
                    "cursor",
                    "not a cursor this endpoint returned",
                )
            })?),
        };
        let mut records = Vec::new();
        loop {
            let chunk = self.access_records(&digest, after.as_deref(), limit + 1)?;
            let full = chunk.len() == limit + 1;
            after = chunk.last().map(|(k, _)| k.clone());
            records.extend(chunk.into_iter().filter(|(_, r)| shown(r)));
            if records.len() > limit || !full {
                break;
            }
        }
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

    /// The holder's access record `id`, if it is theirs: found among the records of the
    /// microsecond its id starts with, so the same few reads whether it exists or not.
    pub(super) fn holder_access_record(
        &self,
        digest: &HolderDigest,
        id: &str,
    ) -> Result<Option<AccessRecord>, StoreError> {
        let Some(t) = ids::time_of(id).filter(|_| id.starts_with("acc_")) else {
            return Ok(None);
        };
        let until = layout::access_until(digest, t);
        Ok(self
            .access_records(digest, Some(&until), 8)?
            .into_iter()
            .map(|(_, r)| r)
            .take_while(|r| r.at >= t)
            .find(|r| r.id == id))
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

    /// The holder's summary: per matter, the licences provided without being uploaded again,
    /// and when. Read from `holderdigest_summary` (one entry per matter), kept by every access
    /// record once built. It is built from the whole access log the first time it is asked for,
    /// read without the holder's lock, and stored under it only if no record was added meanwhile
    /// (the chain's head is unchanged); else it is answered as read and built again next time.
    pub fn holder_summary(&self, holder: &HolderCode) -> Result<HolderSummary, VaultError> {
        let digest = self.holder_digest(holder);
        let built = layout::holder_summary_built(&digest);
        let matters: Vec<MatterSummary> = if self.store.get(Table::HolderSummary, &built)?.is_some()
        {
            let mut matters = Vec::new();
            for (k, v) in self
                .store
                .scan(Table::HolderSummary, &digest, false, usize::MAX)?
            {
                if k != built {
                    matters.push(layout::decode(Table::HolderSummary, &v)?);
                }
            }
            matters
        } else {
            let head = self
                .store
                .get(Table::HolderChain, &layout::holder_chain(&digest))?;
            let from_log = self.summary_from_log(holder)?;
            self.for_holder(&digest, super::At::Now, |tx| {
                let unchanged = self
                    .store
                    .get(Table::HolderChain, &layout::holder_chain(&digest))?
                    == head;
                if !unchanged || self.store.get(Table::HolderSummary, &built)?.is_some() {
                    return Ok(());
                }
                for m in from_log.values() {
                    tx.change().put(
                        Table::HolderSummary,
                        layout::holder_summary(&digest, &m.matter),
                        layout::encode(m),
                    );
                }
                tx.change()
                    .put(Table::HolderSummary, built.clone(), Vec::new());
                Ok(())
            })?;
            from_log.into_values().collect()
        };
        let mut matters = matters;
        matters.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(a.matter.cmp(&b.matter)));
        Ok(HolderSummary {
            licences_provided: matters.iter().map(|m| m.licences_provided).sum(),
            matters,
        })
    }

    /// Counts `record` in the holder's summary, in `change` (the caller holds the holder's lock):
    /// only once the summary is built (until then, building it will count the record).
    pub(super) fn count_access(
        &self,
        change: &mut Change,
        digest: &HolderDigest,
        record: &AccessRecord,
    ) -> Result<(), StoreError> {
        let key = layout::holder_summary(digest, &record.matter);
        let read = self.store.read_all(&[
            Read::Get(Table::HolderSummary, &layout::holder_summary_built(digest)),
            Read::Get(Table::HolderSummary, &key),
        ])?;
        count_access_in(change, digest, record, read)
    }

    /// The summary per matter from the whole access log.
    fn summary_from_log(
        &self,
        holder: &HolderCode,
    ) -> Result<BTreeMap<String, MatterSummary>, VaultError> {
        let mut by_matter: BTreeMap<String, MatterSummary> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.access_log(holder, page::ACCESS_LOG.max, cursor.as_deref())?;
            for r in &page.records {
                let provided = r
                    .outcomes
                    .iter()
                    .filter(|o| o.outcome == Outcome::Provided)
                    .count() as u64;
                // An in-person showing or a wallet's copy serves no matter.
                if provided == 0 || !r.kind.serves_matter() || r.matter.is_empty() {
                    continue;
                }
                by_matter
                    .entry(r.matter.clone())
                    .or_insert_with(|| MatterSummary::new(r))
                    .count(r, provided);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(by_matter),
            }
        }
    }
}

impl MatterSummary {
    fn new(r: &AccessRecord) -> Self {
        Self {
            matter: r.matter.clone(),
            matter_name: r.matter_name.clone(),
            licences_provided: 0,
            pulls: 0,
            checks: 0,
            first_at: r.at,
            last_at: r.at,
        }
    }

    fn count(&mut self, r: &AccessRecord, provided: u64) {
        match r.kind {
            AccessKind::Pull => {
                self.pulls += 1;
                self.licences_provided += provided;
            }
            AccessKind::Check => self.checks += 1,
            AccessKind::Oid4vp => self.licences_provided += provided,
            AccessKind::InPerson | AccessKind::Export | AccessKind::Wallet => {}
        }
        self.first_at = self.first_at.min(r.at);
        self.last_at = self.last_at.max(r.at);
    }
}

/// [`Vault::count_access`] with what it reads of the holder's summary already read: whether it is
/// built (`layout::holder_summary_built`) and the record's matter's entry
/// (`layout::holder_summary`), in that order.
pub(super) fn count_access_in(
    change: &mut Change,
    digest: &HolderDigest,
    record: &AccessRecord,
    read: Vec<Vec<Entry>>,
) -> Result<(), StoreError> {
    let mut read = read.into_iter().map(store::value);
    let (built, current) = (read.next().flatten(), read.next().flatten());
    let provided = record
        .outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Provided)
        .count() as u64;
    if provided == 0 || !record.kind.serves_matter() || record.matter.is_empty() || built.is_none()
    {
        return Ok(());
    }
    let mut m = match current {
        Some(v) => layout::decode(Table::HolderSummary, &v)?,
        None => MatterSummary::new(record),
    };
    m.count(record, provided);
    change.put(
        Table::HolderSummary,
        layout::holder_summary(digest, &record.matter),
        layout::encode(&m),
    );
    Ok(())
}
