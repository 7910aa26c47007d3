//! The vault's own web pages (SPEC §12): the holder portal `/me`, the verifier `/verify` and the
//! agency page `/agency`. The pages are static files from `web/`, compiled into the binary; all
//! they show comes from the JSON API, so every capability has one implementation.
//!
//! A page signs in at `POST /{realm}/session` with a token (or, under `--demo`, a demo principal)
//! and gets an HttpOnly, SameSite=Strict session cookie scoped to its path; the token stays in
//! this process ([`super::sessions`]). The page then calls `/{realm}/api/v1/…`, which is the API
//! at `/v1/…` with the session's token added, after checking the session's CSRF token in
//! `X-CSRF-Token` on every call. Before sign-in, a per-browser CSRF token (double-submitted in an
//! HttpOnly cookie) guards the sign-in itself. Every page and asset carries a strict
//! Content-Security-Policy: scripts only from the vault, no inline script, no framing, and Trusted
//! Types so that nothing can be written into the page as HTML.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower::ServiceExt as _;

use super::error::ApiError;
use super::extract::AppJson;
use super::realm::Realm;
use super::sessions::{self, same_secret, Session, Sessions};
use crate::auth::{Principal, Role};
use crate::demo::SignInChoice;
use crate::vault::Vault;
use crate::verdict::Reason;

/// How the pages are served.
#[derive(Debug, Clone, Default)]
pub struct Pages {
    /// The demo principals offered for sign-in, each on the page of its role; empty outside `--demo`.
    pub demo: Vec<SignInChoice>,
}

#[derive(Clone)]
struct WebState {
    vault: Arc<Vault>,
    sessions: Arc<Sessions>,
    demo: Arc<Vec<SignInChoice>>,
    /// The API router the pages' calls go to.
    api: Router,
    /// Cookies are `Secure` when the vault is reached over TLS (its public URL is https).
    secure: bool,
    /// The origin (`scheme://host[:port]`) of the vault's public URL: calls from there are
    /// same-site even when a proxy in front rewrites `Host`.
    public_origin: String,
    /// The public URL's scheme, which a request's `Host` is taken with.
    scheme: &'static str,
}

/// The session cookie of every page, scoped to the page's path.
const SESSION_COOKIE: &str = "lv_session";
/// The pre-sign-in CSRF cookie, scoped the same way.
const PRE_COOKIE: &str = "lv_pre";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Scripts and styles only from the vault; no inline script or style, no plugins, no framing;
/// images from the vault or `data:` (the QR codes); calls only to the vault; and Trusted Types
/// required, so no string can be turned into HTML or script.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

/// Static assets: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/app.js"),
    ),
    (
        "me.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/me.js"),
    ),
    (
        "verify.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/verify.js"),
    ),
    (
        "agency.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/agency.js"),
    ),
    (
        "supervise.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/supervise.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/style.css"),
    ),
    (
        "zh.json",
        "application/json",
        include_bytes!("../../web/i18n/zh.json"),
    ),
    (
        "en.json",
        "application/json",
        include_bytes!("../../web/i18n/en.json"),
    ),
];

/// The API router with the pages in front of it.
pub fn with_pages(api: Router, vault: Arc<Vault>, pages: Pages) -> Router {
    let public = vault.public_url();
    let secure = public.starts_with("https://");
    let public_origin = match public.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => String::new(),
    };
    let state = WebState {
        secure,
        public_origin,
        scheme: if secure { "https" } else { "http" },
        vault,
        sessions: Arc::new(Sessions::default()),
        demo: Arc::new(pages.demo),
        api: api.clone(),
    };
    let mut web = Router::new()
        .route("/", get(|| async { redirect("/me") }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/assets/{name}", get(asset));
    for realm in Realm::ALL {
        let p = realm.path();
        web = web
            .route(p, get(move || async move { page(realm) }))
            .route(
                &format!("{p}/session"),
                get(move |s, h| session_state(s, h, realm))
                    .post(move |s, h, b| sign_in(s, h, b, realm)),
            )
            .route(
                &format!("{p}/session/end"),
                post(move |s, h| sign_out(s, h, realm)),
            )
            .route(
                &format!("{p}/api/{{*rest}}"),
                any(move |s, r| proxy(s, r, realm)),
            );
    }
    // The holder's links from consent requests (`holderUrl`) open the portal at that request.
    web = web.route(
        "/me/consent-requests/{id}",
        get(|| async { page(Realm::Me) }),
    );
    let web = web
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state);
    web.fallback_service(api)
}

async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    r
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn page(realm: Realm) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        realm.html(),
    )
        .into_response()
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, bytes)) => ([(header::CONTENT_TYPE, *ct)], *bytes).into_response(),
        None => ApiError::not_found("no such asset").into_response(),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

fn set_cookie(
    state: &WebState,
    realm: Realm,
    name: &str,
    value: &str,
    max_age: u64,
) -> HeaderValue {
    let secure = if state.secure { "; Secure" } else { "" };
    // Names and paths are constants and values URL-safe base64, so this is always a valid header;
    // should it not be, no cookie is better than a panic.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        realm.path()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn session_of(state: &WebState, headers: &HeaderMap, realm: Realm) -> Option<Session> {
    cookie(headers, SESSION_COOKIE).and_then(|c| state.sessions.get(realm, c))
}

/// Refuses a call whose `X-CSRF-Token` is not `expected`, or whose `Origin` is neither the vault's
/// public URL nor the host the request was sent to (`Host`, or the URI's authority under HTTP/2),
/// both with the public URL's scheme.
fn check_csrf(
    state: &WebState,
    headers: &HeaderMap,
    authority: Option<&str>,
    expected: &str,
) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or(authority);
        let same_host = host.is_some_and(|h| origin == format!("{}://{h}", state.scheme));
        if origin != state.public_origin && !same_host {
            return Err(ApiError::forbidden("the call comes from another site"));
        }
    }
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if same_secret(sent, expected) {
        Ok(())
    } else {
        Err(ApiError::forbidden("missing or wrong CSRF token").field("X-CSRF-Token"))
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoChoice {
    id: String,
    label: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionState {
    signed_in: bool,
    /// Who is signed in (masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// The token to send as `X-CSRF-Token` on every call from this page.
    csrf: String,
    /// Under `--demo`: the principals one may sign in as.
    demo: Vec<DemoChoice>,
}

fn demo_choices(state: &WebState, realm: Realm) -> Vec<DemoChoice> {
    state
        .demo
        .iter()
        .enumerate()
        .filter(|(_, d)| d.role == realm.role())
        .map(|(i, d)| DemoChoice {
            id: i.to_string(),
            label: d.label.clone(),
        })
        .collect()
}

/// `GET /{realm}/session`: whether the page is signed in, and its CSRF token.
async fn session_state(
    State(state): State<WebState>,
    headers: HeaderMap,
    realm: Realm,
) -> Response {
    let demo = demo_choices(&state, realm);
    if let Some(s) = session_of(&state, &headers, realm) {
        return Json(SessionState {
            signed_in: true,
            label: Some(s.label),
            csrf: s.csrf,
            demo,
        })
        .into_response();
    }
    // Only a value this vault minted is kept; any other is replaced.
    let mac = |d: &[u8]| state.vault.mint_mac(PRE_COOKIE, d);
    let (pre, fresh) = match cookie(&headers, PRE_COOKIE) {
        Some(p) if sessions::minted(p, mac) => (p.to_owned(), false),
        _ => (sessions::mint(mac), true),
    };
    let mut r = Json(SessionState {
        signed_in: false,
        label: None,
        csrf: pre.clone(),
        demo,
    })
    .into_response();
    if fresh {
        r.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state, realm, PRE_COOKIE, &pre, 8 * 3600),
        );
    }
    r
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// A vault token (or, at `/me`, an identity provider's JWS).
    token: Option<String>,
    /// Under `--demo`: the id of one of the offered principals.
    demo: Option<String>,
}

/// `POST /{realm}/session {token} | {demo}`: signs the page in.
async fn sign_in(
    State(state): State<WebState>,
    headers: HeaderMap,
    AppJson(body): AppJson<SignIn>,
    realm: Realm,
) -> Result<Response, ApiError> {
    let pre = cookie(&headers, PRE_COOKIE)
        .filter(|p| sessions::minted(p, |d| state.vault.mint_mac(PRE_COOKIE, d)))
        .ok_or_else(|| {
            ApiError::forbidden("open the page first: the sign-in cookie is missing")
                .field("X-CSRF-Token")
        })?;
    check_csrf(&state, &headers, None, pre)?;
    let (token, demo_label) = match (body.token, body.demo) {
        (Some(t), None) => (t.trim().to_owned(), None),
        (None, Some(id)) => {
            let d = id
                .parse::<usize>()
                .ok()
                .and_then(|i| state.demo.get(i))
                .filter(|d| d.role == realm.role())
                .ok_or_else(|| {
                    ApiError::new(Reason::InvalidRequest, "no such demo principal").field("demo")
                })?;
            (d.token.clone(), Some(d.label.clone()))
        }
        _ => {
            return Err(
                ApiError::new(Reason::InvalidRequest, "give exactly one of token and demo")
                    .field("token"),
            )
        }
    };
    if token.is_empty() || token.len() > 4096 {
        return Err(ApiError::unauthorized());
    }
    let principal = match state.vault.known_token(&token) {
        Some(p) => p,
        None => {
            let vault = state.vault.clone();
            let t = token.clone();
            super::blocking(move || Ok(vault.authenticate(&t, chrono::Utc::now())?))
                .await?
                .ok_or_else(ApiError::unauthorized)?
        }
    };
    if principal.role() != realm.role() {
        let whose = match realm.role() {
            Role::Holder => "holder",
            Role::Requester => "approval system (requester)",
            Role::Issuer => "issuing agency",
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
        };
        return Err(ApiError::forbidden(format!("this page is for {whose} tokens")).field("token"));
    }
    // A sign-in replaces the session this browser had on the page.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.end(old);
    }
    let label = demo_label.unwrap_or_else(|| label_of(&principal));
    let (cookie_value, session) = state
        .sessions
        .start(realm, token, label.clone())
        .ok_or_else(|| {
            ApiError::new(
                Reason::Unavailable,
                "too many sessions; try again in a minute",
            )
        })?;
    let mut r = Json(SessionState {
        signed_in: true,
        label: Some(label),
        csrf: session.csrf,
        demo: Vec::new(),
    })
    .into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            realm,
            SESSION_COOKIE,
            &cookie_value,
            super::sessions::ABSOLUTE.as_secs(),
        ),
    );
    // The pre-sign-in token has done its work: the next sign-in gets a new one.
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, realm, PRE_COOKIE, "", 0),
    );
    Ok(r)
}

/// What a page shows as "signed in as": the principal with holder codes masked.
fn label_of(p: &Principal) -> String {
    match p {
        Principal::Holder(h) => h.to_string(),
        Principal::Issuer(u) => u.to_string(),
        Principal::Requester(r) | Principal::Supervisor(r) => r.clone(),
        Principal::Admin => "admin".into(),
    }
}

/// `POST /{realm}/session/end`: signs the page out.
async fn sign_out(
    State(state): State<WebState>,
    headers: HeaderMap,
    realm: Realm,
) -> Result<Response, ApiError> {
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        if let Some(s) = state.sessions.get(realm, c) {
            check_csrf(&state, &headers, None, &s.csrf)?;
            state.sessions.end(c);
        }
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, realm, SESSION_COOKIE, "", 0),
    );
    Ok(r)
}

/// Headers a page's call passes on to the API (with `Acting-For` and the request id); everything
/// else (cookies, any Authorization of its own) is dropped.
const FORWARDED: [header::HeaderName; 3] =
    [header::CONTENT_TYPE, header::ACCEPT, header::CONTENT_LENGTH];

/// `/{realm}/api/v1/…`: the API call `/v1/…` with the session's token.
async fn proxy(State(state): State<WebState>, req: Request, realm: Realm) -> Response {
    match forward(&state, req, realm).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward(state: &WebState, req: Request, realm: Realm) -> Result<Response, ApiError> {
    let session = session_of(state, req.headers(), realm).ok_or_else(|| {
        ApiError::new(
            Reason::Unauthorized,
            "not signed in, or the session has ended",
        )
    })?;
    check_csrf(
        state,
        req.headers(),
        req.uri().authority().map(|a| a.as_str()),
        &session.csrf,
    )?;
    let (parts, body) = req.into_parts();
    let prefix = format!("{}/api", realm.path());
    let rest = parts.uri.path().strip_prefix(&prefix).unwrap_or("");
    if !rest.starts_with("/v1/") {
        return Err(ApiError::not_found("no such endpoint"));
    }
    let uri: Uri = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    }
    .parse()
    .map_err(|_| ApiError::not_found("no such endpoint"))?;
    let mut inner = Request::builder().method(parts.method.clone()).uri(uri);
    for name in FORWARDED {
        if let Some(v) = parts.headers.get(&name) {
            inner = inner.header(name, v);
        }
    }
    for name in [super::extract::ACTING_FOR, "x-request-id"] {
        if let Some(v) = parts.headers.get(name) {
            inner = inner.header(name, v);
        }
    }
    let auth = HeaderValue::from_str(&format!("Bearer {}", session.token))
        .map_err(|_| ApiError::unauthorized())?;
    let inner = inner
        .header(header::AUTHORIZATION, auth)
        .body(if parts.method == Method::GET {
            Body::empty()
        } else {
            body
        })
        .map_err(|_| ApiError::new(Reason::InvalidRequest, "bad request"))?;
    // The client's address goes with the call: the rate limits count the page's caller, not the
    // proxy.
    let mut inner = inner;
    if let Some(c) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        inner.extensions_mut().insert(*c);
    }
    let mut r = state
        .api
        .clone()
        .oneshot(inner)
        .await
        .unwrap_or_else(|never| match never {});
    // The proxied answer is the page's: no cookie of the API's passes through.
    r.headers_mut().remove(header::SET_COOKIE);
    Ok(r)
}
