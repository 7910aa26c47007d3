//! The one error envelope: `{"error": {"code", "message", "field"?}}`.
//!
//! | status | reason codes |
//! | --- | --- |
//! | 400 | `malformed_json`, `invalid_identifier`, `invalid_holder_code`, `invalid_agency_code`, `unknown_type`, `schema_violation`, `invalid_request` |
//! | 401 | `unauthorized` (missing, malformed or unknown credential) |
//! | 403 | `forbidden` (a valid credential acting outside its role or scope); `matter_not_allowed` (a requester pulling for a matter it is not registered for); `no_consent`, `consent_expired`, `consent_exhausted`, `consent_withdrawn` |
//! | 404 | `not_found`; `no_licence` |
//! | 409 | `conflict` (same id, other content; existing agency or key), `invalid_transition` (a status change SPEC §6 forbids), `request_expired` and `request_answered` (a consent request that can no longer be answered, SPEC §10), `presentation_used`, `presentation_expired` and `presentation_cancelled` (a presentation code that can no longer be redeemed, SPEC §11), `correction_open`, `correction_closed` and `objection_closed` (SPEC §17), `offer_used`, `offer_expired` and `offer_cancelled` (a wallet offer the holder can no longer cancel, SPEC §15) |
//! | 413 | `payload_too_large` |
//! | 429 | `too_many_pending_requests` (a requester's or a holder's cap of pending consent requests, SPEC §10), `rate_limited` (the caller's share of a class of endpoints is used up; `Retry-After` says when to come back) |
//! | 415 | `unsupported_media_type` |
//! | 422 | a document that parses but does not verify: `bad_signature`, `unknown_key`, `key_not_active`, `key_compromised`, `vault_key_retired`, `vault_key_compromised`, `issuer_mismatch`, `type_not_allowed`, `suspended`, `revoked`, `cancelled`, `expired`, `not_yet_valid`, `superseded`, `integrity_failure`, `challenge_mismatch`, `domain_mismatch`, `holder_mismatch`, `tx_code_mismatch`; a printable copy's `not_sealed`, `seal_invalid`, `seal_untrusted`, `pdf_modified`, `unknown_print`, `print_mismatch`, `unprintable` |
//!
//! The OpenID4VCI endpoints (`http/oid4vci`) answer OAuth's own error object instead, as the protocol asks; their reasons become its codes there.
//! | 500 | `internal` (generic message; the detail goes to the log) |
//! | 503 | `unavailable` (`Retry-After: 2`), `storage_full` (`Retry-After: 30`), `vault_key_unavailable` (the vault key cannot sign here now: nothing was written; `Retry-After: 30`) |
//!
//! Within a `200` answer of `POST /v1/reuse`, each type that was not provided carries one of the reuse
//! reasons (`no_consent` … `matter_not_allowed`) or a verification reason; the table applies only
//! when one of them refuses a whole request.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;
use crate::vault::VaultError;
use crate::verdict::{Reason, Rejection};
use crate::verify::SigningError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub reason: Reason,
    pub message: String,
    pub field: Option<String>,
}

/// The wire form of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: Reason,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            field: None,
        }
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn unauthorized() -> Self {
        Self::new(Reason::Unauthorized, "a valid bearer token is required")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Reason::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Reason::NotFound, message)
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            Reason::Internal,
            "internal error; the vault logged the details",
        )
    }
    pub fn status(&self) -> StatusCode {
        status_of(self.reason)
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.reason,
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

/// The HTTP status of a reason code (the table in this module's docs).
pub fn status_of(reason: Reason) -> StatusCode {
    use Reason::*;
    match reason {
        MalformedJson | InvalidIdentifier | InvalidHolderCode | InvalidAgencyCode | UnknownType
        | SchemaViolation | InvalidRequest => StatusCode::BAD_REQUEST,
        Unauthorized => StatusCode::UNAUTHORIZED,
        Forbidden | MatterNotAllowed | NoConsent | ConsentExpired | ConsentExhausted
        | ConsentWithdrawn => StatusCode::FORBIDDEN,
        NotFound | NoLicence => StatusCode::NOT_FOUND,
        Conflict
        | InvalidTransition
        | RequestExpired
        | RequestAnswered
        | PresentationUsed
        | PresentationExpired
        | PresentationCancelled
        | CorrectionOpen
        | CorrectionClosed
        | ObjectionClosed
        | OfferUsed
        | OfferExpired
        | OfferCancelled => StatusCode::CONFLICT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        BadSignature | UnknownKey | KeyNotActive | KeyCompromised | VaultKeyRetired
        | VaultKeyCompromised | IssuerMismatch | TypeNotAllowed | Suspended | Revoked
        | Cancelled | Expired | NotYetValid | Superseded | IntegrityFailure | ChallengeMismatch
        | DomainMismatch | HolderMismatch | TxCodeMismatch | NotSealed | SealInvalid
        | SealUntrusted | PdfModified | UnknownPrint | PrintMismatch | Unprintable => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Unavailable | StorageFull | VaultKeyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        TooManyPendingRequests | RateLimited => StatusCode::TOO_MANY_REQUESTS,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), Json(self.body())).into_response();
        if self.reason == Reason::Unauthorized {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(
            self.reason,
            Reason::StorageFull | Reason::VaultKeyUnavailable
        ) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        if self.reason == Reason::Unavailable {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        res
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        Self {
            reason: r.reason,
            message: r.message,
            field: Some(r.field),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // A client can act on this one: nothing was written, try again later.
            StoreError::Full(detail) => {
                tracing::error!(error = %detail, "write refused: storage full");
                Self::new(
                    Reason::StorageFull,
                    "the vault's storage is full; nothing was written; try again later",
                )
            }
            // The database cannot be reached or is not the primary (a failover in progress): the
            // client may try again. A change whose commit was cut off may have applied whole;
            // deposits, answers and withdrawals are idempotent, so trying again is safe.
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                Self::new(
                    Reason::Unavailable,
                    "the vault's database is unavailable; try again shortly",
                )
            }
            // Other nodes kept changing what this request decides on, beyond the vault's retries:
            // nothing was written.
            StoreError::Conflict(detail) => {
                tracing::warn!(error = %detail, "write refused: lost every retry to concurrent changes");
                Self::new(
                    Reason::Unavailable,
                    "the vault is busy with concurrent changes to the same records; nothing was written; try again shortly",
                )
            }
            other => Self::internal(other),
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Rejected(r) => r.into(),
            VaultError::Store(s) => s.into(),
            VaultError::Signing(s) => s.into(),
        }
    }
}

impl From<SigningError> for ApiError {
    fn from(e: SigningError) -> Self {
        if e.unavailable {
            tracing::error!(error = %e, "the vault key cannot sign");
            Self::new(
                Reason::VaultKeyUnavailable,
                "the vault's signing key is unavailable: nothing was written; retry later",
            )
        } else {
            Self::internal(e)
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}
