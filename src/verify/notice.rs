//! Revocation notices (SPEC §11): the vault's signed word to an approval system that a licence it
//! was provided has since been suspended, revoked, cancelled or superseded — which licence, the old
//! and the new status, the statement's reason and times, and the access records concerned — so an
//! approval made on the old state can be reviewed.
//!
//! A notice is signed once, in the same durable change as the status statement (or the renewal)
//! that caused it, and kept as signed; its id is derived from the licence, the cause and the
//! requester, so a notice is never issued twice under two ids.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::envelope::Envelope;
use super::VaultKeys;
use super::{SigningError, Status};
use crate::codes::LicenceId;
use crate::keys::Sign;
use crate::lifecycle::status_name;
use crate::proof::{self, format_time};
use crate::verdict::Verdict;

/// The `type` that marks a revocation notice.
pub const NOTICE_TYPE: &str = "LicenceStatusNotice";

/// What changed about a licence: the same for every notice it causes.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    pub licence: &'a LicenceId,
    pub previous: Status,
    pub status: Status,
    /// The statement's reason, or for a renewal the new version's URN.
    pub reason: &'a str,
    /// When the change took effect (the statement's `effectiveAt`, or the renewal's deposit).
    pub effective_at: DateTime<Utc>,
    /// When the vault accepted the change; the notice is signed at this time.
    pub received_at: DateTime<Utc>,
    /// The SHA-256 of the status statement, or of the new version's stored bytes.
    pub cause: &'a str,
    /// The successor, when the licence was superseded.
    pub superseded_by: Option<&'a LicenceId>,
}

/// Everything a notice states: the change, and to whom it is told.
#[derive(Debug, Clone, Copy)]
pub struct NoticeFacts<'a> {
    pub change: &'a StatusChange<'a>,
    pub requester: (&'a str, &'a str),
    /// The access records (ids) under which the requester was provided the licence.
    pub access_records: &'a [String],
}

/// Whether a document claims to be a revocation notice.
pub fn is_notice(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == NOTICE_TYPE))
}

fn notice_id(f: &NoticeFacts<'_>) -> String {
    let digest = Sha256::digest(format!(
        "{}\u{0}{}\u{0}{}",
        f.change.licence.urn(),
        f.change.cause,
        f.requester.0
    ));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    super::uuid_urn(b, 8)
}

/// Signs a notice.
pub fn issue(signer: &dyn Sign, f: &NoticeFacts<'_>) -> Result<Value, SigningError> {
    let c = f.change;
    let mut subject = json!({
        "licence": c.licence.urn(),
        "previousStatus": status_name(c.previous),
        "status": status_name(c.status),
        "reason": c.reason,
        "effectiveAt": format_time(c.effective_at),
        "receivedAt": format_time(c.received_at),
        "cause": c.cause,
        "requester": {"id": f.requester.0, "name": f.requester.1},
        "accessRecords": f.access_records,
    });
    if let Some(next) = c.superseded_by {
        subject["supersededBy"] = json!(next.urn());
    }
    let unsigned = Envelope {
        id: Some(&notice_id(f)),
        types: &[NOTICE_TYPE],
        valid_from: c.received_at,
        valid_until: None,
    }
    .around(signer, subject);
    proof::sign(unsigned, signer, c.received_at).map_err(|e| SigningError::proof("notice", e))
}

/// Verifies a notice: its signature by a `trusted` vault key (when given), its validity, and
/// `schema`: it names a licence, two statuses, the reason, the times, the requester and at least
/// one access record. No I/O.
pub fn check(doc: &Value, trusted: Option<&VaultKeys>, now: DateTime<Utc>) -> Verdict {
    let mut checks = super::document(doc, trusted, now).checks;
    let s = &doc["credentialSubject"];
    let text = |v: &Value| v.as_str().is_some_and(|t| !t.is_empty());
    let time = |v: &Value| v.as_str().and_then(proof::parse_time).is_some();
    let status = |v: &Value| {
        v.as_str()
            .is_some_and(|t| serde_json::from_value::<Status>(Value::String(t.to_owned())).is_ok())
    };
    let records = s["accessRecords"]
        .as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(text));
    let members = [
        (
            "licence",
            s["licence"]
                .as_str()
                .is_some_and(|l| LicenceId::from_urn_or_bare(l).is_ok()),
        ),
        ("previousStatus", status(&s["previousStatus"])),
        ("status", status(&s["status"])),
        ("reason", text(&s["reason"])),
        ("effectiveAt", time(&s["effectiveAt"])),
        ("receivedAt", time(&s["receivedAt"])),
        ("cause", text(&s["cause"])),
        ("requester", text(&s["requester"]["id"])),
        ("accessRecords", records),
    ];
    checks.push(super::subject_schema(&members, "revocation notice", || {
        format!(
            "{} {} → {} for {}",
            s["licence"].as_str().unwrap_or_default(),
            s["previousStatus"].as_str().unwrap_or_default(),
            s["status"].as_str().unwrap_or_default(),
            s["requester"]["id"].as_str().unwrap_or_default(),
        )
    }));
    Verdict::new(checks, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer;
    use crate::verdict::{CheckName, Reason};

    #[test]
    fn a_notice_verifies_with_the_vault_key_and_a_change_breaks_it() {
        let signer = Signer::generate();
        let at = proof::parse_time("2025-03-01T08:00:00Z").unwrap();
        let id: LicenceId = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
            .parse()
            .unwrap();
        let records = vec!["acc_1".to_owned()];
        let change = StatusChange {
            licence: &id,
            previous: Status::Active,
            status: Status::Revoked,
            reason: "吊销",
            effective_at: at,
            received_at: at,
            cause: "ab12",
            superseded_by: None,
        };
        let facts = NoticeFacts {
            change: &change,
            requester: ("fz-gjj", "福州住房公积金中心"),
            access_records: &records,
        };
        let doc = issue(&signer, &facts).unwrap();
        assert_eq!(issue(&signer, &facts).unwrap(), doc, "deterministic");
        assert!(is_notice(&doc));
        let keys = VaultKeys::trusting([signer.did_key().clone()]);
        let v = check(&doc, Some(&keys), at);
        assert!(v.valid, "{v:?}");
        assert_eq!(doc["credentialSubject"]["previousStatus"], "active");
        assert_eq!(doc["credentialSubject"]["status"], "revoked");

        let mut forged = doc.clone();
        forged["credentialSubject"]["status"] = json!("suspended");
        let v = check(&forged, Some(&keys), at);
        assert_eq!(v.reason(), Some(Reason::BadSignature));

        let other = VaultKeys::trusting([Signer::generate().did_key().clone()]);
        assert_eq!(
            check(&doc, Some(&other), at).reason(),
            Some(Reason::UnknownKey)
        );

        let mut empty = facts;
        let none: Vec<String> = Vec::new();
        empty.access_records = &none;
        let v = check(&issue(&signer, &empty).unwrap(), Some(&keys), at);
        assert_eq!(v.reason(), Some(Reason::SchemaViolation));
        assert_eq!(
            v.check(CheckName::Schema).and_then(|c| c.field.clone()),
            Some("$.credentialSubject.accessRecords".to_owned())
        );
    }
}
