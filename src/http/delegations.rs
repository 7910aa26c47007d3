//! Acting for others (SPEC §11): a company (or its legal representative, with `Acting-For`)
//! grants, lists and revokes delegations; a citizen lists what they received; the admin
//! registers and ends guardianships.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, AppPath, Me, ADMIN};
use super::reuse::{holder_member, query_error, required};
use super::{blocking, AppState};
use crate::codes::HolderCode;
use crate::reuse::delegation::{Basis, Delegation, NewDelegation, Scope};
use crate::vault::At;
use crate::verdict::Reason;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDelegationRequest {
    /// The staff member, a citizen `111:…`.
    #[schema(value_type = String)]
    pub delegate: Option<String>,
    pub delegate_name: Option<String>,
    /// `"all"`, or the matter codes the delegate may act on.
    #[schema(value_type = Scope)]
    pub scope: Option<Scope>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An authorisation and whether it lets its delegate act now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationView {
    #[serde(flatten)]
    pub delegation: Delegation,
    /// Not revoked or expired, and (for a delegation) granted by the legal representative in
    /// office: a new representative ends the old one's delegations without a revocation.
    pub in_force: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationList {
    /// Authorisations to act for the holder spoken for (newest first): its delegations, or the
    /// guardianships over it. Only the holder itself or its legal representative sees them.
    pub given: Vec<DelegationView>,
    /// Authorisations the caller received, to act for others (newest first), when acting for
    /// themselves: what a switcher offers.
    pub received: Vec<DelegationView>,
    /// Either list has a next page.
    pub more: bool,
    /// Pass as `givenCursor` for the next page of `given`; absent on its last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_next_cursor: Option<String>,
    /// Pass as `receivedCursor` for the next page of `received`; absent on its last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_next_cursor: Option<String>,
}

/// A page of each list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DelegationsQuery {
    /// At most this many of each list (default 200, at most 200).
    pub limit: Option<usize>,
    /// The `givenNextCursor` of the previous page.
    pub given_cursor: Option<String>,
    /// The `receivedNextCursor` of the previous page.
    pub received_cursor: Option<String>,
    /// `given` or `received`: that list only (the other is empty); absent: both.
    pub list: Option<DelegationLists>,
}

/// Which list `GET /v1/me/delegations` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DelegationLists {
    Given,
    Received,
}

/// Authorise a citizen to act for the company (the company, or its legal representative with
/// `Acting-For`): in consents, answers to consent requests, licence reads and the access log,
/// within `scope` and until `expiresAt`. It names the legal representative in office and ends
/// when the company's 营业执照 in force names another.
#[utoipa::path(post, path = "/v1/me/delegations", tag = "holder", request_body = NewDelegationRequest,
    responses((status = 201, body = Delegation), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not the company or its legal representative, or no 营业执照 in force names one", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<NewDelegationRequest>,
) -> Result<(StatusCode, Json<Delegation>), ApiError> {
    let delegate = holder_member(req.delegate).map_err(|e| e.field("$.delegate"))?;
    let new = NewDelegation {
        delegate,
        delegate_name: req.delegate_name,
        scope: required(req.scope, "$.scope")?,
        expires_at: required(req.expires_at, "$.expiresAt")?,
    };
    let vault = state.vault.clone();
    blocking(move || {
        let d = vault.create_delegation(&me, new, At::Now)?;
        Ok((StatusCode::CREATED, Json(d)))
    })
    .await
}

/// The delegations given for the holder spoken for, and those the caller received (holder), a
/// page of each at a time.
#[utoipa::path(get, path = "/v1/me/delegations", tag = "holder", params(DelegationsQuery),
    responses((status = 200, body = DelegationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Me(me): Me,
    query: Result<Query<DelegationsQuery>, QueryRejection>,
) -> Result<Json<DelegationList>, ApiError> {
    let Query(q) =
        query.map_err(|e| query_error(&e, &["limit", "givenCursor", "receivedCursor", "list"]))?;
    let given_too = q.list != Some(DelegationLists::Received);
    let received_too = q.list != Some(DelegationLists::Given);
    let max = super::page::limit(q.limit, crate::vault::page::DELEGATIONS)?;
    let vault = state.vault.clone();
    blocking(move || {
        let now = Utc::now();
        // Each company's representative is found once for the whole answer.
        let mut reps = std::collections::HashMap::new();
        // A page and its next cursor: the last one shown, when one more exists.
        let mut view =
            |mut list: Vec<Delegation>| -> Result<(Vec<DelegationView>, Option<String>), ApiError> {
                let next = (list.len() > max).then(|| list[max - 1].id.clone());
                list.truncate(max);
                let views = list
                    .into_iter()
                    .map(|delegation| {
                        let in_force = vault.in_force_among(&delegation, now, &mut reps)?;
                        Ok(DelegationView {
                            delegation,
                            in_force,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?;
                Ok((views, next))
            };
        let (given, given_next_cursor) = if given_too && me.may_delegate() {
            view(vault.delegations_given(&me.holder, q.given_cursor.as_deref(), max + 1)?)?
        } else {
            (Vec::new(), None)
        };
        let (received, received_next_cursor) = if received_too && me.basis == Basis::Own {
            let page = vault
                .delegations_received(&me.actor, q.received_cursor.as_deref(), max + 1)?
                .ok_or_else(|| {
                    ApiError::new(Reason::InvalidRequest, "not a cursor this feed gave")
                        .field("receivedCursor")
                })?;
            view(page)?
        } else {
            (Vec::new(), None)
        };
        Ok(Json(DelegationList {
            given,
            received,
            more: given_next_cursor.is_some() || received_next_cursor.is_some(),
            given_next_cursor,
            received_next_cursor,
        }))
    })
    .await
}

/// Revoke one of the company's delegations at once (the company, or its legal representative):
/// the delegate's next request for the company is refused. Revoking again changes nothing.
#[utoipa::path(delete, path = "/v1/me/delegations/{id}", tag = "holder",
    params(("id" = String, Path, description = "The delegation id")),
    responses((status = 200, description = "The delegation, revoked", body = Delegation), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<Delegation>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok(Json(vault.revoke_delegation(&me, &id, At::Now)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGuardianship {
    /// The guardian, a citizen `111:…`.
    #[schema(value_type = String)]
    pub guardian: Option<String>,
    /// The ward, a citizen `111:…`.
    #[schema(value_type = String)]
    pub ward: Option<String>,
    /// Until when. A minor's: at the latest (and by default) the ward's 18th birthday, read
    /// from the number. An adult's: required, at most 1,826 days ahead.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `true` registers a guardianship of an adult ward (a court's or an agreed one), which must
    /// be said explicitly; default `false`, a minor's.
    #[serde(default)]
    pub adult: bool,
}

fn citizen(value: Option<String>, at: &str) -> Result<HolderCode, ApiError> {
    required(value, at)?
        .parse()
        .map_err(|e| ApiError::new(Reason::InvalidHolderCode, format!("{e}")).field(at))
}

/// Register a guardian to act for a ward, with the whole scope (admin): a minor until 18 at the
/// latest, an adult (`adult: true`) for a bounded term.
#[utoipa::path(post, path = "/v1/admin/guardianships", tag = "admin", request_body = NewGuardianship,
    responses((status = 201, body = Delegation), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_guardianship(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(req): AppJson<NewGuardianship>,
) -> Result<(StatusCode, Json<Delegation>), ApiError> {
    let guardian = citizen(req.guardian, "$.guardian")?;
    let ward = citizen(req.ward, "$.ward")?;
    let vault = state.vault.clone();
    blocking(move || {
        let g =
            vault.register_guardianship(&guardian, &ward, req.expires_at, req.adult, At::Now)?;
        Ok((StatusCode::CREATED, Json(g)))
    })
    .await
}

/// End a guardianship at once (admin).
#[utoipa::path(delete, path = "/v1/admin/guardianships/{id}", tag = "admin",
    params(("id" = String, Path, description = "The guardianship id")),
    responses((status = 200, description = "The guardianship, ended", body = Delegation), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_guardianship(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Delegation>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok(Json(vault.revoke_guardianship(&id, At::Now)?))).await
}
