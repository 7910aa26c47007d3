//! An issuing agency's view of its own work (SPEC §12): `GET /v1/issuer/deposits` and
//! `GET /v1/issuer/notices`, newest first, paged with `before`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, ISSUER};
use super::reuse::{page_limit, query_error};
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::vault::{IssuerDeposit, IssuerNotice, ISSUER_MAX_PAGE};

const ISSUER_PAGE: usize = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssuerQuery {
    /// Entries per page (1–200, default 50).
    pub limit: Option<usize>,
    /// The previous page's `nextBefore`; absent: from the newest.
    pub before: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerDeposits {
    /// Newest first.
    pub deposits: Vec<IssuerDeposit>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerNotices {
    /// Newest first.
    pub notices: Vec<IssuerNotice>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<u64>,
}

fn parse(
    p: Principal,
    query: Result<Query<IssuerQuery>, QueryRejection>,
) -> Result<(crate::codes::Uscc, Option<u64>, usize), ApiError> {
    let Principal::Issuer(uscc) = p else {
        return Err(ApiError::forbidden("this endpoint is for issuer tokens"));
    };
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "before"]))?;
    Ok((
        uscc,
        q.before,
        page_limit(q.limit, ISSUER_PAGE, ISSUER_MAX_PAGE)?,
    ))
}

/// The caller's deposits (issuer), newest first, each with its status now.
#[utoipa::path(get, path = "/v1/issuer/deposits", tag = "licences", params(IssuerQuery),
    responses((status = 200, body = IssuerDeposits), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deposits(
    State(state): State<AppState>,
    Allow(p): Allow<ISSUER>,
    query: Result<Query<IssuerQuery>, QueryRejection>,
) -> Result<Json<IssuerDeposits>, ApiError> {
    let (uscc, before, limit) = parse(p, query)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.issuer_deposits(&uscc, before, limit)?;
        Ok(Json(IssuerDeposits {
            deposits: page.items,
            next_before: page.next_before,
        }))
    })
    .await
}

/// The revocation notices the caller's licences caused (issuer), newest first: to whom each went
/// and the signed notice.
#[utoipa::path(get, path = "/v1/issuer/notices", tag = "licences", params(IssuerQuery),
    responses((status = 200, body = IssuerNotices), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn notices(
    State(state): State<AppState>,
    Allow(p): Allow<ISSUER>,
    query: Result<Query<IssuerQuery>, QueryRejection>,
) -> Result<Json<IssuerNotices>, ApiError> {
    let (uscc, before, limit) = parse(p, query)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.issuer_notices(&uscc, before, limit)?;
        Ok(Json(IssuerNotices {
            notices: page.items,
            next_before: page.next_before,
        }))
    })
    .await
}
