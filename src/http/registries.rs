//! Public registries and the admin endpoints that edit them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, AppPath, UsccPath, ADMIN};
use super::{blocking, AppState};
use crate::auth::{Principal, Role};
use crate::keys::DidKey;
use crate::registry::{Agency, AgencyKey, LicenceType, Matter, Requester};
use crate::vault::KeyEdit;
use crate::verdict::Reason;
use crate::verify::VaultKey;

/// A catalogue entry with the matters that accept it (derived from the matter registry).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueEntry {
    #[serde(flatten)]
    pub licence_type: LicenceType,
    pub matters: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    pub types: Vec<CatalogueEntry>,
}

#[utoipa::path(get, path = "/v1/catalogue", tag = "registries", responses((status = 200, body = Catalogue)))]
pub async fn catalogue(State(state): State<AppState>) -> Json<Catalogue> {
    let reg = state.vault.registries();
    let types = reg
        .types
        .values()
        .map(|t| CatalogueEntry {
            licence_type: t.clone(),
            matters: reg.matters_accepting(&t.type_code).into_iter().collect(),
        })
        .collect();
    Json(Catalogue { types })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Matters {
    pub matters: Vec<Matter>,
}

#[utoipa::path(get, path = "/v1/matters", tag = "registries", responses((status = 200, body = Matters)))]
pub async fn matters(State(state): State<AppState>) -> Json<Matters> {
    Json(Matters {
        matters: state.vault.registries().matters.values().cloned().collect(),
    })
}

#[utoipa::path(get, path = "/v1/agencies/{uscc}", tag = "registries",
    params(("uscc" = String, Path, description = "The agency's unified social credit code")),
    responses((status = 200, body = Agency), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn agency(
    State(state): State<AppState>,
    UsccPath(uscc, _): UsccPath,
) -> Result<Json<Agency>, ApiError> {
    state
        .vault
        .registries()
        .agencies
        .get(&uscc)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no agency {uscc}")))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultInfo {
    /// The vault's own key, which signs receipts, stamped copies and status lists.
    pub did_key: String,
    pub version: String,
    /// The CA (X.509, PEM) that certifies the key sealing printable copies (SPEC §16): trust it in
    /// a PDF reader to see the seals as valid. Absent when the vault prints no copies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendering_ca: Option<String>,
}

#[utoipa::path(get, path = "/v1/vault", tag = "registries", responses((status = 200, body = VaultInfo)))]
pub async fn vault_info(State(state): State<AppState>) -> Json<VaultInfo> {
    Json(VaultInfo {
        did_key: state.vault.did_key().to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        rendering_ca: state.vault.rendering_ca(),
    })
}

/// The vault's key history (SPEC §18): every key it has signed with, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct VaultKeyHistory {
    /// Oldest first; a document the vault signed verifies against the key and period here.
    pub keys: Vec<VaultKey>,
    /// The CA (X.509, PEM) that certifies the key sealing printable copies (SPEC §16), as in
    /// `GET /v1/vault`; absent when the vault prints no copies.
    #[serde(rename = "renderingCa", skip_serializing_if = "Option::is_none")]
    pub rendering_ca: Option<String>,
}

#[utoipa::path(get, path = "/v1/vault/keys", tag = "registries",
    responses((status = 200, body = VaultKeyHistory), (status = 503, body = ErrorBody)))]
pub async fn vault_keys(State(state): State<AppState>) -> Result<Json<VaultKeyHistory>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        Ok(Json(VaultKeyHistory {
            keys: vault.key_history()?.keys().to_vec(),
            rendering_ca: vault.rendering_ca(),
        }))
    })
    .await
}

// ----- admin ---------------------------------------------------------------------------------

/// Why the vault key is rotated (kept in the log with the rotation).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    #[serde(default)]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/admin/vault/keys/rotate", tag = "admin", request_body = Rotation,
    responses((status = 201, body = VaultKey, description = "The new key, which signs from now on"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_vault_key(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(why): AppJson<Rotation>,
) -> Result<(StatusCode, Json<VaultKey>), ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let key = vault.rotate_key()?;
        let reason = why.reason.unwrap_or_default();
        tracing::warn!(did = %key.did_key, %reason, "the vault key was rotated");
        Ok((StatusCode::CREATED, Json(key)))
    })
    .await
}

/// A backup's name: a new directory in the vault's backup directory (`serve --backup-dir`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// Letters, digits, `.`, `_` and `-`; not starting with `.`.
    #[schema(pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")]
    pub name: String,
}

/// A backup made by the serving vault.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupMade {
    /// Where it is, on the vault's machine.
    #[schema(value_type = String)]
    pub path: std::path::PathBuf,
    /// Its signed manifest.
    #[schema(value_type = Object)]
    pub manifest: crate::vault::backup::Manifest,
}

/// Backs up the serving vault (RocksDB) into its backup directory; the CLI's `backup --data`
/// asks this of the vault that holds the database, then moves the backup where it was told.
#[utoipa::path(post, path = "/v1/admin/backups", tag = "admin", request_body = BackupRequest,
    responses((status = 201, body = BackupMade),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_backup(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(req): AppJson<BackupRequest>,
) -> Result<(StatusCode, Json<BackupMade>), ApiError> {
    if !crate::vault::backup::valid_name(&req.name) {
        return Err(ApiError::new(
            Reason::InvalidRequest,
            "a backup's name is letters, digits, '.', '_' and '-', not starting with '.'",
        )
        .field("name"));
    }
    let vault = state.vault.clone();
    blocking(move || {
        let (path, manifest) = vault.backup_named(&req.name).map_err(|e| match e {
            crate::vault::backup::BackupError::Vault(v) => ApiError::from(v),
            other => ApiError::new(Reason::Conflict, other.to_string()),
        })?;
        tracing::info!(path = %path.display(), "backup made");
        Ok((StatusCode::CREATED, Json(BackupMade { path, manifest })))
    })
    .await
}

/// A vault key declared compromised since a time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Compromise {
    #[schema(value_type = String)]
    pub did_key: DidKey,
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
}

#[utoipa::path(post, path = "/v1/admin/vault/keys/compromise", tag = "admin", request_body = Compromise,
    responses((status = 200, body = VaultKeyHistory), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn compromise_vault_key(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(c): AppJson<Compromise>,
) -> Result<Json<VaultKeyHistory>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let h = vault.declare_key_compromised(&c.did_key, c.since)?;
        tracing::warn!(did = %c.did_key, since = %c.since, "a vault key was declared compromised");
        Ok(Json(VaultKeyHistory {
            keys: h.keys().to_vec(),
            rendering_ca: vault.rendering_ca(),
        }))
    })
    .await
}

fn created(new: bool) -> StatusCode {
    if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

#[utoipa::path(post, path = "/v1/admin/agencies", tag = "admin", request_body = Agency,
    responses((status = 201, body = Agency), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_agency(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(agency): AppJson<Agency>,
) -> Result<(StatusCode, Json<Agency>), ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        vault.create_agency(agency.clone())?;
        Ok((StatusCode::CREATED, Json(agency)))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    #[schema(value_type = String)]
    pub did_key: DidKey,
    #[schema(value_type = String, format = DateTime)]
    pub active_from: DateTime<Utc>,
}

#[utoipa::path(post, path = "/v1/admin/agencies/{uscc}/keys", tag = "admin", request_body = NewKey,
    params(("uscc" = String, Path)),
    responses((status = 201, body = Agency), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_key(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    UsccPath(uscc, _): UsccPath,
    AppJson(key): AppJson<NewKey>,
) -> Result<(StatusCode, Json<Agency>), ApiError> {
    let vault = state.vault.clone();
    let edit = KeyEdit::Add(AgencyKey {
        did_key: key.did_key,
        active_from: key.active_from,
        retired_at: None,
        compromised_at: None,
    });
    blocking(move || {
        Ok((
            StatusCode::CREATED,
            Json(vault.edit_agency_key(&uscc, edit)?),
        ))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct At {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

async fn key_event(
    state: AppState,
    uscc: crate::codes::Uscc,
    did: Option<String>,
    at: At,
    compromise: bool,
) -> Result<Json<Agency>, ApiError> {
    let did: DidKey = did.unwrap_or_default().parse().map_err(|e| {
        ApiError::new(Reason::InvalidRequest, format!("didKey: {e}")).field("didKey")
    })?;
    let edit = if compromise {
        KeyEdit::Compromise(did, at.at)
    } else {
        KeyEdit::Retire(did, at.at)
    };
    let vault = state.vault.clone();
    blocking(move || Ok(Json(vault.edit_agency_key(&uscc, edit)?))).await
}

#[utoipa::path(post, path = "/v1/admin/agencies/{uscc}/keys/{didKey}/retire", tag = "admin", request_body = At,
    params(("uscc" = String, Path), ("didKey" = String, Path)),
    responses((status = 200, body = Agency), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn retire_key(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    UsccPath(uscc, did): UsccPath,
    AppJson(at): AppJson<At>,
) -> Result<Json<Agency>, ApiError> {
    key_event(state, uscc, did, at, false).await
}

#[utoipa::path(post, path = "/v1/admin/agencies/{uscc}/keys/{didKey}/compromise", tag = "admin", request_body = At,
    params(("uscc" = String, Path), ("didKey" = String, Path)),
    responses((status = 200, body = Agency), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn compromise_key(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    UsccPath(uscc, did): UsccPath,
    AppJson(at): AppJson<At>,
) -> Result<Json<Agency>, ApiError> {
    key_event(state, uscc, did, at, true).await
}

#[utoipa::path(post, path = "/v1/admin/types", tag = "admin", request_body = LicenceType,
    responses((status = 201, body = LicenceType), (status = 200, description = "Replaced", body = LicenceType),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_type(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(ty): AppJson<LicenceType>,
) -> Result<(StatusCode, Json<LicenceType>), ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok((created(vault.put_type(ty.clone())?), Json(ty)))).await
}

#[utoipa::path(post, path = "/v1/admin/matters", tag = "admin", request_body = Matter,
    responses((status = 201, body = Matter), (status = 200, description = "Replaced", body = Matter),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_matter(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(m): AppJson<Matter>,
) -> Result<(StatusCode, Json<Matter>), ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok((created(vault.put_matter(m.clone())?), Json(m)))).await
}

#[utoipa::path(post, path = "/v1/admin/requesters", tag = "admin", request_body = Requester,
    responses((status = 201, body = Requester), (status = 200, description = "Replaced", body = Requester),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_requester(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(r): AppJson<Requester>,
) -> Result<(StatusCode, Json<Requester>), ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok((created(vault.put_requester(r.clone())?), Json(r)))).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub role: Role,
    /// Agency USCC (issuer), requester id (requester), `codeType:code` (holder); empty for admin.
    #[serde(default)]
    pub subject: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    pub id: String,
    /// Shown once; the vault keeps only its SHA-256 digest.
    pub token: String,
}

#[utoipa::path(post, path = "/v1/admin/tokens", tag = "admin", request_body = NewToken,
    responses((status = 201, body = IssuedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppJson(req): AppJson<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let principal = Principal::from_role(req.role, &req.subject).map_err(|m| {
        let reason = match req.role {
            Role::Issuer => Reason::InvalidAgencyCode,
            Role::Holder => Reason::InvalidHolderCode,
            _ => Reason::InvalidRequest,
        };
        ApiError::new(reason, m).field("$.subject")
    })?;
    let vault = state.vault.clone();
    blocking(move || {
        let (id, token) = vault.create_token(&principal, Utc::now())?;
        tracing::info!(token_id = %id, principal = %principal, "token issued");
        Ok((StatusCode::CREATED, Json(IssuedToken { id, token })))
    })
    .await
}

#[utoipa::path(delete, path = "/v1/admin/tokens/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        if vault.revoke_token(&id)? {
            tracing::info!(token_id = %id, "token revoked");
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format!("no token {id}")))
        }
    })
    .await
}
