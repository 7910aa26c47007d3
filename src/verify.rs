//! The verifier: one function per kind of signed document, beside the builder of each document
//! the vault issues.
//!
//! | document | checked by | built by |
//! |---|---|---|
//! | licence | [`licence`], [`licence_prepared`] | the issuing agency |
//! | any other signed VC | [`document`] | — |
//! | verifiable presentation (VC-API) | [`presentation::check`] | the holder |
//! | status statement | [`statement::check`] | the issuing agency |
//! | deposit receipt | [`receipt::deposit_time`] (and [`document`]) | [`receipt::issue`] |
//! | purpose-stamped copy, minimised copy | [`copy::check`] | [`copy::issue`], [`copy::issue_minimised`] |
//! | consent receipt | [`consent_receipt::check`] | [`consent_receipt::issue`] |
//! | revocation notice | [`notice::check`] | [`notice::issue`] |
//! | status list, status-list entry | [`status_list::check`] | [`status_list::issue`], [`status_list::entry`] |
//!
//! It is given everything it may consult — the registries, what the vault knows of the stored
//! record, the signature result (possibly from a batch), the time — and does no I/O itself.
//! Checks that cannot be made with what it was given are reported as not checked.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::codes::LicenceId;
use crate::keys::DidKey;
use crate::licence::Licence;
use crate::proof::{self, format_time, Prepared, ProofError};
use crate::registry::{KeyStanding, Registries};
use crate::verdict::{Check, CheckName, Reason, Verdict};

/// The status of a licence is the lifecycle's (SPEC §6); re-exported where the verifier uses it.
pub use crate::lifecycle::Status;

pub mod consent_receipt;
pub mod copy;
pub mod data_model;
pub mod deletion;
pub mod envelope;
pub mod export_manifest;
pub mod notice;
pub mod presentation;
pub mod receipt;
pub mod request_object;
pub mod statement;
pub mod status_list;
pub mod vault_keys;

pub use vault_keys::{VaultKey, VaultKeys};

/// `bytes` as a `urn:uuid:` of `version` (4: random, 8: derived), with the RFC 9562 variant bits.
pub fn uuid_urn(mut b: [u8; 16], version: u8) -> String {
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A document the vault issues could not be signed or assembled.
#[derive(Debug, thiserror::Error)]
#[error("signing {what}: {detail}")]
pub struct SigningError {
    /// What was being issued (`deposit receipt`, `stamped copy`, `status list`).
    pub what: &'static str,
    pub detail: String,
    /// The key could not sign now (its module failed, or no key is in force here): a retry
    /// may succeed; nothing was signed.
    pub unavailable: bool,
}

impl SigningError {
    pub fn new(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self {
            what,
            detail: detail.to_string(),
            unavailable: false,
        }
    }
    /// The vault has no key that can sign now.
    pub fn unavailable(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self {
            unavailable: true,
            ..Self::new(what, detail)
        }
    }
    /// A proof that could not be made.
    pub fn proof(what: &'static str, e: crate::proof::ProofError) -> Self {
        match e {
            crate::proof::ProofError::Signing(k) => Self::unavailable(what, k),
            e => Self::new(what, e),
        }
    }
}

/// What the vault knows about a stored licence beyond its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    pub deposited_at: DateTime<Utc>,
    /// `Err(detail)` when the stored bytes no longer hash to the digest recorded at deposit.
    pub integrity: Result<(), String>,
    /// The latest status statement in force: status, effective time, reason.
    pub status: Option<(Status, DateTime<Utc>, String)>,
    pub superseded_by: Option<LicenceId>,
}

/// Everything a verification may consult.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub registries: Option<&'a Registries>,
    pub record: Option<&'a RecordFacts>,
    pub now: DateTime<Utc>,
    /// A signature result already computed (e.g. in a batch); `None` to verify here.
    pub signature: Option<bool>,
}

impl<'a> Evidence<'a> {
    pub fn new(registries: Option<&'a Registries>, now: DateTime<Utc>) -> Self {
        Self {
            registries,
            record: None,
            now,
            signature: None,
        }
    }
}

fn proof_check(
    prepared: &Result<Prepared, ProofError>,
    precomputed: Option<bool>,
    now: DateTime<Utc>,
) -> Check {
    match prepared {
        Err(e) => Check::fail(CheckName::Signature, Reason::BadSignature, e.to_string()),
        // An expired proof proves nothing any more, however good its signature (Data Integrity
        // `expires`).
        Ok(p) if p.expires.is_some_and(|e| now >= e) => Check::fail_at(
            CheckName::Signature,
            Reason::Expired,
            "$.proof.expires",
            format!(
                "the proof expired {}",
                p.expires.map(format_time).unwrap_or_default()
            ),
        ),
        Ok(p) if precomputed.unwrap_or_else(|| p.verify()) => {
            Check::pass_with(CheckName::Signature, format!("eddsa-jcs-2022 by {}", p.key))
        }
        Ok(p) => Check::fail(
            CheckName::Signature,
            Reason::BadSignature,
            format!("signature by {} does not verify", p.key),
        ),
    }
}

/// The validity check of a generic VC: `validFrom` / `validUntil`, each optional, against `now`.
/// A member present but not a date-time cannot be judged, so it fails (`schema_violation`): a
/// period the verifier cannot read is never passed.
fn readable_validity(doc: &Value, now: DateTime<Utc>) -> Check {
    let mut times = [None, None];
    for (slot, name) in times.iter_mut().zip(["validFrom", "validUntil"]) {
        match doc.get(name) {
            None => {}
            Some(v) => match v.as_str().and_then(proof::parse_time) {
                Some(t) => *slot = Some(t),
                None => {
                    return Check::fail_at(
                        CheckName::Validity,
                        Reason::SchemaViolation,
                        format!("$.{name}"),
                        "not an XML Schema dateTime with a time zone; the validity period cannot be judged",
                    )
                }
            },
        }
    }
    validity_check(times[0], times[1], now)
}

fn validity_check(
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Check {
    match (from, until) {
        (Some(f), _) if now < f => Check::fail(
            CheckName::Validity,
            Reason::NotYetValid,
            format!("valid from {}", format_time(f)),
        ),
        (_, Some(u)) if now >= u => Check::fail(
            CheckName::Validity,
            Reason::Expired,
            format!("expired {}", format_time(u)),
        ),
        _ => Check::pass(CheckName::Validity),
    }
}

fn integrity_check(record: Option<&RecordFacts>) -> Option<Check> {
    record.map(|r| match &r.integrity {
        Ok(()) => Check::pass(CheckName::Integrity),
        Err(detail) => Check::fail(
            CheckName::Integrity,
            Reason::IntegrityFailure,
            detail.clone(),
        ),
    })
}

/// Verifies a licence document. Returns the verdict and, when it parsed, the typed licence.
pub fn licence(doc: &Value, ev: Evidence<'_>) -> (Verdict, Option<Licence>) {
    licence_prepared(doc, &proof::prepare(doc), ev)
}

/// [`licence`] for a document whose proof was already prepared (e.g. for a batch verification).
pub fn licence_prepared(
    doc: &Value,
    prepared: &Result<Prepared, ProofError>,
    ev: Evidence<'_>,
) -> (Verdict, Option<Licence>) {
    let mut checks: Vec<Check> = integrity_check(ev.record).into_iter().collect();
    let lic = match Licence::parse(doc) {
        Ok(l) => {
            checks.push(Check::pass(CheckName::Identifier));
            Some(l)
        }
        Err(r) => {
            let name = if matches!(r.reason, Reason::SchemaViolation | Reason::UnknownType) {
                CheckName::Schema
            } else {
                CheckName::Identifier
            };
            checks.push(Check::fail_at(name, r.reason, r.field, r.message));
            None
        }
    };
    let sig = proof_check(prepared, ev.signature, ev.now);
    let Some(lic) = lic else {
        checks.push(sig);
        return (Verdict::new(checks, ev.now), None);
    };

    match ev.registries {
        None => checks.push(Check::not_checked(CheckName::Schema, "no catalogue given")),
        Some(reg) => checks.push(match reg.types.get(&lic.type_code) {
            None => Check::fail(
                CheckName::Schema,
                Reason::UnknownType,
                format!("type {} is not catalogued", lic.type_code),
            ),
            Some(ty) => match ty.check_fields(&lic.fields) {
                Err(v) => Check::fail_at(
                    CheckName::Schema,
                    Reason::SchemaViolation,
                    format!("$.credentialSubject.licence.fields.{}", v.field),
                    v.message,
                ),
                Ok(()) if ty.holder_category.code_type() != lic.holder.code_type() => {
                    Check::fail_at(
                        CheckName::Schema,
                        Reason::SchemaViolation,
                        "$.credentialSubject.holder.codeType",
                        format!(
                            "{} holders must have codeType {}",
                            ty.name,
                            ty.holder_category.code_type()
                        ),
                    )
                }
                Ok(()) => Check::pass(CheckName::Schema),
            },
        }),
    }
    checks.push(sig);
    if let (Some(_), Ok(Prepared { created: None, .. })) = (ev.registries, prepared) {
        // Which key was usable can only be judged at a creation time: a licence must name one.
        checks.push(Check::fail_at(
            CheckName::IssuerKey,
            Reason::BadSignature,
            "$.proof.created",
            "a licence's proof must say when it was created",
        ));
    } else if let (
        Some(reg),
        Ok(Prepared {
            key,
            created: Some(created),
            ..
        }),
    ) = (ev.registries, prepared)
    {
        checks.extend(key_checks(
            reg,
            key,
            *created,
            &lic,
            ev.record.map(|r| r.deposited_at),
        ));
    } else {
        let why = if ev.registries.is_none() {
            "no agency registry given"
        } else {
            "no usable proof"
        };
        checks.push(Check::not_checked(CheckName::IssuerKey, why));
        checks.push(Check::not_checked(CheckName::Issuer, why));
    }
    checks.push(status_check(ev.record));
    checks.push(validity_check(
        Some(lic.valid_from),
        lic.valid_until,
        ev.now,
    ));
    (Verdict::new(checks, ev.now), Some(lic))
}

/// Judges the key that made a signature: registered to which agency, and usable for a signature
/// created at `created` and received by the vault at `deposited`. The text says why either way.
pub fn signing_key<'r>(
    reg: &'r Registries,
    key: &DidKey,
    created: DateTime<Utc>,
    deposited: Option<DateTime<Utc>>,
) -> Result<(&'r crate::registry::Agency, String), (Reason, String)> {
    let Some((agency, entry)) = reg.key(key) else {
        return Err((
            Reason::UnknownKey,
            format!("{key} is not registered to any agency"),
        ));
    };
    let when = match deposited {
        Some(d) => format!(
            "created {}, deposited {}",
            format_time(created),
            format_time(d)
        ),
        None => format!("created {}, not deposited", format_time(created)),
    };
    let uscc = &agency.uscc;
    match entry.standing(created, deposited) {
        KeyStanding::Usable => Ok((
            agency,
            format!("key {key} registered for {uscc}, active at proof.created ({when})"),
        )),
        KeyStanding::NotYetActive => Err((
            Reason::KeyNotActive,
            format!(
                "key {key} of {uscc} is active from {}, {when}",
                format_time(entry.active_from)
            ),
        )),
        KeyStanding::Retired(at) => Err((
            Reason::KeyNotActive,
            format!("key {key} of {uscc} retired {}, {when}", format_time(at)),
        )),
        KeyStanding::Compromised(at) => Err((
            Reason::KeyCompromised,
            format!(
                "key {key} of {uscc} compromised {}; {when}",
                format_time(at)
            ),
        )),
    }
}

fn key_checks(
    reg: &Registries,
    key: &DidKey,
    created: DateTime<Utc>,
    lic: &Licence,
    deposited: Option<DateTime<Utc>>,
) -> [Check; 2] {
    let (key_check, agency) = match signing_key(reg, key, created, deposited) {
        Ok((agency, detail)) => (Check::pass_with(CheckName::IssuerKey, detail), agency),
        Err((Reason::UnknownKey, detail)) => {
            return [
                Check::fail(CheckName::IssuerKey, Reason::UnknownKey, detail),
                Check::not_checked(CheckName::Issuer, "signing key unknown"),
            ];
        }
        Err((reason, detail)) => {
            // The key is registered (only an unknown key has no owner), so the issuer can be judged.
            let Some((agency, _)) = reg.key(key) else {
                return [
                    Check::fail(CheckName::IssuerKey, reason, detail),
                    Check::not_checked(CheckName::Issuer, "signing key unknown"),
                ];
            };
            (Check::fail(CheckName::IssuerKey, reason, detail), agency)
        }
    };
    let issuer_check = if agency.uscc != lic.issuer {
        Check::fail(
            CheckName::Issuer,
            Reason::IssuerMismatch,
            format!(
                "signed with a key of {}, but issuer is {}",
                agency.uscc, lic.issuer
            ),
        )
    } else if !reg
        .types
        .get(&lic.type_code)
        .is_some_and(|t| t.issuers.contains(&lic.issuer))
    {
        Check::fail(
            CheckName::Issuer,
            Reason::TypeNotAllowed,
            format!("{} may not issue type {}", lic.issuer, lic.type_code),
        )
    } else {
        Check::pass(CheckName::Issuer)
    };
    [key_check, issuer_check]
}

fn status_check(record: Option<&RecordFacts>) -> Check {
    let Some(r) = record else {
        return Check::not_checked(CheckName::Status, "licence is not held by this vault");
    };
    if let Some(next) = &r.superseded_by {
        return Check::fail(
            CheckName::Status,
            Reason::Superseded,
            format!("superseded by {}", next.urn()),
        );
    }
    match &r.status {
        None => Check::pass_with(CheckName::Status, "active"),
        Some((status, at, reason)) => match status.reason() {
            None => Check::pass_with(CheckName::Status, "active"),
            Some(code) => Check::fail(
                CheckName::Status,
                code,
                format!("{} {}: {reason}", code.as_str(), format_time(*at)),
            ),
        },
    }
}

/// The `schema` check of a vault-signed document: it fails at the first member of
/// `credentialSubject` in `members` that is not as it must be (`what` says of which document); when
/// all are, it passes with `detail`.
fn subject_schema(members: &[(&str, bool)], what: &str, detail: impl FnOnce() -> String) -> Check {
    match members.iter().find(|(_, ok)| !ok) {
        None => Check::pass_with(CheckName::Schema, detail()),
        Some((name, _)) => Check::fail_at(
            CheckName::Schema,
            Reason::SchemaViolation,
            format!("$.credentialSubject.{name}"),
            format!("a {what} must state this"),
        ),
    }
}

/// Verifies a document the vault signs that is judged from the vault's keys alone — a consent
/// receipt, a revocation notice, an export manifest or a deletion attestation — or `None` for any other document. The one dispatch the CLI
/// and the vault share.
pub fn vault_signed(
    doc: &Value,
    trusted: Option<&VaultKeys>,
    now: DateTime<Utc>,
) -> Option<Verdict> {
    if consent_receipt::is_consent_receipt(doc) {
        Some(consent_receipt::check(doc, trusted, now))
    } else if notice::is_notice(doc) {
        Some(notice::check(doc, trusted, now))
    } else if export_manifest::is_export_manifest(doc) {
        Some(export_manifest::check(doc, trusted, now))
    } else if deletion::is_deletion_attestation(doc) {
        Some(deletion::check(doc, trusted, now))
    } else {
        None
    }
}

/// Verifies any `eddsa-jcs-2022`-signed document that is not a licence (a receipt, a stamped copy,
/// a status list, any VC): the signature and validity period, and — when `trusted` is the history
/// of the keys that may sign such documents — the signer and its period.
pub fn document(doc: &Value, trusted: Option<&VaultKeys>, now: DateTime<Utc>) -> Verdict {
    let prepared = proof::prepare(doc);
    let mut checks = vec![proof_check(&prepared, None, now)];
    checks.push(match (trusted, &prepared) {
        (Some(keys), Ok(p)) => keys.check(&p.key, p.created),
        _ => Check::not_checked(CheckName::IssuerKey, "no trusted key given"),
    });
    if let Ok(p) = &prepared {
        checks.push(controls(doc, &p.key, Party::Issuer));
    }
    checks.push(readable_validity(doc, now));
    checks.push(match data_model::credential(doc) {
        Ok(()) => Check::pass(CheckName::DataModel),
        Err(r) => Check::fail_at(CheckName::DataModel, r.reason, r.field, r.message),
    });
    Verdict::new(checks, now)
}

/// The party a signed document names as the one who signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// A credential's `issuer`.
    Issuer,
    /// A presentation's `holder`.
    Holder,
}

/// Whether the party a document names (its `issuer`, a presentation's `holder`: a URL or an
/// object with one as `id`) controls the key that signed it. A `did:key` is its own key's
/// controller, so the two must be the same DID; any other identifier would have to be resolved,
/// which this verifier does not do, so it is not checked.
pub fn controls(doc: &Value, key: &DidKey, party: Party) -> Check {
    let (member, check, mismatch) = match party {
        Party::Issuer => ("issuer", CheckName::Issuer, Reason::IssuerMismatch),
        Party::Holder => ("holder", CheckName::Holder, Reason::HolderMismatch),
    };
    let Some(id) = doc
        .get(member)
        .and_then(|p| p.as_str().or_else(|| p.get("id").and_then(Value::as_str)))
    else {
        return Check::not_checked(check, format!("the document names no {member}"));
    };
    if id == key.as_str() {
        Check::pass_with(check, format!("{id} controls the signing key"))
    } else if id.starts_with("did:key:") {
        Check::fail_at(
            check,
            mismatch,
            format!("$.{member}"),
            format!("{id} does not control the signing key {key}"),
        )
    } else {
        Check::not_checked(
            check,
            format!("who controls the signing key is resolved for did:key only, not for {id}"),
        )
    }
}
