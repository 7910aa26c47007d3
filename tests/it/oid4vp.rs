//! OpenID4VP with the vault as an approval system's verifier back-end (SPEC §15): a transaction
//! from a matter or a DCQL query, the signed request object, the wallet's `direct_post` judged
//! presentation by presentation under the nonce and client id, a refusal, and every way an
//! answer is refused. The outside wallet's view is `tests/vc-js` (`make vc-clients`).

use axum::http::{Method, StatusCode};
use chrono::Utc;
use licence_vault::keys::Signer;
use licence_vault::proof::{self, Binding};
use licence_vault::verify::request_object;
use serde_json::{json, Value};

use crate::support::*;

const FORM: &str = "application/x-www-form-urlencoded";
/// 食品经营许可证新办: the 营业执照 alone, for the market regulator's approval system.
const MATTER: &str = "350100-SJ-004";

async fn open(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/v1/oid4vp/transactions", Some(&app.tokens.requester), body)
        .await
}

/// The request object's payload, checked as a wallet checks it.
async fn request_payload(app: &TestApp, tx: &Value) -> Value {
    let res = respond(
        &app.router,
        request(
            Method::GET,
            &format!("/v1/oid4vp/requests/{}", tx["id"].as_str().unwrap()),
            None,
            "",
            None,
        ),
    )
    .await;
    assert_eq!(res.0, StatusCode::OK);
    let jwt = res.1.as_str().unwrap().to_owned();
    request_object::check(&jwt).unwrap().payload
}

fn vp(holder: &Signer, credential: &Value, nonce: &str, client_id: &str) -> Value {
    let vp = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did_key().as_str(),
        "verifiableCredential": [credential],
    });
    let binding = Binding {
        challenge: Some(nonce),
        domain: Some(client_id),
    };
    proof::sign_presentation(vp, holder, Utc::now(), binding).unwrap()
}

async fn answer(app: &TestApp, id: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    app.raw(
        Method::POST,
        &format!("/v1/oid4vp/responses/{id}"),
        None,
        FORM,
        Some(body.into_bytes()),
    )
    .await
}

async fn result(app: &TestApp, id: &str) -> Value {
    let (status, t) = app
        .get(
            &format!("/v1/oid4vp/transactions/{id}"),
            Some(&app.tokens.requester),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t
}

#[tokio::test]
async fn a_wallet_answers_a_matters_transaction_and_the_requester_gets_the_verdict() {
    let app = TestApp::new();
    let licence = sign(&business_licence("V0001", COMPANY), "scjgj");
    app.deposit(&licence).await;
    let (status, t) = open(
        &app,
        json!({"matter": MATTER, "purpose": "新办食品经营许可"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let tx = &t["transaction"];
    let id = tx["id"].as_str().unwrap();
    assert!(id.starts_with("vpt_"));
    let vault_did = app.vault.did_key().as_str().to_owned();
    let client_id = format!("decentralized_identifier:{vault_did}");
    assert_eq!(tx["clientId"], client_id);
    assert_eq!(tx["state"], "pending");
    assert!(t["qrSvg"].as_str().unwrap().starts_with("<?xml"));
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    assert_eq!(
        t["requestUri"],
        format!(
            "openid4vp://?client_id={}&request_uri={}",
            enc(&client_id),
            enc(&format!(
                "{}/v1/oid4vp/requests/{id}",
                licence_vault::vault::DEFAULT_PUBLIC_URL
            ))
        )
    );
    // The matter's query: its one type, by type code, and the fields it declares.
    let query = &tx["dcqlQuery"]["credentials"][0];
    assert_eq!(query["id"], format!("t{BUSINESS_LICENCE}"));
    assert_eq!(
        query["claims"][0],
        json!({"path": ["credentialSubject", "licence", "typeCode"], "values": [BUSINESS_LICENCE]})
    );

    let payload = request_payload(&app, tx).await;
    assert_eq!(payload["client_id"], client_id);
    assert_eq!(payload["response_mode"], "direct_post");
    assert_eq!(
        payload["response_uri"],
        format!(
            "{}/v1/oid4vp/responses/{id}",
            licence_vault::vault::DEFAULT_PUBLIC_URL
        )
    );
    assert_eq!(payload["state"], id);
    assert_eq!(payload["nonce"], tx["nonce"]);
    assert_eq!(payload["dcql_query"], tx["dcqlQuery"]);

    let holder = Signer::generate();
    let presented = vp(
        &holder,
        &licence,
        payload["nonce"].as_str().unwrap(),
        &client_id,
    );
    let token = json!({ query["id"].as_str().unwrap(): [presented] }).to_string();
    let (status, ok) = answer(&app, id, &[("vp_token", &token), ("state", id)]).await;
    assert_eq!((status, &ok), (StatusCode::OK, &json!({})));

    let t = result(&app, id).await;
    assert_eq!(t["state"], "answered");
    let r = &t["result"];
    assert_eq!(r["valid"], true, "{r}");
    let p = &r["presentations"][0];
    assert_eq!(p["query"], query["id"]);
    assert_eq!(p["matches"], true);
    assert_eq!(p["verdict"]["valid"], true);
    assert_eq!(p["credentials"][0]["valid"], true);
    assert_eq!(check(&p["verdict"], "challenge")["ok"], true);
    assert_eq!(check(&p["verdict"], "domain")["ok"], true);
    assert_eq!(
        p["claims"][0],
        json!({"path": ["credentialSubject", "licence", "typeCode"], "value": BUSINESS_LICENCE})
    );
    // Answered once: the same answer again is refused, and the request object is gone.
    let (status, e) = answer(&app, id, &[("vp_token", &token), ("state", id)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        json!({"error": "invalid_request", "error_description": "state: the transaction was answered already"})
    );
    let (status, _) = app.get(&format!("/v1/oid4vp/requests/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another requester's view is as if it did not exist.
    let other = token_for_requester(&app, "fz-gjj");
    let (status, _) = app
        .get(&format!("/v1/oid4vp/transactions/{id}"), Some(&other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn token_for_requester(app: &TestApp, id: &str) -> String {
    token(
        &app.vault,
        &licence_vault::auth::Principal::Requester(id.into()),
    )
}

#[tokio::test]
async fn wrong_nonce_client_id_tampering_or_type_are_each_their_own_failure() {
    let app = TestApp::new();
    let licence = sign(&business_licence("V0002", COMPANY), "scjgj");
    app.deposit(&licence).await;
    let holder = Signer::generate();
    let client_id = format!("decentralized_identifier:{}", app.vault.did_key().as_str());
    // One transaction per case; each answer is judged and the verdict says which check failed.
    type Answer<'a> = Box<dyn Fn(&Value) -> Value + 'a>;
    let cases: Vec<(&str, Answer)> = vec![
        (
            "challenge",
            Box::new(|_| vp(&holder, &licence, "vch_not-the-nonce", &client_id)),
        ),
        (
            "domain",
            Box::new(|p| {
                vp(
                    &holder,
                    &licence,
                    p["nonce"].as_str().unwrap(),
                    "redirect_uri:https://other.example",
                )
            }),
        ),
        (
            "signature",
            Box::new(|p| {
                let mut v = vp(&holder, &licence, p["nonce"].as_str().unwrap(), &client_id);
                v["verifiableCredential"][0]["credentialSubject"]["licence"]["fields"]["名称"] =
                    json!("别的公司");
                v
            }),
        ),
    ];
    for (failing, make) in cases {
        let (_, t) = open(&app, json!({"matter": MATTER, "purpose": "核验"})).await;
        let tx = &t["transaction"];
        let id = tx["id"].as_str().unwrap();
        let payload = request_payload(&app, tx).await;
        let qid = tx["dcqlQuery"]["credentials"][0]["id"].as_str().unwrap();
        let token = json!({ qid: [make(&payload)] }).to_string();
        let (status, _) = answer(&app, id, &[("vp_token", &token), ("state", id)]).await;
        assert_eq!(status, StatusCode::OK);
        let r = result(&app, id).await["result"].clone();
        assert_eq!(r["valid"], false, "{failing}: {r}");
        let verdict = &r["presentations"][0]["verdict"];
        let expected = match failing {
            "challenge" => "challenge_mismatch",
            "domain" => "domain_mismatch",
            _ => "bad_signature",
        };
        assert_eq!(
            (
                check(verdict, failing)["ok"].clone(),
                check(verdict, failing)["code"].clone()
            ),
            (json!(false), json!(expected)),
            "{failing}: {verdict}"
        );
    }

    // The right licence type is asked for; an ID card does not answer a 营业执照 query.
    let card = sign(&id_card("V0003", REPRESENTATIVE), "gaj");
    let (_, t) = open(&app, json!({"matter": MATTER, "purpose": "核验"})).await;
    let tx = &t["transaction"];
    let id = tx["id"].as_str().unwrap();
    let payload = request_payload(&app, tx).await;
    let qid = tx["dcqlQuery"]["credentials"][0]["id"].as_str().unwrap();
    let presented = vp(
        &holder,
        &card,
        payload["nonce"].as_str().unwrap(),
        &client_id,
    );
    let token = json!({ qid: [presented] }).to_string();
    answer(&app, id, &[("vp_token", &token), ("state", id)]).await;
    let r = result(&app, id).await["result"].clone();
    assert_eq!(
        (&r["valid"], &r["presentations"][0]["matches"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(
        r["presentations"][0]["mismatch"],
        "the claim at [\"credentialSubject\",\"licence\",\"typeCode\"] has none of the values asked for"
    );
}

#[tokio::test]
async fn a_refusal_is_kept_and_malformed_answers_are_refused_without_spending_the_transaction() {
    let app = TestApp::new();
    let (_, t) = open(
        &app,
        json!({"dcqlQuery": {"credentials": [{"id": "card", "format": "ldp_vc",
            "meta": {"type_values": [["https://www.w3.org/ns/credentials/issuer-dependent#ElectronicLicence"]]}}]},
            "purpose": "核验身份"}),
    )
    .await;
    let id = t["transaction"]["id"].as_str().unwrap();
    for (pairs, message) in [
        (
            vec![("vp_token", "{}"), ("state", "vpt_other")],
            "state: state is not this transaction's",
        ),
        (
            vec![("state", id)],
            "vp_token: give vp_token or error, not both or neither",
        ),
        (
            vec![("vp_token", "{\"card\":[{}],\"card\":[]}"), ("state", id)],
            "vp_token: not I-JSON: duplicate member name \"card\" at byte 20",
        ),
        (
            vec![("vp_token", "{\"other\":[{}]}"), ("state", id)],
            "vp_token: other is not a credential query of this transaction",
        ),
        (
            vec![("vp_token", "{\"card\":[{},{}]}"), ("state", id)],
            "vp_token: card: an array of exactly one presentation(s)",
        ),
    ] {
        let (status, e) = answer(&app, id, &pairs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pairs:?}");
        assert_eq!(e["error_description"], message, "{pairs:?}");
    }
    let (status, _) = answer(
        &app,
        id,
        &[
            ("error", "access_denied"),
            ("error_description", "持证人拒绝"),
            ("state", id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let t = result(&app, id).await;
    assert_eq!(t["state"], "refused");
    assert_eq!(
        t["result"],
        json!({"valid": false, "error": "access_denied", "errorDescription": "持证人拒绝"})
    );

    // Opening: a purpose is required, a query or a matter (not both), a matter of the requester's.
    for (body, status, code_) in [
        (
            json!({"matter": MATTER}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"purpose": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"matter": "350100-GJJ-001", "purpose": "x"}),
            StatusCode::FORBIDDEN,
            "matter_not_allowed",
        ),
        (
            json!({"dcqlQuery": {"credentials": [{"id": "a", "format": "jwt_vc_json", "meta": {"type_values": [["X"]]}}]}, "purpose": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let (s, e) = open(&app, body.clone()).await;
        assert_eq!((s, code(&e)), (status, code_), "{body}: {e}");
    }
}
