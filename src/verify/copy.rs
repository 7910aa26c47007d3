//! Purpose-stamped copies (加注件, SPEC §7): vault-signed credentials that embed a licence as
//! stored, bind its digest and say for whom, for which matter and why it was released.
//!
//! A **minimised** copy (SPEC §10), for a matter that declares the face fields it needs, embeds
//! no licence: it carries those fields (`credentialSubject.disclosed`), the licence id and its
//! content digest, under the vault's signature only. The issuer's signature covers the whole
//! licence and cannot be shown without it, so the vault attests that it verified the licence
//! afresh at `issuedAt` (docs/DECISIONS.md).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::envelope::Envelope;
use super::SigningError;
use super::VaultKeys;
use crate::codes::LicenceId;
use crate::jcs;
use crate::keys::Sign;
use crate::licence::Licence;
use crate::proof::{self, format_time};
use crate::verdict::{Check, CheckName, Disputed, Reason, Verdict};

/// The `type` that marks a purpose-stamped copy.
pub const STAMPED_COPY_TYPE: &str = "PurposeStampedCopy";
/// The second `type` of a minimised stamped copy.
pub const MINIMISED_COPY_TYPE: &str = "MinimisedCopy";
/// How long a stamped copy is valid (SPEC §7: default 30 days).
pub const COPY_VALIDITY_DAYS: i64 = 30;

/// What a stamped copy says besides the licence it embeds.
#[derive(Debug, Clone, Copy)]
pub struct CopyFacts<'a> {
    /// The copy's own id (a `urn:uuid:`).
    pub id: &'a str,
    pub licence: &'a LicenceId,
    /// Hex SHA-256 of the licence's stored canonical bytes.
    pub sha256: &'a str,
    pub requester: &'a str,
    pub matter: &'a str,
    pub purpose: &'a str,
    /// The access record of the pull that released it.
    pub access_record: &'a str,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// The holder's dispute of the licence when the copy was made (SPEC §17).
    pub disputed: Option<&'a Disputed>,
}

/// Whether a document claims to be a purpose-stamped copy.
pub fn is_stamped_copy(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == STAMPED_COPY_TYPE))
}

fn subject(facts: &CopyFacts<'_>) -> Value {
    let mut subject = json!({
        "licence": facts.licence.urn(),
        "sha256": facts.sha256,
        "requester": facts.requester,
        "matter": facts.matter,
        "purpose": facts.purpose,
        "issuedAt": format_time(facts.issued),
        "expiresAt": format_time(facts.expires),
        "accessRecord": facts.access_record,
    });
    if let Some(d) = facts.disputed {
        subject["disputed"] = serde_json::to_value(d).unwrap_or_default();
    }
    subject
}

/// What a copy says of its holder's dispute, when it says something well-formed.
fn disputed_of(doc: &Value) -> Option<Disputed> {
    serde_json::from_value(doc.get("credentialSubject")?.get("disputed")?.clone()).ok()
}

fn unsigned(signer: &dyn Sign, facts: &CopyFacts<'_>, types: &[&str], subject: Value) -> Value {
    Envelope {
        id: Some(facts.id),
        types,
        valid_from: facts.issued,
        valid_until: Some(facts.expires),
    }
    .around(signer, subject)
}

/// Signs a minimised copy: of the licence, only the face fields `disclosed` (already cut to
/// what the matter needs), its id and its content digest.
pub fn issue_minimised(
    signer: &dyn Sign,
    facts: &CopyFacts<'_>,
    disclosed: serde_json::Map<String, Value>,
) -> Result<jcs::Canonical, SigningError> {
    let mut subject = subject(facts);
    subject["disclosed"] = Value::Object(disclosed);
    let copy = unsigned(
        signer,
        facts,
        &[STAMPED_COPY_TYPE, MINIMISED_COPY_TYPE],
        subject,
    );
    let signed = proof::sign(copy, signer, facts.issued)
        .map_err(|e| SigningError::proof("stamped copy", e))?;
    jcs::Canonical::new(jcs::canonicalize(&signed))
        .map_err(|e| SigningError::new("stamped copy", format!("not JSON: {e}")))
}

/// Signs a stamped copy of `licence` (its stored canonical bytes). The licence goes in as those
/// bytes, spliced into the copy's canonical bytes in place of a null: signed and served without
/// parsing or serialising it again.
pub fn issue(
    signer: &dyn Sign,
    facts: &CopyFacts<'_>,
    licence: &jcs::Canonical,
) -> Result<jcs::Canonical, SigningError> {
    let mut subject = subject(facts);
    subject["document"] = Value::Null;
    let mut copy = unsigned(signer, facts, &[STAMPED_COPY_TYPE], subject);
    let embed = |copy: &Value| {
        jcs::splice(
            &jcs::canonicalize(copy),
            &["credentialSubject", "document"],
            licence.as_bytes(),
        )
        .ok_or_else(|| SigningError::new("stamped copy", "no document slot"))
    };
    let proof = proof::proof_for(&embed(&copy)?, copy.get("@context"), signer, facts.issued)
        .map_err(|e| SigningError::proof("stamped copy", e))?;
    copy["proof"] = proof;
    jcs::Canonical::new(embed(&copy)?)
        .map_err(|e| SigningError::new("stamped copy", format!("not JSON: {e}")))
}

/// Verifies a purpose-stamped copy: the copy's own signature by a `trusted` vault key and its
/// validity (`expired` after `expiresAt`), its `binding` (the embedded licence's JCS SHA-256 and id
/// are the ones the copy names), then the embedded licence's own checks as `licence_verdict` judges
/// them (each detail prefixed with `licence:`). No I/O: the caller decides how licences are judged.
pub fn check<E>(
    doc: &Value,
    trusted: Option<&VaultKeys>,
    now: DateTime<Utc>,
    licence_verdict: impl FnOnce(&Value) -> Result<Verdict, E>,
) -> Result<Verdict, E> {
    let mut checks = super::document(doc, trusted, now).checks;
    let subject = doc.get("credentialSubject");
    let field = |name: &str| subject.and_then(|s| s.get(name));
    let text = |name: &str| field(name).and_then(Value::as_str);

    // The copy's expiresAt is its validUntil; if they ever disagree, the earlier one holds.
    if let Some(expires) = text("expiresAt").and_then(proof::parse_time) {
        if let Some(c) = checks.iter_mut().find(|c| c.check == CheckName::Validity) {
            if c.ok == Some(true) && now >= expires {
                *c = Check::fail(
                    CheckName::Validity,
                    Reason::Expired,
                    format!("stamped copy expired {}", format_time(expires)),
                );
            }
        }
    }

    if let Some(disclosed) = field("disclosed") {
        let mut v = minimised(checks, doc, disclosed, now);
        v.disputed = disputed_of(doc);
        return Ok(v);
    }
    let embedded = field("document").filter(|d| Licence::is_licence(d) && !is_stamped_copy(d));
    checks.push(match (embedded, text("licence"), text("sha256")) {
        (Some(lic), Some(bound_id), Some(bound_sha)) => {
            let sha = hex::encode(Sha256::digest(jcs::canonicalize(lic)));
            let id = lic.get("id").and_then(Value::as_str).unwrap_or_default();
            if sha != bound_sha {
                Check::fail(
                    CheckName::Binding,
                    Reason::IntegrityFailure,
                    format!("the embedded licence has SHA-256 {sha}, the copy binds {bound_sha}"),
                )
            } else if id != bound_id {
                Check::fail(
                    CheckName::Binding,
                    Reason::IntegrityFailure,
                    format!("the embedded licence is {id}, the copy binds {bound_id}"),
                )
            } else {
                Check::pass_with(CheckName::Binding, format!("binds {bound_id}, SHA-256 {sha}"))
            }
        }
        _ => Check::fail(
            CheckName::Binding,
            Reason::IntegrityFailure,
            "a stamped copy must name credentialSubject.licence and .sha256 and embed the licence in .document",
        ),
    });
    if let Some(lic) = embedded {
        for mut c in licence_verdict(lic)?.checks {
            // The embedded licence's member paths are not the copy's: they go into the text.
            let text: Vec<String> = [c.field.take(), c.detail.take()]
                .into_iter()
                .flatten()
                .collect();
            c.detail = Some(match text.as_slice() {
                [] => "licence".to_owned(),
                _ => format!("licence: {}", text.join(": ")),
            });
            checks.push(c);
        }
    }
    let mut v = Verdict::new(checks, now);
    v.disputed = disputed_of(doc);
    Ok(v)
}

/// The verdict of a minimised copy: its own checks, and `binding` passes when it names a licence
/// by a valid identifier and a SHA-256, its disclosed face fields are an object, and it embeds no
/// document. Nothing of
/// the licence beyond the disclosed fields is there to check: the vault's signature attests it.
fn minimised(
    mut checks: Vec<Check>,
    doc: &Value,
    disclosed: &Value,
    now: DateTime<Utc>,
) -> Verdict {
    let subject = &doc["credentialSubject"];
    let urn = subject["licence"].as_str().unwrap_or_default();
    let sha = subject["sha256"].as_str().unwrap_or_default();
    let names: Vec<String> = disclosed
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let typed = doc["type"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == MINIMISED_COPY_TYPE));
    let binding = if !typed {
        Err("a copy that discloses fields must have type MinimisedCopy")
    } else if LicenceId::from_urn_or_bare(urn).is_err() {
        Err("credentialSubject.licence is not a licence identifier")
    } else if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Err("credentialSubject.sha256 is not a SHA-256")
    } else if !disclosed.is_object() {
        Err("credentialSubject.disclosed must be an object of face fields")
    } else if subject.get("document").is_some() {
        Err("a minimised copy embeds no document")
    } else {
        Ok(())
    };
    checks.push(match binding {
        Ok(()) => Check::pass_with(
            CheckName::Binding,
            format!(
                "discloses {} of {urn} (SHA-256 {sha}), verified by the vault when the copy was issued",
                names.join(", ")
            ),
        ),
        Err(why) => Check::fail(CheckName::Binding, Reason::IntegrityFailure, why),
    });
    let mut v = Verdict::new(checks, now);
    v.disclosed = Some(names);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer;
    use crate::licence::VC_CONTEXT;

    #[test]
    fn a_copy_without_a_licence_fails_binding_and_is_not_a_licence() {
        let signer = Signer::generate();
        let now = proof::parse_time("2025-01-15T00:00:00Z").unwrap();
        let copy = json!({
            "@context": [VC_CONTEXT], "type": ["VerifiableCredential", STAMPED_COPY_TYPE],
            "issuer": signer.did_key().as_str(), "validFrom": "2025-01-01T00:00:00Z", "validUntil": "2025-02-01T00:00:00Z",
            "credentialSubject": {"licence": "urn:x", "sha256": "00"},
        });
        let signed = proof::sign(copy.clone(), &signer, now).unwrap();
        assert!(is_stamped_copy(&signed) && !Licence::is_licence(&signed));
        let v = check(
            &signed,
            Some(&VaultKeys::trusting([signer.did_key().clone()])),
            now,
            |_| Err::<Verdict, ()>(()),
        )
        .unwrap();
        assert!(!v.valid);
        assert_eq!(
            v.check(CheckName::Binding).and_then(|c| c.code),
            Some(Reason::IntegrityFailure)
        );
        assert_eq!(v.reason(), Some(Reason::IntegrityFailure));
    }
}
