//! An issuing agency's view of its own work (SPEC §12): `GET /v1/issuer/deposits` and
//! `GET /v1/issuer/notices`, newest first, paged as every feed is (`http/page`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, ISSUER};
use super::page;
use super::reuse::query_error;
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::vault::page::ISSUER as ISSUER_FEED;
use crate::vault::{IssuerDeposit, IssuerNotice};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssuerQuery {
    /// Entries per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// The previous page's `nextCursor`; absent: from the newest.
    pub cursor: Option<String>,
    /// The previous page's `nextBefore` (deprecated: use `cursor`).
    #[deprecated = "use cursor"]
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub before: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerDeposits {
    /// Newest first.
    pub deposits: Vec<IssuerDeposit>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
    /// The same position as a number, for clients of `before` (deprecated: use `nextCursor`).
    #[deprecated = "use next_cursor"]
    pub next_before: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerNotices {
    /// Newest first.
    pub notices: Vec<IssuerNotice>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
    /// The same position as a number, for clients of `before` (deprecated: use `nextCursor`).
    #[deprecated = "use next_cursor"]
    pub next_before: Option<u64>,
}

fn parse(
    p: Principal,
    query: Result<Query<IssuerQuery>, QueryRejection>,
) -> Result<(crate::codes::Uscc, Option<String>, usize), ApiError> {
    let Principal::Issuer(uscc) = p else {
        return Err(ApiError::forbidden("this endpoint is for issuer tokens"));
    };
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor", "before"]))?;
    #[expect(deprecated, reason = "the old parameter is accepted for a release")]
    Ok((
        uscc,
        page::cursor(q.cursor, q.before, "before")?,
        page::limit(q.limit, ISSUER_FEED)?,
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
    let (uscc, cursor, limit) = parse(p, query)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.issuer_deposits(&uscc, cursor.as_deref(), limit)?;
        #[expect(deprecated, reason = "the old member is written for a release")]
        Ok(Json(IssuerDeposits {
            deposits: page.items,
            next_before: page.next_cursor.as_deref().and_then(|c| c.parse().ok()),
            next_cursor: page.next_cursor,
        }))
    })
    .await
}

/// The status changes of the caller's licences that caused revocation notices (issuer), newest
/// first: each with how many approval systems it reached (not which).
#[utoipa::path(get, path = "/v1/issuer/notices", tag = "licences", params(IssuerQuery),
    responses((status = 200, body = IssuerNotices), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn notices(
    State(state): State<AppState>,
    Allow(p): Allow<ISSUER>,
    query: Result<Query<IssuerQuery>, QueryRejection>,
) -> Result<Json<IssuerNotices>, ApiError> {
    let (uscc, cursor, limit) = parse(p, query)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.issuer_notices(&uscc, cursor.as_deref(), limit)?;
        #[expect(deprecated, reason = "the old member is written for a release")]
        Ok(Json(IssuerNotices {
            notices: page.items,
            next_before: page.next_cursor.as_deref().and_then(|c| c.parse().ok()),
            next_cursor: page.next_cursor,
        }))
    })
    .await
}
