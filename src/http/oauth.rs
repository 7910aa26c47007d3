//! OAuth's wire, shared by the OpenID4VCI and OpenID4VP endpoints: the error object
//! (`error`, `error_description`; `401` with its `WWW-Authenticate` challenge) and form bodies.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// OAuth's error object, as the wallet's endpoints answer it.
#[derive(Debug)]
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut res = (self.status, Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = format!("Bearer error=\"{}\"", self.error);
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        res
    }
}

/// A form's pairs, each name once.
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    /// The value given for `name`.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The pairs of a form body, each name once (a repeated one is ambiguous, as in JSON).
pub(super) fn form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if mime.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body is a form (application/x-www-form-urlencoded)",
        ));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if pairs.iter().any(|(n, _)| *n == k) {
            return Err(OAuthError::invalid_request(format!("{k} is given twice")));
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    Ok(Form(pairs))
}
