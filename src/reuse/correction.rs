//! Correction requests (SPEC §17, PIPL Art. 46): a holder says a licence is wrong, the request
//! goes to the agency that issued it, which answers before a deadline — corrected (by renewing the
//! licence through the ordinary deposit, and naming the renewal) or refused with a reason — unless
//! the holder withdraws it first. Pure: the vault stores corrections and changes them under the
//! holder's lock.
//!
//! `open → corrected | refused | withdrawn`; every other move is refused. While open, the holder
//! may mark the licence disputed: it is still provided (valid until its issuer says otherwise),
//! and the verdict and every copy say it is under dispute ([`crate::verdict::Disputed`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::registry::LicenceType;
use crate::verdict::{Reason, Rejection};

/// The working days an agency has to answer unless configured otherwise.
pub const DEFAULT_WORKING_DAYS: u32 = 15;
/// Most fields one correction may name.
pub const MAX_FIELDS: usize = 20;
/// Longest description of what is wrong, and longest refusal reason, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Largest evidence document and claimed values together, in bytes of their JSON.
pub const MAX_EVIDENCE_BYTES: usize = 256 * 1024;

/// Where a correction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionState {
    Open,
    Corrected,
    Refused,
    Withdrawn,
}

/// What happened to a correction; each is a notification to the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionEventKind {
    Opened,
    Disputed,
    Undisputed,
    Corrected,
    Refused,
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorrectionEvent {
    pub event: CorrectionEventKind,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// Who acted for the holder (masked), or the agency (USCC) for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The agency's answer, final once given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorrectionAnswer {
    /// `corrected` or `refused`.
    pub outcome: CorrectionState,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The renewal (URN) that corrected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<String>,
}

/// A holder's request to correct a licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Correction {
    pub id: String,
    /// The licence said to be wrong (URN).
    pub licence: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    /// The issuing agency it went to (USCC) and its name.
    pub issuer: String,
    pub issuer_name: String,
    /// The face fields said to be wrong.
    pub fields: Vec<String>,
    /// What is wrong, in the holder's words.
    pub problem: String,
    /// The values the holder claims, by field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub claimed: BTreeMap<String, Value>,
    /// A supporting document, as the holder gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Value>,
    pub state: CorrectionState,
    /// Whether the holder marked the licence disputed meanwhile.
    pub disputed: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the agency's answer is due.
    #[schema(value_type = String, format = DateTime)]
    pub due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<CorrectionAnswer>,
    pub history: Vec<CorrectionEvent>,
}

impl Correction {
    /// Whether the agency's answer is late at `now`.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.state == CorrectionState::Open && now > self.due_at
    }

    /// Refused unless the correction is still open: `409 correction_closed`.
    pub fn must_be_open(&self) -> Result<(), Rejection> {
        match self.state {
            CorrectionState::Open => Ok(()),
            s => Err(Rejection::new(
                Reason::CorrectionClosed,
                "id",
                format!(
                    "correction {} is {} already",
                    self.id,
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            )),
        }
    }
}

/// What a holder asks to correct, as checked against the licence's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCorrection {
    pub fields: Vec<String>,
    pub problem: String,
    pub claimed: BTreeMap<String, Value>,
    pub evidence: Option<Value>,
    pub disputed: bool,
}

/// Checks a new correction against the licence's type: at least one field, each one of the
/// type's, none twice; a description; claimed values only for the fields named; a bounded
/// evidence document. The field of the first fault is named.
pub fn check_new(new: &NewCorrection, ty: &LicenceType) -> Result<(), Rejection> {
    if new.fields.is_empty() {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.fields",
            "name at least one field of the licence",
        ));
    }
    if new.fields.len() > MAX_FIELDS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.fields",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    for (i, f) in new.fields.iter().enumerate() {
        if !ty.fields.iter().any(|s| &s.name == f) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                format!("$.fields[{i}]"),
                format!("{} has no field {f}", ty.name),
            ));
        }
        if new.fields[..i].contains(f) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                format!("$.fields[{i}]"),
                format!("{f} is named twice"),
            ));
        }
    }
    let problem = new.problem.trim();
    if problem.is_empty() || problem.chars().count() > MAX_TEXT_CHARS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.problem",
            format!("say what is wrong in 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    if let Some(f) = new.claimed.keys().find(|k| !new.fields.contains(k)) {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            format!("$.claimed.{f}"),
            format!("{f} is not one of the fields named"),
        ));
    }
    // What the holder gives beside the request is kept with it: bounded together.
    let given = serde_json::to_vec(&(&new.claimed, &new.evidence)).map_or(usize::MAX, |b| b.len());
    if given > MAX_EVIDENCE_BYTES {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            if new.evidence.is_some() {
                "$.evidence"
            } else {
                "$.claimed"
            },
            format!(
                "the claimed values and the evidence together: at most {MAX_EVIDENCE_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// Checks a refusal's reason (required, bounded) and gives it trimmed.
pub fn refusal_reason(reason: Option<&str>) -> Result<String, Rejection> {
    let r = reason.map(str::trim).unwrap_or_default();
    if r.is_empty() || r.chars().count() > MAX_TEXT_CHARS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.reason",
            format!("a refusal gives its reason, in 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(r.to_owned())
}

/// `working_days` working days (Monday to Friday, in China Standard Time) after `from`, at the
/// same time of day. Public holidays are not known to the vault: an agency that needs them
/// configures more days.
pub fn due_after(from: DateTime<Utc>, working_days: u32) -> DateTime<Utc> {
    let Some(cst) = FixedOffset::east_opt(8 * 3600) else {
        return from + Duration::days(i64::from(working_days));
    };
    let mut at = from.with_timezone(&cst);
    let mut left = working_days;
    while left > 0 {
        at += Duration::days(1);
        if !matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    at.with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::parse_time;

    #[test]
    fn fifteen_working_days_skip_three_weekends() {
        // Monday 2026-12-07 10:00 in Fuzhou → Monday 2026-12-28 10:00.
        let from = parse_time("2026-12-07T02:00:00Z").expect("time");
        assert_eq!(
            due_after(from, 15),
            parse_time("2026-12-28T02:00:00Z").expect("time")
        );
        // Friday evening in Fuzhou (Friday noon UTC) → the next Monday.
        let friday = parse_time("2026-12-11T12:00:00Z").expect("time");
        assert_eq!(
            due_after(friday, 1),
            parse_time("2026-12-14T12:00:00Z").expect("time")
        );
        // Saturday 03:00 in Fuzhou is still Friday in UTC: counted in Fuzhou's week.
        let saturday = parse_time("2026-12-11T19:00:00Z").expect("time");
        assert_eq!(
            due_after(saturday, 1),
            parse_time("2026-12-13T19:00:00Z").expect("time")
        );
    }
}
