//! The holder's notifications (SPEC §11, `GET /v1/me/notifications`): every pull, check and
//! in-person showing, every status change of an own licence, every pending consent request, and
//! every consent in force that expires within [`EXPIRING_WITHIN_DAYS`] days, every change of a
//! correction request or objection — newest first, with a read mark.
//!
//! Notifications are not stored: they are read from where the facts already are (the access log,
//! the licences' statements and successors, the consent requests, the consents), so there is
//! nothing to keep in step and nothing to lose. Only the read mark is stored
//! (`holderdigest_readmark`). A page is cut by `(at, id)`, newest first; the access log is read from
//! the cursor's time only, the other sources (bounded by what one holder has) whole.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::access_log::{AccessKind, AccessRecord};
use super::layout::{self, HolderDigest};
use super::page;
use super::{At, Vault, VaultError};
use crate::codes::HolderCode;
use crate::reuse::correction::{CorrectionEventKind, CorrectionState};
use crate::reuse::delegation::Acting;
use crate::reuse::{ConsentState, Outcome};
use crate::store::{StoreError, Table};
use crate::verdict::Reason;
use crate::verify::Status;

/// A consent in force this close to its end is announced.
pub const EXPIRING_WITHIN_DAYS: i64 = 7;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Pull,
    Check,
    InPerson,
    Export,
    /// A licence was handed to a wallet (OpenID4VCI).
    Wallet,
    /// Licences were presented to a verifier (OpenID4VP).
    Oid4vp,
    StatusChange,
    ConsentRequest,
    ConsentExpiring,
    /// A correction request of the holder's was opened, disputed, answered or withdrawn.
    Correction,
    /// An objection of the holder's was opened, answered or withdrawn.
    Objection,
}

/// One notification. Which members are present depends on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Stable: the access record, request or consent id, or `licence#n` for a status change.
    pub id: String,
    pub kind: NotificationKind,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// At or before the holder's read mark.
    pub read: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter_name: Option<String>,
    /// Licences (URNs) provided, or the one whose status changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licences: Vec<String>,
    /// For an access: how many looked-for types were provided and not provided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provided: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_provided: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The consent request waiting for an answer, or the consent about to expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The correction request or objection, and what happened to it (`opened`, `disputed`,
    /// `undisputed`, `corrected`, `refused`, `answered`, `withdrawn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Notification {
    fn new(id: String, kind: NotificationKind, at: DateTime<Utc>) -> Self {
        Self {
            id,
            kind,
            at,
            read: false,
            requester: None,
            requester_name: None,
            matter: None,
            matter_name: None,
            licences: Vec::new(),
            provided: None,
            not_provided: None,
            previous_status: None,
            status: None,
            reason: None,
            request: None,
            consent: None,
            expires_at: None,
            correction: None,
            objection: None,
            event: None,
        }
    }

    fn of_access(r: AccessRecord) -> Self {
        let kind = match r.kind {
            AccessKind::Pull => NotificationKind::Pull,
            AccessKind::Check => NotificationKind::Check,
            AccessKind::InPerson => NotificationKind::InPerson,
            AccessKind::Export => NotificationKind::Export,
            AccessKind::Wallet => NotificationKind::Wallet,
            AccessKind::Oid4vp => NotificationKind::Oid4vp,
        };
        let provided = r
            .outcomes
            .iter()
            .filter(|o| o.outcome == Outcome::Provided)
            .count();
        let mut n = Self::new(r.id, kind, r.at);
        let matter = (!r.matter.is_empty()).then_some(r.matter);
        n.matter_name = matter.as_ref().map(|_| r.matter_name);
        n.matter = matter;
        n.requester = (!r.requester.is_empty()).then_some(r.requester);
        n.requester_name = n.requester.as_ref().map(|_| r.requester_name);
        n.not_provided = Some(r.outcomes.len() - provided);
        n.provided = Some(provided);
        n.licences = if r.licences.is_empty() {
            // A check releases nothing; name what it was answered on.
            r.outcomes.into_iter().filter_map(|o| o.licence).collect()
        } else {
            r.licences
        };
        n
    }

    /// The page cursor this notification stands for.
    fn cursor(&self) -> String {
        format!("{}.{}", self.at.timestamp_nanos_opt().unwrap_or(0), self.id)
    }
}

/// A page of notifications, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub next_cursor: Option<String>,
    /// Everything at or before this time is read.
    pub read_up_to: Option<DateTime<Utc>>,
}

/// An event's wire name (its serde name).
fn event_name(event: &impl Serialize) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn bad_cursor() -> VaultError {
    VaultError::new(
        Reason::InvalidRequest,
        "cursor",
        "not a cursor this endpoint returned",
    )
}

impl Vault {
    /// A page of the holder's notifications that `shown` lets through (a delegate's scope),
    /// newest first, strictly after `cursor`. The page is filled with shown notifications and the
    /// cursor is the last one's, set only when a later shown one exists: nothing of what is
    /// filtered out reaches the caller.
    pub fn notifications(
        &self,
        holder: &HolderCode,
        limit: usize,
        cursor: Option<&str>,
        now: DateTime<Utc>,
        shown: impl Fn(&Notification) -> bool,
    ) -> Result<NotificationPage, VaultError> {
        let limit = page::NOTIFICATIONS.clamp(limit);
        let before = match cursor {
            None => None,
            Some(c) => {
                let (t, id) = c.split_once('.').ok_or_else(bad_cursor)?;
                let t: i64 = t.parse().map_err(|_| bad_cursor())?;
                Some((DateTime::from_timestamp_nanos(t), id.to_owned()))
            }
        };
        let older = |n: &Notification| {
            shown(n)
                && match &before {
                    None => true,
                    Some((at, id)) => (n.at, &n.id) < (*at, id),
                }
        };
        let digest = self.holder_digest(holder);
        let mut all: Vec<Notification> = self
            .other_notifications(holder, &digest, now)?
            .into_iter()
            .filter(|n| older(n))
            .collect();
        all.extend(self.access_notifications(
            &digest,
            before.as_ref().map(|b| b.0),
            limit + 1,
            &older,
        )?);
        all.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        let more = all.len() > limit;
        all.truncate(limit);
        let read_up_to = self.read_mark(&digest)?;
        for n in &mut all {
            n.read = read_up_to.is_some_and(|r| n.at <= r);
        }
        Ok(NotificationPage {
            next_cursor: all.last().filter(|_| more).map(Notification::cursor),
            notifications: all,
            read_up_to,
        })
    }

    /// Up to `n` access notifications at or before `until` that `older` keeps, newest first.
    fn access_notifications(
        &self,
        digest: &HolderDigest,
        until: Option<DateTime<Utc>>,
        n: usize,
        older: &impl Fn(&Notification) -> bool,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut after = until.map(|t| layout::access_until(digest, t));
        let mut out = Vec::new();
        loop {
            let page = self.access_records(digest, after.as_deref(), n)?;
            let full = page.len() == n;
            after = page.last().map(|(k, _)| k.clone());
            out.extend(
                page.into_iter()
                    .map(|(_, r)| Notification::of_access(r))
                    .filter(|x| older(x)),
            );
            if out.len() >= n || !full {
                return Ok(out);
            }
        }
    }

    /// Status changes of the holder's licences, pending consent requests, consents about to
    /// expire, the holder's corrections and objections: all of them (one holder's are few).
    fn other_notifications(
        &self,
        holder: &HolderCode,
        digest: &HolderDigest,
        now: DateTime<Utc>,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderLicence, digest, false, usize::MAX)?
        {
            let id = layout::holder_licence_id(&k)?;
            let mut previous = Status::Active;
            for (i, st) in self.statements(&id)?.into_iter().enumerate() {
                let doc = &st.statement;
                let status: Option<Status> = doc
                    .get("status")
                    .and_then(|s| serde_json::from_value(s.clone()).ok());
                let Some(status) = status else { continue };
                let mut n = Notification::new(
                    format!("{}#{}", id.urn(), i + 1),
                    NotificationKind::StatusChange,
                    st.received_at,
                );
                n.licences = vec![id.urn()];
                n.previous_status = Some(previous);
                n.status = Some(status);
                n.reason = doc
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned);
                previous = status;
                out.push(n);
            }
            if let Some(next) = self.meta(&id)?.and_then(|m| m.superseded_by) {
                if let Some(m) = self.meta(&next)? {
                    let mut n = Notification::new(
                        format!("{}#superseded", id.urn()),
                        NotificationKind::StatusChange,
                        m.deposited_at,
                    );
                    n.licences = vec![id.urn(), next.urn()];
                    n.previous_status = Some(previous);
                    n.status = Some(Status::Superseded);
                    n.reason = Some(format!("superseded by {}", next.urn()));
                    out.push(n);
                }
            }
        }
        let reg = self.registries();
        let names = |requester: &str, matter: &str| {
            (
                reg.requesters.get(requester).map(|r| r.name.clone()),
                reg.matters.get(matter).map(|m| m.name.clone()),
            )
        };
        for r in self.pending_requests(holder, now)? {
            let mut n =
                Notification::new(r.id.clone(), NotificationKind::ConsentRequest, r.created_at);
            (n.requester_name, n.matter_name) = names(&r.requester, &r.matter);
            n.requester = Some(r.requester);
            n.matter = Some(r.matter);
            n.request = Some(r.id);
            n.expires_at = Some(r.expires_at);
            out.push(n);
        }
        let window = Duration::days(EXPIRING_WITHIN_DAYS);
        for c in self.consents(holder)? {
            if c.state(now) != ConsentState::Active || c.expires_at - now > window {
                continue;
            }
            // It became news when it entered the window (or when granted, if later).
            let at = (c.expires_at - window).max(c.created_at);
            let mut n = Notification::new(c.id.clone(), NotificationKind::ConsentExpiring, at);
            (n.requester_name, n.matter_name) = names(&c.requester, &c.matter);
            n.requester = Some(c.requester);
            n.matter = Some(c.matter);
            n.consent = Some(c.id);
            n.expires_at = Some(c.expires_at);
            out.push(n);
        }
        for c in self.holder_corrections(digest)? {
            for (i, e) in c.history.iter().enumerate() {
                let mut n = Notification::new(
                    format!("{}#{}", c.id, i + 1),
                    NotificationKind::Correction,
                    e.at,
                );
                n.licences = vec![c.licence.clone()];
                n.correction = Some(c.id.clone());
                n.event = Some(event_name(&e.event));
                if e.event == CorrectionEventKind::Refused {
                    n.reason = c.answer.as_ref().and_then(|a| a.reason.clone());
                }
                if c.state == CorrectionState::Corrected {
                    n.licences
                        .extend(c.answer.as_ref().and_then(|a| a.renewal.clone()));
                }
                out.push(n);
            }
        }
        for o in self.holder_objections(digest)? {
            for (i, e) in o.history.iter().enumerate() {
                let mut n = Notification::new(
                    format!("{}#{}", o.id, i + 1),
                    NotificationKind::Objection,
                    e.at,
                );
                n.licences.clone_from(&o.licences);
                n.requester = Some(o.requester.clone());
                n.requester_name = Some(o.requester_name.clone());
                n.matter = (!o.matter.is_empty()).then(|| o.matter.clone());
                n.matter_name = n.matter.as_ref().map(|_| o.matter_name.clone());
                n.objection = Some(o.id.clone());
                n.event = Some(event_name(&e.event));
                out.push(n);
            }
        }
        Ok(out)
    }

    fn read_mark(&self, digest: &HolderDigest) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(match self.store.get(Table::HolderReadMark, digest)? {
            None => None,
            Some(v) => {
                let t = layout::decode_count(Table::HolderReadMark, &v)?;
                Some(DateTime::from_timestamp_nanos(
                    i64::try_from(t).unwrap_or(i64::MAX),
                ))
            }
        })
    }

    /// Marks every notification at or before `up_to` (at most the decision's time, read under
    /// the holder's lock: nothing not yet happened is read, and nothing can be dated behind the
    /// mark once it is set) as read. A mark never moves back.
    pub fn mark_notifications_read(
        &self,
        acting: &Acting,
        up_to: DateTime<Utc>,
        at: impl Into<At>,
    ) -> Result<DateTime<Utc>, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        self.as_holder(acting, at, |tx| {
            let up_to = up_to.min(tx.now());
            let mark = match self.read_mark(&digest)? {
                Some(m) if m >= up_to => return Ok(m),
                _ => up_to,
            };
            tx.change().put(
                Table::HolderReadMark,
                digest.to_vec(),
                layout::encode_count(
                    u64::try_from(mark.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0),
                ),
            );
            Ok(mark)
        })
    }
}
