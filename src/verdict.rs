//! The one verdict type and the one set of reason codes.
//!
//! Every verification — deposit, extraction, `POST /v1/verify`, the `verify` CLI — returns a
//! [`Verdict`]; every error the API returns carries a [`Reason`]. The codes are stable wire values.
//!
//! **Invariant:** a verdict is `valid` only if every check passed or was explicitly not applicable;
//! a check that could not be made is `ok: null` ("not checked"), never `ok: true`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stable, snake_case reason codes (SPEC §4, §7).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // Verification reasons (SPEC §4).
    MalformedJson,
    InvalidIdentifier,
    InvalidHolderCode,
    InvalidAgencyCode,
    UnknownType,
    SchemaViolation,
    BadSignature,
    UnknownKey,
    KeyNotActive,
    KeyCompromised,
    /// A vault-signed document made by a vault key after that key's `validUntil` (SPEC §18).
    VaultKeyRetired,
    /// A vault-signed document made by a vault key at or after its declared compromise.
    VaultKeyCompromised,
    IssuerMismatch,
    TypeNotAllowed,
    Suspended,
    Revoked,
    Cancelled,
    Expired,
    NotYetValid,
    Superseded,
    IntegrityFailure,
    // Reuse reasons (SPEC §7): why a pull did not provide a licence.
    NoConsent,
    ConsentExpired,
    ConsentExhausted,
    ConsentWithdrawn,
    NoLicence,
    MatterNotAllowed,
    // Consent request reasons (SPEC §10): why a request cannot be answered.
    RequestExpired,
    RequestAnswered,
    // Presentation code reasons (SPEC §11): why a code cannot be redeemed.
    PresentationUsed,
    PresentationExpired,
    PresentationCancelled,
    // Request and access reasons (SPEC §7, §9).
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    InvalidTransition,
    InvalidRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    Internal,
    Unavailable,
    /// The vault's signing key cannot sign now (its hardware module failed, or this node does
    /// not hold the key now in force): nothing was written; retry later.
    VaultKeyUnavailable,
    /// The vault's disk is full: nothing was written; retry later.
    StorageFull,
    /// A requester has as many pending consent requests for the holder as the vault keeps, or the
    /// holder has (SPEC §10): nothing was stored; the holder's answers make room.
    TooManyPendingRequests,
    /// The caller made more requests of this class than its share allows: retry after the time
    /// `Retry-After` says.
    RateLimited,
    /// The licence already has an open correction request (SPEC §17).
    CorrectionOpen,
    /// The correction request was answered or withdrawn already: nothing moves it now.
    CorrectionClosed,
    /// The objection was answered or withdrawn already.
    ObjectionClosed,
    /// A presentation's proof answers another challenge than the verifier's, or a challenge the
    /// vault gave that is forged or expired.
    ChallengeMismatch,
    /// A presentation's proof is for another domain than the verifier's.
    DomainMismatch,
    /// A presentation's `holder` does not control the key that signed it.
    HolderMismatch,
    // Wallet offer reasons (SPEC §15, OpenID4VCI): why an offer cannot be taken a step further.
    /// A wallet took the offer up already (its code was exchanged, or its licence received).
    OfferUsed,
    /// The offer, or its access token, has expired.
    OfferExpired,
    /// The holder cancelled the offer, or too many wrong transaction codes were tried.
    OfferCancelled,
    /// The transaction code the wallet sent is not the one shown to the holder.
    TxCodeMismatch,
    // Printable copies (SPEC §16).
    /// A PDF carries no seal the vault can read (not a PDF, no signature, malformed ranges).
    NotSealed,
    /// A PDF's seal does not verify, or the bytes it covers were changed.
    SealInvalid,
    /// A PDF's seal verifies, but its certificate is not from the vault's rendering CA.
    SealUntrusted,
    /// Bytes were appended to a sealed PDF after its seal (an incremental update).
    PdfModified,
    /// The print a PDF or QR code names is not one the vault made.
    UnknownPrint,
    /// A PDF's page does not show exactly what its copy says.
    PrintMismatch,
    /// A licence's text needs a glyph the rendering font lacks.
    Unprintable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidIdentifier => "invalid_identifier",
            Self::InvalidHolderCode => "invalid_holder_code",
            Self::InvalidAgencyCode => "invalid_agency_code",
            Self::UnknownType => "unknown_type",
            Self::SchemaViolation => "schema_violation",
            Self::BadSignature => "bad_signature",
            Self::UnknownKey => "unknown_key",
            Self::KeyNotActive => "key_not_active",
            Self::KeyCompromised => "key_compromised",
            Self::VaultKeyRetired => "vault_key_retired",
            Self::VaultKeyCompromised => "vault_key_compromised",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::TypeNotAllowed => "type_not_allowed",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Superseded => "superseded",
            Self::IntegrityFailure => "integrity_failure",
            Self::NoConsent => "no_consent",
            Self::ConsentExpired => "consent_expired",
            Self::ConsentExhausted => "consent_exhausted",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::NoLicence => "no_licence",
            Self::MatterNotAllowed => "matter_not_allowed",
            Self::RequestExpired => "request_expired",
            Self::RequestAnswered => "request_answered",
            Self::PresentationUsed => "presentation_used",
            Self::PresentationExpired => "presentation_expired",
            Self::PresentationCancelled => "presentation_cancelled",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidTransition => "invalid_transition",
            Self::InvalidRequest => "invalid_request",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::VaultKeyUnavailable => "vault_key_unavailable",
            Self::StorageFull => "storage_full",
            Self::TooManyPendingRequests => "too_many_pending_requests",
            Self::RateLimited => "rate_limited",
            Self::CorrectionOpen => "correction_open",
            Self::CorrectionClosed => "correction_closed",
            Self::ObjectionClosed => "objection_closed",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::DomainMismatch => "domain_mismatch",
            Self::HolderMismatch => "holder_mismatch",
            Self::OfferUsed => "offer_used",
            Self::OfferExpired => "offer_expired",
            Self::OfferCancelled => "offer_cancelled",
            Self::TxCodeMismatch => "tx_code_mismatch",
            Self::NotSealed => "not_sealed",
            Self::SealInvalid => "seal_invalid",
            Self::SealUntrusted => "seal_untrusted",
            Self::PdfModified => "pdf_modified",
            Self::UnknownPrint => "unknown_print",
            Self::PrintMismatch => "print_mismatch",
            Self::Unprintable => "unprintable",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request or document is refused: a reason code, the JSON path of the offending field, a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Rejection {
    pub reason: Reason,
    pub field: String,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: Reason, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a verdict looked at, in the order checks are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// The stored bytes are the bytes whose digest the vault recorded at deposit.
    Integrity,
    /// The document parses as a licence and its identifier and codes are valid.
    Identifier,
    /// The licence type is catalogued and the face fields satisfy its schema.
    Schema,
    /// The eddsa-jcs-2022 proof verifies.
    Signature,
    /// The signing key is registered to the issuer and was usable when the proof was made.
    IssuerKey,
    /// The issuer is the agency named in the document and may issue the type.
    Issuer,
    /// The lifecycle status (revoked, suspended, superseded …).
    Status,
    /// `validFrom` / `validUntil` (or a stamped copy's `expiresAt`) against the checking time.
    Validity,
    /// A purpose-stamped copy still matches the licence it names.
    Binding,
    /// The document follows the rules of the VC 2.0 data model (`@context`, `type`, `issuer`,
    /// `credentialSubject` and the rest).
    DataModel,
    /// A presentation's holder controls the key that signed it.
    Holder,
    /// A presentation's proof answers the verifier's challenge.
    Challenge,
    /// A presentation's proof is for the verifier's domain.
    Domain,
    /// Every credential a presentation carries is valid on its own.
    Credentials,
    /// A PDF's seal (PAdES, by the vault's rendering key) verifies and covers the whole file.
    Seal,
    /// A PDF's page shows exactly what the signed copy it names says.
    Printed,
}

/// One check's outcome: `ok` is `true`, `false` (with a `code`), or `null` when it was not checked.
///
/// A failure about one member of the document carries its JSON path in `field`; on the wire the
/// path leads the detail (`"$.validUntil: …"`), and a refused deposit names it as its `field`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
pub struct Check {
    pub check: CheckName,
    pub ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Reason>,
    /// The JSON path the failure is about, when it is about one member (not a wire field: it is
    /// written at the head of `detail`).
    #[serde(skip)]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            check: CheckName,
            ok: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            code: Option<Reason>,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<std::borrow::Cow<'a, str>>,
        }
        let detail = match (&self.field, &self.detail) {
            (Some(f), Some(d)) => Some(format!("{f}: {d}").into()),
            (Some(f), None) => Some(f.as_str().into()),
            (None, d) => d.as_deref().map(Into::into),
        };
        Wire {
            check: self.check,
            ok: self.ok,
            code: self.code,
            detail,
        }
        .serialize(s)
    }
}

impl Check {
    pub fn pass(check: CheckName) -> Self {
        Self {
            check,
            ok: Some(true),
            code: None,
            field: None,
            detail: None,
        }
    }
    pub fn pass_with(check: CheckName, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::pass(check)
        }
    }
    pub fn fail(check: CheckName, code: Reason, detail: impl Into<String>) -> Self {
        Self {
            check,
            ok: Some(false),
            code: Some(code),
            field: None,
            detail: Some(detail.into()),
        }
    }
    /// A failure about the member at JSON path `field`.
    pub fn fail_at(
        check: CheckName,
        code: Reason,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::fail(check, code, detail)
        }
    }
    pub fn not_checked(check: CheckName, why: impl Into<String>) -> Self {
        Self {
            check,
            ok: None,
            code: None,
            field: None,
            detail: Some(format!("not checked: {}", why.into())),
        }
    }
}

/// The machine-readable result of verifying a document (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub valid: bool,
    pub checks: Vec<Check>,
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: DateTime<Utc>,
    /// For a minimised stamped copy (SPEC §10): the face fields it discloses, the only ones it
    /// carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosed: Option<Vec<String>>,
    /// The holder disputes the licence while a correction is open (SPEC §17). Not a check: the
    /// licence is valid until its issuer says otherwise, but whoever relies on it is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disputed: Option<Disputed>,
}

/// A licence under dispute: which correction, since when, which fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Disputed {
    pub correction: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
    pub fields: Vec<String>,
}

impl Verdict {
    /// Valid iff no check failed and at least the signature was checked.
    pub fn new(checks: Vec<Check>, checked_at: DateTime<Utc>) -> Self {
        let none_failed = checks.iter().all(|c| c.ok != Some(false));
        let signed = checks
            .iter()
            .any(|c| c.check == CheckName::Signature && c.ok == Some(true));
        Self {
            valid: none_failed && signed,
            checks,
            checked_at,
            disclosed: None,
            disputed: None,
        }
    }
    /// The first failing reason, in check order.
    pub fn reason(&self) -> Option<Reason> {
        self.checks
            .iter()
            .find(|c| c.ok == Some(false))
            .and_then(|c| c.code)
    }
    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|c| c.check == name)
    }
    /// The same verdict with `replacement` in place of the check of its name (or first, if there
    /// was none), and `valid` recomputed; what it says besides its checks is kept.
    pub fn replacing(self, replacement: Check) -> Self {
        let mut checks = self.checks;
        match checks.iter_mut().find(|c| c.check == replacement.check) {
            Some(c) => *c = replacement,
            None => checks.insert(0, replacement),
        }
        Self {
            disclosed: self.disclosed,
            disputed: self.disputed,
            ..Self::new(checks, self.checked_at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_spec_shows() {
        let t = DateTime::parse_from_rfc3339("2025-03-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let v = Verdict::new(
            vec![
                Check::pass(CheckName::Signature),
                Check::fail(
                    CheckName::Status,
                    Reason::Revoked,
                    "revoked 2025-03-01T00:00:00Z: fraud",
                ),
                Check::not_checked(CheckName::Validity, "no clock"),
            ],
            t,
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"valid":false,"checks":[{"check":"signature","ok":true},{"check":"status","ok":false,"code":"revoked","detail":"revoked 2025-03-01T00:00:00Z: fraud"},{"check":"validity","ok":null,"detail":"not checked: no clock"}],"checkedAt":"2025-03-02T00:00:00Z"}"#
        );
        assert_eq!(v.reason(), Some(Reason::Revoked));
        let at = Check::fail_at(
            CheckName::Validity,
            Reason::Expired,
            "$.validUntil",
            "expired",
        );
        assert_eq!(
            serde_json::to_string(&at).unwrap(),
            r#"{"check":"validity","ok":false,"code":"expired","detail":"$.validUntil: expired"}"#
        );
        assert_eq!(at.field.as_deref(), Some("$.validUntil"));
    }

    /// `field` is not a wire member: the OpenAPI document describes what is sent.
    #[test]
    fn the_check_schema_has_the_wire_members_only() {
        let schema = serde_json::to_value(<Check as utoipa::PartialSchema>::schema()).unwrap();
        let mut members: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        members.sort();
        assert_eq!(members, ["check", "code", "detail", "ok"]);
    }

    #[test]
    fn not_checked_is_never_passed_and_unsigned_is_never_valid() {
        let t = Utc::now();
        assert!(!Verdict::new(vec![Check::not_checked(CheckName::Signature, "x")], t).valid);
        assert!(
            Verdict::new(
                vec![
                    Check::pass(CheckName::Signature),
                    Check::not_checked(CheckName::Status, "x")
                ],
                t
            )
            .valid
        );
    }

    #[test]
    fn as_str_matches_serde() {
        for r in [
            Reason::MalformedJson,
            Reason::KeyNotActive,
            Reason::IntegrityFailure,
            Reason::PayloadTooLarge,
            Reason::NoConsent,
            Reason::ConsentExpired,
            Reason::ConsentExhausted,
            Reason::ConsentWithdrawn,
            Reason::NoLicence,
            Reason::MatterNotAllowed,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
