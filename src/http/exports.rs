//! A holder's copy of everything (SPEC §17): `POST /v1/me/exports` makes an export (an access
//! record of its own kind) and `GET /v1/me/exports/{id}` streams it as a tar archive.
//!
//! The archive is the API's own answers, byte for byte: each file is the body of a `GET` the
//! caller could make itself — every page of its licences, consents, consent requests (pending
//! and answered), access
//! log, corrections, objections, notifications, presentation codes and delegations (given and
//! received), each consent's receipts, and its
//! summary — asked of the same routes with the caller's own credential and `Acting-For`, so a
//! delegate's export holds exactly its scope, and nothing is assembled twice. Each signed
//! licence is also written alone, as its issuer signed it (`licences/{id}.json`, its JCS bytes),
//! for `licence-vault verify`. The last file is `manifest.json`, signed by the vault: every
//! other file's path, SHA-256 and length. Files are written as they are read, so a large
//! holder's export is never held whole in memory; a section the caller may not read (`403`,
//! e.g. presentation codes for a delegate) is left out.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt as _;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath, Me};
use super::{blocking, AppState};
use crate::reuse::delegation::Acting;
use crate::vault::page;
use crate::vault::{At, ExportTicket};
use crate::verify::export_manifest::{FileEntry, MANIFEST_PATH};

/// The largest answer one file of an export may be (a page of the API).
const FILE_LIMIT: usize = 64 << 20;

/// An export made, and where to download it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportView {
    #[serde(flatten)]
    pub ticket: ExportTicket,
    /// `GET` this (with the same credential and `Acting-For`) before `expiresAt`.
    pub href: String,
}

/// Nothing to choose yet: an export holds everything the caller may read.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExport {}

/// Make a copy of everything the vault holds about the holder spoken for (holder; a delegate:
/// within its scope). Logged as an access record of kind `export`; the archive is then
/// downloaded from `href` by the same person, once, within the hour.
#[utoipa::path(post, path = "/v1/me/exports", tag = "holder", request_body = NewExport,
    responses((status = 201, body = ExportView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(NewExport {}): AppJson<NewExport>,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    let vault = state.vault.clone();
    blocking(move || {
        let ticket = vault.start_export(&me, At::Now)?;
        let href = format!("/v1/me/exports/{}", ticket.id);
        Ok((StatusCode::CREATED, Json(ExportView { ticket, href })))
    })
    .await
}

/// Download an export, once (holder, the person who made it): a tar archive of the API's own answers
/// and a `manifest.json` signed by the vault listing every file's SHA-256. Streamed; `licence-vault
/// verify --in FILE.tar` checks it offline.
#[utoipa::path(get, path = "/v1/me/exports/{id}", tag = "holder",
    params(("id" = String, Path, description = "The export id")),
    responses((status = 200, description = "The archive", content_type = "application/x-tar", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such export of this caller, or it expired or was downloaded", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = state.vault.clone();
    let acting = me.clone();
    let ticket = blocking(move || Ok(vault.take_export(&acting, &id, At::Now)?)).await?;
    let credentials: Vec<(header::HeaderName, HeaderValue)> = headers
        .iter()
        .filter(|(name, _)| {
            *name == header::AUTHORIZATION || name.as_str().eq_ignore_ascii_case("acting-for")
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let api = super::api(state.vault.clone(), None);
    let filename = format!(
        "attachment; filename=\"licence-vault-export-{}.tar\"",
        ticket.id
    );
    tokio::spawn(async move {
        let mut writer = Writer {
            tx,
            files: Vec::new(),
            mtime: u64::try_from(ticket.created_at.timestamp()).unwrap_or(0),
        };
        let outcome = write_export(&mut writer, &api, &credentials, &state, &me, &ticket).await;
        if let Err(e) = outcome {
            tracing::warn!(export = %ticket.id, error = %e, "export cut short");
            let _ = writer.tx.send(Err(std::io::Error::other(e))).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&filename)
                    .map_err(|_| ApiError::internal("bad export id"))?,
            ),
        ],
        body,
    )
        .into_response())
}

/// Writes tar entries to the response as they are made, keeping each one's manifest entry.
struct Writer {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    files: Vec<FileEntry>,
    mtime: u64,
}

impl Writer {
    async fn file(&mut self, path: &str, content: Vec<u8>) -> Result<(), String> {
        let mut header = tar::Header::new_ustar();
        header.set_path(path).map_err(|e| format!("{path}: {e}"))?;
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        if path != MANIFEST_PATH {
            self.files.push(FileEntry::of(path, &content));
        }
        // Header, content, and zeros to the next 512-byte block.
        let padding = vec![0; (512 - content.len() % 512) % 512];
        self.send([&header.as_bytes()[..], &content, &padding].concat())
            .await
    }

    async fn send(&self, bytes: Vec<u8>) -> Result<(), String> {
        self.tx
            .send(Ok(Bytes::from(bytes)))
            .await
            .map_err(|_| "the client went away".to_owned())
    }
}

/// The body of `GET path` asked of the API with the caller's credentials, or `None` when the
/// caller may not read it (`403`).
async fn get(
    api: &Router,
    credentials: &[(header::HeaderName, HeaderValue)],
    path: &str,
) -> Result<Option<Vec<u8>>, String> {
    let mut req = Request::builder().method(Method::GET).uri(path);
    for (n, v) in credentials {
        req = req.header(n, v);
    }
    let req = req.body(Body::empty()).map_err(|e| e.to_string())?;
    let resp = api
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), FILE_LIMIT)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    match status {
        StatusCode::OK => Ok(Some(bytes.to_vec())),
        StatusCode::FORBIDDEN => Ok(None),
        s => Err(format!("GET {path}: {s}")),
    }
}

/// One paged feed of the API as an export writes it.
struct Feed<'a> {
    /// Written as `{dir}/page-NNNN.json`.
    dir: &'a str,
    path: &'a str,
    limit: usize,
    /// The query parameter that takes a cursor, and the member that gives the next one.
    cursor: &'a str,
    next: &'a str,
}

impl<'a> Feed<'a> {
    const fn new(dir: &'a str, path: &'a str, limit: usize) -> Self {
        Self {
            dir,
            path,
            limit,
            cursor: "cursor",
            next: "nextCursor",
        }
    }
}

/// A feed's pages, following its cursor to the end; the items of each page under `items` are
/// handed to `each`. A feed the caller may not read (`403` on its first page) is left out; one
/// that stops being readable part-way fails the export, which must not sign half a feed as whole.
async fn pages(
    w: &mut Writer,
    api: &Router,
    credentials: &[(header::HeaderName, HeaderValue)],
    feed: Feed<'_>,
    items: &str,
    mut each: impl FnMut(&Value),
) -> Result<(), String> {
    let mut cursor: Option<String> = None;
    for n in 1.. {
        let sep = if feed.path.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{sep}limit={}", feed.path, feed.limit);
        if let Some(c) = &cursor {
            url = format!("{url}&{}={}", feed.cursor, encode(c));
        }
        let Some(body) = get(api, credentials, &url).await? else {
            return match n {
                1 => Ok(()),
                _ => Err(format!("GET {url}: no longer allowed part-way")),
            };
        };
        let page = crate::jcs::parse(&body).map_err(|e| format!("{url}: {e}"))?;
        page[items]
            .as_array()
            .into_iter()
            .flatten()
            .for_each(&mut each);
        w.file(&format!("{}/page-{n:04}.json", feed.dir), body)
            .await?;
        cursor = page[feed.next].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    Ok(())
}

/// A cursor as a query value (cursors are URL-safe text but may hold `.`, `:` or `#`).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn write_export(
    w: &mut Writer,
    api: &Router,
    credentials: &[(header::HeaderName, HeaderValue)],
    state: &AppState,
    me: &Acting,
    ticket: &ExportTicket,
) -> Result<(), String> {
    // Licences: the pages (status, history, versions, a fresh verdict), then each signed licence
    // alone, as its issuer signed it.
    let mut licences: Vec<(String, Value)> = Vec::new();
    let feed = Feed::new("licences", "/v1/me/licences", page::LICENCES.max);
    pages(w, api, credentials, feed, "licences", |l| {
        if let (Some(id), Some(doc)) = (l["id"].as_str(), l.get("licence")) {
            if !doc.is_null() {
                licences.push((id.to_owned(), doc.clone()));
            }
        }
    })
    .await?;
    for (id, doc) in licences {
        let bare = id.strip_prefix("urn:gbt36904:").unwrap_or(&id);
        w.file(
            &format!("licences/{bare}.json"),
            crate::jcs::canonicalize(&doc),
        )
        .await?;
    }
    let mut consents: Vec<String> = Vec::new();
    let feed = Feed::new("consents", "/v1/me/consents", page::CONSENTS.max);
    pages(w, api, credentials, feed, "consents", |c| {
        consents.extend(c["id"].as_str().map(str::to_owned));
    })
    .await?;
    for id in consents {
        let path = format!("/v1/me/consents/{}/receipts", encode(&id));
        let body = get(api, credentials, &path)
            .await?
            .ok_or_else(|| format!("GET {path}: no longer allowed part-way"))?;
        w.file(&format!("consents/{id}/receipts.json"), body)
            .await?;
    }
    let delegations = page::DELEGATIONS.max;
    for feed in [
        Feed::new(
            "consent-requests",
            "/v1/me/consent-requests",
            page::CONSENT_REQUESTS.max,
        ),
        Feed::new(
            "consent-requests/answered",
            "/v1/me/consent-requests?state=answered",
            page::CONSENT_REQUESTS.max,
        ),
        Feed::new("access-log", "/v1/me/access-log", page::ACCESS_LOG.max),
        Feed::new("corrections", "/v1/me/corrections", page::CORRECTIONS.max),
        Feed::new("objections", "/v1/me/objections", page::CORRECTIONS.max),
        Feed::new(
            "notifications",
            "/v1/me/notifications",
            page::NOTIFICATIONS.max,
        ),
        Feed::new(
            "presentations",
            "/v1/me/presentations",
            page::PRESENTATIONS.max,
        ),
        Feed {
            cursor: "givenCursor",
            next: "givenNextCursor",
            ..Feed::new(
                "delegations/given",
                "/v1/me/delegations?list=given",
                delegations,
            )
        },
        Feed {
            cursor: "receivedCursor",
            next: "receivedNextCursor",
            ..Feed::new(
                "delegations/received",
                "/v1/me/delegations?list=received",
                delegations,
            )
        },
    ] {
        pages(w, api, credentials, feed, "", |_| {}).await?;
    }
    if let Some(body) = get(api, credentials, "/v1/me/summary").await? {
        w.file("summary.json", body).await?;
    }
    let vault = state.vault.clone();
    let (me, ticket, files) = (me.clone(), ticket.clone(), w.files.clone());
    let manifest =
        blocking(move || Ok(vault.sign_export_manifest(&me, &ticket, &files, Utc::now())?))
            .await
            .map_err(|e| format!("signing the manifest: {e:?}"))?;
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    w.file(MANIFEST_PATH, bytes).await?;
    // The end of the archive: two empty blocks.
    w.send(vec![0; 1024]).await
}
