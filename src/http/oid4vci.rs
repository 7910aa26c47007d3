//! OpenID4VCI 1.0 with the pre-authorized code (SPEC §15): a holder hands a licence, exactly as the
//! agency signed it, to a wallet of their choice. The vault is the credential issuer and its own
//! authorization server; the protocol types are written here by hand (docs/DECISIONS.md).
//!
//! - `POST /v1/me/wallet-offers` (holder): an offer of one licence — the `openid-credential-offer://`
//!   URI by reference, its QR code, and the transaction code to type into the wallet.
//!   `DELETE /v1/me/wallet-offers/{id}` cancels it.
//! - `GET /.well-known/openid-credential-issuer`: one credential configuration per catalogue type
//!   (`ldp_vc`, the type code as its id, display names in Chinese and English).
//! - `GET /.well-known/oauth-authorization-server`: the token endpoint, anonymous pre-authorized
//!   grants.
//! - `GET /v1/oid4vci/credential-offer?ref=`: the offer the URI refers to.
//! - `POST /v1/oid4vci/token` (a form): pre-authorized code + transaction code → access token.
//! - `POST /v1/oid4vci/credential` (the token): the licence, once, recorded before it leaves.
//!
//! The wallet's endpoints answer OAuth's error object (`error`, `error_description`), not the
//! vault's envelope: that is what wallets read. The codes and tokens are secrets: they travel in
//! bodies and the query string, never in a path (paths are logged).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath, Me};
use super::oauth::{form, OAuthError};
use super::presentations::qr_svg;
use super::reuse::required;
use super::{blocking, AppState};
use crate::codes::LicenceId;
use crate::licence::{LICENCE_TYPE, VC_CONTEXT};
use crate::registry::Registries;
use crate::reuse::wallet_offer::TX_CODE_DIGITS;
use crate::vault::wallet::WalletOffer;
use crate::vault::{At, VaultError};
use crate::verdict::Reason;

/// The grant type of a pre-authorized code (OpenID4VCI §3.5).
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The cryptosuite of every licence: what `credential_signing_alg_values_supported` names.
const CRYPTOSUITE: &str = "eddsa-jcs-2022";

// ----- the holder's side -----------------------------------------------------------------------

/// What to offer to a wallet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWalletOffer {
    /// The licence (URN or bare id); one the holder holds, that verifies now.
    pub licence: Option<String>,
}

/// An offer made: show `qrSvg` (or `offerUri`) to the wallet and `txCode` to the holder.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletOfferView {
    pub offer: WalletOffer,
    /// `openid-credential-offer://?credential_offer_uri=…` (the offer by reference).
    pub offer_uri: String,
    /// The transaction code the holder types into the wallet (six digits). Shown once.
    pub tx_code: String,
    /// The QR code of `offerUri`, as SVG.
    pub qr_svg: String,
}

/// Offer one of the caller's licences to a wallet (holder): OpenID4VCI, pre-authorized code with
/// a transaction code. Valid for ten minutes; the licence is released once, to the wallet that
/// has both codes, and logged as an access record of kind `wallet`.
#[utoipa::path(post, path = "/v1/me/wallet-offers", tag = "holder", request_body = NewWalletOffer,
    responses((status = 201, body = WalletOfferView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "Not one of the caller's licences", body = ErrorBody),
        (status = 422, description = "The licence does not verify now (its reason code)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Me(me): Me,
    AppJson(req): AppJson<NewWalletOffer>,
) -> Result<(StatusCode, Json<WalletOfferView>), ApiError> {
    me.require_all("a wallet offer")?;
    let licence =
        LicenceId::from_urn_or_bare(&required(req.licence, "$.licence")?).map_err(|e| {
            ApiError::new(Reason::InvalidIdentifier, format!("licence: {e}")).field("$.licence")
        })?;
    let vault = state.vault.clone();
    blocking(move || {
        let new = vault.create_wallet_offer(&me, &licence, At::Now)?;
        let offer_uri = offer_uri(vault.public_url(), &new.code);
        let qr_svg = qr_svg(&offer_uri)?;
        Ok((
            StatusCode::CREATED,
            Json(WalletOfferView {
                offer: new.offer,
                offer_uri,
                tx_code: new.tx_code,
                qr_svg,
            }),
        ))
    })
    .await
}

/// Cancel one of the caller's wallet offers before a wallet receives the licence (holder).
#[utoipa::path(delete, path = "/v1/me/wallet-offers/{id}", tag = "holder",
    params(("id" = String, Path, description = "The offer id")),
    responses((status = 200, description = "The offer, cancelled", body = WalletOffer), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`offer_used`, `offer_expired` or `offer_cancelled`", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Me(me): Me,
    AppPath(id): AppPath<String>,
) -> Result<Json<WalletOffer>, ApiError> {
    me.require_all("a wallet offer")?;
    let vault = state.vault.clone();
    blocking(move || Ok(Json(vault.cancel_wallet_offer(&me, &id, At::Now)?))).await
}

/// The credential offer URI of a pre-authorized code: by reference, so the QR code stays small.
fn offer_uri(public_url: &str, code: &str) -> String {
    let target = format!("{public_url}/v1/oid4vci/credential-offer?ref={code}");
    let encoded: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
    format!("openid-credential-offer://?credential_offer_uri={encoded}")
}

// ----- metadata --------------------------------------------------------------------------------

/// The credential issuer metadata (OpenID4VCI §12.2): one `ldp_vc` configuration per catalogue
/// type, named by its type code, with its Chinese and English names and its face fields.
#[utoipa::path(get, path = "/.well-known/openid-credential-issuer", tag = "wallet",
    responses((status = 200, description = "Credential issuer metadata", body = Object)))]
pub async fn issuer_metadata(State(state): State<AppState>) -> Json<Value> {
    let public = state.vault.public_url().to_owned();
    Json(credential_issuer_metadata(
        &public,
        &state.vault.registries(),
    ))
}

/// The metadata document of [`issuer_metadata`].
pub fn credential_issuer_metadata(public: &str, reg: &Registries) -> Value {
    let configurations: serde_json::Map<String, Value> = reg
        .types
        .values()
        .map(|t| {
            let mut display = vec![json!({"name": t.name, "locale": "zh-CN"})];
            if let Some(en) = &t.name_en {
                display.push(json!({"name": en, "locale": "en"}));
            }
            let claims: Vec<Value> = t
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "path": ["credentialSubject", "licence", "fields", f.name],
                        "mandatory": f.required,
                        "display": [{"name": f.name, "locale": "zh-CN"}],
                    })
                })
                .collect();
            (
                t.type_code.to_string(),
                json!({
                    "format": "ldp_vc",
                    "credential_definition": {
                        "@context": [VC_CONTEXT],
                        "type": ["VerifiableCredential", LICENCE_TYPE],
                    },
                    "credential_signing_alg_values_supported": [CRYPTOSUITE],
                    "credential_metadata": {"display": display, "claims": claims},
                }),
            )
        })
        .collect();
    json!({
        "credential_issuer": public,
        "credential_endpoint": format!("{public}/v1/oid4vci/credential"),
        "display": [
            {"name": "电子证照库", "locale": "zh-CN"},
            {"name": "Electronic licence vault", "locale": "en"},
        ],
        "credential_configurations_supported": configurations,
    })
}

/// The authorization server metadata (RFC 8414): the token endpoint, and pre-authorized codes
/// without client authentication.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "wallet",
    responses((status = 200, description = "Authorization server metadata", body = Object)))]
pub async fn authorization_server_metadata(State(state): State<AppState>) -> Json<Value> {
    let public = state.vault.public_url();
    Json(json!({
        "issuer": public,
        "token_endpoint": format!("{public}/v1/oid4vci/token"),
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "pre-authorized_grant_anonymous_access_supported": true,
        "token_endpoint_auth_methods_supported": ["none"],
    }))
}

// ----- the wallet's side -----------------------------------------------------------------------

/// A wallet's step refused by the vault, as OAuth says it at `endpoint`; what is not a refusal
/// (the store, a signing key) keeps the vault's own answer.
fn refused(e: VaultError, on_token: bool) -> Response {
    match e {
        VaultError::Rejected(r) => {
            let (status, error) = match (r.reason, on_token) {
                (Reason::InvalidRequest, _) => (StatusCode::BAD_REQUEST, "invalid_request"),
                (_, true) => (StatusCode::BAD_REQUEST, "invalid_grant"),
                (_, false) => (StatusCode::UNAUTHORIZED, "invalid_token"),
            };
            OAuthError::new(status, error, format!("{}: {}", r.reason, r.message)).into_response()
        }
        other => ApiError::from(other).into_response(),
    }
}

/// Where a credential offer is fetched by reference.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OfferQuery {
    /// The reference the offer URI carries.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// The credential offer an `openid-credential-offer://` URI refers to (OpenID4VCI §4.1.3), while
/// no wallet has taken it up; `404` otherwise.
#[utoipa::path(get, path = "/v1/oid4vci/credential-offer", tag = "wallet", params(OfferQuery),
    responses((status = 200, description = "The credential offer", body = Object),
        (status = 400, body = Object), (status = 404, description = "No offer open under this reference", body = Object)))]
pub async fn credential_offer(
    State(state): State<AppState>,
    query: Result<Query<OfferQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return OAuthError::invalid_request("give the offer's ref, once").into_response();
    };
    let vault = state.vault.clone();
    let public = vault.public_url().to_owned();
    let code = q.reference;
    let result = blocking(move || match vault.wallet_offer(&code, Utc::now()) {
        Ok(offer) => Ok(Ok((offer, code))),
        Err(VaultError::Rejected(_)) => Ok(Err(())),
        Err(e) => Err(ApiError::from(e)),
    })
    .await;
    match result {
        Ok(Ok((offer, code))) => {
            let mut res = Json(json!({
                "credential_issuer": public,
                "credential_configuration_ids": [offer.configuration],
                "grants": {
                    PRE_AUTHORIZED_GRANT: {
                        "pre-authorized_code": code,
                        "tx_code": {
                            "input_mode": "numeric",
                            "length": TX_CODE_DIGITS,
                            "description": "输入证照库页面上显示的6位交易码 / the 6-digit code shown on the vault's page",
                        },
                    },
                },
            }))
            .into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Ok(Err(())) => OAuthError::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "no offer is open under this reference",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The token request's form (OpenID4VCI §6.1), as the OpenAPI document describes it; each name
/// at most once.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// `urn:ietf:params:oauth:grant-type:pre-authorized_code`
    grant_type: String,
    #[schema(rename = "pre-authorized_code")]
    pre_authorized_code: String,
    /// The transaction code the holder was shown.
    tx_code: String,
}

/// An access token for a pre-authorized code (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// The token endpoint (OpenID4VCI §6): `grant_type` =
/// `urn:ietf:params:oauth:grant-type:pre-authorized_code`, `pre-authorized_code` and `tx_code`,
/// as a form. Each code is exchanged once; five wrong transaction codes cancel the offer.
#[utoipa::path(post, path = "/v1/oid4vci/token", tag = "wallet",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "OAuth error: `invalid_request`, `invalid_grant` (an unknown, used, expired or cancelled code, or a wrong transaction code), `unsupported_grant_type`", body = Object)))]
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let get = |name: &str| pairs.get(name);
    match get("grant_type").as_deref() {
        Some(PRE_AUTHORIZED_GRANT) => {}
        Some(_) => {
            return OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("only {PRE_AUTHORIZED_GRANT} is offered"),
            )
            .into_response()
        }
        None => return OAuthError::invalid_request("grant_type is missing").into_response(),
    }
    let Some(code) = get("pre-authorized_code").filter(|c| !c.is_empty()) else {
        return OAuthError::invalid_request("pre-authorized_code is missing").into_response();
    };
    let Some(tx_code) = get("tx_code") else {
        return OAuthError::invalid_request(
            "tx_code is missing: the offer asks for the code shown to the holder",
        )
        .into_response();
    };
    let vault = state.vault.clone();
    let result = blocking(move || Ok(vault.wallet_token(&code, &tx_code, At::Now))).await;
    match result {
        Ok(Ok(t)) => {
            let mut res = Json(TokenResponse {
                access_token: t.token,
                token_type: "Bearer",
                expires_in: t.expires_in,
            })
            .into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Ok(Err(e)) => refused(e, true),
        Err(e) => e.into_response(),
    }
}

/// The credential endpoint (OpenID4VCI §8): with the access token, `credential_configuration_id`
/// (the offer's), the licence exactly as stored, once. `proofs` are not asked for: a licence is
/// bound to its holder's identity number, not to a wallet key.
#[utoipa::path(post, path = "/v1/oid4vci/credential", tag = "wallet",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "`{credentials: [{credential}]}`", body = Object),
        (status = 400, description = "OAuth error: `invalid_credential_request`, `unknown_credential_configuration`, `credential_request_denied` (the licence no longer verifies)", body = Object),
        (status = 401, description = "`invalid_token`", body = Object)),
    security(("bearer" = [])))]
pub async fn credential(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = super::extract::bearer_of(&headers, 512).map(str::to_owned) else {
        return OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token of the token endpoint is missing",
        )
        .into_response();
    };
    let configuration = match credential_request(&headers, &body) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let vault = state.vault.clone();
    let result =
        blocking(move || Ok(vault.wallet_credential(&token, &configuration, At::Now))).await;
    match result {
        Ok(Ok(release)) => match release.document {
            Some(doc) => {
                // The stored bytes themselves, spliced in: exactly what the agency signed.
                let body = format!(r#"{{"credentials":[{{"credential":{}}}]}}"#, doc.as_str());
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    body,
                )
                    .into_response()
            }
            None => OAuthError::new(
                StatusCode::BAD_REQUEST,
                "credential_request_denied",
                format!(
                    "the licence does not verify now ({}); nothing was released",
                    release.verdict.reason().map_or("invalid", Reason::as_str)
                ),
            )
            .into_response(),
        },
        Ok(Err(VaultError::Rejected(r))) if r.field == "credential_configuration_id" => {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unknown_credential_configuration",
                r.message,
            )
            .into_response()
        }
        Ok(Err(e)) => refused(e, false),
        Err(e) => e.into_response(),
    }
}

/// The credential configuration a credential request names (OpenID4VCI §8.2): strict I-JSON with
/// `credential_configuration_id`; `credential_identifier` is not offered (no authorization
/// details are issued).
fn credential_request(headers: &HeaderMap, body: &[u8]) -> Result<String, OAuthError> {
    let bad = |d: String| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_credential_request", d);
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(bad("the credential request is application/json".into()));
    }
    let v = crate::jcs::parse(body).map_err(|e| bad(format!("not I-JSON: {e}")))?;
    let Value::Object(req) = v else {
        return Err(bad("the credential request is an object".into()));
    };
    if req.contains_key("credential_identifier") {
        return Err(bad(
            "credential_identifier is not offered here; name the credential_configuration_id"
                .into(),
        ));
    }
    match req.get("credential_configuration_id") {
        Some(Value::String(c)) => Ok(c.clone()),
        Some(_) => Err(bad("credential_configuration_id is a string".into())),
        None => Err(bad("credential_configuration_id is missing".into())),
    }
}
