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

/// Opens a transaction for the matter, answers it with `credential` presented by `holder` under
/// its nonce and `client_id`, and returns the requester's result.
async fn present_to_matter(
    app: &TestApp,
    holder: &Signer,
    credential: &Value,
    client_id: &str,
) -> Value {
    let (_, t) = open(app, json!({"matter": MATTER, "purpose": "核验"})).await;
    let tx = &t["transaction"];
    let id = tx["id"].as_str().unwrap();
    let payload = request_payload(app, tx).await;
    let qid = tx["dcqlQuery"]["credentials"][0]["id"].as_str().unwrap();
    let presented = vp(
        holder,
        credential,
        payload["nonce"].as_str().unwrap(),
        client_id,
    );
    let token = json!({ qid: [presented] }).to_string();
    answer(app, id, &[("vp_token", &token), ("state", id)]).await;
    result(app, id).await["result"].clone()
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
    // Every proof holds and the licence answers the query, but nothing shows that the presenter
    // is the licence's holder (anyone with a copy could sign): not valid, binding not checked.
    assert_eq!(r["valid"], false, "{r}");
    let p = &r["presentations"][0];
    assert_eq!(p["query"], query["id"]);
    assert_eq!(p["matches"], true);
    assert_eq!(p["holderBound"], Value::Null, "{p}");
    // The licence is this vault's: judged as a read of it is, its status checked.
    assert_eq!(check(&p["credentials"][0], "status")["ok"], true, "{p}");
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

    // A licence the vault holds and has since revoked: its own verdict, status and all.
    let (status, _) = post_status(
        &app,
        &licence,
        signed_statement(&licence, "revoked", "吊销", "scjgj"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let r = present_to_matter(&app, &holder, &licence, &client_id).await;
    let cred = &r["presentations"][0]["credentials"][0];
    assert_eq!(
        (&r["valid"], &cred["valid"], &check(cred, "status")["code"]),
        (&json!(false), &json!(false), &json!("revoked")),
        "{r}"
    );

    // The right licence type is asked for; an ID card does not answer a 营业执照 query.
    let card = sign(&id_card("V0003", REPRESENTATIVE), "gaj");
    let r = present_to_matter(&app, &holder, &card, &client_id).await;
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

// ----- the vault as the holder's wallet -------------------------------------------------------

async fn resolve(app: &TestApp, uri: &str) -> (StatusCode, Value) {
    app.post(
        "/v1/me/oid4vp/requests",
        Some(&app.tokens.holder_company),
        json!({ "uri": uri }),
    )
    .await
}

async fn holder_answer(app: &TestApp, id: &str, verb: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/me/oid4vp/requests/{id}:{verb}"),
        Some(&app.tokens.holder_company),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn the_holder_approves_the_vaults_own_transaction_and_the_requester_gets_a_valid_verdict() {
    let app = TestApp::new();
    let licence = sign(&business_licence("V0101", COMPANY), "scjgj");
    app.deposit(&licence).await;
    let (_, t) = open(
        &app,
        json!({"matter": MATTER, "purpose": "新办食品经营许可"}),
    )
    .await;
    let tx_id = t["transaction"]["id"].as_str().unwrap().to_owned();

    let request_uri = t["requestUri"].as_str().unwrap().to_owned();
    let (status, r) = resolve(&app, &request_uri).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["state"], "pending");
    assert_eq!(r["requester"], "fz-scjg-xk");
    assert_eq!(r["verifier"], "福州市市场监督管理局行政许可审批系统");
    assert_eq!(
        (&r["matter"], &r["purpose"]),
        (&json!(MATTER), &json!("新办食品经营许可"))
    );
    assert_eq!(r["matterName"], "食品经营许可证新办");
    let a = &r["answers"][0];
    assert_eq!(
        (&a["licence"], &a["typeName"]),
        (&licence["id"], &json!("营业执照"))
    );
    assert!(
        a["fields"].as_array().unwrap().contains(&json!("名称")),
        "{a}"
    );
    // Nothing has left yet: the transaction still waits.
    assert_eq!(result(&app, &tx_id).await["state"], "pending");

    let id = r["id"].as_str().unwrap();
    let (status, done) = holder_answer(&app, id, "approve").await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (&done["state"], &done["delivered"]),
        (&json!("approved"), &json!(200))
    );
    let t = result(&app, &tx_id).await;
    assert_eq!(t["state"], "answered");
    assert_eq!(t["result"]["valid"], true, "{t}");
    // Presented by the vault as the holder's custodian: the binding holds.
    assert_eq!(t["result"]["presentations"][0]["holderBound"], true, "{t}");
    // The holder's log: the release, to the approval system, for the matter, before it left.
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    let rec = &log["records"][0];
    assert_eq!(
        (&rec["kind"], &rec["requester"], &rec["matter"], &rec["id"]),
        (
            &json!("oid4vp"),
            &json!("fz-scjg-xk"),
            &json!(MATTER),
            &done["accessRecord"]
        )
    );
    assert_eq!(rec["licences"], json!([licence["id"]]));
    // Answered once.
    let (status, e) = holder_answer(&app, id, "approve").await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::CONFLICT, "request_answered")
    );
    let (status, e) = holder_answer(&app, id, "reject").await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::CONFLICT, "request_answered")
    );
    // The transaction is closed to the wallet too: resolving it again finds nothing.
    let (status, e) = resolve(&app, &request_uri).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{e}"
    );
}

#[tokio::test]
async fn a_refusal_reaches_the_requester_and_a_missing_licence_cannot_be_approved() {
    let app = TestApp::new();
    // No licence deposited: the holder has nothing that answers.
    let (_, t) = open(&app, json!({"matter": MATTER, "purpose": "核验"})).await;
    let tx_id = t["transaction"]["id"].as_str().unwrap().to_owned();
    let (_, r) = resolve(&app, t["requestUri"].as_str().unwrap()).await;
    assert!(r["answers"][0].get("licence").is_none(), "{r}");
    let id = r["id"].as_str().unwrap();
    let (status, e) = holder_answer(&app, id, "approve").await;
    assert_eq!((status, code(&e)), (StatusCode::NOT_FOUND, "no_licence"));
    let (status, done) = holder_answer(&app, id, "reject").await;
    assert_eq!(
        (status, &done["state"]),
        (StatusCode::OK, &json!("rejected"))
    );
    let t = result(&app, &tx_id).await;
    assert_eq!(
        (&t["state"], &t["result"]["error"]),
        (&json!("refused"), &json!("access_denied"))
    );
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        log["records"],
        json!([]),
        "a refusal releases nothing and logs no use"
    );
}

#[tokio::test]
async fn requests_the_vault_does_not_answer_are_refused_by_name() {
    let app = TestApp::new();
    let dcql = json!({"credentials": [{"id": "c", "format": "ldp_vc",
        "meta": {"type_values": [["ElectronicLicence"]]}}]})
    .to_string();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let by_value = |client: &str, response: &str, extra: &str| {
        format!(
            "openid4vp://?client_id={}&response_type=vp_token&response_mode=direct_post&response_uri={}&nonce=n&state=s&dcql_query={}{extra}",
            enc(client),
            enc(response),
            enc(&dcql)
        )
    };
    let cb = "https://verifier.example/cb";
    for (uri, field) in [
        (
            by_value("x509_san_dns:verifier.example", cb, ""),
            "client_id",
        ),
        (by_value("fz-scjg-xk", cb, ""), "client_id"),
        (
            by_value(
                &format!("redirect_uri:{cb}"),
                "https://elsewhere.example/cb",
                "",
            ),
            "response_uri",
        ),
        (
            by_value(&format!("redirect_uri:{cb}"), cb, "&transaction_data=x"),
            "transaction_data",
        ),
        (
            by_value(&format!("redirect_uri:{cb}"), cb, "&nonce=again"),
            "$.uri",
        ),
        (
            by_value(&format!("redirect_uri:{cb}"), cb, "").replace("direct_post", "fragment"),
            "response_mode",
        ),
        ("openid4vp://nothing".to_owned(), "$.uri"),
    ] {
        let (status, e) = resolve(&app, &uri).await;
        assert_eq!(
            (status, code(&e)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{uri}: {e}"
        );
        assert_eq!(e["error"]["field"], field, "{uri}: {e}");
    }
    // A decentralized_identifier request signed by another key than its client id's.
    let signer = Signer::generate();
    let other = Signer::generate();
    let client = format!("decentralized_identifier:{}", other.did_key().as_str());
    let jwt = request_object::issue(
        &signer,
        &json!({"client_id": client, "response_type": "vp_token", "response_mode": "direct_post",
            "response_uri": cb, "nonce": "n", "dcql_query": serde_json::from_str::<Value>(&dcql).unwrap()}),
    )
    .unwrap();
    let uri = format!("openid4vp://?client_id={}&request={jwt}", enc(&client));
    let (status, e) = resolve(&app, &uri).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "bad_signature"),
        "{e}"
    );
    // Expired.
    let client = format!("decentralized_identifier:{}", signer.did_key().as_str());
    let jwt = request_object::issue(
        &signer,
        &json!({"client_id": client, "response_type": "vp_token", "response_mode": "direct_post",
            "response_uri": cb, "nonce": "n", "exp": Utc::now().timestamp() - 1,
            "dcql_query": serde_json::from_str::<Value>(&dcql).unwrap()}),
    )
    .unwrap();
    let (status, e) = resolve(
        &app,
        &format!("openid4vp://?client_id={}&request={jwt}", enc(&client)),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("exp")),
        "{e}"
    );
}

#[tokio::test]
async fn an_outside_verifier_receives_a_presentation_bound_to_its_nonce_and_client_id() {
    use std::sync::{Arc, Mutex};
    // A verifier on loopback over http: only a vault told it may reach such verifiers answers it.
    let app = TestApp::with_options(licence_vault::vault::VaultOptions {
        allow_private_verifiers: true,
        ..Default::default()
    });
    let licence = sign(&business_licence("V0102", COMPANY), "scjgj");
    app.deposit(&licence).await;
    // The outside verifier: a listener on loopback that keeps what it is posted.
    let received: Arc<Mutex<Option<String>>> = Arc::default();
    let keep = received.clone();
    let verifier = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                *keep.lock().unwrap() = Some(body);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cb = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, verifier).await.unwrap() });

    let client_id = format!("redirect_uri:{cb}");
    let dcql = json!({"credentials": [{"id": "business", "format": "ldp_vc",
        "meta": {"type_values": [["https://www.w3.org/ns/credentials/issuer-dependent#ElectronicLicence"]]},
        "claims": [{"path": ["credentialSubject", "licence", "typeCode"], "values": [BUSINESS_LICENCE]}]}]});
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let uri = format!(
        "openid4vp://?client_id={}&response_type=vp_token&response_mode=direct_post&response_uri={}&nonce=n-123&state=s-9&dcql_query={}",
        enc(&client_id),
        enc(&cb),
        enc(&dcql.to_string())
    );
    let strict = TestApp::new();
    let (status, e) = strict
        .post(
            "/v1/me/oid4vp/requests",
            Some(&strict.tokens.holder_company),
            json!({ "uri": uri }),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("response_uri")),
        "{e}"
    );
    assert_eq!(e["error"]["message"], "an https URL");
    let (status, r) = resolve(&app, &uri).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["verifier"], client_id);
    let (status, done) = holder_answer(&app, r["id"].as_str().unwrap(), "approve").await;
    assert_eq!(
        (status, &done["delivered"]),
        (StatusCode::OK, &json!(200)),
        "{done}"
    );

    let body = received
        .lock()
        .unwrap()
        .clone()
        .expect("the verifier was posted to");
    let form: std::collections::BTreeMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["state"], "s-9");
    let token: Value = serde_json::from_str(&form["vp_token"]).unwrap();
    let vp = &token["business"][0];
    assert_eq!(vp["verifiableCredential"][0], licence);
    assert_eq!(vp["holder"], app.vault.did_key().as_str());
    // The verifier's own check: the presentation answers its nonce and client id, nothing else.
    let judged = app
        .vault
        .verify_presentation(vp, Some("n-123"), Some(&client_id), Utc::now());
    assert!(judged.verdict.valid, "{:?}", judged.verdict);
    let elsewhere = app.vault.verify_presentation(
        vp,
        Some("n-123"),
        Some("redirect_uri:https://x.example"),
        Utc::now(),
    );
    assert_eq!(
        elsewhere.verdict.reason().map(|r| r.as_str()),
        Some("domain_mismatch")
    );
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        (&log["records"][0]["kind"], &log["records"][0]["requester"]),
        (&json!("oid4vp"), &json!(client_id))
    );
}

#[tokio::test]
async fn a_pre_registered_approval_system_is_named_by_its_registry_id() {
    let app = TestApp::new();
    let licence = sign(&business_licence("V0103", COMPANY), "scjgj");
    app.deposit(&licence).await;
    let (_, t) = open(&app, json!({"matter": MATTER, "purpose": "核验"})).await;
    let tx_id = t["transaction"]["id"].as_str().unwrap().to_owned();
    let by_id = |client: &str| {
        format!(
            "openid4vp://?client_id={client}&request_uri={}",
            form_urlencoded::byte_serialize(
                format!(
                    "{}/v1/oid4vp/requests/{tx_id}",
                    licence_vault::vault::DEFAULT_PUBLIC_URL
                )
                .as_bytes()
            )
            .collect::<String>()
        )
    };
    let (status, e) = resolve(&app, &by_id("fz-gjj")).await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("client_id")),
        "{e}"
    );
    let (status, r) = resolve(&app, &by_id("fz-scjg-xk")).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(
        (&r["requester"], &r["answers"][0]["licence"]),
        (&json!("fz-scjg-xk"), &licence["id"])
    );
    let (status, done) = holder_answer(&app, r["id"].as_str().unwrap(), "approve").await;
    assert_eq!((status, &done["delivered"]), (StatusCode::OK, &json!(200)));
    assert_eq!(result(&app, &tx_id).await["result"]["valid"], true);
}

#[tokio::test]
async fn resolved_requests_are_dropped_a_day_after_they_ended() {
    use licence_vault::reuse::delegation::Acting;
    let app = TestApp::new();
    let me = Acting::own(format!("001:{COMPANY}").parse().unwrap());
    let t0 = Utc::now();
    let resolve_at = |at| {
        let tx = app
            .vault
            .create_vp_transaction("fz-scjg-xk", None, Some(MATTER), "核验", at)
            .unwrap();
        let uri = licence_vault_request_uri(&tx);
        app.vault.resolve_vp_request(&me, &uri, at).unwrap()
    };
    let count = || {
        app.store()
            .scan(
                licence_vault::store::Table::HolderVpRequest,
                &app.vault.holder_digest(&me.holder),
                false,
                10,
            )
            .unwrap()
            .len()
    };
    resolve_at(t0);
    resolve_at(t0 + chrono::Duration::hours(24));
    assert_eq!(count(), 2, "the first ended less than a day before: kept");
    resolve_at(t0 + chrono::Duration::hours(25));
    assert_eq!(
        count(),
        2,
        "the first ended more than a day before: dropped"
    );
}

fn licence_vault_request_uri(tx: &licence_vault::vault::oid4vp::Transaction) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "openid4vp://?client_id={}&request_uri={}",
        enc(&tx.client_id),
        enc(&format!(
            "{}/v1/oid4vp/requests/{}",
            licence_vault::vault::DEFAULT_PUBLIC_URL,
            tx.id
        ))
    )
}
