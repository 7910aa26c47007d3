//! The HTTP API of SPEC §7 (axum). Only this layer knows status codes and wire DTOs.
//!
//! Handlers are thin: authenticate, parse into domain types, call the [`Vault`] on the blocking
//! pool (RocksDB and Ed25519 are synchronous), map the result.

mod corrections;
mod delegations;
mod error;
mod exports;
mod extract;
mod issuers;
mod licences;
mod lifecycle;
pub mod limits;
mod logs;
mod notices;
mod oauth;
mod objections;
mod oid4vci;
mod oid4vp;
mod page;
pub mod pages;
mod presentations;
mod prints;
pub mod realm;
mod registries;
mod requests;
mod reuse;
mod routes;
pub mod sessions;
mod vcapi;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use error::{status_of, ApiError, ErrorBody};
pub use routes::{routes, ActingFor, Roles, Route};
pub use vcapi::MAX_PRESENTED;

use crate::metrics::Counter;
use crate::vault::Vault;
use crate::verdict::Reason;

/// Largest body of a single-document request.
pub const BODY_LIMIT: usize = 1 << 20;
/// Largest body of a batch deposit (1,000 licences of a few KiB each).
pub const BATCH_BODY_LIMIT: usize = 16 << 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct AppState {
    pub vault: Arc<Vault>,
    /// The rate limits' shares (`http/limits`); none: not limited (the tests' own routers).
    pub limiter: Option<Arc<limits::Limiter>>,
}

/// Runs blocking vault work off the async runtime, at most [`blocking_permits`] at a time: the work
/// is CPU-bound (Ed25519, JSON, RocksDB reads), so more threads than cores only time-slice, which
/// widens the latency spread without adding throughput. Requests wait their turn in FIFO order.
///
/// The work runs inside the caller's span: a blocking thread does not inherit it, and without it
/// what the vault logs there (consents, pulls, integrity failures) would carry no request id.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    static PERMITS: std::sync::OnceLock<[tokio::sync::Semaphore; 2]> = std::sync::OnceLock::new();
    let [cheap, expensive] = PERMITS.get_or_init(|| {
        let n = blocking_permits();
        [
            tokio::sync::Semaphore::new(n),
            tokio::sync::Semaphore::new((n / 2).max(1)),
        ]
    });
    // Expensive work waits for its own permits, never for the cheap class's (`http/limits`).
    let permits = match limits::current() {
        limits::Class::Cheap => cheap,
        limits::Class::Expensive => expensive,
    };
    let _permit = permits.acquire().await.map_err(ApiError::internal)?;
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await?
}

/// Concurrent blocking tasks: six per core, so that tasks waiting for a WAL sync (reuse pulls,
/// deposits) leave work for the cores and group their syncs. Measured on 2 cores with 64
/// connections of reuse pulls (BENCHMARKS.md): 3 per core starved the cores, 256 per core
/// doubled p99.9.
pub fn blocking_permits() -> usize {
    6 * std::thread::available_parallelism().map_or(2, usize::from)
}

/// The document's frame: its info and the bearer scheme. The operations come from the route table
/// ([`routes`]), in [`openapi_document`].
#[derive(OpenApi)]
#[openapi(
    info(title = "licence-vault", description = "Electronic licence (电子证照) vault: deposit, reuse and verification of signed licences."),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Liveness: the process answers. `ok`, or `degraded: …` while it cannot write (readiness says
/// more).
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "`ok` or `degraded: <why>`")))]
async fn healthz(State(state): State<AppState>) -> String {
    let vault = state.vault.clone();
    let (ready, restored, frozen) = blocking(move || {
        let frozen: Vec<(crate::vault::logs::LogName, String)> = crate::vault::logs::LogName::ALL
            .into_iter()
            .filter_map(|l| Some((l, vault.log_state(l).ok()??.frozen?)))
            .collect();
        Ok((vault.ready(), vault.restored(), frozen))
    })
    .await
    .unwrap_or_else(|e| {
        (
            Ok(()),
            Err(crate::store::StoreError::Engine(e.message)),
            Vec::new(),
        )
    });
    let mut out = match ready {
        Ok(()) => "ok\n".to_owned(),
        Err(e) => format!("degraded: {}\n", ApiError::from(e).reason.as_str()),
    };
    if let Ok(Some(r)) = restored {
        out.push_str(&format!(
            "restored {} from a backup made {}",
            crate::proof::format_time(r.restored_at),
            crate::proof::format_time(r.backup_created_at)
        ));
        if let Some(t) = r.recovered_to {
            out.push_str(&format!(", recovered to {}", crate::proof::format_time(t)));
        }
        out.push('\n');
    }
    for log in crate::vault::logs::LogName::ALL {
        if let Some((_, why)) = frozen.iter().find(|(l, _)| *l == log) {
            out.push_str(&format!(
                "log {}: frozen, no checkpoint is signed ({why}); resume it: POST /v1/admin/logs/{}/resume\n",
                log.as_str(),
                log.as_str()
            ));
        }
        if state.vault.log_health.broken(log) {
            out.push_str(&format!(
                "log {}: its stored tree no longer contains its last checkpoint; no checkpoint is signed\n",
                log.as_str()
            ));
        }
    }
    out
}

/// Readiness: whether the vault can take writes now (`503 storage_full` while its disk is full;
/// it recovers by itself once there is space).
#[utoipa::path(get, path = "/readyz", tag = "service", responses((status = 200, description = "ready"),
    (status = 503, description = "`storage_full` or `unavailable`", body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let vault = state.vault.clone();
    blocking(move || Ok(vault.ready()?)).await?;
    Ok("ready\n")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.vault.metrics.render(),
    )
        .into_response()
}

/// This document: the OpenAPI 3.1 description of the API, generated from the code.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "service", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI document as served: the route table's operations (each annotation, with the
/// table's security and `Acting-For`), with what every operation of a kind can answer added where
/// its annotation does not say it, and flattened schemas opened up.
pub fn openapi_document() -> Value {
    let routes = routes();
    let mut api = ApiDoc::openapi();
    for r in &routes {
        r.document(&mut api);
    }
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    let error = |what: &str| {
        serde_json::json!({"description": what, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    };
    for r in &routes {
        let Some(op) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(&r.path))
            .and_then(|item| item.get_mut(r.openapi_method()))
        else {
            continue;
        };
        let body = op.get("requestBody").is_some();
        let acting = r.acting_for == ActingFor::Yes;
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let mut add = |status: &str, what: &str| {
            responses.entry(status).or_insert_with(|| error(what));
        };
        // The extractors' answers (`http::extract`) and the layers' (`router`).
        if body || r.path.contains('{') || acting {
            add(
                "400",
                "Malformed JSON, unknown fields, a bad path parameter or `Acting-For` header",
            );
        }
        if body {
            add("413", "The body is larger than this endpoint accepts");
            add("415", "The body is not application/json");
        }
        if !r.roles.is_public() {
            add("401", "No valid bearer token");
            add("403", "A token of another role, or outside its scope");
        }
        add(
            "429",
            "`rate_limited`: the caller's share of this class of endpoints is used up; `Retry-After` says when to come back",
        );
        add("503", "Timed out or unavailable; nothing was changed");
    }
    open_flattened(&mut doc);
    untemplate_wildcards(&mut doc);
    doc
}

/// A path that ends in axum's wildcard (`{*path}`, the logs' tiles) is an OpenAPI template
/// parameter of the same name (`{path}`, which OpenAPI lets hold slashes only encoded: clients
/// that need the raw path read the parameter's description).
fn untemplate_wildcards(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let wild: Vec<String> = paths.keys().filter(|k| k.contains("{*")).cloned().collect();
    for k in wild {
        if let Some(item) = paths.remove(&k) {
            paths.insert(k.replace("{*", "{"), item);
        }
    }
}

/// A flattened struct (`#[serde(flatten)]`) is an `allOf` of its parts; a part that refuses
/// unknown members (`additionalProperties: false`, from `deny_unknown_fields` for requests) would
/// refuse the other parts' members, so inside an `allOf` it is inlined without that refusal.
fn open_flattened(doc: &mut Value) {
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    let Some(all) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in all.values_mut() {
        let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut) else {
            continue;
        };
        for part in parts.iter_mut() {
            let target = part
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .and_then(|name| schemas.get(name));
            if let Some(t) =
                target.filter(|t| t.get("additionalProperties") == Some(&Value::Bool(false)))
            {
                let mut open = t.clone();
                if let Some(o) = open.as_object_mut() {
                    o.remove("additionalProperties");
                }
                *part = open;
            }
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> Response {
    let mut r = ApiError::new(
        Reason::InvalidRequest,
        "method not allowed on this endpoint",
    )
    .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// Counts requests by route template and status (never by concrete path: ids are not labels).
async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    state.vault.metrics.inc(Counter::HttpRequests {
        method: &method,
        route: &route,
        status: res.status().as_u16(),
    });
    res
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("handler panicked").into_response()
}

/// Answers a request that takes longer than `limit` ([`REQUEST_TIMEOUT`]) with `503
/// unavailable` in the error envelope (the handler's blocking work, if any, finishes under its
/// permit).
async fn time_limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            Reason::Unavailable,
            format!(
                "the request took longer than {} ms; try again",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

/// A request body that says when it was read to its end.
struct Tracked {
    inner: axum::body::Body,
    read: Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Closes the connection after an answer given without reading the request's whole body (a
/// `401` or `403` decided from the headers, a `413`): the unread rest would otherwise be taken
/// for the client's next request on the connection. `Connection: close` tells the client so.
async fn close_if_unread(req: Request, next: Next) -> Response {
    let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = {
        let (parts, body) = req.into_parts();
        if http_body::Body::is_end_stream(&body) {
            read.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let body = axum::body::Body::new(Tracked {
            inner: body,
            read: read.clone(),
        });
        Request::from_parts(parts, body)
    };
    let mut res = next.run(req).await;
    if !read.load(std::sync::atomic::Ordering::Relaxed) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Whether a client's `X-Request-Id` may be kept (and logged, and echoed): 1 to 64 characters of
/// `A-Z a-z 0-9 . _ -`.
fn plain_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The API and the pages, without demo sign-in and without rate limits.
pub fn router(vault: Arc<Vault>) -> Router {
    app(vault, pages::Pages::default(), None)
}

/// The API and the pages (SPEC §12) in front of it, under the layers every request passes; rate
/// limited as `limits` say when given.
pub fn app(vault: Arc<Vault>, pages: pages::Pages, limits: Option<&limits::RateLimits>) -> Router {
    layered(pages::with_pages(api(vault.clone(), limits), vault, pages))
}

/// The JSON API's routes ([`routes`]), without the outer layers (the pages' calls reach it from
/// inside them).
fn api(vault: Arc<Vault>, limits: Option<&limits::RateLimits>) -> Router {
    let state = AppState {
        vault,
        limiter: limits.map(|l| Arc::new(limits::Limiter::new(l))),
    };
    routes::router(routes(), &state)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Panic catching, the 30 s timeout, request ids, trace spans and `Cache-Control: no-store`
/// (unless the handler said otherwise: the logs' tiles are immutable).
fn layered(router: Router) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(REQUEST_TIMEOUT, time_limit))
        // Outside the timeout and the panic catcher: their answers close too when the body was
        // not read.
        .layer(middleware::from_fn(close_if_unread))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path may carry a licence id (not personal data); the query and headers are not logged.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // A client's request id is kept only when it is short and plain; else the vault makes one.
        .layer(axum::middleware::map_request(|mut req: Request| async move {
            let plain = req.headers().get("x-request-id").is_none_or(|v| plain_request_id(v.as_bytes()));
            if !plain {
                req.headers_mut().remove("x-request-id");
            }
            req
        }))
        // Only the logs' static resources say how long they may be kept (`http/logs`).
        .layer(axum::middleware::map_response(|mut r: Response| async move {
            if !r.headers().contains_key(header::CACHE_CONTROL) {
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            r
        }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_request_past_its_time_gets_the_error_envelope() {
        let slow = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                std::time::Duration::from_millis(20),
                super::time_limit,
            ));
        let res = slow
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()["retry-after"], "2");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let v = crate::jcs::parse(&body).unwrap();
        assert_eq!(v["error"]["code"], "unavailable");
        assert_eq!(
            v["error"]["message"],
            "the request took longer than 20 ms; try again"
        );
    }

    #[test]
    fn only_a_short_plain_request_id_is_kept() {
        for ok in ["a", "req-1.2_3", &"x".repeat(64)] {
            assert!(super::plain_request_id(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "a b", "<script>", "é", &"x".repeat(65), "a\r\nb"] {
            assert!(!super::plain_request_id(bad.as_bytes()), "{bad}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_work_never_exceeds_its_permits() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10 * super::blocking_permits())
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                tokio::spawn(super::blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // At most the permits, and the permits are used: ten waves of 20 ms fill them.
        assert_eq!(peak.load(Ordering::SeqCst), super::blocking_permits());
    }
}
