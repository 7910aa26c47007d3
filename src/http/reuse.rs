//! Holder consent, the access log and requester pulls.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, AppPath, Me, ADMIN, REQUESTER};
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::codes::{HolderCode, LicenceId, TypeCode};
use crate::jcs;
use crate::reuse::delegation::Acting;
use crate::reuse::{
    ClaimCheck, Consent, ConsentState, Narrowing, NewConsent, Outcome, PullRequest,
};
use crate::vault::{AccessRecord, At, HolderSummary, ReuseStats, TypeResult, Vault};
use crate::verdict::{Reason, Verdict};
use serde_json::Value;

pub(super) fn requester_of(p: Principal) -> Result<String, ApiError> {
    match p {
        Principal::Requester(r) => Ok(r),
        _ => Err(ApiError::forbidden("this endpoint is for requester tokens")),
    }
}

/// The `holder` member of a requester's request, required and a valid holder code.
pub(super) fn holder_member(holder: Option<String>) -> Result<HolderCode, ApiError> {
    required(holder, "$.holder")?.parse().map_err(|e| {
        ApiError::new(Reason::InvalidHolderCode, format!("holder: {e}")).field("$.holder")
    })
}

pub(super) fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::new(Reason::InvalidRequest, "is required").field(field))
}

// ----- consents ----------------------------------------------------------------------------

/// A holder's authorisation of one approval system for one matter. Named `NewConsent` in the
/// OpenAPI document: `ConsentRequest` there is a requester's request (`reuse::request`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = NewConsent)]
pub struct ConsentRequest {
    /// The approval system (requester id) authorised.
    #[schema(value_type = String)]
    pub requester: Option<String>,
    /// The matter code it may pull for.
    #[schema(value_type = String)]
    pub matter: Option<String>,
    /// Why, in the holder's words.
    #[schema(value_type = String)]
    pub purpose: Option<String>,
    /// Licence types covered (each needed by the matter). Give either `types` or `licences`.
    #[schema(value_type = Option<Vec<String>>)]
    pub types: Option<Vec<TypeCode>>,
    /// Specific licences of the caller (bare or `urn:gbt36904:`); later versions are covered too.
    pub licences: Option<Vec<String>>,
    /// At most one year ahead.
    #[schema(value_type = String, format = DateTime)]
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
    /// The names a person reads (the codes stay in `requester`, `matter`, `types`).
    pub requester_name: String,
    pub matter_name: String,
    /// Each of `types` by name.
    #[schema(value_type = Object)]
    pub type_names: std::collections::BTreeMap<String, String>,
    /// The vault-signed consent receipt of what was just done (granted, approved, narrowed,
    /// withdrawn), for the holder to keep; `verify` checks it offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Value>,
}

impl ConsentView {
    fn new(consent: Consent, now: DateTime<Utc>, reg: &crate::registry::Registries) -> Self {
        let requester_name = reg
            .requesters
            .get(&consent.requester)
            .map_or_else(|| consent.requester.clone(), |r| r.name.clone());
        let matter_name = reg
            .matters
            .get(&consent.matter)
            .map_or_else(|| consent.matter.clone(), |m| m.name.clone());
        let type_names = consent
            .types
            .iter()
            .map(|t| {
                let name = reg
                    .types
                    .get(t)
                    .map_or_else(|| t.to_string(), |x| x.name.clone());
                (t.to_string(), name)
            })
            .collect();
        Self {
            state: consent.state(now),
            remaining_uses: consent.remaining_uses(),
            requester_name,
            matter_name,
            type_names,
            consent,
            receipt: None,
        }
    }

    /// The view with the receipt of the consent's latest event.
    pub fn with_receipt(
        vault: &Vault,
        holder: &HolderCode,
        consent: Consent,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let receipt = vault.latest_consent_receipt(holder, &consent)?;
        Ok(Self {
            receipt,
            ..Self::new(consent, now, &vault.registries())
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentList {
    /// Newest first.
    pub consents: Vec<ConsentView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of the caller's consents.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsentsQuery {
    /// At most this many (default 100, at most 200).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Authorise an approval system to pull some of the caller's licences for one matter (holder).
#[utoipa::path(post, path = "/v1/me/consents", tag = "holder", request_body = ConsentRequest,
    responses((status = 201, body = ConsentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a holder token, or a licence that is not the caller's", body = ErrorBody),
        (status = 404, description = "Unknown requester or matter", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_consent(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<ConsentRequest>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    let holder = me.holder.clone();
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
    me.require_matter(&new.matter, "$.matter")?;
    let vault = state.vault.clone();
    blocking(move || {
        let consent = vault.create_consent(&me, new, At::Now)?;
        let view = ConsentView::with_receipt(&vault, &holder, consent, Utc::now())?;
        Ok((StatusCode::CREATED, Json(view)))
    })
    .await
}

/// The caller's consents, newest first, a page at a time, with remaining uses and history
/// (holder; a delegate's: those of its matters).
#[utoipa::path(get, path = "/v1/me/consents", tag = "holder", params(ConsentsQuery),
    responses((status = 200, body = ConsentList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_consents(
    State(state): State<AppState>,
    Me(me): Me,
    query: Result<Query<ConsentsQuery>, QueryRejection>,
) -> Result<Json<ConsentList>, ApiError> {
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor"]))?;
    let limit = super::page::limit(q.limit, crate::vault::page::CONSENTS)?;
    let cursor = q
        .cursor
        .map(|c| {
            consent_id(&c).map_err(|_| {
                ApiError::new(Reason::InvalidRequest, "not a cursor this feed gave").field("cursor")
            })
        })
        .transpose()?;
    let holder = me.holder.clone();
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        let (consents, next) = vault.consent_page(&holder, cursor.as_deref(), limit, |c| {
            me.allows_matter(&c.matter)
        })?;
        let reg = vault.registries();
        Ok(Json(ConsentList {
            consents: consents
                .into_iter()
                .map(|c| ConsentView::new(c, now, &reg))
                .collect(),
            next_cursor: next,
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
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConsentView>, ApiError> {
    let holder = me.holder.clone();
    let id = consent_id(&id)?;
    let vault = state.vault.clone();
    blocking(move || {
        consent_in_scope(&vault, &me, &id)?;
        match vault.withdraw_consent(&me, &id, At::Now)? {
            Some(c) => Ok(Json(ConsentView::with_receipt(
                &vault,
                &holder,
                c,
                Utc::now(),
            )?)),
            None => Err(consent_not_found(&id)),
        }
    })
    .await
}

/// Refuses an act on a consent whose matter is outside a delegate's scope with the `404` of a
/// consent that does not exist: a delegate learns nothing of what it may not see.
fn consent_in_scope(vault: &Vault, me: &Acting, id: &str) -> Result<(), ApiError> {
    if me.scope.is_all() {
        return Ok(());
    }
    vault
        .consent_of(&me.holder, id)?
        .filter(|c| me.allows_matter(&c.matter))
        .map(|_| ())
        .ok_or_else(|| consent_not_found(id))
}

fn consent_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no consent {id}")).field("id")
}

/// A consent id as a path names it; anything else is a consent that does not exist.
fn consent_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(consent_not_found("with that id"));
    }
    Ok(id.to_owned())
}

/// What to narrow: each member absent stays as it is; nothing can be widened.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NarrowRequest {
    /// Keep only these of the covered types.
    #[schema(value_type = Option<Vec<String>>)]
    pub types: Option<Vec<TypeCode>>,
    /// Keep only these of the covered licences (bare or `urn:gbt36904:`).
    pub licences: Option<Vec<String>>,
    /// An earlier expiry (still in the future).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Fewer uses (at least 1, and no fewer than already used).
    pub max_uses: Option<u32>,
}

impl NarrowRequest {
    pub fn narrowing(self) -> Result<Narrowing, ApiError> {
        let licences = self
            .licences
            .map(|ls| {
                ls.iter()
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
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Narrowing {
            types: self.types,
            licences,
            expires_at: self.expires_at,
            max_uses: self.max_uses,
        })
    }
}

/// Narrow one of the caller's consents (`POST /v1/me/consents/{id}:narrow`, holder): fewer types
/// or licences, an earlier expiry, fewer uses. Effective for the next pull; returns the consent
/// with its new consent receipt.
#[utoipa::path(post, path = "/v1/me/consents/{id}:narrow", tag = "holder", request_body = NarrowRequest,
    params(("id" = String, Path, description = "The consent id")),
    responses((status = 200, description = "The consent, narrowed", body = ConsentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the consent is withdrawn or expired", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consent_action(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(action): AppPath<String>,
    AppJson(body): AppJson<NarrowRequest>,
) -> Result<Json<ConsentView>, ApiError> {
    let holder = me.holder.clone();
    let Some(id) = action.strip_suffix(":narrow") else {
        return Err(ApiError::not_found(
            "no such consent action: POST …/{id}:narrow",
        ));
    };
    let id = consent_id(id)?;
    let narrowing = body.narrowing()?;
    let vault = state.vault.clone();
    blocking(move || {
        consent_in_scope(&vault, &me, &id)?;
        match vault.narrow_consent(&me, &id, &narrowing, At::Now)? {
            Some(c) => Ok(Json(ConsentView::with_receipt(
                &vault,
                &holder,
                c,
                Utc::now(),
            )?)),
            None => Err(consent_not_found(&id)),
        }
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentReceipts {
    /// Oldest first: granted or approved, then each narrowing, then the withdrawal.
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Value>,
}

/// Every consent receipt of one of the caller's consents, again (holder): the same event gives
/// the same bytes.
#[utoipa::path(get, path = "/v1/me/consents/{id}/receipts", tag = "holder",
    params(("id" = String, Path, description = "The consent id")),
    responses((status = 200, body = ConsentReceipts), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consent_receipts(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConsentReceipts>, ApiError> {
    let holder = me.holder.clone();
    let id = consent_id(&id)?;
    let vault = state.vault.clone();
    blocking(move || {
        // Out of a delegate's scope: as absent.
        let consent = vault
            .consent_of(&holder, &id)?
            .filter(|c| me.allows_matter(&c.matter))
            .ok_or_else(|| consent_not_found(&id))?;
        Ok(Json(ConsentReceipts {
            receipts: vault.consent_receipts(&holder, &consent)?,
        }))
    })
    .await
}

/// A query string that does not deserialise, as the error envelope names it: the unknown
/// parameter, else the first of `fields` the message mentions.
pub fn query_error(e: &QueryRejection, fields: &[&str]) -> ApiError {
    let text = e.body_text();
    // serde names an unknown parameter first ("unknown field `page`, expected …").
    let unknown = text
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_owned());
    let field = unknown.unwrap_or_else(|| {
        fields
            .iter()
            .find(|f| text.contains(**f))
            .map_or("query", |f| *f)
            .to_owned()
    });
    ApiError::new(Reason::InvalidRequest, text).field(field)
}

// ----- access log --------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Records per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
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
    Me(me): Me,
    query: Result<Query<AccessLogQuery>, QueryRejection>,
) -> Result<Json<AccessLog>, ApiError> {
    let holder = me.holder.clone();
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor"]))?;
    let limit = super::page::limit(q.limit, crate::vault::page::ACCESS_LOG)?;
    let vault = state.vault.clone();
    blocking(move || {
        // A delegate for some matters sees the records of those matters only.
        let page = vault.access_log_shown(&holder, limit, q.cursor.as_deref(), |r| {
            me.allows_matter(&r.matter)
        })?;
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
    #[schema(value_type = String)]
    pub holder: Option<String>,
    /// The matter the application is for; the caller must be registered for it.
    #[schema(value_type = String)]
    pub matter: Option<String>,
    /// Why, as the approval system records it; stamped on every copy.
    #[schema(value_type = String)]
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
    /// Its leaf in the access log (SPEC §14).
    pub log: crate::vault::logs::LogReceipt,
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
    let requester = requester_of(p)?;
    let holder = holder_member(req.holder)?;
    let pull = PullRequest {
        holder,
        matter: required(req.matter, "$.matter")?,
        purpose: required(req.purpose, "$.purpose")?,
        types: req.types,
    };
    let vault = state.vault.clone();
    blocking(move || {
        let pull = vault.reuse(&requester, pull, At::Now)?;
        let provided = pull
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Provided)
            .count();
        Ok(Json(ReuseResponse {
            access_record: pull.access_record,
            log: pull.log,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The holder, `codeType:code`.
    #[schema(value_type = String)]
    pub holder: Option<String>,
    /// The matter the application is for; the caller must be registered for it.
    #[schema(value_type = String)]
    pub matter: Option<String>,
    /// Why, as the approval system records it.
    #[schema(value_type = String)]
    pub purpose: Option<String>,
    /// The licence type whose face fields are claimed.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub type_code: Option<TypeCode>,
    /// Face field → claimed value (the fields the matter declares for the type, when it does).
    #[schema(value_type = Object)]
    pub claims: Option<serde_json::Map<String, Value>>,
}

/// Whether one claim matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResult {
    pub field: String,
    #[serde(rename = "match")]
    pub matches: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResponse {
    /// The access record written before this answer was released.
    pub access_record: String,
    /// Its leaf in the access log (SPEC §14).
    pub log: crate::vault::logs::LogReceipt,
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: DateTime<Utc>,
    pub matter: String,
    #[serde(rename = "type")]
    pub type_code: String,
    /// `provided`: the claims were compared; `not_provided`: why not in `reason`.
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per claimed field, in field order: whether the licence says the same. Nothing else of the
    /// licence is released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ClaimResult>>,
}

/// Check claimed face values without releasing the licence (核验, requester): under the same
/// consent rules and audit-before-release as a pull, each claimed field is `match: true | false`,
/// and the check is an access record of its own kind in the holder's log.
#[utoipa::path(post, path = "/v1/reuse:check", tag = "reuse", request_body = CheckRequest,
    responses((status = 200, body = CheckResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a requester token, or `matter_not_allowed`", body = ErrorBody),
        (status = 500, description = "The access record could not be written; nothing was released", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn check(
    State(state): State<AppState>,
    Allow(p): Allow<REQUESTER>,
    AppJson(req): AppJson<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    let requester = requester_of(p)?;
    let holder = holder_member(req.holder)?;
    let check = ClaimCheck {
        holder,
        matter: required(req.matter, "$.matter")?,
        purpose: required(req.purpose, "$.purpose")?,
        type_code: required(req.type_code, "$.type")?,
        claims: required(req.claims, "$.claims")?,
    };
    let vault = state.vault.clone();
    blocking(move || {
        let a = vault.check_claims(&requester, check, At::Now)?;
        Ok(Json(CheckResponse {
            access_record: a.access_record,
            log: a.log,
            checked_at: a.checked_at,
            matter: a.matter,
            type_code: a.type_code.to_string(),
            outcome: a.outcome,
            reason: a.reason,
            message: a.message,
            results: a.claims.map(|c| {
                c.into_iter()
                    .map(|(field, matches)| ClaimResult { field, matches })
                    .collect()
            }),
        }))
    })
    .await
}

/// Per matter, how many licences were provided without the caller uploading them again, and
/// when (holder): "data runs, people don't".
#[utoipa::path(get, path = "/v1/me/summary", tag = "holder",
    responses((status = 200, body = HolderSummary), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    Me(me): Me,
) -> Result<Json<HolderSummary>, ApiError> {
    let holder = me.holder.clone();
    let vault = state.vault.clone();
    blocking(move || {
        let mut summary = vault.holder_summary(&holder)?;
        if !me.scope.is_all() {
            summary.matters.retain(|m| me.allows_matter(&m.matter));
            summary.licences_provided = summary.matters.iter().map(|m| m.licences_provided).sum();
        }
        Ok(Json(summary))
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
