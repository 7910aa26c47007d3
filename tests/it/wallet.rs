//! A licence to a wallet (OpenID4VCI 1.0, pre-authorized code; SPEC §15): the holder's offer, the
//! metadata, the token and credential endpoints, every refusal in OAuth's words, and the access
//! record of kind `wallet` written before the licence leaves. The outside clients' view is
//! `tests/vc-js` (`make vc-clients`).

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use licence_vault::codes::{HolderCode, LicenceId};
use licence_vault::reuse::delegation::Acting;
use licence_vault::vault::VaultError;
use licence_vault::verdict::Reason;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::support::*;

const FORM: &str = "application/x-www-form-urlencoded";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

fn company() -> HolderCode {
    format!("001:{COMPANY}").parse().unwrap()
}

async fn with_licence() -> (TestApp, Value) {
    let app = TestApp::new();
    let licence = sign(&business_licence("W0001", COMPANY), "scjgj");
    app.deposit(&licence).await;
    (app, licence)
}

async fn offer(app: &TestApp, licence: &Value) -> Value {
    let (status, o) = app
        .post(
            "/v1/me/wallet-offers",
            Some(&app.tokens.holder_company),
            json!({"licence": licence["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{o}");
    o
}

/// The pre-authorized code the offer URI leads to.
async fn code_of(app: &TestApp, o: &Value) -> String {
    let uri = o["offerUri"].as_str().unwrap();
    let target = uri
        .strip_prefix("openid-credential-offer://?credential_offer_uri=")
        .unwrap();
    let target: String = form_urlencoded::parse(format!("x={target}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let path = target
        .strip_prefix(licence_vault::vault::DEFAULT_PUBLIC_URL)
        .unwrap();
    let (status, offer) = app.get(path, None).await;
    assert_eq!(status, StatusCode::OK, "{offer}");
    offer["grants"][GRANT]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn token(app: &TestApp, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    app.raw(
        Method::POST,
        "/v1/oid4vci/token",
        None,
        FORM,
        Some(body.into_bytes()),
    )
    .await
}

async fn exchange(app: &TestApp, code: &str, tx: &str) -> (StatusCode, Value) {
    token(
        app,
        &[
            ("grant_type", GRANT),
            ("pre-authorized_code", code),
            ("tx_code", tx),
        ],
    )
    .await
}

async fn credential(app: &TestApp, access: &str, configuration: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/oid4vci/credential",
        Some(access),
        Some(json!({"credential_configuration_id": configuration})),
    )
    .await
}

fn wrong(tx: &str) -> String {
    let d = (tx.as_bytes()[0] - b'0' + 1) % 10;
    format!("{d}{}", &tx[1..])
}

#[tokio::test]
async fn a_wallet_receives_the_licence_as_stored_once_and_the_holder_sees_it() {
    let (app, licence) = with_licence().await;
    let o = offer(&app, &licence).await;
    assert_eq!(o["offer"]["state"], "offered");
    assert_eq!(o["offer"]["configuration"], BUSINESS_LICENCE);
    let tx = o["txCode"].as_str().unwrap().to_owned();
    assert!(
        tx.len() == 6 && tx.bytes().all(|b| b.is_ascii_digit()),
        "{tx}"
    );
    assert!(o["qrSvg"].as_str().unwrap().starts_with("<?xml"));

    let code = code_of(&app, &o).await;
    let (_, offered) = app
        .get(&format!("/v1/oid4vci/credential-offer?ref={code}"), None)
        .await;
    assert_eq!(
        offered,
        json!({
            "credential_issuer": licence_vault::vault::DEFAULT_PUBLIC_URL,
            "credential_configuration_ids": [BUSINESS_LICENCE],
            "grants": {GRANT: {
                "pre-authorized_code": code,
                "tx_code": {"input_mode": "numeric", "length": 6,
                    "description": "输入证照库页面上显示的6位交易码 / the 6-digit code shown on the vault's page"},
            }},
        })
    );

    // A wrong transaction code is refused and counted; the right one buys a token once.
    let (status, e) = exchange(&app, &code, &wrong(&tx)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(
        e["error_description"],
        "tx_code_mismatch: wrong transaction code; 4 more tries"
    );
    let (status, t) = exchange(&app, &code, &tx).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 300);
    let access = t["access_token"].as_str().unwrap().to_owned();
    let (status, e) = exchange(&app, &code, &tx).await;
    assert_eq!(
        (status, &e["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .starts_with("offer_used:"),
        "{e}"
    );
    // Taken up: the offer is no longer served.
    let (status, _) = app
        .get(&format!("/v1/oid4vci/credential-offer?ref={code}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The licence, byte for byte as the agency's JCS bytes, in 1.0's `credentials` array.
    let res = respond(
        &app.router,
        json_request(
            Method::POST,
            "/v1/oid4vci/credential",
            Some(&access),
            Some(json!({"credential_configuration_id": BUSINESS_LICENCE})),
        ),
    )
    .await;
    assert_eq!(res.0, StatusCode::OK, "{}", res.1);
    assert_eq!(res.1["credentials"][0]["credential"], licence);
    assert_eq!(res.1["credentials"].as_array().unwrap().len(), 1);
    // Used once: the same token again is an invalid token, with its challenge.
    let again = app
        .router
        .clone()
        .oneshot(json_request(
            Method::POST,
            "/v1/oid4vci/credential",
            Some(&access),
            Some(json!({"credential_configuration_id": BUSINESS_LICENCE})),
        ))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        again.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(again.headers()["cache-control"], "no-store");

    // The holder's log: one record of kind `wallet`, naming the offer and the licence.
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{log}");
    let r = &records[0];
    assert_eq!(r["kind"], "wallet");
    assert_eq!(r["licences"], json!([licence["id"]]));
    assert_eq!(r["outcomes"][0]["outcome"], "provided");
    assert_eq!(r["presentation"], o["offer"]["id"]);
    assert!(r["chain"]["seq"].is_u64() && r["salt"].is_string(), "{r}");
    let (_, n) = app
        .get("/v1/me/notifications", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(n["notifications"][0]["kind"], "wallet", "{n}");
    // A wallet is no approval system: suspending the licence notifies nobody.
    let (status, st) = post_status(
        &app,
        &licence,
        signed_statement(&licence, "suspended", "暂停", "scjgj"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{st}");
    let (status, sent) = app
        .get("/v1/issuer/notices", Some(&app.tokens.market))
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["notices"], json!([]), "{sent}");
    // A wallet's copy serves no matter: the summary counts nothing.
    let (_, s) = app
        .get("/v1/me/summary", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(s["licencesProvided"], 0, "{s}");
}

#[tokio::test]
async fn five_wrong_transaction_codes_cancel_the_offer() {
    let (app, licence) = with_licence().await;
    let o = offer(&app, &licence).await;
    let tx = o["txCode"].as_str().unwrap().to_owned();
    let code = code_of(&app, &o).await;
    for left in (0..5).rev() {
        let (status, e) = exchange(&app, &code, &wrong(&tx)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let expected = if left == 0 {
            "tx_code_mismatch: wrong transaction code; the offer is cancelled".to_owned()
        } else {
            format!("tx_code_mismatch: wrong transaction code; {left} more tries")
        };
        assert_eq!(e["error_description"], expected);
    }
    // Cancelled: now even the right code is refused.
    let (_, e) = exchange(&app, &code, &tx).await;
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(
        e["error_description"],
        "offer_cancelled: this offer was cancelled"
    );
}

#[tokio::test]
async fn offers_end_by_time_by_the_holder_and_by_the_licence() {
    let (app, licence) = with_licence().await;
    let id = LicenceId::from_urn_or_bare(licence["id"].as_str().unwrap()).unwrap();
    let now = Utc::now();
    let reason = |r: Result<licence_vault::vault::wallet::WalletToken, VaultError>| match r {
        Err(VaultError::Rejected(e)) => e.reason,
        other => panic!("{:?}", other.map(|_| ())),
    };

    // At the offer's end, exactly: expired.
    let new = app
        .vault
        .create_wallet_offer(&Acting::own(company()), &id, now)
        .unwrap();
    let end = now + Duration::seconds(600);
    assert_eq!(
        reason(app.vault.wallet_token(&new.code, &new.tx_code, end)),
        Reason::OfferExpired
    );
    // A token given a second before the end lives only that second.
    let t = app
        .vault
        .wallet_token(&new.code, &new.tx_code, end - Duration::seconds(1))
        .unwrap();
    assert_eq!(t.expires_in, 1);
    match app.vault.wallet_credential(&t.token, BUSINESS_LICENCE, end) {
        Err(VaultError::Rejected(e)) => assert_eq!(e.reason, Reason::OfferExpired),
        other => panic!("{:?}", other.map(|_| ())),
    }

    // Cancelled by the holder: the wallet's code is refused; cancelling again says why not.
    let o = offer(&app, &licence).await;
    let pre = code_of(&app, &o).await;
    let path = format!(
        "/v1/me/wallet-offers/{}",
        o["offer"]["id"].as_str().unwrap()
    );
    let (status, c) = app
        .call(
            Method::DELETE,
            &path,
            Some(&app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!((status, &c["state"]), (StatusCode::OK, &json!("cancelled")));
    let (status, c) = app
        .call(
            Method::DELETE,
            &path,
            Some(&app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&c)),
        (StatusCode::CONFLICT, "offer_cancelled")
    );
    let (_, e) = exchange(&app, &pre, o["txCode"].as_str().unwrap()).await;
    assert_eq!(
        e["error_description"],
        "offer_cancelled: this offer was cancelled"
    );
    // Another holder cannot cancel it, nor see that it exists.
    let (status, c) = app
        .call(Method::DELETE, &path, Some(&app.tokens.holder_other), None)
        .await;
    assert_eq!((status, code(&c)), (StatusCode::NOT_FOUND, "not_found"));

    // Revoked after the offer: the wallet is denied, the record says why, nothing left.
    let o = offer(&app, &licence).await;
    let code_now = code_of(&app, &o).await;
    let (_, t) = exchange(&app, &code_now, o["txCode"].as_str().unwrap()).await;
    let (status, _) = post_status(
        &app,
        &licence,
        signed_statement(&licence, "revoked", "吊销", "scjgj"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, e) = credential(&app, t["access_token"].as_str().unwrap(), BUSINESS_LICENCE).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        json!({"error": "credential_request_denied",
            "error_description": "the licence does not verify now (revoked); nothing was released"})
    );
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    let r = &log["records"][0];
    assert_eq!(
        (
            &r["kind"],
            &r["licences"],
            &r["outcomes"][0]["outcome"],
            &r["outcomes"][0]["reason"]
        ),
        (
            &json!("wallet"),
            &json!([]),
            &json!("not_provided"),
            &json!("revoked")
        )
    );
    // And a revoked licence is not offered at all.
    let (status, e) = app
        .post(
            "/v1/me/wallet-offers",
            Some(&app.tokens.holder_company),
            json!({"licence": licence["id"]}),
        )
        .await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "revoked")
    );
}

#[tokio::test]
async fn only_the_holders_own_licence_is_offered() {
    let (app, licence) = with_licence().await;
    let (status, e) = app
        .post(
            "/v1/me/wallet-offers",
            Some(&app.tokens.holder_other),
            json!({"licence": licence["id"]}),
        )
        .await;
    assert_eq!((status, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, e) = app
        .post(
            "/v1/me/wallet-offers",
            Some(&app.tokens.requester),
            json!({"licence": licence["id"]}),
        )
        .await;
    assert_eq!((status, code(&e)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, e) = app
        .post(
            "/v1/me/wallet-offers",
            Some(&app.tokens.holder_company),
            json!({"licence": "nonsense"}),
        )
        .await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::BAD_REQUEST, "invalid_identifier")
    );
}

#[tokio::test]
async fn the_wallet_endpoints_refuse_in_oauths_words() {
    let (app, licence) = with_licence().await;
    let o = offer(&app, &licence).await;
    let tx = o["txCode"].as_str().unwrap().to_owned();
    let code = code_of(&app, &o).await;
    let oauth = |(s, e): (StatusCode, Value)| (s, e["error"].as_str().unwrap_or("").to_owned());

    // The token endpoint: a form, each name once, the one grant, both codes.
    let (s, e) = app
        .post(
            "/v1/oid4vci/token",
            None,
            json!({"grant_type": GRANT, "pre-authorized_code": code, "tx_code": tx}),
        )
        .await;
    assert_eq!(
        oauth((s, e)),
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let twice = format!("grant_type={GRANT}&pre-authorized_code={code}&tx_code={tx}&tx_code={tx}");
    let (s, e) = app
        .raw(
            Method::POST,
            "/v1/oid4vci/token",
            None,
            FORM,
            Some(twice.into_bytes()),
        )
        .await;
    assert_eq!(e["error_description"], "tx_code is given twice");
    assert_eq!(
        oauth((s, e)),
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert_eq!(
        oauth(token(&app, &[("grant_type", "authorization_code"), ("code", "x")]).await),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
    );
    let (s, e) = token(
        &app,
        &[("grant_type", GRANT), ("pre-authorized_code", &code)],
    )
    .await;
    assert_eq!(
        e["error_description"],
        "tx_code is missing: the offer asks for the code shown to the holder"
    );
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        oauth(exchange(&app, "not-a-code", &tx).await),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // None of that spent the offer.
    let (s, t) = exchange(&app, &code, &tx).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let access = t["access_token"].as_str().unwrap().to_owned();

    // The credential endpoint: the token, JSON, the offer's configuration.
    assert_eq!(
        oauth(credential(&app, "vat_00.x", BUSINESS_LICENCE).await),
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    let (s, e) = app
        .call(
            Method::POST,
            "/v1/oid4vci/credential",
            None,
            Some(json!({"credential_configuration_id": BUSINESS_LICENCE})),
        )
        .await;
    assert_eq!(
        oauth((s, e)),
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    // A token one character off names the same offer but is not its token.
    let mut forged = access.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        oauth(credential(&app, &forged, BUSINESS_LICENCE).await),
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    let (s, e) = credential(&app, &access, ID_CARD).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "unknown_credential_configuration")
    );
    let (s, e) = app
        .call(
            Method::POST,
            "/v1/oid4vci/credential",
            Some(&access),
            Some(json!({"credential_identifier": "x"})),
        )
        .await;
    assert_eq!(
        oauth((s, e)),
        (StatusCode::BAD_REQUEST, "invalid_credential_request".into())
    );
    let dup = br#"{"credential_configuration_id":"a","credential_configuration_id":"b"}"#.to_vec();
    let (s, e) = app
        .raw(
            Method::POST,
            "/v1/oid4vci/credential",
            Some(&access),
            "application/json",
            Some(dup),
        )
        .await;
    assert_eq!(
        oauth((s, e)),
        (StatusCode::BAD_REQUEST, "invalid_credential_request".into())
    );
    // Refusals of the request do not spend the token.
    let (s, c) = credential(&app, &access, BUSINESS_LICENCE).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["credentials"][0]["credential"], licence);
}

#[tokio::test]
async fn the_metadata_names_every_catalogue_type_in_two_languages() {
    let app = TestApp::new();
    let (s, m) = app.get("/.well-known/openid-credential-issuer", None).await;
    assert_eq!(s, StatusCode::OK);
    let public = licence_vault::vault::DEFAULT_PUBLIC_URL;
    assert_eq!(m["credential_issuer"], public);
    assert_eq!(
        m["credential_endpoint"],
        format!("{public}/v1/oid4vci/credential")
    );
    let configs = m["credential_configurations_supported"]
        .as_object()
        .unwrap();
    let (_, catalogue) = app.get("/v1/catalogue", None).await;
    let types = catalogue["types"].as_array().unwrap();
    assert_eq!(configs.len(), types.len());
    let id_card = &configs[ID_CARD];
    assert_eq!(
        id_card["credential_metadata"]["display"],
        json!([{"name": "居民身份证", "locale": "zh-CN"}, {"name": "Resident Identity Card", "locale": "en"}])
    );
    assert_eq!(id_card["format"], "ldp_vc");
    assert_eq!(
        id_card["credential_definition"],
        json!({"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "ElectronicLicence"]})
    );
    assert_eq!(
        id_card["credential_signing_alg_values_supported"],
        json!(["eddsa-jcs-2022"])
    );
    assert_eq!(
        id_card["credential_metadata"]["claims"][0],
        json!({"path": ["credentialSubject", "licence", "fields", "姓名"], "mandatory": true,
            "display": [{"name": "姓名", "locale": "zh-CN"}]})
    );
    let (s, a) = app
        .get("/.well-known/oauth-authorization-server", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a["issuer"], public);
    assert_eq!(a["token_endpoint"], format!("{public}/v1/oid4vci/token"));
    assert_eq!(a["pre-authorized_grant_anonymous_access_supported"], true);
}

#[tokio::test]
async fn ended_offers_are_dropped_a_day_later_by_the_holders_next_offer() {
    use sha2::{Digest as _, Sha256};
    let (app, licence) = with_licence().await;
    let id = LicenceId::from_urn_or_bare(licence["id"].as_str().unwrap()).unwrap();
    let stored = |code: &str| {
        app.store()
            .get(
                licence_vault::store::Table::WalletOffer,
                Sha256::digest(code.as_bytes()).as_slice(),
            )
            .unwrap()
            .is_some()
    };
    let t0 = Utc::now();
    let me = Acting::own(company());
    let first = app.vault.create_wallet_offer(&me, &id, t0).unwrap();
    // Ended ten minutes after it was made; a day and a bit later the next offer drops it.
    let second = app
        .vault
        .create_wallet_offer(&me, &id, t0 + Duration::hours(24))
        .unwrap();
    assert!(stored(&first.code), "ended less than a day ago: kept");
    let third = app
        .vault
        .create_wallet_offer(&me, &id, t0 + Duration::hours(25))
        .unwrap();
    assert!(!stored(&first.code), "ended more than a day ago: dropped");
    assert!(stored(&second.code) && stored(&third.code));
    assert_eq!(
        app.store()
            .scan(
                licence_vault::store::Table::HolderWalletOffer,
                &app.vault.holder_digest(&company()),
                false,
                10
            )
            .unwrap()
            .len(),
        2
    );
}
