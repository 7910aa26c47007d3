//! Objections to a use (SPEC §17, PIPL Art. 44 and 48): a holder objects to one record of their
//! access log; the objection goes to the approval system that made the use and to the
//! supervisor (the city's data authority), who sees every objection and its answer. The approval
//! system answers once with the legal basis it relied on and, when the holder asked it to delete
//! what it received, attests the deletion; the vault signs and keeps that attestation. Pure: the
//! vault stores objections and changes them under the holder's lock.
//!
//! `open → answered | withdrawn`; every other move is refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::correction::MAX_TEXT_CHARS;
use crate::verdict::{Reason, Rejection};

/// Where an objection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionState {
    Open,
    Answered,
    Withdrawn,
}

/// What happened to an objection; each is a notification to the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionEventKind {
    Opened,
    Answered,
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectionEvent {
    pub event: ObjectionEventKind,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// Who acted for the holder (masked), or the approval system for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The approval system's answer, final once given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectionAnswer {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The legal basis the use relied on, in the approval system's words.
    pub legal_basis: String,
    /// The deletion it attests, signed by the vault, when the holder asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub deletion: Option<Value>,
}

/// A holder's objection to one use of their licences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Objection {
    pub id: String,
    /// The access record objected to, and what it says of the use.
    pub access_record: String,
    pub requester: String,
    pub requester_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub matter: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub matter_name: String,
    #[schema(value_type = String, format = DateTime)]
    pub used_at: DateTime<Utc>,
    /// The licences (URNs) the use released.
    pub licences: Vec<String>,
    /// Why the holder objects.
    pub reason: String,
    /// Whether the holder asks the approval system to delete what it received.
    pub ask_deletion: bool,
    pub state: ObjectionState,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the answer is due.
    #[schema(value_type = String, format = DateTime)]
    pub due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ObjectionAnswer>,
    pub history: Vec<ObjectionEvent>,
}

impl Objection {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.state == ObjectionState::Open && now > self.due_at
    }

    /// Refused unless the objection is still open: `409 objection_closed`.
    pub fn must_be_open(&self) -> Result<(), Rejection> {
        if self.state == ObjectionState::Open {
            return Ok(());
        }
        Err(Rejection::new(
            Reason::ObjectionClosed,
            "id",
            format!("objection {} was answered or withdrawn already", self.id),
        ))
    }
}

/// Checks the holder's reason: required, bounded; given trimmed.
pub fn check_reason(reason: &str) -> Result<String, Rejection> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > MAX_TEXT_CHARS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.reason",
            format!("say why, in 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(r.to_owned())
}

/// Checks an answer: a legal basis (required, bounded), and a deletion attested when the holder
/// asked for one (an approval system may attest one unasked). The legal basis, trimmed.
pub fn check_answer(
    o: &Objection,
    legal_basis: &str,
    deleted: Option<bool>,
) -> Result<String, Rejection> {
    let basis = legal_basis.trim();
    if basis.is_empty() || basis.chars().count() > MAX_TEXT_CHARS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.legalBasis",
            format!("name the legal basis of the use, in 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    if o.ask_deletion && deleted != Some(true) {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.deleted",
            "the holder asked for deletion: attest it (deleted: true)",
        ));
    }
    Ok(basis.to_owned())
}
