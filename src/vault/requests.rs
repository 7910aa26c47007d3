//! Consent requests in the vault (SPEC §10): stored when an approval system asks, previewed by the
//! holder with exactly what would leave, answered once. What a request may ask and how an answer
//! may narrow it is decided by [`crate::reuse::request`]; this module stores and reads.
//!
//! **Invariants:** a request is stored whatever the holder code names (no holder lookup), so the
//! requester learns nothing of the holder; an answer and the consent it creates are one durable
//! [`Change`] made under the holder's lock, so two racing approvals create one consent; a request
//! is found only by its holder (`404` to anyone else) or by the requester that asked.
//!
//! **Bounded work:** the requests that may still be answered are kept apart from the rest
//! (`holderdigest_pendingrequest`), at most [`PendingLimits`] of them per holder and per requester
//! and holder; a new request beyond a cap is refused with `429 too_many_pending_requests`, after
//! the expired ones are pruned in the same change. No read of a holder's requests goes beyond the
//! cap, and a preview (which verifies licences) is built only for the page shown.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::ids;
use super::layout::{self, HolderDigest};
use super::{At, Vault, VaultError};
use crate::codes::{HolderCode, TypeCode};
use crate::reuse::delegation::Acting;
use crate::reuse::request::{self, Answer, ConsentRequest, NewRequest, RequestState};
use crate::reuse::{self, Consent, Narrowing, NewConsent};
use crate::store::{Change, StoreError, Table};
use crate::verdict::{Reason, Verdict};
use crate::verify::Status;

/// A consent request as stored: the request and its holder, as the keyed digest only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRequest {
    #[serde(flatten)]
    pub request: ConsentRequest,
    /// Hex of the holder digest.
    pub holder_digest: String,
}

/// The licence a needed type would release, as the holder previews it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewLicence {
    /// The licence id (URN).
    pub id: String,
    pub type_name: String,
    pub issuer: String,
    pub issuer_name: String,
    pub version: u16,
    pub status: Status,
    /// A fresh verdict, check by check.
    pub verdict: Verdict,
}

/// What an approval would release of one needed type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewItem {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub type_code: TypeCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Whether a pull right after approval would provide it.
    pub would_release: bool,
    /// Why it would not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The licence considered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<PreviewLicence>,
    /// Exactly the face fields that would leave, with their values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
    /// `true` when the whole signed licence would leave (the matter declares no fields for the
    /// type); `false` when only `fields` would.
    pub whole_licence: bool,
}

/// How many consent requests may wait for an answer at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    /// Per requester and holder.
    pub per_requester: usize,
    /// Per holder, from all requesters.
    pub per_holder: usize,
}

impl PendingLimits {
    pub const DEFAULT: Self = Self {
        per_requester: 20,
        per_holder: 200,
    };
}

impl Default for PendingLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A page of a holder's pending requests, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPage {
    pub requests: Vec<ConsentRequest>,
    /// The id of the last request of this page, when more follow.
    pub next: Option<String>,
}

/// The most pending-index entries one request reads: the cap, plus room to prune what expired
/// (or what an older vault left answered) since the last request.
fn pending_scan(limits: PendingLimits) -> usize {
    limits.per_holder.saturating_mul(2).saturating_add(64)
}

/// The answer of a rejection at `now`, with the holder's reason, by whom if not the holder.
fn rejected(now: DateTime<Utc>, reason: &Option<String>, by: Option<&HolderCode>) -> Answer {
    Answer {
        state: RequestState::Rejected,
        at: now,
        consent: None,
        reason: reason.clone(),
        acted_by: by.map(HolderCode::key),
    }
}

fn too_many(whose: &str, cap: usize) -> VaultError {
    VaultError::new(
        Reason::TooManyPendingRequests,
        "$.holder",
        format!("{whose} has {cap} consent requests waiting for an answer, as many as the vault keeps; ask again once some are answered or expired"),
    )
}

fn not_found(id: &str) -> VaultError {
    VaultError::new(Reason::NotFound, "id", format!("no consent request {id}"))
}

impl Vault {
    /// Stores an approval system's request for a holder's consent, behind the holder's door (a
    /// pending request is one of the holder's notifications).
    pub fn request_consent(
        &self,
        requester: &str,
        new: NewRequest,
        at: impl Into<At>,
    ) -> Result<ConsentRequest, VaultError> {
        let digest = self.holder_digest(&new.holder);
        let req = self.for_holder(&digest, at, |tx| {
            let now = tx.now();
            let reg = self.registries();
            let c = request::check_new_request(&reg, requester, &new, now)?;
            // A refusal still commits the pruning.
            if let Err(e) = self.make_room(tx.change(), &digest, &c.requester.id, now)? {
                return Ok(Err(e));
            }
            let req = ConsentRequest {
                // Time first, so a holder's requests sort by creation; 128 random bits after it.
                id: ids::request(now),
                requester: c.requester.id.clone(),
                matter: c.matter.code.clone(),
                purpose: c.purpose,
                types: c.types,
                max_uses: c.max_uses,
                valid_for: c.valid_for,
                created_at: now,
                expires_at: c.expires_at,
                answer: None,
            };
            self.put_request(tx.change(), &digest, &req);
            tx.change().put(
                Table::HolderRequest,
                layout::holder_request(&digest, &req.id),
                Vec::new(),
            );
            tx.change().put(
                Table::HolderPending,
                layout::holder_pending(&digest, &req.id),
                layout::encode(&layout::PendingEntry {
                    requester: req.requester.clone(),
                    expires_at: req.expires_at,
                }),
            );
            Ok(Ok(req))
        })??;
        tracing::info!(request = %req.id, requester = %req.requester, matter = %req.matter, holder = %new.holder, "consent requested");
        Ok(req)
    }

    /// Whether a new request of `requester` fits under the caps (the caller holds the holder's
    /// lock); prunes, in `change`, the index entries of requests that can no longer be answered,
    /// whether or not it fits. An index longer than one read takes (a lowered cap, an older
    /// vault's entries) counts as full: the refusal is conservative and the pruning makes room.
    fn make_room(
        &self,
        change: &mut Change,
        digest: &HolderDigest,
        requester: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(), VaultError>, VaultError> {
        let limits = self.pending;
        let scan = pending_scan(limits);
        let entries = self.store.scan(Table::HolderPending, digest, false, scan)?;
        let (mut holder, mut mine) = (0, 0);
        for (k, v) in &entries {
            let e: layout::PendingEntry = layout::decode(Table::HolderPending, v)?;
            if e.expires_at <= now {
                change.delete(Table::HolderPending, k.clone());
                continue;
            }
            holder += 1;
            mine += usize::from(e.requester == requester);
        }
        Ok(if entries.len() == scan || holder >= limits.per_holder {
            Err(too_many("the holder", limits.per_holder))
        } else if mine >= limits.per_requester {
            Err(too_many(
                "this requester for the holder",
                limits.per_requester,
            ))
        } else {
            Ok(())
        })
    }

    /// Puts the requests still pending of a store written before the pending index into it, once
    /// (at open, in chunks). A request another node answers meanwhile is skipped by every read
    /// of the list, which checks each request's state, and counts against the caps until it
    /// expires.
    pub(super) fn index_pending(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        let indexed = self.backfill_once(
            layout::PENDING_INDEXED,
            Table::ConsentRequest,
            |(_, v), change| {
                let s: StoredRequest = layout::decode(Table::ConsentRequest, v)?;
                if s.request.state(now) != RequestState::Pending {
                    return Ok(false);
                }
                let digest =
                    layout::holder_digest_from_hex(Table::ConsentRequest, &s.holder_digest)?;
                change.put(
                    Table::HolderPending,
                    layout::holder_pending(&digest, &s.request.id),
                    layout::encode(&layout::PendingEntry {
                        requester: s.request.requester.clone(),
                        expires_at: s.request.expires_at,
                    }),
                );
                Ok(true)
            },
        )?;
        if indexed > 0 {
            tracing::info!(indexed, "pending consent requests indexed");
        }
        Ok(())
    }

    /// Writes the request; an answered one leaves the holder's pending index in the same change.
    fn put_request(&self, change: &mut Change, digest: &HolderDigest, req: &ConsentRequest) {
        if req.answer.is_some() {
            change.delete(
                Table::HolderPending,
                layout::holder_pending(digest, &req.id),
            );
        }
        let stored = StoredRequest {
            request: req.clone(),
            holder_digest: hex::encode(digest),
        };
        change.put(
            Table::ConsentRequest,
            layout::consent_request(&req.id).to_vec(),
            layout::encode(&stored),
        );
    }

    fn stored_request(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        self.store
            .get(Table::ConsentRequest, layout::consent_request(id))?
            .map(|v| layout::decode(Table::ConsentRequest, &v))
            .transpose()
    }

    /// A request as the requester that made it sees it; `None` for any other requester.
    pub fn requester_request(
        &self,
        requester: &str,
        id: &str,
    ) -> Result<Option<ConsentRequest>, StoreError> {
        Ok(self
            .stored_request(id)?
            .map(|s| s.request)
            .filter(|r| r.requester == requester))
    }

    /// A request of this holder; `None` for another holder's (nothing of it leaks).
    pub fn holder_request(
        &self,
        holder: &HolderCode,
        id: &str,
    ) -> Result<Option<ConsentRequest>, StoreError> {
        self.request_of(&self.holder_digest(holder), id)
    }

    fn request_of(
        &self,
        digest: &HolderDigest,
        id: &str,
    ) -> Result<Option<ConsentRequest>, StoreError> {
        let digest = hex::encode(digest);
        Ok(self
            .stored_request(id)?
            .filter(|s| s.holder_digest == digest)
            .map(|s| s.request))
    }

    /// The holder's request `id` if it can still be answered (the caller holds the holder's lock):
    /// `404` if it is not theirs, `409` if it expired or was answered.
    fn pending_request(
        &self,
        digest: &HolderDigest,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ConsentRequest, VaultError> {
        let req = self.request_of(digest, id)?.ok_or_else(|| not_found(id))?;
        req.answerable(now)?;
        Ok(req)
    }

    /// The holder's requests still pending at `now`, newest first, that `shown` lets through: at
    /// most `limit`, after the request `cursor` (a request id a page gave). `next` is set only when
    /// a later request would be shown too, so a page says nothing of the requests it filters out.
    /// Reads at most the index's bound, whatever the caller asks.
    pub fn pending_page(
        &self,
        holder: &HolderCode,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
        shown: impl Fn(&ConsentRequest) -> bool,
    ) -> Result<PendingPage, StoreError> {
        let digest = self.holder_digest(holder);
        let scan = pending_scan(self.pending);
        let entries = match cursor {
            None => self.store.scan(Table::HolderPending, &digest, true, scan)?,
            Some(id) => self.store.scan_after(
                Table::HolderPending,
                &digest,
                &layout::holder_pending(&digest, id),
                true,
                scan,
            )?,
        };
        let mut keys = Vec::new();
        for (k, v) in &entries {
            let e: layout::PendingEntry = layout::decode(Table::HolderPending, v)?;
            if e.expires_at > now {
                keys.push(layout::consent_request(layout::holder_pending_id(k)?).to_vec());
            }
        }
        let mut requests = Vec::new();
        let mut next = None;
        for v in self
            .store
            .multi_get(Table::ConsentRequest, &keys)?
            .into_iter()
            .flatten()
        {
            let s: StoredRequest = layout::decode(Table::ConsentRequest, &v)?;
            if s.request.state(now) != RequestState::Pending || !shown(&s.request) {
                continue;
            }
            if requests.len() == limit {
                next = requests.last().map(|r: &ConsentRequest| r.id.clone());
                break;
            }
            requests.push(s.request);
        }
        Ok(PendingPage { requests, next })
    }

    /// A page of the holder's requests that can no longer be answered at `now` (approved,
    /// rejected, expired) and that `shown` lets through, newest first, after the request
    /// `cursor`; `next` is set only when a later one would be shown too.
    pub fn answered_page(
        &self,
        holder: &HolderCode,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
        shown: impl Fn(&ConsentRequest) -> bool,
    ) -> Result<PendingPage, VaultError> {
        let digest = self.holder_digest(holder);
        let after = cursor.map(|id| layout::holder_request(&digest, id));
        let (requests, more) =
            self.index_page(Table::HolderRequest, &digest, after, limit, |id| {
                Ok(self
                    .store
                    .get(Table::ConsentRequest, layout::consent_request(id))?
                    .map(|v| layout::decode::<StoredRequest>(Table::ConsentRequest, &v))
                    .transpose()?
                    .map(|s| s.request)
                    .filter(|r| r.state(now) != RequestState::Pending && shown(r)))
            })?;
        let next = requests.last().filter(|_| more).map(|r| r.id.clone());
        Ok(PendingPage { requests, next })
    }

    /// All of the holder's requests still pending at `now`, newest first (at most the cap).
    pub fn pending_requests(
        &self,
        holder: &HolderCode,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConsentRequest>, StoreError> {
        Ok(self
            .pending_page(holder, None, usize::MAX, now, |_| true)?
            .requests)
    }

    /// What approving `req` now would release, per requested type: the licence a pull would
    /// provide, its fresh verdict and exactly the face fields that would leave. Decided by the
    /// same rules as a pull, under a consent with the request's terms; nothing is recorded (the
    /// holder is looking at their own licences).
    pub fn preview(
        &self,
        holder: &HolderCode,
        req: &ConsentRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<PreviewItem>, VaultError> {
        let reg = self.registries();
        let digest = self.holder_digest(holder);
        let Some(matter) = reg.matters.get(&req.matter) else {
            return Ok(Vec::new());
        };
        let terms = req.terms(now);
        let hypothetical = Consent {
            id: req.id.clone(),
            requester: req.requester.clone(),
            matter: req.matter.clone(),
            purpose: req.purpose.clone(),
            types: terms.types.clone(),
            licences: Vec::new(),
            created_at: now,
            expires_at: terms.expires_at,
            max_uses: terms.max_uses,
            uses: 0,
            withdrawn_at: None,
            history: Vec::new(),
            request: Some(req.id.clone()),
        };
        let consents = [hypothetical];
        let needs = reuse::needs(&req.types, matter, &consents, now);
        let index = self
            .store
            .scan(Table::HolderLicence, &digest, false, usize::MAX)?;
        let found = self.find_licences(index, &req.types, &needs, &consents, now)?;
        let mut items = Vec::with_capacity(req.types.len());
        for ((ty, need), found) in req.types.iter().zip(&needs).zip(found) {
            let candidate = found.as_ref().map(|f| reuse::Candidate {
                id: &f.extracted.id,
                verdict: &f.extracted.verdict,
                servable: f.extracted.document.is_some(),
                consent: f.consent,
            });
            let decided = reuse::decide(ty, need, candidate);
            let declared = matter.fields_of(ty);
            let e = found.map(|f| f.extracted);
            let fields = match (&decided, e.as_ref().and_then(|e| e.licence.as_ref())) {
                (Ok(_), Some(lic)) => Some(match declared {
                    Some(names) => lic.face(names),
                    None => lic.fields.clone(),
                }),
                _ => None,
            };
            items.push(PreviewItem {
                type_code: ty.clone(),
                type_name: reg.types.get(ty).map(|t| t.name.clone()),
                would_release: decided.is_ok(),
                reason: decided.as_ref().err().map(|r| r.reason),
                licence: e.map(|e| PreviewLicence {
                    id: e.id.urn(),
                    type_name: e.licence.as_ref().map_or_else(
                        || {
                            reg.types
                                .get(ty)
                                .map(|t| t.name.clone())
                                .unwrap_or_default()
                        },
                        |l| l.type_name.clone(),
                    ),
                    issuer: e.id.issuer().to_string(),
                    issuer_name: e
                        .licence
                        .as_ref()
                        .map(|l| l.issuer_name.clone())
                        .or_else(|| reg.agencies.get(&e.id.issuer()).map(|a| a.name.clone()))
                        .unwrap_or_default(),
                    version: e.id.version(),
                    status: Status::of(&e.verdict),
                    verdict: e.verdict,
                }),
                fields,
                whole_licence: declared.is_none(),
            });
        }
        Ok(items)
    }

    /// Approves the holder's pending request, narrowed as asked: creates the consent and marks
    /// the request approved in one durable change. `404` for a request that is not the holder's;
    /// `409 request_expired` / `request_answered` when it can no longer be answered.
    pub fn approve_request(
        &self,
        acting: &Acting,
        id: &str,
        narrowing: &Narrowing,
        at: impl Into<At>,
    ) -> Result<Consent, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let by = acting.acted_by();
        let (consent, req) = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            self.can_sign(now)?;
            let mut req = self.pending_request(&digest, id, now)?;
            if narrowing.licences.is_some() {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$.licences",
                    "a request asks for types; narrow the types",
                ));
            }
            let terms = reuse::narrow(&req.terms(now), narrowing, 0, now)?;
            let consent = self.checked_consent(
                &digest,
                by,
                NewConsent {
                    requester: req.requester.clone(),
                    matter: req.matter.clone(),
                    purpose: req.purpose.clone(),
                    types: terms.types,
                    licences: Vec::new(),
                    expires_at: terms.expires_at,
                    max_uses: terms.max_uses,
                },
                Some(req.id.clone()),
                now,
            )?;
            req.answer = Some(Answer {
                state: RequestState::Approved,
                at: now,
                consent: Some(consent.id.clone()),
                reason: None,
                acted_by: by.map(HolderCode::key),
            });
            let change = tx.change();
            change.put(
                Table::HolderConsent,
                layout::consent(&digest, &consent.id),
                layout::encode(&consent),
            );
            self.put_request(change, &digest, &req);
            Ok((consent, req.id))
        })?;
        tracing::info!(holder = %acting.holder, request = %req, consent = %consent.id, "consent request approved");
        Ok(consent)
    }

    /// Rejects the holder's pending request, with an optional reason the requester will see.
    pub fn reject_request(
        &self,
        acting: &Acting,
        id: &str,
        reason: Option<&str>,
        at: impl Into<At>,
    ) -> Result<ConsentRequest, VaultError> {
        let reason = request::check_reject_reason(reason)?;
        let digest = self.holder_digest(&acting.holder);
        let by = acting.acted_by();
        let req = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let mut req = self.pending_request(&digest, id, now)?;
            req.answer = Some(rejected(now, &reason, by));
            self.put_request(tx.change(), &digest, &req);
            Ok(req)
        })?;
        tracing::info!(holder = %acting.holder, request = %req.id, "consent request rejected");
        Ok(req)
    }

    /// Rejects every request of `requester` pending for the holder that the caller's scope
    /// covers, in one change, with one optional reason; returns them (none is not an error).
    pub fn reject_all(
        &self,
        acting: &Acting,
        requester: &str,
        reason: Option<&str>,
        at: impl Into<At>,
    ) -> Result<Vec<ConsentRequest>, VaultError> {
        let reason = request::check_reject_reason(reason)?;
        let digest = self.holder_digest(&acting.holder);
        let by = acting.acted_by();
        let rejected = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let mut out = Vec::new();
            for mut req in self
                .pending_page(&acting.holder, None, usize::MAX, now, |r| {
                    r.requester == requester && acting.allows_matter(&r.matter)
                })?
                .requests
            {
                req.answer = Some(rejected(now, &reason, by));
                self.put_request(tx.change(), &digest, &req);
                out.push(req);
            }
            Ok(out)
        })?;
        tracing::info!(holder = %acting.holder, requester, rejected = rejected.len(), "consent requests rejected");
        Ok(rejected)
    }
}
