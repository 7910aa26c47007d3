//! Holder consent, the access log and requester pulls.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, ADMIN, HOLDER, REQUESTER};
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::codes::{HolderCode, LicenceId, TypeCode};
use crate::jcs;
use crate::reuse::{Consent, ConsentState, NewConsent, Outcome, PullRequest};
use crate::vault::{AccessRecord, ReuseStats, TypeResult, ACCESS_LOG_MAX_PAGE, ACCESS_LOG_PAGE};
use crate::verdict::{Reason, Verdict};

fn holder_of(p: Principal) -> Result<HolderCode, ApiError> {
    match p {
        Principal::Holder(h) => Ok(h),
        _ => Err(ApiError::forbidden("this endpoint is for holder tokens")),
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::new(Reason::InvalidRequest, "is required").field(field))
}

// ----- consents ----------------------------------------------------------------------------

/// A holder's authorisation of one approval system for one matter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRequest {
    /// The approval system (requester id) authorised.
    pub requester: Option<String>,
    /// The matter code it may pull for.
    pub matter: Option<String>,
    /// Why, in the holder's words.
    pub purpose: Option<String>,
    /// Licence types covered (each needed by the matter). Give either `types` or `licences`.
    #[schema(value_type = Option<Vec<String>>)]
    pub types: Option<Vec<TypeCode>>,
    /// Specific licences of the caller (bare or `urn:gbt36904:`); later versions are covered too.
    pub licences: Option<Vec<String>>,
    /// At most one year ahead.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Pulls allowed; unlimited when absent.
    pub max_uses: Option<u32>,
}

/// A consent with where it stands now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentView {
    #[serde(flatten)]
    pub consent: Consent,
    pub state: ConsentState,
    /// Uses left; null when unlimited.
    pub remaining_uses: Option<u32>,
}

impl ConsentView {
    fn new(consent: Consent, now: DateTime<Utc>) -> Self {
        Self {
            state: consent.state(now),
            remaining_uses: consent.remaining_uses(),
            consent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    /// Newest first.
    pub consents: Vec<ConsentView>,
}

/// Authorise an approval system to pull some of the caller's licences for one matter (holder).
#[utoipa::path(post, path = "/v1/me/consents", tag = "holder", request_body = ConsentRequest,
    responses((status = 201, body = ConsentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a holder token, or a licence that is not the caller's", body = ErrorBody),
        (status = 404, description = "Unknown requester or matter", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_consent(
    State(state): State<AppState>,
    Allow(p): Allow<HOLDER>,
    AppJson(req): AppJson<ConsentRequest>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    let holder = holder_of(p)?;
    let licences = req
        .licences
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            LicenceId::from_urn_or_bare(s).map_err(|e| {
                ApiError::new(
                    Reason::InvalidIdentifier,
                    format!("licence identifier: {e}"),
                )
                .field(format!("$.licences[{i}]"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let new = NewConsent {
        requester: required(req.requester, "$.requester")?,
        matter: required(req.matter, "$.matter")?,
        purpose: required(req.purpose, "$.purpose")?,
        types: req.types.unwrap_or_default(),
        licences,
        expires_at: required(req.expires_at, "$.expiresAt")?,
        max_uses: req.max_uses,
    };
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        let consent = vault.create_consent(&holder, new, now)?;
        Ok((StatusCode::CREATED, Json(ConsentView::new(consent, now))))
    })
    .await
}

/// The caller's consents, newest first, with remaining uses and history (holder).
#[utoipa::path(get, path = "/v1/me/consents", tag = "holder",
    responses((status = 200, body = ConsentList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_consents(
    State(state): State<AppState>,
    Allow(p): Allow<HOLDER>,
) -> Result<Json<ConsentList>, ApiError> {
    let holder = holder_of(p)?;
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        let consents = vault.consents(&holder)?;
        Ok(Json(ConsentList {
            consents: consents
                .into_iter()
                .map(|c| ConsentView::new(c, now))
                .collect(),
        }))
    })
    .await
}

/// Withdraw one of the caller's consents; the very next pull is refused (holder). Idempotent.
#[utoipa::path(delete, path = "/v1/me/consents/{id}", tag = "holder",
    params(("id" = String, Path, description = "The consent id")),
    responses((status = 200, description = "The consent, withdrawn", body = ConsentView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw_consent(
    State(state): State<AppState>,
    Allow(p): Allow<HOLDER>,
    Path(id): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    let holder = holder_of(p)?;
    let not_found = |id: &str| ApiError::not_found(format!("no consent {id}")).field("id");
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(not_found("with that id"));
    }
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        match vault.withdraw_consent(&holder, &id, now)? {
            Some(c) => Ok(Json(ConsentView::new(c, now))),
            None => Err(not_found(&id)),
        }
    })
    .await
}

// ----- access log --------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Records per page (1–200, default 50).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLog {
    /// Newest first.
    pub records: Vec<AccessRecord>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Every pull of the caller's licences: when, which approval system, matter, purpose, which
/// licences and the outcome per type; newest first (holder).
#[utoipa::path(get, path = "/v1/me/access-log", tag = "holder", params(AccessLogQuery),
    responses((status = 200, body = AccessLog), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn access_log(
    State(state): State<AppState>,
    Allow(p): Allow<HOLDER>,
    query: Result<Query<AccessLogQuery>, QueryRejection>,
) -> Result<Json<AccessLog>, ApiError> {
    let holder = holder_of(p)?;
    let Query(q) = query.map_err(|e| {
        let text = e.body_text();
        // serde names an unknown parameter first ("unknown field `page`, expected …").
        let unknown = text
            .split_once("unknown field `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(name, _)| name.to_owned());
        let field = unknown.unwrap_or_else(|| {
            ["limit", "cursor"]
                .into_iter()
                .find(|f| text.contains(f))
                .unwrap_or("query")
                .to_owned()
        });
        ApiError::new(Reason::InvalidRequest, text).field(field)
    })?;
    let limit = q.limit.unwrap_or(ACCESS_LOG_PAGE);
    if !(1..=ACCESS_LOG_MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            Reason::InvalidRequest,
            format!("must be 1 to {ACCESS_LOG_MAX_PAGE}"),
        )
        .field("limit"));
    }
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.access_log(&holder, limit, q.cursor.as_deref())?;
        Ok(Json(AccessLog {
            records: page.records,
            next_cursor: page.next_cursor,
        }))
    })
    .await
}

// ----- pulls -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReuseRequest {
    /// The holder, `codeType:code`.
    pub holder: Option<String>,
    /// The matter the application is for; the caller must be registered for it.
    pub matter: Option<String>,
    /// Why, as the approval system records it; stamped on every copy.
    pub purpose: Option<String>,
    /// The types wanted; default the matter's needed types.
    #[schema(value_type = Option<Vec<String>>)]
    pub types: Option<Vec<TypeCode>>,
}

/// One type of a pull.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReuseItem {
    #[serde(rename = "type")]
    pub type_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    pub outcome: Outcome,
    /// Why not provided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The licence (URN) provided, or refused for its own state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence_id: Option<String>,
    /// The signed licence, exactly as deposited; absent when the matter declares the fields it
    /// needs of the type.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub licence: Option<jcs::Canonical>,
    /// The face fields released (the minimised stamped copy carries them and no others), when
    /// the matter declares them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosed: Option<Vec<String>>,
    /// A fresh verdict of that licence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The purpose-stamped copy (加注件), signed by the vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub stamped_copy: Option<jcs::Canonical>,
    /// The consent this pull used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

impl From<TypeResult> for ReuseItem {
    fn from(r: TypeResult) -> Self {
        Self {
            type_code: r.type_code.to_string(),
            type_name: r.type_name,
            outcome: r.outcome,
            reason: r.reason,
            message: r.message,
            licence_id: r.licence_id.map(|i| i.urn()),
            licence: r.licence,
            disclosed: r.disclosed,
            verdict: r.verdict,
            stamped_copy: r.stamped_copy,
            consent: r.consent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReuseResponse {
    /// The access record written before this answer was released.
    pub access_record: String,
    #[schema(value_type = String, format = DateTime)]
    pub pulled_at: DateTime<Utc>,
    pub matter: String,
    pub purpose: String,
    pub provided: usize,
    pub not_provided: usize,
    pub results: Vec<ReuseItem>,
}

/// Pull the licences a matter needs (requester). Each type is `provided` (licence, fresh verdict,
/// stamped copy) or `not_provided` with a reason; the access record is durable before the answer.
#[utoipa::path(post, path = "/v1/reuse", tag = "reuse", request_body = ReuseRequest,
    responses((status = 200, body = ReuseResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a requester token, or `matter_not_allowed`", body = ErrorBody),
        (status = 500, description = "The access record could not be written; nothing was released", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reuse(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppJson(req): AppJson<ReuseRequest>,
) -> Result<Json<ReuseResponse>, ApiError> {
    let Principal::Requester(requester) = p else {
        return Err(ApiError::forbidden("this endpoint is for requester tokens"));
    };
    let holder: HolderCode = required(req.holder, "$.holder")?.parse().map_err(|e| {
        ApiError::new(Reason::InvalidHolderCode, format!("holder: {e}")).field("$.holder")
    })?;
    let pull = PullRequest {
        holder,
        matter: required(req.matter, "$.matter")?,
        purpose: required(req.purpose, "$.purpose")?,
        types: req.types,
    };
    let vault = state.vault.clone();
    blocking(move || {
        let pull = vault.reuse(&requester, pull, Utc::now())?;
        let provided = pull
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Provided)
            .count();
        Ok(Json(ReuseResponse {
            access_record: pull.access_record,
            pulled_at: pull.pulled_at,
            matter: pull.matter,
            purpose: pull.purpose,
            provided,
            not_provided: pull.results.len() - provided,
            results: pull.results.into_iter().map(ReuseItem::from).collect(),
        }))
    })
    .await
}

/// Reuse statistics per issuing agency, licence type and matter, since the vault was created (admin).
#[utoipa::path(get, path = "/v1/admin/stats", tag = "admin",
    responses((status = 200, body = ReuseStats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
) -> Result<Json<ReuseStats>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok(Json(vault.reuse_stats()?))).await
}
