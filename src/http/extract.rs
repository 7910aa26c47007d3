//! Extractors that turn requests into domain values or our error envelope — never axum's plain text.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::auth::{Principal, Role};
use crate::codes::{HolderCode, LicenceId, Uscc};
use crate::reuse::delegation::Acting;
use crate::vault::Caller;
use crate::verdict::Reason;

/// A JSON body that is I-JSON (duplicate names, lone surrogates and big integers rejected with
/// `malformed_json`) and matches `T` exactly (unknown fields rejected, naming the field).
#[derive(Debug)]
pub struct AppJson<T>(pub T);

/// The raw I-JSON value of the body, for documents that are verified as they are.
#[derive(Debug)]
pub struct JsonDoc(pub Value);

/// The media type of a request's body, lower case, without parameters.
fn mime_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether the body is a PDF.
pub fn is_pdf(headers: &axum::http::HeaderMap) -> bool {
    mime_of(headers) == "application/pdf"
}

/// The body's bytes, within the route's limit.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::new(
            Reason::PayloadTooLarge,
            "the body is larger than this endpoint accepts",
        ),
        other => ApiError::new(Reason::InvalidRequest, other.body_text()),
    })
}

async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Value, ApiError> {
    let mime = mime_of(req.headers());
    if !(mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json")))
    {
        return Err(ApiError::new(
            Reason::UnsupportedMediaType,
            "the body must be application/json",
        ));
    }
    let bytes = body_bytes(req, state).await?;
    crate::jcs::parse(&bytes).map_err(|e| {
        let mut err = ApiError::new(Reason::MalformedJson, format!("not I-JSON: {e}"));
        err.field = e.path;
        err
    })
}

impl<S: Send + Sync> FromRequest<S> for JsonDoc {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(json_body(req, state).await?))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let value = json_body(req, state).await?;
        from_value(value).map(AppJson)
    }
}

/// Deserialises a request DTO, naming the offending field and choosing the reason code by it.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    crate::jcs::deserialize(&value).map_err(|e| {
        let reason = match e.member.as_str() {
            "uscc" | "issuers" => Reason::InvalidAgencyCode,
            "typeCode" | "types" | "licences" => Reason::InvalidIdentifier,
            "holder" => Reason::InvalidHolderCode,
            _ => Reason::InvalidRequest,
        };
        ApiError::new(reason, e.message).field(e.path)
    })
}

/// The authenticated caller. Missing, malformed or unknown credentials are `401`.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

/// The bearer credential of `Authorization`, if there is one of at most `max` bytes.
pub fn bearer_of(headers: &header::HeaderMap, max: usize) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= max)
}

/// The bearer credential of a request: missing, malformed or too long is `401`.
fn bearer(parts: &Parts) -> Result<String, ApiError> {
    bearer_of(&parts.headers, 4096)
        .map(str::to_owned)
        .ok_or_else(ApiError::unauthorized)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(parts)?;
        // A token already resolved is a memory lookup; anything else may read the store or
        // verify a JWS, so it is bounded like every other blocking call: 64 connections must not
        // mean 64 threads.
        if let Some(p) = state.vault.known_token(&bearer) {
            return Ok(Auth(p));
        }
        let vault = state.vault.clone();
        let principal =
            super::blocking(move || Ok(vault.authenticate(&bearer, chrono::Utc::now())?)).await?;
        principal.map(Auth).ok_or_else(ApiError::unauthorized)
    }
}

/// Role bits for [`Allow`].
pub const ADMIN: u8 = 1;
pub const ISSUER: u8 = 2;
pub const REQUESTER: u8 = 4;
pub const HOLDER: u8 = 8;
pub const SUPERVISOR: u8 = 16;

/// A role's bit: the one mapping, for the extractors and the route table.
pub(super) fn bit(role: Role) -> u8 {
    match role {
        Role::Admin => ADMIN,
        Role::Issuer => ISSUER,
        Role::Requester => REQUESTER,
        Role::Holder => HOLDER,
        Role::Supervisor => SUPERVISOR,
    }
}

/// An authenticated caller whose role is one of `ROLES` (a bit set): `401` without a valid
/// credential, `403` for another role — decided before the body is read.
#[derive(Debug, Clone)]
pub struct Allow<const ROLES: u8>(pub Principal);

impl<const ROLES: u8> FromRequestParts<AppState> for Allow<ROLES> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        admit::<ROLES>(Some(principal)).map(Self)
    }
}

/// `principal` if it has one of the `ROLES`: `401` without one, `403` for another role.
pub fn admit<const ROLES: u8>(principal: Option<Principal>) -> Result<Principal, ApiError> {
    let principal = principal.ok_or_else(ApiError::unauthorized)?;
    if bit(principal.role()) & ROLES != 0 {
        return Ok(principal);
    }
    let names: Vec<&str> = [
        (ADMIN, "admin"),
        (ISSUER, "issuer"),
        (REQUESTER, "requester"),
        (HOLDER, "holder"),
        (SUPERVISOR, "supervisor"),
    ]
    .into_iter()
    .filter(|(b, _)| b & ROLES != 0)
    .map(|(_, n)| n)
    .collect();
    Err(ApiError::forbidden(format!(
        "this endpoint is for {} tokens",
        names.join(" or ")
    )))
}

/// [`Allow`] decided later: a caller whose token this vault does not remember yet is resolved by
/// the handler, in the flight of its first reads ([`Caller`]), then admitted with [`admit`] —
/// `401` and `403` as [`Allow`] gives them, before anything is answered.
#[derive(Debug, Clone)]
pub struct Deferred<const ROLES: u8>(pub Caller);

impl<const ROLES: u8> FromRequestParts<AppState> for Deferred<ROLES> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(parts)?;
        Ok(Self(match state.vault.known_token(&bearer) {
            Some(p) => Caller::Resolved(admit::<ROLES>(Some(p))?),
            None => Caller::Bearer(bearer),
        }))
    }
}

/// The header naming the holder a delegate, guardian or legal representative acts for.
pub const ACTING_FOR: &str = "acting-for";

/// The holder named by `Acting-For`, if the header is there.
pub fn acting_for(headers: &header::HeaderMap) -> Result<Option<HolderCode>, ApiError> {
    let Some(value) = headers.get(ACTING_FOR) else {
        return Ok(None);
    };
    value
        .to_str()
        .map_err(|_| "is not text".to_owned())
        .and_then(|t| t.trim().parse().map_err(|e| format!("{e}")))
        .map(Some)
        .map_err(|e| {
            ApiError::new(Reason::InvalidHolderCode, format!("Acting-For: {e}")).field("Acting-For")
        })
}

/// A holder token's caller and whom they act for (SPEC §11): themselves, or — with
/// `Acting-For: codeType:code` — a company or ward they may act for, resolved and checked now
/// (`403` when no authorisation is in force). Refuses other roles as [`Allow`] does.
#[derive(Debug, Clone)]
pub struct Me(pub Acting);

impl FromRequestParts<AppState> for Me {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Allow::<HOLDER>(principal) = Allow::from_request_parts(parts, state).await?;
        let Principal::Holder(actor) = principal else {
            return Err(ApiError::forbidden("this endpoint is for holder tokens"));
        };
        let Some(holder) = acting_for(&parts.headers)? else {
            return Ok(Me(Acting::own(actor)));
        };
        let vault = state.vault.clone();
        let acting =
            super::blocking(move || Ok(vault.acting(&actor, &holder, chrono::Utc::now())?)).await?;
        Ok(Me(acting))
    }
}

/// Path parameters, refused in our envelope (a segment that is not UTF-8, or not of the type):
/// `400 invalid_request`, never axum's plain text.
#[derive(Debug)]
pub struct AppPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| AppPath(t))
            .map_err(|e| ApiError::new(Reason::InvalidRequest, e.body_text()).field("path"))
    }
}

/// A `{id}` path segment that is a licence identifier (bare or `urn:gbt36904:`).
#[derive(Debug)]
pub struct LicencePath(pub LicenceId);

impl<S: Send + Sync> FromRequestParts<S> for LicencePath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AppPath(raw) = AppPath::<String>::from_request_parts(parts, state).await?;
        licence_id(&raw).map(LicencePath)
    }
}

/// A licence identifier of a path's `{id}` (bare or `urn:gbt36904:`).
pub fn licence_id(raw: &str) -> Result<LicenceId, ApiError> {
    LicenceId::from_urn_or_bare(raw).map_err(|e| {
        ApiError::new(
            Reason::InvalidIdentifier,
            format!("licence identifier: {e}"),
        )
        .field("id")
    })
}

/// A `{uscc}` path segment (optionally followed by more segments, e.g. a `{didKey}`).
#[derive(Debug)]
pub struct UsccPath(pub Uscc, pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UsccPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AppPath(segments) = AppPath::<Vec<String>>::from_request_parts(parts, state).await?;
        let mut it = segments.into_iter();
        let uscc = it.next().unwrap_or_default();
        let uscc = uscc.parse().map_err(|e| {
            ApiError::new(Reason::InvalidAgencyCode, format!("agency code: {e}")).field("uscc")
        })?;
        Ok(UsccPath(uscc, it.next()))
    }
}

/// The `{id}` of a custom method's segment (`…/{id}:approve`): the router has told the verb apart
/// (`http::routes`), so the id is what precedes the last `:`.
#[derive(Debug)]
pub struct ActionPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ActionPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AppPath(segment) = AppPath::<String>::from_request_parts(parts, state).await?;
        let id = segment
            .rsplit_once(':')
            .map_or(segment.as_str(), |(id, _)| id);
        Ok(ActionPath(id.to_owned()))
    }
}
