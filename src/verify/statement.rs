//! Status statements (SPEC §6): an issuing agency's signed word that a licence's status changed.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::codes::{LicenceId, Uscc};
use crate::jcs;
use crate::lifecycle::Statement;
use crate::proof;
use crate::registry::Registries;
use crate::verdict::{Reason, Rejection};

/// How far in the future a statement's `effectiveAt` may lie (clock skew between agency and vault).
pub const EFFECTIVE_SKEW: Duration = Duration::minutes(5);

/// A statement that passed [`check`], with the hex SHA-256 of its JCS bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub statement: Statement,
    pub sha256: String,
}

/// Checks a status statement about `id` (issued by `issuer`) received at `now`: its shape, that it
/// is about `id`, its signature (`verify_strict`), that the signing key was usable when it was made
/// and received and belongs to `issuer`, and that `effectiveAt` is not in the future. Whether the
/// transition is allowed from the status in force is the vault's to decide.
pub fn check(
    doc: &Value,
    reg: &Registries,
    issuer: &Uscc,
    id: &LicenceId,
    now: DateTime<Utc>,
) -> Result<Checked, Rejection> {
    let statement = Statement::parse(doc)?;
    if &statement.licence != id {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.licence",
            format!(
                "the statement is about {}, not {}",
                statement.licence.urn(),
                id.urn()
            ),
        ));
    }
    let prepared = proof::prepare(doc)
        .map_err(|e| Rejection::new(Reason::BadSignature, e.field(), e.to_string()))?;
    if !prepared.verify() {
        return Err(Rejection::new(
            Reason::BadSignature,
            "$.proof.proofValue",
            format!("signature by {} does not verify", prepared.key),
        ));
    }
    let created = prepared.created.ok_or_else(|| {
        Rejection::new(
            Reason::BadSignature,
            "$.proof.created",
            "a status statement's proof must say when it was created",
        )
    })?;
    let (agency, _) = super::signing_key(reg, &prepared.key, created, Some(now))
        .map_err(|(reason, detail)| Rejection::new(reason, "$.proof.verificationMethod", detail))?;
    if &agency.uscc != issuer {
        return Err(Rejection::new(
            Reason::IssuerMismatch,
            "$.proof.verificationMethod",
            format!(
                "signed with a key of {}, but the licence was issued by {issuer}",
                agency.uscc
            ),
        ));
    }
    if statement.effective_at > now + EFFECTIVE_SKEW {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.effectiveAt",
            "a statement records a change that has happened: effectiveAt must not be in the future",
        ));
    }
    Ok(Checked {
        statement,
        sha256: hex::encode(Sha256::digest(jcs::canonicalize(doc))),
    })
}
