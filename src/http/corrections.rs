//! Correction requests (SPEC §17): the holder's side (`/v1/me/corrections`) and the issuing
//! agency's (`/v1/issuer/corrections`). The rules are `reuse::correction`; the changes are made
//! by `vault/corrections` under the holder's door.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{ActionPath, Allow, AppJson, AppPath, Me, ISSUER};
use super::page;
use super::reuse::{query_error, required};
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::codes::{LicenceId, Uscc};
use crate::reuse::correction::{self as rules, Correction, NewCorrection};
use crate::vault::corrections::{self as vault_corrections, Outcome, Reader};
use crate::vault::page::CORRECTIONS;
use crate::vault::At;
use crate::verdict::Reason;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCorrectionRequest {
    /// The licence said to be wrong (one of the caller's), bare or `urn:gbt36904:`.
    #[schema(value_type = String)]
    pub licence: Option<String>,
    /// The face fields said to be wrong, as the catalogue names them.
    #[schema(value_type = Vec<String>)]
    pub fields: Option<Vec<String>>,
    /// What is wrong, in the holder's words.
    #[schema(value_type = String)]
    pub problem: Option<String>,
    /// The values the holder claims, by field (only fields named).
    #[schema(value_type = Option<Object>)]
    pub claimed: Option<BTreeMap<String, Value>>,
    /// A supporting document (any JSON: another licence, a signed statement …), at most 256 KiB.
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Value>,
    /// Mark the licence disputed while the correction is open (default false).
    pub disputed: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    /// `true` (the default): the verdict and copies say the licence is under dispute; `false`:
    /// no longer.
    pub disputed: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerOutcome {
    Corrected,
    Refused,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorrectionAnswerRequest {
    /// `corrected` (name the `renewal` deposited that supersedes the licence) or `refused`
    /// (give the `reason`).
    #[schema(value_type = AnswerOutcome)]
    pub outcome: Option<AnswerOutcome>,
    /// For a refusal: why, as the holder will read it.
    pub reason: Option<String>,
    /// For a correction: the renewal (bare or `urn:gbt36904:`).
    pub renewal: Option<String>,
}

/// A correction as its reader sees it, with whether the answer is late.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorrectionView {
    #[serde(flatten)]
    pub correction: Correction,
    /// Open past its due time.
    pub overdue: bool,
}

impl CorrectionView {
    fn new(correction: Correction) -> Self {
        Self {
            overdue: correction.overdue(Utc::now()),
            correction,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Corrections {
    /// Newest first.
    pub corrections: Vec<CorrectionView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of corrections or objections.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CorrectionsQuery {
    /// At most this many (default 50, at most 200).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// `open` (only those waiting for an answer) or `all`. The holder's and the supervisor's
    /// default: `all`; the agency's and the approval system's: `open`.
    pub state: Option<String>,
}

fn page_of(page: vault_corrections::CorrectionPage) -> Json<Corrections> {
    Json(Corrections {
        corrections: page
            .corrections
            .into_iter()
            .map(CorrectionView::new)
            .collect(),
        next_cursor: page.next,
    })
}

pub(super) fn query(
    query: Result<Query<CorrectionsQuery>, QueryRejection>,
    default_open: bool,
) -> Result<(Option<String>, usize, bool), ApiError> {
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor", "state"]))?;
    let limit = page::limit(q.limit, CORRECTIONS)?;
    let open = match q.state.as_deref() {
        None => default_open,
        s => vault_corrections::open_only(s)?,
    };
    Ok((q.cursor, limit, open))
}

fn issuer_of(p: Principal) -> Result<Uscc, ApiError> {
    match p {
        Principal::Issuer(u) => Ok(u),
        _ => Err(ApiError::forbidden("this endpoint is for issuer tokens")),
    }
}

/// Ask the issuing agency to correct one of the caller's licences (holder): the fields that are
/// wrong, what is wrong, the values claimed, optional evidence, and whether to mark the licence
/// disputed meanwhile. Due in 15 working days unless configured otherwise.
#[utoipa::path(post, path = "/v1/me/corrections", tag = "holder", request_body = NewCorrectionRequest,
    responses((status = 201, body = CorrectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "No such licence of the caller", body = ErrorBody),
        (status = 409, description = "`correction_open`: one is open for this licence", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, description = "`superseded`: correct the version in force", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<NewCorrectionRequest>,
) -> Result<(StatusCode, Json<CorrectionView>), ApiError> {
    let raw = required(req.licence, "$.licence")?;
    let licence = LicenceId::from_urn_or_bare(&raw)
        .map_err(|e| ApiError::new(Reason::InvalidIdentifier, e.to_string()).field("$.licence"))?;
    let new = NewCorrection {
        fields: required(req.fields, "$.fields")?,
        problem: required(req.problem, "$.problem")?,
        claimed: req.claimed.unwrap_or_default(),
        evidence: req.evidence,
        disputed: req.disputed.unwrap_or(false),
    };
    let vault = state.vault.clone();
    blocking(move || {
        let c = vault.request_correction(&me, &licence, new, At::Now)?;
        Ok((StatusCode::CREATED, Json(CorrectionView::new(c))))
    })
    .await
}

/// The caller's correction requests (holder; a delegate: those of its scope), newest first, paged.
#[utoipa::path(get, path = "/v1/me/corrections", tag = "holder", params(CorrectionsQuery),
    responses((status = 200, body = Corrections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_mine(
    State(state): State<AppState>,
    Me(me): Me,
    q: Result<Query<CorrectionsQuery>, QueryRejection>,
) -> Result<Json<Corrections>, ApiError> {
    let (cursor, limit, open) = query(q, false)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.corrections_page(Reader::Holder(&me), cursor.as_deref(), limit, open)?;
        Ok(page_of(page))
    })
    .await
}

/// One of the caller's correction requests (holder).
#[utoipa::path(get, path = "/v1/me/corrections/{id}", tag = "holder",
    params(("id" = String, Path, description = "The correction id")),
    responses((status = 200, body = CorrectionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_mine(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<CorrectionView>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(CorrectionView::new(
            vault.correction(Reader::Holder(&me), &id)?,
        )))
    })
    .await
}

/// Withdraw an open correction request (holder); its dispute ends with it.
#[utoipa::path(post, path = "/v1/me/corrections/{id}:withdraw", tag = "holder", request_body = WithdrawRequest,
    params(("id" = String, Path, description = "The correction id")),
    responses((status = 200, body = CorrectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`correction_closed`: answered or withdrawn already", body = ErrorBody),
        (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    Me(me): Me,
    ActionPath(id): ActionPath,
    AppJson(WithdrawRequest {}): AppJson<WithdrawRequest>,
) -> Result<Json<CorrectionView>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(CorrectionView::new(vault.withdraw_correction(
            &me,
            &id,
            At::Now,
        )?)))
    })
    .await
}

/// Mark the licence of an open correction disputed, or no longer (holder). While disputed, the
/// licence is still provided, and its verdicts and copies say it is under dispute.
#[utoipa::path(post, path = "/v1/me/corrections/{id}:dispute", tag = "holder", request_body = DisputeRequest,
    params(("id" = String, Path, description = "The correction id")),
    responses((status = 200, body = CorrectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`correction_closed`", body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dispute(
    State(state): State<AppState>,
    Me(me): Me,
    ActionPath(id): ActionPath,
    AppJson(req): AppJson<DisputeRequest>,
) -> Result<Json<CorrectionView>, ApiError> {
    let disputed = req.disputed.unwrap_or(true);
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(CorrectionView::new(vault.dispute_correction(
            &me,
            &id,
            disputed,
            At::Now,
        )?)))
    })
    .await
}

/// The correction requests sent to the caller (issuer): open ones by default (`state=all`:
/// every one), newest first, each with its due time and whether it is overdue.
#[utoipa::path(get, path = "/v1/issuer/corrections", tag = "licences", params(CorrectionsQuery),
    responses((status = 200, body = Corrections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_issuer(
    State(state): State<AppState>,
    Allow(p): Allow<ISSUER>,
    q: Result<Query<CorrectionsQuery>, QueryRejection>,
) -> Result<Json<Corrections>, ApiError> {
    let uscc = issuer_of(p)?;
    let (cursor, limit, open) = query(q, true)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.corrections_page(Reader::Issuer(&uscc), cursor.as_deref(), limit, open)?;
        Ok(page_of(page))
    })
    .await
}

/// One correction request sent to the caller (issuer).
#[utoipa::path(get, path = "/v1/issuer/corrections/{id}", tag = "licences",
    params(("id" = String, Path, description = "The correction id")),
    responses((status = 200, body = CorrectionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_issuer(
    State(state): State<AppState>,
    Allow(p): Allow<ISSUER>,
    AppPath(id): AppPath<String>,
) -> Result<Json<CorrectionView>, ApiError> {
    let uscc = issuer_of(p)?;
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(CorrectionView::new(
            vault.correction(Reader::Issuer(&uscc), &id)?,
        )))
    })
    .await
}

/// Answer a correction request sent to the caller (issuer), once: `corrected` with the renewal
/// deposited through `POST /v1/licences` that supersedes the licence (the ordinary renewal, which
/// sends revocation notices to the approval systems that were provided the old one), or
/// `refused` with the reason. The holder is notified either way.
#[utoipa::path(post, path = "/v1/issuer/corrections/{id}:answer", tag = "licences", request_body = CorrectionAnswerRequest,
    params(("id" = String, Path, description = "The correction id")),
    responses((status = 200, body = CorrectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`correction_closed`: answered or withdrawn already", body = ErrorBody),
        (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn answer(
    State(state): State<AppState>,
    Allow(p): Allow<ISSUER>,
    ActionPath(id): ActionPath,
    AppJson(req): AppJson<CorrectionAnswerRequest>,
) -> Result<Json<CorrectionView>, ApiError> {
    let uscc = issuer_of(p)?;
    let outcome = match required(req.outcome, "$.outcome")? {
        AnswerOutcome::Corrected => {
            let raw = required(req.renewal, "$.renewal")?;
            Outcome::Corrected {
                renewal: LicenceId::from_urn_or_bare(&raw).map_err(|e| {
                    ApiError::new(Reason::InvalidIdentifier, e.to_string()).field("$.renewal")
                })?,
            }
        }
        AnswerOutcome::Refused => Outcome::Refused {
            reason: rules::refusal_reason(req.reason.as_deref())?,
        },
    };
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(CorrectionView::new(vault.answer_correction(
            &uscc,
            &id,
            outcome,
            At::Now,
        )?)))
    })
    .await
}
