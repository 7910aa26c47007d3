//! Printable copies (SPEC §16) on the wire: a requester's copy and a holder's licence as sealed
//! PDFs, and the public check of a print named by its QR code. A PDF presented for checking goes
//! to `POST /v1/verify` (`licences::verify`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, AppPath, Me, REQUESTER};
use super::reuse::{requester_of, required};
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::vault::prints::PrintView;

/// The id of a `{id}.pdf` segment (the router registers the segment whole).
fn pdf_id(raw: &str) -> Result<&str, ApiError> {
    raw.strip_suffix(".pdf")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::not_found("a printable copy's path ends in .pdf"))
}

fn pdf_response(bytes: Vec<u8>, name: &str) -> Response {
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut res = Body::from(bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.pdf\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A stamped or minimised copy given to the caller (requester), as a sealed one-page PDF: its
/// fields, the purpose band, identifiers and a QR code that opens the vault's check of it. A copy
/// given to another requester is answered as an unknown one.
#[utoipa::path(get, path = "/v1/copies/{id}.pdf", tag = "reuse",
    params(("id" = String, Path, description = "The copy's id (`urn:uuid:…`), as in the pull's stamped copy")),
    responses((status = 200, description = "The sealed PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "The vault prints no copies", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn copy_pdf(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppPath(raw): AppPath<String>,
) -> Result<Response, ApiError> {
    let requester = requester_of(p)?;
    let vault = state.vault.clone();
    blocking(move || {
        let id = pdf_id(&raw)?;
        let pdf = vault
            .copy_pdf(&requester, id, Utc::now())?
            .ok_or_else(|| ApiError::not_found("no such copy"))?;
        Ok(pdf_response(pdf, id))
    })
    .await
}

/// One of the caller's licences (holder, or a delegate within its scope) as a sealed one-page
/// PDF: a new print, whose QR code opens the vault's check of it.
#[utoipa::path(get, path = "/v1/me/licences/{id}.pdf", tag = "holder",
    params(("id" = String, Path, description = "GB/T 36904 identifier, bare or urn:gbt36904:, then .pdf")),
    responses((status = 200, description = "The sealed PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`unprintable`: a field needs a glyph the font lacks", body = ErrorBody),
        (status = 503, description = "The vault prints no copies", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn licence_pdf(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(raw): AppPath<String>,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let id = super::extract::licence_id(pdf_id(&raw)?)?;
        let absent = || ApiError::not_found(format!("no licence {}", id.urn()));
        if !me.allows_type(&vault.registries(), &id.type_code()) {
            return Err(absent());
        }
        let pdf = vault
            .licence_pdf(&Principal::Holder(me.holder.clone()), &id, Utc::now())?
            .ok_or_else(absent)?;
        Ok(pdf_response(pdf, id.as_ref()))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrintCheckRequest {
    /// The print's id, as its QR code gives it (`urn:uuid:…`).
    pub print: Option<String>,
}

/// What a printed copy says, as the vault renders it from the signed document it keeps, with
/// that document verified now: whoever holds the paper compares it line by line. The id comes in
/// the body (the QR code's URL carries it in its fragment), so no request log holds it.
#[utoipa::path(post, path = "/v1/prints:check", tag = "verify", request_body = PrintCheckRequest,
    responses((status = 200, body = PrintView), (status = 400, body = ErrorBody),
        (status = 404, description = "No such print", body = ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    AppJson(req): AppJson<PrintCheckRequest>,
) -> Result<Json<PrintView>, ApiError> {
    let id = required(req.print, "$.print")?;
    let vault = state.vault.clone();
    blocking(move || {
        vault
            .print_view(&id, Utc::now())?
            .map(Json)
            .ok_or_else(|| ApiError::not_found("no such print"))
    })
    .await
}
