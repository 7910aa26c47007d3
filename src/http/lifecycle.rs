//! Status lists for offline verifiers (public, no token: they reveal only bits at indices).

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::extract::AppPath;
use super::{blocking, AppState};
use crate::codes::Uscc;
use crate::lifecycle::Purpose;
use crate::verdict::Reason;

/// A W3C Bitstring Status List credential of one issuing agency, signed by the vault.
#[utoipa::path(get, path = "/v1/status-lists/{uscc}/{purpose}/{list}", tag = "lifecycle",
    params(("uscc" = String, Path), ("purpose" = String, Path, description = "revocation or suspension"),
        ("list" = u64, Path, description = "list number: statusListIndex is within it")),
    responses((status = 200, description = "BitstringStatusListCredential", body = Object),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn status_list(
    State(state): State<AppState>,
    AppPath((uscc, purpose, list)): AppPath<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let uscc: Uscc = uscc.parse().map_err(|e| {
        ApiError::new(Reason::InvalidAgencyCode, format!("agency code: {e}")).field("uscc")
    })?;
    let purpose: Purpose = purpose.parse().map_err(|()| {
        ApiError::new(
            Reason::InvalidRequest,
            "purpose must be revocation or suspension",
        )
        .field("purpose")
    })?;
    let list: u64 = list.parse().map_err(|_| {
        ApiError::new(Reason::InvalidRequest, "list must be a number").field("list")
    })?;
    let vault = state.vault.clone();
    blocking(move || {
        vault
            .status_list(&uscc, purpose, list, Utc::now())?
            .map(Json)
            .ok_or_else(|| {
                ApiError::not_found(format!("no {} list {list} for {uscc}", purpose.as_str()))
            })
    })
    .await
}
