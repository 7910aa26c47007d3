//! Presentation codes (亮证, SPEC §11): the holder makes, lists and cancels one-time codes; a
//! requester redeems one. The QR code is drawn here (the `qrcode` crate, as SVG) from the URL the
//! verifier page opens; the code rides in the URL's fragment, which browsers never send to a
//! server, so no request log ever holds it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, AppPath, Me, REQUESTER};
use super::reuse::{query_error, requester_of, required};
use super::{blocking, AppState};
use crate::codes::LicenceId;
use crate::jcs;
use crate::reuse::presentation::PresentationState;
use crate::vault::{At, Presentation};
use crate::verdict::{Reason, Verdict};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPresentationRequest {
    /// One of the caller's licences (URN or bare id).
    #[schema(value_type = String)]
    pub licence: Option<String>,
    /// Only these face fields are shown; absent: the whole licence.
    pub fields: Option<Vec<String>>,
    /// Seconds the code lives (default 120, at most 300).
    pub valid_for: Option<u64>,
}

/// A code as its holder sees it, with its state now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresentationView {
    #[serde(flatten)]
    pub presentation: Presentation,
    /// `pending`, `redeemed`, `cancelled` or `expired`, now.
    pub state_now: PresentationState,
}

impl PresentationView {
    fn new(presentation: Presentation, now: DateTime<Utc>) -> Self {
        let state_now = presentation.state_at(now);
        Self {
            presentation,
            state_now,
        }
    }
}

/// A new code: shown once, never stored by the vault.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPresentationView {
    #[serde(flatten)]
    pub presentation: PresentationView,
    /// The one-time code, `XXXX-XXXX-…` (160 random bits), to type or scan.
    pub code: String,
    /// The verifier page with the code in the fragment.
    pub url: String,
    /// A QR code of `url`, as an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresentationList {
    /// Newest first.
    pub presentations: Vec<PresentationView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of the caller's presentation codes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PresentationsQuery {
    /// At most this many (default 100, at most 200).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeemRequest {
    /// The code as shown or scanned (case, spaces and dashes do not matter).
    #[schema(value_type = String)]
    pub code: Option<String>,
}

/// What a redeemed code shows: the licence verified afresh, whole or only the chosen fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeemedView {
    pub presentation: String,
    /// The holder's access log entry (kind `in_person`) for this showing.
    pub access_record: String,
    /// Its leaf in the access log (SPEC §14).
    pub log: crate::vault::logs::LogReceipt,
    pub redeemed_at: DateTime<Utc>,
    pub licence: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    pub verdict: Verdict,
    /// The signed licence as stored, when the whole licence was shown and it verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub document: Option<jcs::Canonical>,
    /// Only the chosen face fields, when the holder chose some and the licence verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
}

/// The QR code of `text` as an SVG document.
pub(super) fn qr_svg(text: &str) -> Result<String, ApiError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// Make a one-time code to show one of the caller's licences in person (holder): `validFor` at
/// most 300 s; with `fields`, only those face fields are shown.
#[utoipa::path(post, path = "/v1/me/presentations", tag = "holder", request_body = NewPresentationRequest,
    responses((status = 201, body = NewPresentationView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "Not one of the caller's licences", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<NewPresentationRequest>,
) -> Result<(StatusCode, Json<NewPresentationView>), ApiError> {
    me.require_all("a presentation code")?;
    let licence =
        LicenceId::from_urn_or_bare(&required(req.licence, "$.licence")?).map_err(|e| {
            ApiError::new(Reason::InvalidIdentifier, format!("licence: {e}")).field("$.licence")
        })?;
    let vault = state.vault.clone();
    blocking(move || {
        let new = vault.create_presentation(&me, &licence, req.fields, req.valid_for, At::Now)?;
        let now = new.presentation.created_at;
        let url = format!("{}/verify#code={}", vault.public_url(), new.code);
        let qr_svg = qr_svg(&url)?;
        Ok((
            StatusCode::CREATED,
            Json(NewPresentationView {
                presentation: PresentationView::new(new.presentation, now),
                code: new.code,
                url,
                qr_svg,
            }),
        ))
    })
    .await
}

/// The caller's presentation codes with their state now, newest first, a page at a time
/// (holder).
#[utoipa::path(get, path = "/v1/me/presentations", tag = "holder", params(PresentationsQuery),
    responses((status = 200, body = PresentationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Me(me): Me,
    query: Result<Query<PresentationsQuery>, QueryRejection>,
) -> Result<Json<PresentationList>, ApiError> {
    let holder = me.holder.clone();
    me.require_all("presentation codes")?;
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor"]))?;
    let limit = super::page::limit(q.limit, crate::vault::page::PRESENTATIONS)?;
    let cursor = q
        .cursor
        .map(|c| {
            let plain = !c.is_empty()
                && c.len() <= 80
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            plain.then_some(c).ok_or_else(|| {
                ApiError::new(Reason::InvalidRequest, "not a cursor this feed gave").field("cursor")
            })
        })
        .transpose()?;
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        let (page, next) = vault.presentation_page(&holder, cursor.as_deref(), limit)?;
        Ok(Json(PresentationList {
            presentations: page
                .into_iter()
                .map(|p| PresentationView::new(p, now))
                .collect(),
            next_cursor: next,
        }))
    })
    .await
}

/// Cancel one of the caller's codes before it is used (holder): it can no longer be redeemed.
#[utoipa::path(delete, path = "/v1/me/presentations/{id}", tag = "holder",
    params(("id" = String, Path, description = "The presentation id")),
    responses((status = 200, description = "The code, cancelled", body = PresentationView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`presentation_used` or `presentation_expired`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<PresentationView>, ApiError> {
    me.require_all("presentation codes")?;
    let vault = state.vault.clone();
    blocking(move || {
        let p = vault.cancel_presentation(&me, &id, At::Now)?;
        let now = p.cancelled_at.unwrap_or_else(Utc::now);
        Ok(Json(PresentationView::new(p, now)))
    })
    .await
}

/// Redeem a presentation code the holder shows (requester): once, within its lifetime, unless
/// cancelled. The answer is the licence verified afresh (or only the chosen fields); the holder's
/// access log records it as an in-person showing before the answer is sent.
#[utoipa::path(post, path = "/v1/presentations:redeem", tag = "reuse", request_body = RedeemRequest,
    responses((status = 200, body = RedeemedView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "No such code", body = ErrorBody),
        (status = 409, description = "`presentation_used`, `presentation_expired` or `presentation_cancelled`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn redeem(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppJson(req): AppJson<RedeemRequest>,
) -> Result<Json<RedeemedView>, ApiError> {
    let requester = requester_of(p)?;
    let code = required(req.code, "$.code")?;
    let vault = state.vault.clone();
    blocking(move || {
        let r = vault.redeem_presentation(&requester, &code, At::Now)?;
        Ok(Json(RedeemedView {
            presentation: r.presentation,
            access_record: r.access_record,
            log: r.log,
            redeemed_at: r.redeemed_at,
            licence: r.licence.urn(),
            type_code: r.type_code.to_string(),
            type_name: r.type_name,
            verdict: r.verdict,
            document: r.document,
            fields: r.fields,
        }))
    })
    .await
}
