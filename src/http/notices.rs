//! `GET /v1/notices`: a requester's revocation notices as a cursor feed (SPEC §11).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, REQUESTER};
use super::reuse::{page_limit, query_error, requester_of};
use super::{blocking, AppState};
use crate::vault::{StoredNotice, NOTICE_MAX_PAGE};

const NOTICE_PAGE: usize = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticesQuery {
    /// Notices per page (1–200, default 50).
    pub limit: Option<usize>,
    /// The `seq` of the last notice already handled (or the previous page's `nextCursor`); absent:
    /// from the first notice.
    pub after: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notices {
    /// Oldest first.
    pub notices: Vec<StoredNotice>,
    /// Pass as `after` for the next page; null when there is no more now (ask again later with
    /// the last `seq`).
    pub next_cursor: Option<u64>,
}

/// The caller's revocation notices (requester): one signed `LicenceStatusNotice` for every
/// licence it was provided in the last 90 days that has since been suspended, revoked, cancelled
/// or superseded. Oldest first; resume with `after` = the last `seq` handled.
#[utoipa::path(get, path = "/v1/notices", tag = "reuse", params(NoticesQuery),
    responses((status = 200, body = Notices), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    query: Result<Query<NoticesQuery>, QueryRejection>,
) -> Result<Json<Notices>, ApiError> {
    let requester = requester_of(p)?;
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "after"]))?;
    let limit = page_limit(q.limit, NOTICE_PAGE, NOTICE_MAX_PAGE)?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.notices(&requester, q.after, limit)?;
        Ok(Json(Notices {
            notices: page.notices,
            next_cursor: page.next_cursor,
        }))
    })
    .await
}
