//! OpenID4VP 1.0, the vault as the verifier back-end of an approval system (SPEC §15):
//!
//! - `POST /v1/oid4vp/transactions` (requester): a presentation transaction from a DCQL query or a
//!   matter, with a purpose → the `openid4vp://` request URI (by reference) and its QR code.
//! - `GET /v1/oid4vp/transactions/{id}` (the requester that opened it): its state and, once
//!   answered, the verdict of every presentation and credential, check by check.
//! - `GET /v1/oid4vp/requests/{id}` (a wallet): the request object, signed by the vault key.
//! - `POST /v1/oid4vp/responses/{id}` (a wallet, `direct_post`): `vp_token` and `state`, or an
//!   error response; answered in OAuth's words.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{ActionPath, Allow, AppJson, AppPath, Me, REQUESTER};
use super::oauth::{form, OAuthError};
use super::presentations::qr_svg;
use super::reuse::{requester_of, required};
use super::{blocking, AppState};
use crate::vault::oid4vp::{Transaction, WalletResponse};
use crate::vault::wallet_vp::VpRequest;
use crate::vault::{At, VaultError};
use crate::verify::request_object::MEDIA_TYPE;

/// A presentation transaction to open.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTransaction {
    /// A DCQL query (`credentials` of format `ldp_vc`); or give `matter`.
    #[schema(value_type = Option<Object>)]
    pub dcql_query: Option<Value>,
    /// A matter the requester is registered for: its licence types and declared fields.
    pub matter: Option<String>,
    /// Why the licences are asked for; shown to the holder.
    pub purpose: Option<String>,
}

/// A transaction opened: show `qrSvg` (or `requestUri`) to the holder's wallet.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTransactionView {
    pub transaction: Transaction,
    /// `openid4vp://?client_id=…&request_uri=…`
    pub request_uri: String,
    pub qr_svg: String,
}

/// The `openid4vp://` URI of a transaction: its client id and where its request object is.
pub fn request_uri(public_url: &str, tx: &Transaction) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "openid4vp://?client_id={}&request_uri={}",
        enc(&tx.client_id),
        enc(&format!("{public_url}/v1/oid4vp/requests/{}", tx.id))
    )
}

/// Open a presentation transaction (requester): the DCQL query, or the matter's, and a purpose.
/// The wallet that scans the QR code answers to the vault, which judges the answer.
#[utoipa::path(post, path = "/v1/oid4vp/transactions", tag = "reuse", request_body = NewTransaction,
    responses((status = 201, body = NewTransactionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not registered, or not for the matter (`matter_not_allowed`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppJson(req): AppJson<NewTransaction>,
) -> Result<(StatusCode, Json<NewTransactionView>), ApiError> {
    let requester = requester_of(p)?;
    let purpose = required(req.purpose, "$.purpose")?;
    let vault = state.vault.clone();
    blocking(move || {
        let tx = vault.create_vp_transaction(
            &requester,
            req.dcql_query.as_ref(),
            req.matter.as_deref(),
            &purpose,
            At::Now,
        )?;
        let uri = request_uri(vault.public_url(), &tx);
        Ok((
            StatusCode::CREATED,
            Json(NewTransactionView {
                qr_svg: qr_svg(&uri)?,
                request_uri: uri,
                transaction: tx,
            }),
        ))
    })
    .await
}

/// One of the caller's transactions (requester): its state and, once answered, the verdicts.
#[utoipa::path(get, path = "/v1/oid4vp/transactions/{id}", tag = "reuse",
    params(("id" = String, Path, description = "The transaction id")),
    responses((status = 200, body = Transaction), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Transaction>, ApiError> {
    let requester = requester_of(p)?;
    let vault = state.vault.clone();
    blocking(move || {
        let mut tx = vault.vp_transaction(&requester, &id)?;
        tx.state = tx.state_at(Utc::now());
        Ok(Json(tx))
    })
    .await
}

/// The signed request object of a transaction (a wallet, by `request_uri`), while it may be
/// answered.
#[utoipa::path(get, path = "/v1/oid4vp/requests/{id}", tag = "wallet",
    params(("id" = String, Path, description = "The transaction id")),
    responses((status = 200, description = "The request object (`application/oauth-authz-req+jwt`)", body = String),
        (status = 404, description = "No transaction waits under this id", body = ErrorBody)))]
pub async fn request_object(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let jwt = blocking(move || Ok(vault.vp_request_object(&id, Utc::now())?)).await?;
    Ok(([(header::CONTENT_TYPE, MEDIA_TYPE)], jwt).into_response())
}

/// The wallet's answer's form (OpenID4VP §8.2), as the OpenAPI document describes it; each name
/// at most once.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ResponseForm {
    /// A JSON object from credential query ids to arrays of presentations.
    vp_token: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The wallet's answer (`direct_post`, a form): `vp_token` (a JSON object from credential query
/// ids to presentations) and `state`, or `error` (and `error_description`) and `state`. Taken once.
#[utoipa::path(post, path = "/v1/oid4vp/responses/{id}", tag = "wallet",
    params(("id" = String, Path, description = "The transaction id")),
    request_body(content = ResponseForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Taken; the requester reads the verdict", body = Object),
        (status = 400, description = "OAuth error `invalid_request`: an unknown, answered or expired transaction, another `state`, a malformed `vp_token`", body = Object)))]
pub async fn response(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let get = |name: &str| pairs.get(name);
    let answer = WalletResponse {
        vp_token: get("vp_token"),
        state: get("state"),
        error: get("error"),
        error_description: get("error_description"),
    };
    let vault = state.vault.clone();
    let result = blocking(move || Ok(vault.answer_vp_transaction(&id, &answer, At::Now))).await;
    match result {
        Ok(Ok(_)) => Json(json!({})).into_response(),
        Ok(Err(VaultError::Rejected(r))) => {
            OAuthError::invalid_request(format!("{}: {}", r.field, r.message)).into_response()
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

// ----- the vault as the holder's wallet --------------------------------------------------------

/// A verifier's request to resolve for the caller.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewVpRequest {
    /// The `openid4vp://…` URI (the QR code's content).
    pub uri: Option<String>,
}

/// Resolve a verifier's OpenID4VP request for the caller (holder): who asks, for which matter and
/// purpose, and which of the caller's licences (so which fields) would leave. Nothing leaves
/// until the caller approves.
#[utoipa::path(post, path = "/v1/me/oid4vp/requests", tag = "holder", request_body = NewVpRequest,
    responses((status = 201, body = VpRequest), (status = 400, description = "Not a request the vault answers (`invalid_request` naming the parameter)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "The vault's own transaction is gone", body = ErrorBody),
        (status = 422, description = "A request object whose signature does not verify (`bad_signature`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<NewVpRequest>,
) -> Result<(StatusCode, Json<VpRequest>), ApiError> {
    me.require_all("answering a verifier")?;
    let uri = required(req.uri, "$.uri")?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok((
            StatusCode::CREATED,
            Json(vault.resolve_vp_request(&me, &uri, At::Now)?),
        ))
    })
    .await
}

/// One of the caller's resolved requests (holder).
#[utoipa::path(get, path = "/v1/me/oid4vp/requests/{id}", tag = "holder",
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = VpRequest), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_mine(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<VpRequest>, ApiError> {
    me.require_all("answering a verifier")?;
    let vault = state.vault.clone();
    blocking(move || {
        let mut r = vault.vp_request(&me, &id)?;
        r.state = r.state_at(Utc::now());
        Ok(Json(r))
    })
    .await
}

/// Nothing to choose: an answer is `{}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpAnswerBody {}

/// Approve a resolved request (holder): each licence found is verified afresh, the access record
/// written, and the presentation signed by the vault as the holder's custodian and posted to the
/// verifier. `409 request_expired` / `request_answered`; `404 no_licence` when a credential asked
/// for has no licence to answer it.
#[utoipa::path(post, path = "/v1/me/oid4vp/requests/{id}:approve", tag = "holder", request_body = VpAnswerBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = VpRequest), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`request_expired` or `request_answered`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    Me(me): Me,
    ActionPath(id): ActionPath,
    AppJson(VpAnswerBody {}): AppJson<VpAnswerBody>,
) -> Result<Json<VpRequest>, ApiError> {
    answer(state, me, id, true).await
}

/// Refuse a resolved request (holder): the verifier is told `access_denied`; nothing leaves.
#[utoipa::path(post, path = "/v1/me/oid4vp/requests/{id}:reject", tag = "holder", request_body = VpAnswerBody,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = VpRequest), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`request_expired` or `request_answered`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    Me(me): Me,
    ActionPath(id): ActionPath,
    AppJson(VpAnswerBody {}): AppJson<VpAnswerBody>,
) -> Result<Json<VpRequest>, ApiError> {
    answer(state, me, id, false).await
}

/// The holder's answer to one of their resolved requests.
async fn answer(
    state: AppState,
    me: crate::reuse::delegation::Acting,
    id: String,
    approve: bool,
) -> Result<Json<VpRequest>, ApiError> {
    me.require_all("answering a verifier")?;
    let vault = state.vault.clone();
    blocking(move || Ok(Json(vault.answer_vp_request(&me, &id, approve, At::Now)?))).await
}
