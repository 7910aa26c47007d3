//! Consent requests at the point of service (SPEC §10): the approval system asks, the holder
//! previews and answers.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{ActionPath, Allow, AppJson, AppPath, Me, REQUESTER};
use super::page;
use super::reuse::{
    holder_member, query_error, requester_of, required, ConsentView, NarrowRequest,
};
use super::{blocking, AppState};
use crate::codes::{HolderCode, TypeCode};
use crate::reuse::delegation::Acting;
use crate::reuse::request::{ConsentRequest, NewRequest, RequestState};
use crate::vault::page as vault_page;
use crate::vault::{At, PreviewItem, Vault};
use crate::verdict::Reason;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConsentRequest {
    /// The holder, `codeType:code`.
    #[schema(value_type = String)]
    pub holder: Option<String>,
    /// The matter the application is for; the caller must be registered for it.
    #[schema(value_type = String)]
    pub matter: Option<String>,
    /// Why, shown to the holder and stamped on every copy.
    #[schema(value_type = String)]
    pub purpose: Option<String>,
    /// The types asked for, each needed by the matter; default all the matter needs.
    #[schema(value_type = Option<Vec<String>>)]
    pub types: Option<Vec<TypeCode>>,
    /// Pulls the consent allows; unlimited when absent.
    pub max_uses: Option<u32>,
    /// How long the consent lasts from its approval, in seconds (default 30 days, at most a year).
    pub valid_for: Option<u64>,
    /// How long the request waits for an answer, in seconds (default 900, at most 86400).
    pub expires_in: Option<u64>,
}

/// A request as its requester sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    #[serde(flatten)]
    pub request: ConsentRequest,
    pub state: RequestState,
    /// Where the holder answers it.
    pub holder_url: String,
}

impl RequestView {
    /// The request as its requester sees it: who answered for the holder is masked (the holder's
    /// own view, [`HolderRequestView`], names them in full).
    fn new(vault: &Vault, mut request: ConsentRequest, now: DateTime<Utc>) -> Self {
        if let Some(a) = request.answer.as_mut() {
            a.acted_by = a.acted_by.as_deref().map(crate::codes::mask);
        }
        Self::own(vault, request, now)
    }

    fn own(vault: &Vault, request: ConsentRequest, now: DateTime<Utc>) -> Self {
        Self {
            state: request.state(now),
            holder_url: format!("{}/me/consent-requests/{}", vault.public_url(), request.id),
            request,
        }
    }
}

/// A request as its holder sees it: who asks, for what, and exactly what would leave.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HolderRequestView {
    #[serde(flatten)]
    pub view: RequestView,
    pub requester_name: String,
    pub matter_name: String,
    /// While pending: per requested type, what approving now would release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Vec<PreviewItem>>,
}

impl HolderRequestView {
    fn build(
        vault: &Vault,
        holder: &HolderCode,
        request: ConsentRequest,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let reg = vault.registries();
        let preview = match request.state(now) {
            RequestState::Pending => Some(vault.preview(holder, &request, now)?),
            _ => None,
        };
        Ok(Self {
            requester_name: reg
                .requesters
                .get(&request.requester)
                .map_or_else(|| request.requester.clone(), |r| r.name.clone()),
            matter_name: reg
                .matters
                .get(&request.matter)
                .map_or_else(|| request.matter.clone(), |m| m.name.clone()),
            preview,
            view: RequestView::own(vault, request, now),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HolderRequests {
    /// Newest first: pending ones, or (`state=answered`) answered and expired ones.
    pub requests: Vec<HolderRequestView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of the caller's pending requests.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PendingQuery {
    /// At most this many (default 20, at most 50).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// `pending` (the default): those that may be answered, each with its preview;
    /// `answered`: those that no longer may (approved, rejected or expired), with their answer.
    pub state: Option<ListedState>,
}

/// Which of the holder's requests a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListedState {
    #[default]
    Pending,
    Answered,
}

/// Whose pending requests to reject at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectAllRequest {
    /// The approval system (requester id) whose pending requests are all rejected.
    #[schema(value_type = String)]
    pub requester: Option<String>,
    /// Why, for the requester (at most 500 characters).
    pub reason: Option<String>,
}

/// The requests rejected at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedAll {
    /// Each request rejected, as its requester now sees it.
    pub rejected: Vec<RequestView>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why, for the requester (at most 500 characters).
    pub reason: Option<String>,
}

fn request_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() || id.len() > 80 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(not_found("with that id"));
    }
    Ok(id.to_owned())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no consent request {id}")).field("id")
}

/// Ask a holder for consent at the point of service (requester). The answer is the same whether
/// or not the holder exists or holds anything; the holder answers at `holderUrl`.
#[utoipa::path(post, path = "/v1/consent-requests", tag = "reuse", request_body = NewConsentRequest,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a requester token, or `matter_not_allowed`", body = ErrorBody),
        (status = 429, description = "`too_many_pending_requests`: the caller or the holder has as many requests waiting as the vault keeps", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppJson(req): AppJson<NewConsentRequest>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let requester = requester_of(p)?;
    let holder = holder_member(req.holder)?;
    let new = NewRequest {
        holder,
        matter: required(req.matter, "$.matter")?,
        purpose: required(req.purpose, "$.purpose")?,
        types: req.types,
        max_uses: req.max_uses,
        valid_for: req.valid_for,
        expires_in: req.expires_in,
    };
    let vault = state.vault.clone();
    blocking(move || {
        let r = vault.request_consent(&requester, new, At::Now)?;
        let now = r.created_at;
        Ok((StatusCode::CREATED, Json(RequestView::new(&vault, r, now))))
    })
    .await
}

/// Where a request stands (the requester that made it): `pending | approved | rejected |
/// expired`, and once approved the consent to pull under.
#[utoipa::path(get, path = "/v1/consent-requests/{id}", tag = "reuse",
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such request of the caller's", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppPath(id): AppPath<String>,
) -> Result<Json<RequestView>, ApiError> {
    let requester = requester_of(p)?;
    let id = request_id(&id)?;
    let vault = state.vault.clone();
    blocking(move || {
        let r = vault
            .requester_request(&requester, &id)?
            .ok_or_else(|| not_found(&id))?;
        Ok(Json(RequestView::new(&vault, r, Utc::now())))
    })
    .await
}

/// The caller's pending consent requests, newest first, a page at a time, each with a preview of
/// exactly what approving would release (holder); with `state=answered`, those answered or
/// expired, with their answer.
#[utoipa::path(get, path = "/v1/me/consent-requests", tag = "holder", params(PendingQuery),
    responses((status = 200, body = HolderRequests), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_mine(
    State(state): State<AppState>,
    Me(me): Me,
    query: Result<Query<PendingQuery>, QueryRejection>,
) -> Result<Json<HolderRequests>, ApiError> {
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor", "state"]))?;
    let limit = page::limit(q.limit, vault_page::CONSENT_REQUESTS)?;
    let cursor = q
        .cursor
        .map(|c| {
            request_id(&c).map_err(|_| {
                ApiError::new(Reason::InvalidRequest, "not a cursor this feed gave").field("cursor")
            })
        })
        .transpose()?;
    let holder = me.holder.clone();
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        let shown = |r: &ConsentRequest| me.allows_matter(&r.matter);
        let page = match q.state.unwrap_or_default() {
            ListedState::Pending => {
                vault.pending_page(&holder, cursor.as_deref(), limit, now, shown)?
            }
            ListedState::Answered => {
                vault.answered_page(&holder, cursor.as_deref(), limit, now, shown)?
            }
        };
        let requests = page
            .requests
            .into_iter()
            .map(|r| HolderRequestView::build(&vault, &holder, r, now))
            .collect::<Result<_, _>>()?;
        Ok(Json(HolderRequests {
            requests,
            next_cursor: page.next,
        }))
    })
    .await
}

/// Reject at once every pending request of one approval system that the caller's scope covers,
/// with one optional reason (holder). Rejecting none is not an error.
#[utoipa::path(post, path = "/v1/me/consent-requests:rejectAll", tag = "holder", request_body = RejectAllRequest,
    responses((status = 200, description = "The requests rejected", body = RejectedAll),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reject_all(
    State(AppState { vault, .. }): State<AppState>,
    Me(me): Me,
    AppJson(body): AppJson<RejectAllRequest>,
) -> Result<Json<RejectedAll>, ApiError> {
    let requester = required(body.requester, "$.requester")?;
    blocking(move || {
        let now = Utc::now();
        let rejected = vault
            .reject_all(&me, &requester, body.reason.as_deref(), At::Now)?
            .into_iter()
            .map(|r| RequestView::own(&vault, r, now))
            .collect();
        Ok(Json(RejectedAll { rejected }))
    })
    .await
}

/// One of the caller's consent requests, in any state; with its preview while pending (holder).
#[utoipa::path(get, path = "/v1/me/consent-requests/{id}", tag = "holder",
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = HolderRequestView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such request of the caller's", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_mine(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<HolderRequestView>, ApiError> {
    let holder = me.holder.clone();
    let id = request_id(&id)?;
    let vault = state.vault.clone();
    blocking(move || {
        // Out of a delegate's scope: as absent.
        let r = vault
            .holder_request(&holder, &id)?
            .filter(|r| me.allows_matter(&r.matter))
            .ok_or_else(|| not_found(&id))?;
        Ok(Json(HolderRequestView::build(
            &vault,
            &holder,
            r,
            Utc::now(),
        )?))
    })
    .await
}

/// The answer to an approval or a rejection.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AnswerView {
    Approved(ConsentView),
    Rejected(RequestView),
}

/// The request id of `…/{id}:approve` or `…/{id}:reject`; one that cannot be an id is a request
/// that does not exist (`404`).
#[derive(Debug)]
pub struct AnsweredRequest(pub String);

impl FromRequestParts<AppState> for AnsweredRequest {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ActionPath(id) = ActionPath::from_request_parts(parts, state).await?;
        request_id(&id).map(AnsweredRequest)
    }
}

/// Approve one of the caller's pending requests, narrowed as the body says (`{}`: as asked)
/// (holder). Creates a consent linked to the request and returns it with its consent receipt.
/// A request that is not the caller's is `404`; one that expired or was answered is `409`.
#[utoipa::path(post, path = "/v1/me/consent-requests/{id}:approve", tag = "holder", request_body = NarrowRequest,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 201, description = "The consent created, with its receipt", body = ConsentView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 409, description = "`request_expired` or `request_answered`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn approve(
    State(AppState { vault, .. }): State<AppState>,
    Me(me): Me,
    AnsweredRequest(id): AnsweredRequest,
    AppJson(body): AppJson<NarrowRequest>,
) -> Result<(StatusCode, Json<AnswerView>), ApiError> {
    let narrowing = body.narrowing()?;
    blocking(move || {
        let holder = request_in_scope(&vault, &me, &id)?;
        let consent = vault.approve_request(&me, &id, &narrowing, At::Now)?;
        let now = Utc::now();
        let view = ConsentView::with_receipt(&vault, &holder, consent, now)?;
        Ok((StatusCode::CREATED, Json(AnswerView::Approved(view))))
    })
    .await
}

/// Reject one of the caller's pending requests, with an optional reason the requester sees
/// (holder). A request that is not the caller's is `404`; one that expired or was answered is
/// `409`.
#[utoipa::path(post, path = "/v1/me/consent-requests/{id}:reject", tag = "holder", request_body = RejectRequest,
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, description = "The request, rejected", body = RequestView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 409, description = "`request_expired` or `request_answered`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reject(
    State(AppState { vault, .. }): State<AppState>,
    Me(me): Me,
    AnsweredRequest(id): AnsweredRequest,
    AppJson(body): AppJson<RejectRequest>,
) -> Result<(StatusCode, Json<AnswerView>), ApiError> {
    blocking(move || {
        request_in_scope(&vault, &me, &id)?;
        let r = vault.reject_request(&me, &id, body.reason.as_deref(), At::Now)?;
        let now = Utc::now();
        Ok((
            StatusCode::OK,
            Json(AnswerView::Rejected(RequestView::own(&vault, r, now))),
        ))
    })
    .await
}

/// The holder `me` acts for, once the request's matter is within a delegate's scope; out of it,
/// the `404` of a request that does not exist.
fn request_in_scope(vault: &Vault, me: &Acting, id: &str) -> Result<HolderCode, ApiError> {
    if !me.scope.is_all() {
        vault
            .holder_request(&me.holder, id)?
            .filter(|r| me.allows_matter(&r.matter))
            .ok_or_else(|| not_found(id))?;
    }
    Ok(me.holder.clone())
}
