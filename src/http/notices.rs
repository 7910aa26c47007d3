//! Keeping people informed (SPEC §11): `GET /v1/notices`, a requester's revocation notices as a
//! cursor feed, and `GET /v1/me/notifications` with its read mark, the holder's.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, Me, REQUESTER};
use super::page;
use super::reuse::{query_error, requester_of};
use super::{blocking, AppState};
use crate::vault::page::{NOTICES, NOTIFICATIONS};
use crate::vault::{At, Notification, StoredNotice};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticesQuery {
    /// Notices per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// The previous page's `nextCursor`, or the `seq` of the last notice already handled;
    /// absent: from the first notice.
    pub cursor: Option<String>,
    /// The same as a number (deprecated: use `cursor`).
    #[deprecated = "use cursor"]
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub after: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notices {
    /// Oldest first.
    pub notices: Vec<StoredNotice>,
    /// Pass as `cursor` for the next page; null when there is no more now (ask again later with
    /// the last `seq` as `cursor`).
    pub next_cursor: Option<String>,
}

/// The caller's revocation notices (requester): one signed `LicenceStatusNotice` for every
/// licence it was provided in the last 90 days that has since been suspended, revoked, cancelled
/// or superseded. Oldest first; resume with `cursor` = the last `seq` handled.
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
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor", "after"]))?;
    let limit = page::limit(q.limit, NOTICES)?;
    #[expect(deprecated, reason = "the old parameter is accepted for a release")]
    let cursor = page::cursor(q.cursor, q.after, "after")?;
    let vault = state.vault.clone();
    blocking(move || {
        let page = vault.notices(&requester, cursor.as_deref(), limit)?;
        Ok(Json(Notices {
            notices: page.notices,
            next_cursor: page.next_cursor,
        }))
    })
    .await
}

// ----- the holder's notifications ---------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// Notifications per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notifications {
    /// Newest first.
    pub notifications: Vec<Notification>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Everything at or before this time is read; null if nothing was ever marked.
    pub read_up_to: Option<DateTime<Utc>>,
}

/// The caller's notifications (holder), newest first: every pull, check and in-person showing of
/// their licences, every status change of one, every pending consent request, every consent in
/// force that expires within 7 days; `read` against the read mark.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "holder", params(NotificationsQuery),
    responses((status = 200, body = Notifications), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn notifications(
    State(state): State<AppState>,
    Me(me): Me,
    query: Result<Query<NotificationsQuery>, QueryRejection>,
) -> Result<Json<Notifications>, ApiError> {
    let holder = me.holder.clone();
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor"]))?;
    let limit = page::limit(q.limit, NOTIFICATIONS)?;
    let vault = state.vault.clone();
    blocking(move || {
        // A delegate for some matters hears of those matters only.
        let page = vault.notifications(&holder, limit, q.cursor.as_deref(), Utc::now(), |n| {
            me.allows_matter(n.matter.as_deref().unwrap_or_default())
        })?;
        Ok(Json(Notifications {
            notifications: page.notifications,
            next_cursor: page.next_cursor,
            read_up_to: page.read_up_to,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkRead {
    /// Mark everything up to this time as read (default: now). The mark never moves back.
    pub up_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadMark {
    pub read_up_to: DateTime<Utc>,
}

/// Mark the caller's notifications read up to a time, at most now (holder; a delegate needs
/// scope `all`).
#[utoipa::path(post, path = "/v1/me/notifications:read", tag = "holder", request_body = MarkRead,
    responses((status = 200, body = ReadMark), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<MarkRead>,
) -> Result<Json<ReadMark>, ApiError> {
    // The mark is the holder's: a delegate for some matters would mark what it cannot see.
    me.require_all("marking notifications read")?;
    let vault = state.vault.clone();
    blocking(move || {
        // No `upTo`: everything up to the decision's time, which the vault reads.
        let up_to = req.up_to.unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(Json(ReadMark {
            read_up_to: vault.mark_notifications_read(&me, up_to, At::Now)?,
        }))
    })
    .await
}
