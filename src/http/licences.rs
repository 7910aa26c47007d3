//! Deposit, read and verify licences.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{
    acting_for, admit, Allow, AppJson, Deferred, JsonDoc, LicencePath, Me, ADMIN, HOLDER, ISSUER,
    REQUESTER,
};
use super::reuse::query_error;
use super::{blocking, AppState};
use crate::auth::Principal;
use crate::codes::LicenceId;
use crate::jcs;
use crate::vault::{Deposited, Extracted, StoredStatement, Vault, MAX_BATCH};
use crate::verdict::{Reason, Verdict};
use crate::verify::Status;

fn issuer_of(Allow(p): Allow<ISSUER>) -> Result<crate::codes::Uscc, ApiError> {
    match p {
        Principal::Issuer(u) => Ok(u),
        _ => Err(ApiError::forbidden("this endpoint is for issuer tokens")),
    }
}

/// Deposit one signed licence.
#[utoipa::path(post, path = "/v1/licences", tag = "licences",
    request_body(content = Object, description = "A licence signed with eddsa-jcs-2022 (SPEC §3)"),
    responses(
        (status = 201, description = "Deposited; the vault-signed receipt", body = Object),
        (status = 200, description = "The same bytes were deposited before; the first receipt", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Same id, other content", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deposit(
    State(state): State<AppState>,
    auth: Allow<ISSUER>,
    JsonDoc(doc): JsonDoc,
) -> Result<Response, ApiError> {
    let issuer = issuer_of(auth)?;
    let vault = state.vault.clone();
    let outcome = blocking(move || {
        vault
            .deposit(&issuer, &doc, Utc::now())
            .map_err(ApiError::from)
    })
    .await?;
    Ok(match outcome {
        Deposited::Created(r) => (StatusCode::CREATED, Json(r)).into_response(),
        Deposited::Existing(r) => (StatusCode::OK, Json(r)).into_response(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to 1,000 signed licences. Each item is judged on its own, as a single deposit would be:
    /// one that is not a signed licence (not even an object) is refused in its result.
    #[schema(value_type = Vec<Value>)]
    pub licences: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    pub index: usize,
    /// The status this item would have had as a single deposit (201, 200, 409, 422 …).
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<super::error::ErrorDetail>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub created: usize,
    pub existing: usize,
    pub rejected: usize,
    pub results: Vec<BatchItem>,
}

/// Deposit up to 1,000 signed licences; per-item results in order.
#[utoipa::path(post, path = "/v1/licences:batch", tag = "licences", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deposit_batch(
    State(state): State<AppState>,
    auth: Allow<ISSUER>,
    AppJson(req): AppJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    let issuer = issuer_of(auth)?;
    if req.licences.len() > MAX_BATCH {
        return Err(ApiError::new(
            Reason::PayloadTooLarge,
            format!("at most {MAX_BATCH} licences per batch"),
        )
        .field("$.licences"));
    }
    let vault = state.vault.clone();
    let results =
        blocking(move || Ok(vault.deposit_batch(Some(&issuer), &req.licences, Utc::now())?))
            .await?;
    let mut resp = BatchResponse {
        created: 0,
        existing: 0,
        rejected: 0,
        results: Vec::with_capacity(results.len()),
    };
    for (index, r) in results.into_iter().enumerate() {
        resp.results.push(match r {
            Ok(Deposited::Created(receipt)) => {
                resp.created += 1;
                BatchItem {
                    index,
                    status: 201,
                    receipt: Some(receipt),
                    error: None,
                }
            }
            Ok(Deposited::Existing(receipt)) => {
                resp.existing += 1;
                BatchItem {
                    index,
                    status: 200,
                    receipt: Some(receipt),
                    error: None,
                }
            }
            Err(e) => {
                resp.rejected += 1;
                let mut e = ApiError::from(e);
                if let Some(f) = e.field.take() {
                    e.field = Some(format!("$.licences[{index}]{}", f.trim_start_matches('$')));
                }
                BatchItem {
                    index,
                    status: e.status().as_u16(),
                    receipt: None,
                    error: Some(e.body().error),
                }
            }
        });
    }
    Ok(Json(resp))
}

/// A licence as the vault holds it, with a fresh verdict.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceView {
    pub id: String,
    /// The signed licence, or null when its stored bytes no longer verify (never served then).
    #[schema(value_type = Option<Object>)]
    pub licence: Option<jcs::Canonical>,
    pub status: Status,
    /// Why the licence is not active, when a statement says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Every status statement, oldest first, with its reason.
    pub status_history: Vec<StoredStatement>,
    /// Every version of this licence the vault holds, oldest first.
    pub versions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The deposit receipt. Absent only when it was never signed (a bulk import signs it at the
    /// first read) and no vault key can sign for its time now (declared compromised then).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Value>,
    pub verdict: Verdict,
}

impl LicenceView {
    /// The view of an extracted licence, with its statement history and version chain.
    pub fn build(vault: &Vault, e: Extracted) -> Result<Self, ApiError> {
        let (history, versions) = (vault.statements(&e.id)?, vault.versions(&e.id)?);
        Self::with_history(vault, e, history, versions)
    }

    /// The view of an extracted licence with its statement history and versions as read.
    pub fn with_history(
        vault: &Vault,
        e: Extracted,
        history: Vec<StoredStatement>,
        versions: Vec<LicenceId>,
    ) -> Result<Self, ApiError> {
        let status = Status::of(&e.verdict);
        let status_reason = e
            .meta
            .status
            .as_ref()
            .filter(|s| s.status == status)
            .map(|s| s.reason.clone());
        Ok(Self {
            status_history: history,
            versions: versions.iter().map(LicenceId::urn).collect(),
            id: e.id.urn(),
            licence: e.document,
            status,
            status_reason,
            // A receipt that cannot be signed for its time does not hide the licence.
            receipt: match vault.receipt_of(&e.id, &e.meta) {
                Ok(r) => Some(r),
                Err(s) if s.unavailable => {
                    tracing::warn!(licence = %e.id, error = %s, "deposit receipt not signed");
                    None
                }
                Err(s) => return Err(s.into()),
            },
            superseded_by: e.meta.superseded_by.map(|s| s.urn()),
            verdict: e.verdict,
        })
    }
}

/// Read a licence (its issuer or its holder): the document, its status and a fresh verdict.
#[utoipa::path(get, path = "/v1/licences/{id}", tag = "licences",
    params(("id" = String, Path, description = "GB/T 36904 identifier, bare or urn:gbt36904:")),
    responses((status = 200, body = LicenceView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_licence(
    State(state): State<AppState>,
    Deferred(caller): Deferred<{ ISSUER | HOLDER }>,
    headers: axum::http::HeaderMap,
    LicencePath(id): LicencePath,
) -> Result<Json<LicenceView>, ApiError> {
    let acting_for = acting_for(&headers)?;
    let vault = state.vault.clone();
    blocking(move || {
        // The caller is admitted (401, 403) before anything about the licence is answered; a
        // token still to be read is read in the licence's own flight.
        let admit = |principal: Option<Principal>| -> Result<Principal, ApiError> {
            let principal = admit::<{ ISSUER | HOLDER }>(principal)?;
            // A delegate reads the company's licences within its scope, as the company would.
            let principal = match (principal, &acting_for) {
                (Principal::Holder(actor), Some(holder)) => {
                    let me = vault.acting(&actor, holder, Utc::now())?;
                    if !me.allows_type(&vault.registries(), &id.type_code()) {
                        return Err(ApiError::not_found(format!("no licence {}", id.urn())));
                    }
                    Principal::Holder(me.holder)
                }
                (p, _) => p,
            };
            // Issuers can only read their own licences: refused whatever the record holds, so
            // that a 404 vs 403 difference reveals nothing about other agencies' licences.
            if let Principal::Issuer(u) = &principal {
                if &id.issuer() != u {
                    return Err(ApiError::forbidden(
                        "an issuer may read only its own licences",
                    ));
                }
            }
            Ok(principal)
        };
        // Holders get the same answer, after the same work, for other people's licences as for
        // absent ones.
        let (e, history, versions) = vault
            .read_licence_record(&caller, &id, Utc::now(), admit)?
            .ok_or_else(|| ApiError::not_found(format!("no licence {}", id.urn())))?;
        Ok(Json(LicenceView::with_history(
            &vault, e, history, versions,
        )?))
    })
    .await
}

/// Verify a presented licence, deposit receipt or purpose-stamped copy; or a printed copy's PDF
/// (`application/pdf`, SPEC §16): its seal, whether its page shows exactly the signed copy it
/// names, then that copy's own checks.
#[utoipa::path(post, path = "/v1/verify", tag = "licences",
    request_body(description = "Any eddsa-jcs-2022-signed document (JSON), or a PDF the vault printed",
        content((Object = "application/json"), (Vec<u8> = "application/pdf"))),
    responses((status = 200, body = Verdict), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    _: Allow<{ REQUESTER | HOLDER | ADMIN }>,
    req: axum::extract::Request,
) -> Result<Json<Verdict>, ApiError> {
    let vault = state.vault.clone();
    if super::extract::is_pdf(req.headers()) {
        let pdf = super::extract::body_bytes(req, &state).await?;
        return blocking(move || Ok(Json(vault.verify_pdf(&pdf, Utc::now())?))).await;
    }
    let JsonDoc(doc) =
        <JsonDoc as axum::extract::FromRequest<AppState>>::from_request(req, &state).await?;
    if !doc.is_object() {
        return Err(ApiError::new(
            Reason::MalformedJson,
            "a signed document must be a JSON object",
        )
        .field("$"));
    }
    blocking(move || Ok(Json(vault.verify_presented(&doc, Utc::now())?))).await
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyLicences {
    /// In identifier order.
    pub licences: Vec<LicenceView>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of the caller's licences.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MyLicencesQuery {
    /// At most this many (default 100, at most 200).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's own licences (holder), each with its status and a fresh verdict, a page at a
/// time (a delegate's: those of its scope).
#[utoipa::path(get, path = "/v1/me/licences", tag = "holder", params(MyLicencesQuery),
    responses((status = 200, body = MyLicences), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn my_licences(
    State(state): State<AppState>,
    Me(me): Me,
    query: Result<Query<MyLicencesQuery>, QueryRejection>,
) -> Result<Json<MyLicences>, ApiError> {
    let Query(q) = query.map_err(|e| query_error(&e, &["limit", "cursor"]))?;
    let limit = super::page::limit(q.limit, crate::vault::page::LICENCES)?;
    // The cursor is the id of the last licence of the previous page, which the caller was shown.
    let after = q
        .cursor
        .map(|c| {
            c.parse::<LicenceId>().map_err(|_| {
                ApiError::new(Reason::InvalidRequest, "not a cursor this feed gave").field("cursor")
            })
        })
        .transpose()?;
    let vault = state.vault.clone();
    blocking(move || {
        let reg = vault.registries();
        let (list, next) =
            vault.holder_licence_page(&me.holder, after.as_ref(), limit, Utc::now(), |id| {
                me.allows_type(&reg, &id.type_code())
            })?;
        let licences = list
            .into_iter()
            .map(|e| LicenceView::build(&vault, e))
            .collect::<Result<_, _>>()?;
        Ok(Json(MyLicences {
            licences,
            next_cursor: next.map(|id| id.to_string()),
        }))
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusHistory {
    pub id: String,
    pub status: Status,
    pub history: Vec<StoredStatement>,
}

/// Deposit a status statement signed by the licence's issuing agency (SPEC §6).
#[utoipa::path(post, path = "/v1/licences/{id}/status", tag = "licences",
    params(("id" = String, Path, description = "GB/T 36904 identifier, bare or urn:gbt36904:")),
    request_body(content = Object, description = "{@context, licence, status, reason, effectiveAt, proof} signed with eddsa-jcs-2022"),
    responses(
        (status = 201, description = "Accepted", body = StatusHistory),
        (status = 200, description = "The same statement was accepted before", body = StatusHistory),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "invalid_transition", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_status(
    State(state): State<AppState>,
    auth: Allow<ISSUER>,
    LicencePath(id): LicencePath,
    JsonDoc(doc): JsonDoc,
) -> Result<(StatusCode, Json<StatusHistory>), ApiError> {
    let issuer = issuer_of(auth)?;
    let vault = state.vault.clone();
    blocking(move || {
        let (new, history) = vault.post_status(&issuer, &id, &doc, Utc::now())?;
        let status = vault
            .meta(&id)?
            .and_then(|m| m.status)
            .map_or(Status::Active, |s| s.status);
        let code = if new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((
            code,
            Json(StatusHistory {
                id: id.urn(),
                status,
                history,
            }),
        ))
    })
    .await
}
