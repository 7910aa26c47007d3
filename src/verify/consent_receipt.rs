//! Consent receipts (SPEC §10): the vault's signed statement, for the holder to keep, that a
//! consent was granted, approved (from a consent request), narrowed or withdrawn — who, for which
//! approval system, matter and purpose, covering what, until when.
//!
//! A receipt is built from the consent's stored history alone and signed with `created` at the
//! event's time, so the same event always gives the same bytes (Ed25519 is deterministic): the
//! vault keeps no copy and can give a receipt again (`GET /v1/me/consents/{id}/receipts`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::envelope::Envelope;
use super::SigningError;
use super::VaultKeys;
use crate::codes::HolderCode;
use crate::keys::Sign;
use crate::proof::{self, format_time};
use crate::reuse::Terms;
use crate::verdict::Verdict;

/// The `type` that marks a consent receipt.
pub const CONSENT_RECEIPT_TYPE: &str = "ConsentReceipt";

/// What happened to the consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The holder granted it directly (`POST /v1/me/consents`).
    Granted,
    /// The holder approved a consent request.
    Approved,
    Narrowed,
    Withdrawn,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::Granted,
        Event::Approved,
        Event::Narrowed,
        Event::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Approved => "approved",
            Self::Narrowed => "narrowed",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// Everything a receipt states.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptFacts<'a> {
    pub event: Event,
    pub at: DateTime<Utc>,
    pub holder: &'a HolderCode,
    pub consent: &'a str,
    /// The consent request an approval answered.
    pub request: Option<&'a str>,
    pub requester: (&'a str, &'a str),
    pub matter: (&'a str, &'a str),
    pub purpose: &'a str,
    /// The terms in force after the event.
    pub terms: &'a Terms,
    /// Who acted for the holder (`111:…`), when not the holder itself.
    pub acted_by: Option<&'a str>,
}

/// Whether a document claims to be a consent receipt.
pub fn is_consent_receipt(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == CONSENT_RECEIPT_TYPE))
}

/// The receipt's id: a `urn:uuid:` (version 8) derived from the consent, the event and its time,
/// so a receipt given again has the same id.
fn receipt_id(f: &ReceiptFacts<'_>) -> String {
    let digest = Sha256::digest(format!(
        "{}\u{0}{}\u{0}{}",
        f.consent,
        f.event.as_str(),
        format_time(f.at)
    ));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    super::uuid_urn(b, 8)
}

/// Signs a consent receipt.
pub fn issue(signer: &dyn Sign, f: &ReceiptFacts<'_>) -> Result<Value, SigningError> {
    let mut subject = json!({
        "event": f.event.as_str(),
        "at": format_time(f.at),
        "holder": {"codeType": f.holder.code_type(), "code": f.holder.code()},
        "consent": f.consent,
        "requester": {"id": f.requester.0, "name": f.requester.1},
        "matter": {"code": f.matter.0, "name": f.matter.1},
        "purpose": f.purpose,
        "expiresAt": format_time(f.terms.expires_at),
    });
    if let Some(r) = f.request {
        subject["request"] = json!(r);
    }
    if let Some(a) = f.acted_by {
        subject["actedBy"] = json!(a);
    }
    if !f.terms.types.is_empty() {
        subject["types"] = json!(f.terms.types.iter().map(|t| t.as_str()).collect::<Vec<_>>());
    }
    if !f.terms.licences.is_empty() {
        subject["licences"] = json!(f.terms.licences.iter().map(|l| l.urn()).collect::<Vec<_>>());
    }
    if let Some(m) = f.terms.max_uses {
        subject["maxUses"] = json!(m);
    }
    let unsigned = Envelope {
        id: Some(&receipt_id(f)),
        types: &[CONSENT_RECEIPT_TYPE],
        valid_from: f.at,
        valid_until: None,
    }
    .around(signer, subject);
    proof::sign(unsigned, signer, f.at).map_err(|e| SigningError::proof("consent receipt", e))
}

/// Verifies a consent receipt: its signature by a `trusted` vault key (when given), its validity,
/// and `schema`: it states an event, when, the holder, the consent, the requester, the matter,
/// the purpose and until when. No I/O.
pub fn check(doc: &Value, trusted: Option<&VaultKeys>, now: DateTime<Utc>) -> Verdict {
    let mut checks = super::document(doc, trusted, now).checks;
    let s = &doc["credentialSubject"];
    let text = |v: &Value| v.as_str().is_some_and(|t| !t.is_empty());
    let members = [
        ("event", Event::ALL.iter().any(|e| s["event"] == e.as_str())),
        ("at", s["at"].as_str().and_then(proof::parse_time).is_some()),
        (
            "holder",
            text(&s["holder"]["codeType"]) && text(&s["holder"]["code"]),
        ),
        ("consent", text(&s["consent"])),
        ("requester", text(&s["requester"]["id"])),
        ("matter", text(&s["matter"]["code"])),
        ("purpose", text(&s["purpose"])),
        (
            "expiresAt",
            s["expiresAt"]
                .as_str()
                .and_then(proof::parse_time)
                .is_some(),
        ),
    ];
    checks.push(super::subject_schema(&members, "consent receipt", || {
        format!(
            "{} consent {} for {} ({})",
            s["event"].as_str().unwrap_or_default(),
            s["consent"].as_str().unwrap_or_default(),
            s["requester"]["id"].as_str().unwrap_or_default(),
            s["matter"]["code"].as_str().unwrap_or_default(),
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
    fn the_same_event_gives_the_same_bytes_and_a_change_breaks_the_signature() {
        let signer = Signer::generate();
        let at = proof::parse_time("2025-01-15T08:00:00Z").unwrap();
        let holder: HolderCode = "111:350102198503120130".parse().unwrap();
        let terms = Terms {
            types: vec!["11100000000019713D001".parse().unwrap()],
            licences: Vec::new(),
            expires_at: proof::parse_time("2025-02-15T08:00:00Z").unwrap(),
            max_uses: Some(1),
        };
        let facts = ReceiptFacts {
            event: Event::Approved,
            at,
            holder: &holder,
            consent: "cst_1",
            request: Some("creq_1"),
            requester: ("fz-gjj", "福州住房公积金中心"),
            matter: ("350100-GJJ-001", "住房公积金提取"),
            purpose: "提取",
            terms: &terms,
            acted_by: None,
        };
        let a = issue(&signer, &facts).unwrap();
        assert_eq!(a, issue(&signer, &facts).unwrap());
        assert!(is_consent_receipt(&a));
        let keys = VaultKeys::trusting([signer.did_key().clone()]);
        let v = check(&a, Some(&keys), at);
        assert!(v.valid, "{v:?}");
        let mut b = a.clone();
        b["credentialSubject"]["maxUses"] = json!(2);
        let v = check(&b, Some(&keys), at);
        assert_eq!(v.reason(), Some(Reason::BadSignature));
        let mut c = a;
        c["credentialSubject"]
            .as_object_mut()
            .unwrap()
            .remove("purpose");
        let v = check(&c, Some(&keys), at);
        assert_eq!(
            v.check(CheckName::Schema).and_then(|c| c.code),
            Some(Reason::SchemaViolation)
        );
    }
}
