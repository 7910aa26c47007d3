//! Consent requests (SPEC §10): an approval system asks at the point of service, the holder
//! answers. Pure: the vault stores requests and answers them under the holder's lock.
//!
//! A request is `pending` until answered or until `expiresAt` (default 15 minutes, at most
//! 24 hours), then `expired`; an answer is final. Approving creates an ordinary consent with the
//! requested terms, which the holder may narrow ([`super::narrow`]) but never widen.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_purpose, Terms, MAX_TYPES};
use crate::codes::{HolderCode, TypeCode};
use crate::proof::format_time;
use crate::registry::{Matter, Registries, Requester};
use crate::verdict::{Reason, Rejection};

/// How long a request waits for its answer unless the requester says (seconds).
pub const DEFAULT_EXPIRES_IN: u64 = 15 * 60;
/// The longest a request may wait (seconds).
pub const MAX_EXPIRES_IN: u64 = 24 * 60 * 60;
/// How long the consent of an approved request lasts unless the requester says (seconds).
pub const DEFAULT_VALID_FOR: u64 = 30 * 24 * 60 * 60;
/// The longest a requested consent may last (seconds): a year, as for any consent.
pub const MAX_VALID_FOR: u64 = 365 * 24 * 60 * 60;
/// Longest reason a holder may give for a rejection, in characters.
pub const MAX_REJECT_REASON_CHARS: usize = 500;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
    Expired,
}

/// The holder's answer, final once given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// `approved` or `rejected`.
    pub state: RequestState,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The consent the approval created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// The holder's reason for a rejection, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who answered for the holder (a delegate or guardian, `111:…`); absent: the holder itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_by: Option<String>,
}

/// An approval system's request for a holder's consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    pub id: String,
    pub requester: String,
    pub matter: String,
    pub purpose: String,
    /// The types asked for (the matter's needed types when the request named none).
    #[schema(value_type = Vec<String>)]
    pub types: Vec<TypeCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// How long the consent lasts from its approval, in seconds.
    pub valid_for: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Unanswered by then, the request is `expired`.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

impl ConsentRequest {
    pub fn state(&self, now: DateTime<Utc>) -> RequestState {
        match &self.answer {
            Some(a) => a.state,
            None if now >= self.expires_at => RequestState::Expired,
            None => RequestState::Pending,
        }
    }

    /// The terms of the consent an approval at `now` creates before any narrowing.
    pub fn terms(&self, now: DateTime<Utc>) -> Terms {
        Terms {
            types: self.types.clone(),
            licences: Vec::new(),
            expires_at: now + seconds(self.valid_for),
            max_uses: self.max_uses,
        }
    }

    /// Refuses an answer to a request that is no longer pending (`409`).
    pub fn answerable(&self, now: DateTime<Utc>) -> Result<(), Rejection> {
        match self.state(now) {
            RequestState::Pending => Ok(()),
            RequestState::Expired => Err(Rejection::new(
                Reason::RequestExpired,
                "id",
                format!(
                    "request {} expired unanswered at {}",
                    self.id,
                    format_time(self.expires_at)
                ),
            )),
            s @ (RequestState::Approved | RequestState::Rejected) => Err(Rejection::new(
                Reason::RequestAnswered,
                "id",
                format!(
                    "request {} was already {}",
                    self.id,
                    if s == RequestState::Approved {
                        "approved"
                    } else {
                        "rejected"
                    }
                ),
            )),
        }
    }
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// A request as the approval system makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub holder: HolderCode,
    pub matter: String,
    pub purpose: String,
    pub types: Option<Vec<TypeCode>>,
    pub max_uses: Option<u32>,
    pub valid_for: Option<u64>,
    pub expires_in: Option<u64>,
}

/// A request checked against the registries, with its defaults filled in (id and holder aside).
#[derive(Debug, Clone)]
pub struct CheckedRequest<'r> {
    pub requester: &'r Requester,
    pub matter: &'r Matter,
    pub purpose: String,
    pub types: Vec<TypeCode>,
    pub max_uses: Option<u32>,
    pub valid_for: u64,
    pub expires_at: DateTime<Utc>,
}

/// Checks a request: the requester may pull for the matter (`403 matter_not_allowed`), the types
/// are needed by it, and the lifetimes are within their limits. Nothing about the holder is looked
/// at, so the answer cannot tell whether the holder exists.
pub fn check_new_request<'r>(
    reg: &'r Registries,
    requester: &str,
    new: &NewRequest,
    now: DateTime<Utc>,
) -> Result<CheckedRequest<'r>, Rejection> {
    let (requester, matter) = super::requester_for(reg, requester, &new.matter)?;
    let purpose = check_purpose(&new.purpose)?;
    let types = match &new.types {
        None => matter.types.clone(),
        Some(t) if t.is_empty() || t.len() > MAX_TYPES => {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.types",
                format!(
                    "name 1 to {MAX_TYPES} types, or leave types out for the matter's needed types"
                ),
            ))
        }
        Some(t) => {
            let mut out: Vec<TypeCode> = Vec::new();
            for (i, ty) in t.iter().enumerate() {
                if !matter.types.contains(ty) {
                    return Err(Rejection::new(
                        Reason::InvalidRequest,
                        format!("$.types[{i}]"),
                        format!("matter {} does not need type {ty}", matter.code),
                    ));
                }
                if !out.contains(ty) {
                    out.push(ty.clone());
                }
            }
            out
        }
    };
    if new.max_uses == Some(0) {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.maxUses",
            "must be at least 1",
        ));
    }
    let within = |field: &str, v: Option<u64>, default: u64, max: u64| match v {
        None => Ok(default),
        Some(s) if (1..=max).contains(&s) => Ok(s),
        Some(_) => Err(Rejection::new(
            Reason::InvalidRequest,
            field,
            format!("must be 1 to {max} seconds"),
        )),
    };
    let valid_for = within(
        "$.validFor",
        new.valid_for,
        DEFAULT_VALID_FOR,
        MAX_VALID_FOR,
    )?;
    let expires_in = within(
        "$.expiresIn",
        new.expires_in,
        DEFAULT_EXPIRES_IN,
        MAX_EXPIRES_IN,
    )?;
    Ok(CheckedRequest {
        requester,
        matter,
        purpose,
        types,
        max_uses: new.max_uses,
        valid_for,
        expires_at: now + seconds(expires_in),
    })
}

/// A rejection reason trimmed, at most [`MAX_REJECT_REASON_CHARS`] characters; empty is none.
pub fn check_reject_reason(reason: Option<&str>) -> Result<Option<String>, Rejection> {
    let Some(r) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if r.chars().count() > MAX_REJECT_REASON_CHARS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.reason",
            format!("at most {MAX_REJECT_REASON_CHARS} characters"),
        ));
    }
    Ok(Some(r.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::proof::parse_time(s).unwrap()
    }

    fn request() -> ConsentRequest {
        ConsentRequest {
            id: "creq_1".into(),
            requester: "r".into(),
            matter: "m".into(),
            purpose: "p".into(),
            types: vec!["11100000000019713D001".parse().unwrap()],
            max_uses: Some(2),
            valid_for: 3600,
            created_at: t("2025-01-01T00:00:00Z"),
            expires_at: t("2025-01-01T00:15:00Z"),
            answer: None,
        }
    }

    #[test]
    fn a_request_is_pending_until_answered_or_expired_and_answers_are_final() {
        let mut r = request();
        let before = t("2025-01-01T00:14:59Z");
        assert_eq!(r.state(before), RequestState::Pending);
        assert_eq!(r.answerable(before), Ok(()));
        assert_eq!(r.state(r.expires_at), RequestState::Expired);
        assert_eq!(
            r.answerable(r.expires_at).map_err(|e| e.reason),
            Err(Reason::RequestExpired)
        );
        r.answer = Some(Answer {
            state: RequestState::Approved,
            at: before,
            consent: Some("cst_1".into()),
            reason: None,
            acted_by: None,
        });
        // Answered stays answered, even after the request's own expiry.
        assert_eq!(r.state(r.expires_at), RequestState::Approved);
        assert_eq!(
            r.answerable(before).map_err(|e| e.reason),
            Err(Reason::RequestAnswered)
        );
        assert_eq!(
            r.terms(before).expires_at,
            t("2025-01-01T01:14:59Z"),
            "the consent lasts validFor from the approval"
        );
    }

    #[test]
    fn reject_reasons_are_trimmed_and_bounded() {
        assert_eq!(check_reject_reason(Some("  ")), Ok(None));
        assert_eq!(
            check_reject_reason(Some(" 不需要 ")),
            Ok(Some("不需要".into()))
        );
        let long = "长".repeat(MAX_REJECT_REASON_CHARS + 1);
        assert_eq!(
            check_reject_reason(Some(&long)).map_err(|e| e.field),
            Err("$.reason".to_owned())
        );
    }
}
