//! Objections to a use (SPEC §17): the holder's side (`/v1/me/objections`), the approval
//! system's (`/v1/objections`) and the supervisor's (`/v1/supervisor/objections`). The rules are
//! `reuse::objection`; the changes are made by `vault/objections` under the holder's door.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::corrections::{query, CorrectionsQuery};
use super::error::{ApiError, ErrorBody};
use super::extract::{ActionPath, Allow, AppJson, AppPath, Me, REQUESTER, SUPERVISOR};
use super::reuse::{requester_of, required};
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::reuse::objection::Objection;
use crate::vault::objections::{ObjectionPage, Reader};
use crate::vault::At;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewObjectionRequest {
    /// The access record objected to (one of the caller's, from `GET /v1/me/access-log`).
    #[schema(value_type = String)]
    pub access_record: Option<String>,
    /// Why the holder objects.
    #[schema(value_type = String)]
    pub reason: Option<String>,
    /// Ask the approval system to delete what the use released to it (default false).
    pub ask_deletion: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawObjection {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectionAnswerRequest {
    /// The legal basis the use relied on (a law, a regulation, the matter's rules …).
    #[schema(value_type = String)]
    pub legal_basis: Option<String>,
    /// `true`: the approval system attests that it deleted what the use released (required when
    /// the holder asked); the vault signs the attestation.
    pub deleted: Option<bool>,
}

/// An objection with whether its answer is late.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectionView {
    #[serde(flatten)]
    pub objection: Objection,
    pub overdue: bool,
}

impl ObjectionView {
    fn new(objection: Objection) -> Self {
        Self {
            overdue: objection.overdue(Utc::now()),
            objection,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Objections {
    /// Newest first.
    pub objections: Vec<ObjectionView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn page_of(page: ObjectionPage) -> Json<Objections> {
    Json(Objections {
        objections: page
            .objections
            .into_iter()
            .map(ObjectionView::new)
            .collect(),
        next_cursor: page.next,
    })
}

/// Object to one use of the caller's licences (holder): one record of the access log, why, and
/// whether to ask the approval system to delete what it received. It goes to that approval
/// system and to the supervisor.
#[utoipa::path(post, path = "/v1/me/objections", tag = "holder", request_body = NewObjectionRequest,
    responses((status = 201, body = ObjectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "No such access record of the caller", body = ErrorBody),
        (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<NewObjectionRequest>,
) -> Result<(StatusCode, Json<ObjectionView>), ApiError> {
    let record = required(req.access_record, "$.accessRecord")?;
    let reason = required(req.reason, "$.reason")?;
    let ask_deletion = req.ask_deletion.unwrap_or(false);
    let vault = state.vault.clone();
    blocking(move || {
        let o = vault.object(&me, &record, &reason, ask_deletion, At::Now)?;
        Ok((StatusCode::CREATED, Json(ObjectionView::new(o))))
    })
    .await
}

/// The caller's objections (holder; a delegate: those about its matters), newest first, paged.
#[utoipa::path(get, path = "/v1/me/objections", tag = "holder", params(CorrectionsQuery),
    responses((status = 200, body = Objections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_mine(
    State(state): State<AppState>,
    Me(me): Me,
    q: Result<Query<CorrectionsQuery>, QueryRejection>,
) -> Result<Json<Objections>, ApiError> {
    let (cursor, limit, open) = query(q, false)?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(page_of(vault.objections_page(
            Reader::Holder(&me),
            cursor.as_deref(),
            limit,
            open,
        )?))
    })
    .await
}

/// One of the caller's objections (holder).
#[utoipa::path(get, path = "/v1/me/objections/{id}", tag = "holder",
    params(("id" = String, Path, description = "The objection id")),
    responses((status = 200, body = ObjectionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_mine(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<ObjectionView>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(ObjectionView::new(
            vault.objection(Reader::Holder(&me), &id)?,
        )))
    })
    .await
}

/// Withdraw an open objection (holder).
#[utoipa::path(post, path = "/v1/me/objections/{id}:withdraw", tag = "holder", request_body = WithdrawObjection,
    params(("id" = String, Path, description = "The objection id")),
    responses((status = 200, body = ObjectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`objection_closed`", body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    Me(me): Me,
    ActionPath(id): ActionPath,
    AppJson(WithdrawObjection {}): AppJson<WithdrawObjection>,
) -> Result<Json<ObjectionView>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(ObjectionView::new(vault.withdraw_objection(
            &me,
            &id,
            At::Now,
        )?)))
    })
    .await
}

/// The objections to the caller's uses (requester): open ones by default (`state=all`: every
/// one), newest first, each with its due time.
#[utoipa::path(get, path = "/v1/objections", tag = "reuse", params(CorrectionsQuery),
    responses((status = 200, body = Objections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_requester(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    q: Result<Query<CorrectionsQuery>, QueryRejection>,
) -> Result<Json<Objections>, ApiError> {
    let requester = requester_of(p)?;
    let (cursor, limit, open) = query(q, true)?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(page_of(vault.objections_page(
            Reader::Requester(&requester),
            cursor.as_deref(),
            limit,
            open,
        )?))
    })
    .await
}

/// One objection to the caller's uses (requester).
#[utoipa::path(get, path = "/v1/objections/{id}", tag = "reuse",
    params(("id" = String, Path, description = "The objection id")),
    responses((status = 200, body = ObjectionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_requester(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppPath(id): AppPath<String>,
) -> Result<Json<ObjectionView>, ApiError> {
    let requester = requester_of(p)?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(ObjectionView::new(
            vault.objection(Reader::Requester(&requester), &id)?,
        )))
    })
    .await
}

/// Answer an objection to one of the caller's uses, once (requester): the legal basis it relied
/// on and, when the holder asked, `deleted: true` to attest that it deleted what the use
/// released; the vault signs the attestation and keeps it in the answer.
#[utoipa::path(post, path = "/v1/objections/{id}:answer", tag = "reuse", request_body = ObjectionAnswerRequest,
    params(("id" = String, Path, description = "The objection id")),
    responses((status = 200, body = ObjectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`objection_closed`: answered or withdrawn already", body = ErrorBody),
        (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn answer(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    ActionPath(id): ActionPath,
    AppJson(req): AppJson<ObjectionAnswerRequest>,
) -> Result<Json<ObjectionView>, ApiError> {
    let requester = requester_of(p)?;
    let basis = required(req.legal_basis, "$.legalBasis")?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(ObjectionView::new(vault.answer_objection(
            &requester,
            &id,
            &basis,
            req.deleted,
            At::Now,
        )?)))
    })
    .await
}

fn supervisor(p: &Principal) -> Result<(), ApiError> {
    match p {
        Principal::Supervisor(_) => Ok(()),
        _ => Err(ApiError::forbidden(
            "this endpoint is for supervisor tokens",
        )),
    }
}

/// Every objection and its answer (supervisor), newest first, paged (`state=open`: only those
/// waiting for an answer).
#[utoipa::path(get, path = "/v1/supervisor/objections", tag = "reuse", params(CorrectionsQuery),
    responses((status = 200, body = Objections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_supervisor(
    State(state): State<AppState>,
    Allow(p): Allow<SUPERVISOR>,
    q: Result<Query<CorrectionsQuery>, QueryRejection>,
) -> Result<Json<Objections>, ApiError> {
    supervisor(&p)?;
    let (cursor, limit, open) = query(q, false)?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(page_of(vault.objections_page(
            Reader::Supervisor,
            cursor.as_deref(),
            limit,
            open,
        )?))
    })
    .await
}

/// One objection and its answer (supervisor).
#[utoipa::path(get, path = "/v1/supervisor/objections/{id}", tag = "reuse",
    params(("id" = String, Path, description = "The objection id")),
    responses((status = 200, body = ObjectionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_supervisor(
    State(state): State<AppState>,
    Allow(p): Allow<SUPERVISOR>,
    AppPath(id): AppPath<String>,
) -> Result<Json<ObjectionView>, ApiError> {
    supervisor(&p)?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(ObjectionView::new(
            vault.objection(Reader::Supervisor, &id)?,
        )))
    })
    .await
}
