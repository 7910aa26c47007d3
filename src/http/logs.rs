//! The transparency logs over HTTP (SPEC §14): the read path of C2SP `tlog-tiles` under
//! `/log/{name}/` (checkpoint, tiles, entry bundles: static and cacheable), and under `/v1/logs`
//! the logs' keys, proofs by leaf (C2SP `tlog-proof`) and consistency proofs. All public: the
//! logs hold no personal data.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Allow, AppJson, AppPath, ADMIN};
use super::reuse::query_error;
use super::{blocking, AppState};
use crate::tlog::tiles::TilePath;
use crate::vault::logs::LogName;
use crate::verdict::Reason;

fn log_name(name: &str) -> Result<LogName, ApiError> {
    LogName::parse(name).ok_or_else(|| {
        ApiError::not_found(format!("no log {name:?}: the logs are public and access"))
    })
}

fn text(body: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The latest signed checkpoint of a log (C2SP `tlog-checkpoint`, signed as a C2SP
/// `signed-note` by the vault key under the log's origin).
#[utoipa::path(get, path = "/log/{name}/checkpoint", tag = "logs",
    params(("name" = String, Path, description = "public or access")),
    responses((status = 200, description = "the signed checkpoint", content_type = "text/plain", body = String),
        (status = 404, body = ErrorBody)))]
pub async fn checkpoint(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let log = log_name(&name)?;
    let vault = state.vault.clone();
    blocking(move || {
        let checkpoint = vault.served_checkpoint(log)?.ok_or_else(|| {
            ApiError::new(
                Reason::Unavailable,
                "no checkpoint of this log has been cosigned by its witnesses yet",
            )
        })?;
        Ok(text(checkpoint, "no-cache, max-age=1"))
    })
    .await
}

/// A tile (`tile/<L>/<N>[.p/<W>]`) or entry bundle (`tile/entries/<N>[.p/<W>]`) of a log, as
/// C2SP `tlog-tiles` defines them. Immutable once served.
#[utoipa::path(get, path = "/log/{name}/tile/{*path}", tag = "logs",
    params(("name" = String, Path, description = "public or access"),
        ("path" = String, Path, description = "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in 3-digit groups (`x001/x234/067`)")),
    responses((status = 200, description = "the tile's hashes or the bundle's entries", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn tile(
    State(state): State<AppState>,
    AppPath((name, path)): AppPath<(String, String)>,
) -> Result<Response, ApiError> {
    let log = log_name(&name)?;
    let tile = TilePath::parse(&path)
        .map_err(|e| ApiError::new(Reason::InvalidRequest, e.0).field("path"))?;
    let vault = state.vault.clone();
    blocking(move || {
        let bytes = vault.log_tile(log, &tile)?.ok_or_else(|| {
            ApiError::not_found(format!("the {name} log has no tile {path} at its size"))
        })?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            bytes,
        )
            .into_response())
    })
    .await
}

/// One log as `GET /v1/logs` describes it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogInfo {
    pub name: LogName,
    /// The checkpoint's origin line and the key name of its signatures.
    pub origin: String,
    pub size: u64,
    /// The C2SP verifier keys of its checkpoints, one per vault key (oldest first).
    pub verifier_keys: Vec<String>,
    /// Where the tiles are: `{prefix}/checkpoint`, `{prefix}/tile/…`.
    pub prefix: String,
    /// The witnesses' cosigner keys (C2SP `tlog-cosignature`), and how many of them cosign every
    /// checkpoint served.
    pub witnesses: Vec<String>,
    pub quorum: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Logs {
    pub logs: Vec<LogInfo>,
}

/// The vault's transparency logs: origins, sizes and the keys that verify their checkpoints.
#[utoipa::path(get, path = "/v1/logs", tag = "logs", responses((status = 200, body = Logs)))]
pub async fn logs(State(state): State<AppState>) -> Result<Json<Logs>, ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let mut logs = Vec::new();
        for log in LogName::ALL {
            let state = vault.log_begun(log)?;
            logs.push(LogInfo {
                name: log,
                origin: state.origin,
                size: state.size,
                verifier_keys: vault
                    .log_verifiers(log)?
                    .iter()
                    .map(|v| v.to_text())
                    .collect(),
                prefix: format!("{}/log/{}", vault.public_url(), log.as_str()),
                witnesses: vault
                    .witness_policy()
                    .witnesses
                    .iter()
                    .map(|w| w.cosigner.to_text())
                    .collect(),
                quorum: vault.witness_policy().quorum,
            });
        }
        Ok(Json(Logs { logs }))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    /// The leaf hash, base64 (`leafHash` of an answer's `log`).
    pub leaf: String,
}

/// The C2SP `tlog-proof` of a leaf against the log's latest checkpoint: its index, inclusion
/// proof and the signed checkpoint. A leaf committed but not yet integrated is integrated first.
#[utoipa::path(get, path = "/v1/logs/{name}/proof", tag = "logs",
    params(("name" = String, Path, description = "public or access"), ProofQuery),
    responses((status = 200, description = "c2sp.org/tlog-proof@v1", content_type = "text/plain", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn proof(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    query: Result<Query<ProofQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let log = log_name(&name)?;
    let Query(q) = query.map_err(|e| query_error(&e, &["leaf"]))?;
    let leaf: [u8; 32] = STANDARD
        .decode(&q.leaf)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::new(Reason::InvalidRequest, "leaf must be 32 bytes of base64").field("leaf")
        })?;
    let vault = state.vault.clone();
    blocking(move || {
        let p = vault
            .log_proof(log, &leaf)?
            .ok_or_else(|| ApiError::not_found(format!("no such leaf in the {name} log")))?;
        Ok(text(p.to_text(), "no-cache"))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The smaller tree's size.
    pub from: u64,
    /// The larger tree's size (at most the log's size).
    pub to: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consistency {
    pub from: u64,
    pub to: u64,
    /// The roots of both trees, base64.
    pub from_root: String,
    pub to_root: String,
    /// RFC 6962 §2.1.2, base64 hashes.
    pub proof: Vec<String>,
}

/// The consistency proof between two sizes of a log (RFC 6962 §2.1.2).
#[utoipa::path(get, path = "/v1/logs/{name}/consistency", tag = "logs",
    params(("name" = String, Path, description = "public or access"), ConsistencyQuery),
    responses((status = 200, body = Consistency), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn consistency(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Consistency>, ApiError> {
    let log = log_name(&name)?;
    let Query(q) = query.map_err(|e| query_error(&e, &["from", "to"]))?;
    if q.from > q.to {
        return Err(
            ApiError::new(Reason::InvalidRequest, "from must not be larger than to").field("from"),
        );
    }
    let vault = state.vault.clone();
    blocking(move || {
        let (a, b, p) = vault.log_consistency(log, q.from, q.to)?.ok_or_else(|| {
            ApiError::not_found(format!("the {name} log is smaller than {}", q.to))
        })?;
        Ok(Json(Consistency {
            from: q.from,
            to: q.to,
            from_root: STANDARD.encode(a),
            to_root: STANDARD.encode(b),
            proof: p.iter().map(|h| STANDARD.encode(h)).collect(),
        }))
    })
    .await
}

/// What an operator knows of a frozen log.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// The latest checkpoint of the log anyone saw (a witness's or a monitor's), verbatim; none:
    /// nobody knows what was published, and the log goes on under a new origin.
    #[serde(default)]
    pub published: Option<String>,
}

/// The state of a resumed log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resumed {
    pub origin: String,
    pub size: u64,
    /// The signed checkpoint it goes on from.
    pub checkpoint: String,
}

/// Resumes a log frozen by a restore: on as before if this tree contains the latest checkpoint
/// it published, else under a new origin whose first leaf says where it continues from.
#[utoipa::path(post, path = "/v1/admin/logs/{name}/resume", tag = "admin", request_body = Resume,
    params(("name" = String, Path, description = "public or access")),
    responses((status = 200, body = Resumed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    _: Allow<ADMIN>,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<Resume>,
) -> Result<Json<Resumed>, ApiError> {
    let log = log_name(&name)?;
    let vault = state.vault.clone();
    blocking(move || {
        let s = vault.resume_log(log, body.published.as_deref())?;
        tracing::warn!(log = log.as_str(), origin = %s.origin, size = s.size, "a frozen log was resumed");
        Ok(Json(Resumed {
            origin: s.origin,
            size: s.size,
            checkpoint: s.checkpoint,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DepositQuery {
    /// The licence's SHA-256 (hex), as its deposit receipt gives it.
    pub sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepositLeaf {
    /// The deposit's leaf in the public log (canonical JSON).
    pub leaf: String,
    /// Its hash, base64: `GET /v1/logs/public/proof?leaf=` proves it.
    pub leaf_hash: String,
}

/// The public log's leaf of a licence's deposit, by the licence's digest: how a deposit
/// receipt is checked against the log.
#[utoipa::path(get, path = "/v1/logs/public/deposit", tag = "logs", params(DepositQuery),
    responses((status = 200, body = DepositLeaf), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deposit(
    State(state): State<AppState>,
    query: Result<Query<DepositQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DepositLeaf>, ApiError> {
    let Query(q) = query.map_err(|e| query_error(&e, &["sha256"]))?;
    if q.sha256.len() != 64
        || !q
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::new(
            Reason::InvalidRequest,
            "sha256 must be 64 lowercase hex digits",
        )
        .field("sha256"));
    }
    let vault = state.vault.clone();
    blocking(move || {
        let leaf = vault
            .deposit_leaf(&q.sha256)?
            .ok_or_else(|| ApiError::not_found("no deposit of this licence in the public log"))?;
        Ok(Json(DepositLeaf {
            leaf_hash: STANDARD.encode(crate::tlog::leaf_hash(&leaf)),
            leaf: String::from_utf8_lossy(&leaf).into_owned(),
        }))
    })
    .await
}
