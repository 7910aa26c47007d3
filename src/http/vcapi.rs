//! The W3C VC-API verifier (`POST /credentials/verify`, `POST /presentations/verify`,
//! `POST /challenges`), so that conformance suites and outside verifiers can be pointed at a
//! running vault as they are. Public, and judged from public data only (`Vault::verify_public`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::AppJson;
use super::{blocking, AppState};
use crate::verdict::{Reason, Verdict};

/// A VC-API verification request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyCredential {
    /// The request's own JSON-LD context, which VC-API clients may send; only its shape is checked.
    #[serde(rename = "@context")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// The secured credential.
    #[schema(value_type = Object)]
    pub verifiable_credential: Option<Value>,
    /// VC-API options; none change what is checked here.
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
}

/// One failed check, as VC-API reports errors.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyProblem {
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A VC-API verification result: the checks that passed, those that could not be made (warnings)
/// and those that failed (errors); the whole verdict beside them.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationResult {
    pub checks: Vec<String>,
    pub warnings: Vec<VerifyProblem>,
    pub errors: Vec<VerifyProblem>,
    pub verdict: Verdict,
}

impl From<Verdict> for VerificationResult {
    fn from(verdict: Verdict) -> Self {
        let name = |c: &crate::verdict::Check| {
            serde_json::to_value(c.check)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let problem = |c: &crate::verdict::Check| VerifyProblem {
            check: name(c),
            code: c.code,
            message: serde_json::to_value(c)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned)),
        };
        Self {
            checks: verdict
                .checks
                .iter()
                .filter(|c| c.ok == Some(true))
                .map(name)
                .collect(),
            warnings: verdict
                .checks
                .iter()
                .filter(|c| c.ok.is_none())
                .map(problem)
                .collect(),
            errors: verdict
                .checks
                .iter()
                .filter(|c| c.ok == Some(false))
                .map(problem)
                .collect(),
            verdict,
        }
    }
}

/// What a `400` of this endpoint carries: a verification that failed, or the error envelope for a
/// request that is not a verification request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum NotVerified {
    Result(VerificationResult),
    #[expect(
        dead_code,
        reason = "the envelope is written by ApiError; this variant describes it in the OpenAPI"
    )]
    Error(ErrorBody),
}

/// A request's own `@context`, when sent, is a list or a URL.
fn request_context(context: Option<&Value>) -> Result<(), ApiError> {
    if context.is_some_and(|c| !(c.is_array() || c.is_string())) {
        return Err(
            ApiError::new(Reason::InvalidRequest, "must be a list or a URL").field("$.@context"),
        );
    }
    Ok(())
}

/// Verify a credential as the W3C VC-API says (anyone): `200` with the checks made when it is
/// valid, `400` with the failed checks in `errors` when it is not.
#[utoipa::path(post, path = "/credentials/verify", tag = "vc-api", request_body = VerifyCredential,
    responses((status = 200, description = "Verified", body = VerificationResult),
        (status = 400, description = "Not verified (`errors`), or not a verification request (the error envelope)", body = NotVerified)))]
pub async fn verify(
    State(state): State<AppState>,
    AppJson(req): AppJson<VerifyCredential>,
) -> Result<Response, ApiError> {
    let doc = req.verifiable_credential.ok_or_else(|| {
        ApiError::new(Reason::InvalidRequest, "is required").field("$.verifiableCredential")
    })?;
    if !doc.is_object() {
        return Err(ApiError::new(
            Reason::MalformedJson,
            "a verifiable credential is a JSON object",
        )
        .field("$.verifiableCredential"));
    }
    request_context(req.context.as_ref())?;
    if req.options.as_ref().is_some_and(|o| !o.is_object()) {
        return Err(ApiError::new(Reason::InvalidRequest, "must be an object").field("$.options"));
    }
    let vault = state.vault.clone();
    blocking(move || {
        let verdict = vault.verify_public(&doc, Utc::now());
        let valid = verdict.valid;
        let result = VerificationResult::from(verdict);
        Ok(if valid {
            (StatusCode::OK, Json(result)).into_response()
        } else {
            (StatusCode::BAD_REQUEST, Json(NotVerified::Result(result))).into_response()
        })
    })
    .await
}

/// The most credentials one presentation may carry here: each is verified on its own, so a
/// presentation is bounded work like every request.
pub const MAX_PRESENTED: usize = 50;

/// A VC-API presentation verification request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPresentation {
    /// The request's own JSON-LD context, which VC-API clients may send; only its shape is checked.
    #[serde(rename = "@context")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// The presentation, signed by its holder for `authentication`.
    #[schema(value_type = Object)]
    pub verifiable_presentation: Option<Value>,
    pub options: Option<PresentationOptions>,
}

/// What the holder's proof must answer. Other VC-API options are accepted and change nothing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresentationOptions {
    /// The challenge the verifier gave the holder (from `POST /challenges`, or its own).
    pub challenge: Option<String>,
    /// The verifier's domain.
    pub domain: Option<String>,
}

/// A VC-API presentation verification result: the presentation's checks as for a credential,
/// and the result of each credential it carries, in order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresentationResult {
    #[serde(flatten)]
    pub presentation: VerificationResult,
    pub credential_results: Vec<VerificationResult>,
}

/// What a `400` of `POST /presentations/verify` carries: a verification that failed, or the error
/// envelope for a request that is not a verification request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PresentationNotVerified {
    Result(PresentationResult),
    #[expect(
        dead_code,
        reason = "the envelope is written by ApiError; this variant describes it in the OpenAPI"
    )]
    Error(ErrorBody),
}

/// Verify a presentation as the W3C VC-API says (anyone): its holder's proof (`authentication`,
/// the `challenge` and `domain` of `options`, by a key the `holder` controls), the data model's
/// rules for presentations, and each credential it carries as `POST /credentials/verify` would.
/// `200` when all hold, else `400` with the failed checks in `errors`.
#[utoipa::path(post, path = "/presentations/verify", tag = "vc-api", request_body = VerifyPresentation,
    responses((status = 200, description = "Verified", body = PresentationResult),
        (status = 400, description = "Not verified (`errors`), or not a verification request (the error envelope)", body = PresentationNotVerified)))]
pub async fn verify_presentation(
    State(state): State<AppState>,
    AppJson(req): AppJson<VerifyPresentation>,
) -> Result<Response, ApiError> {
    let vp = req.verifiable_presentation.ok_or_else(|| {
        ApiError::new(Reason::InvalidRequest, "is required").field("$.verifiablePresentation")
    })?;
    if !vp.is_object() {
        return Err(ApiError::new(
            Reason::MalformedJson,
            "a verifiable presentation is a JSON object",
        )
        .field("$.verifiablePresentation"));
    }
    request_context(req.context.as_ref())?;
    let carried = crate::verify::data_model::presented_credentials(&vp).len();
    if carried > MAX_PRESENTED {
        return Err(ApiError::new(
            Reason::InvalidRequest,
            format!("at most {MAX_PRESENTED} credentials in one presentation, not {carried}"),
        )
        .field("$.verifiablePresentation.verifiableCredential"));
    }
    let options = req.options.unwrap_or_default();
    let vault = state.vault.clone();
    blocking(move || {
        let judged = vault.verify_presentation(
            &vp,
            options.challenge.as_deref(),
            options.domain.as_deref(),
            Utc::now(),
        );
        let valid = judged.verdict.valid;
        let result = PresentationResult {
            presentation: judged.verdict.into(),
            credential_results: judged.credentials.into_iter().map(Into::into).collect(),
        };
        Ok(if valid {
            (StatusCode::OK, Json(result)).into_response()
        } else {
            let failed = PresentationNotVerified::Result(result);
            (StatusCode::BAD_REQUEST, Json(failed)).into_response()
        })
    })
    .await
}

/// A challenge for a holder to sign into a presentation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Challenge {
    /// Opaque; accepted by `POST /presentations/verify` for ten minutes, by every node.
    pub challenge: String,
}

/// A request for a challenge: an empty object, `null`, or no body at all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChallenge {}

/// Make a challenge (anyone, VC-API): the holder signs it into its presentation's proof and the
/// verifier passes it as `options.challenge`; one the vault did not give, or given more than ten
/// minutes before, then fails the `challenge` check.
#[utoipa::path(post, path = "/challenges", tag = "vc-api", request_body = Option<NewChallenge>,
    responses((status = 201, description = "A new challenge", body = Challenge),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn challenge(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Challenge>), ApiError> {
    // VC-API clients post `{}` or nothing at all; any other body is refused as anywhere else.
    if !body.is_empty() {
        use axum::extract::FromRequest as _;
        let mut req = axum::extract::Request::new(axum::body::Body::from(body));
        *req.headers_mut() = headers;
        // `null` (what the OpenAPI document's optional body allows) asks for nothing either.
        let AppJson(_) = AppJson::<Option<NewChallenge>>::from_request(req, &()).await?;
    }
    let challenge = state.vault.challenge(Utc::now());
    Ok((StatusCode::CREATED, Json(Challenge { challenge })))
}
