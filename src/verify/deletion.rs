//! Deletion attestations (SPEC §17): the vault's signed record that an approval system, answering
//! a holder's objection, attested that it deleted what one use released to it — which objection,
//! which access record, which licences, when. The holder, the approval system and the supervisor
//! can each keep it and check it offline like any vault-signed document.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::envelope::Envelope;
use super::SigningError;
use super::VaultKeys;
use crate::keys::Sign;
use crate::proof::{self, format_time};
use crate::verdict::Verdict;

/// The `type` that marks a deletion attestation.
pub const DELETION_ATTESTATION_TYPE: &str = "DeletionAttestation";

/// Everything an attestation states.
#[derive(Debug, Clone, Copy)]
pub struct DeletionFacts<'a> {
    pub objection: &'a str,
    pub access_record: &'a str,
    /// The approval system that attests: its id and name.
    pub requester: (&'a str, &'a str),
    pub licences: &'a [String],
    pub at: DateTime<Utc>,
}

/// Whether a document claims to be a deletion attestation.
pub fn is_deletion_attestation(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == DELETION_ATTESTATION_TYPE))
}

/// Signs an attestation; the same facts give the same bytes.
pub fn issue(signer: &dyn Sign, f: &DeletionFacts<'_>) -> Result<Value, SigningError> {
    let mut b = [0u8; 16];
    b.copy_from_slice(&Sha256::digest(format!("deletion\u{0}{}", f.objection))[..16]);
    let id = super::uuid_urn(b, 8);
    let unsigned = Envelope {
        id: Some(&id),
        types: &[DELETION_ATTESTATION_TYPE],
        valid_from: f.at,
        valid_until: None,
    }
    .around(
        signer,
        json!({
            "objection": f.objection,
            "accessRecord": f.access_record,
            "requester": {"id": f.requester.0, "name": f.requester.1},
            "licences": f.licences,
            "deletedAt": format_time(f.at),
        }),
    );
    proof::sign(unsigned, signer, f.at).map_err(|e| SigningError::proof("deletion attestation", e))
}

/// Verifies an attestation: the vault's signature and key (when `trusted` is given), and that
/// it states the objection, the access record, the approval system and when.
pub fn check(doc: &Value, trusted: Option<&VaultKeys>, now: DateTime<Utc>) -> Verdict {
    let mut checks = super::document(doc, trusted, now).checks;
    let s = &doc["credentialSubject"];
    let text = |v: &Value| v.as_str().is_some_and(|t| !t.is_empty());
    let members = [
        ("objection", text(&s["objection"])),
        ("accessRecord", text(&s["accessRecord"])),
        ("requester", text(&s["requester"]["id"])),
        ("licences", s["licences"].is_array()),
        (
            "deletedAt",
            s["deletedAt"]
                .as_str()
                .and_then(proof::parse_time)
                .is_some(),
        ),
    ];
    checks.push(super::subject_schema(
        &members,
        "deletion attestation",
        || {
            format!(
                "{} deleted what access record {} released",
                s["requester"]["id"].as_str().unwrap_or_default(),
                s["accessRecord"].as_str().unwrap_or_default(),
            )
        },
    ));
    Verdict::new(checks, now)
}
