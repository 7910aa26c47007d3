//! Revocation notices (SPEC §11): a suspension, revocation or renewal sends exactly one signed
//! notice to each requester that was provided the licence in the last 90 days, and none to
//! others; the feed resumes from a cursor; the notices and the statement are one durable change.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use licence_vault::auth::Principal;
use licence_vault::codes::LicenceId;
use licence_vault::store::Table;
use licence_vault::vault::Vault;
use serde_json::{json, Value};

use crate::support::*;

/// 食品经营许可证新办: needs the business licence only.
const NEW_FOOD: &str = "350100-SJ-004";

/// Registers another approval system for `NEW_FOOD` and returns its token.
async fn requester(app: &TestApp, id: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/admin/requesters",
            Some(&app.tokens.admin),
            json!({"id": id, "name": format!("审批系统 {id}"), "matters": [NEW_FOOD]}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    token(&app.vault, &Principal::Requester(id.into()))
}

/// A consent for `requester` to pull the business licence for 食品经营许可证新办.
fn new_food_consent(requester: &str) -> Value {
    json!({"requester": requester, "matter": NEW_FOOD, "purpose": "食品经营许可证新办申请",
           "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)})
}

/// A pull for `NEW_FOOD`; returns its access record id and whether it provided the licence.
async fn pull(app: &TestApp, token: &str, company: &str) -> (String, bool) {
    let body =
        json!({"holder": format!("001:{company}"), "matter": NEW_FOOD, "purpose": "受理新办申请"});
    let p = pull_as(app, token, body).await;
    let provided = p["results"][0]["outcome"] == "provided";
    (p["accessRecord"].as_str().unwrap().to_owned(), provided)
}

async fn notices(app: &TestApp, token: &str, after: Option<u64>) -> Vec<Value> {
    let path = match after {
        Some(a) => format!("/v1/notices?cursor={a}"),
        None => "/v1/notices".to_owned(),
    };
    let (status, body) = app.get(&path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["notices"].as_array().unwrap().clone()
}

/// A status statement that must be accepted: its status (`201` new, `200` seen before).
async fn accepted(app: &TestApp, doc: &Value, st: Value) -> StatusCode {
    let (status, body) = post_status(app, doc, st).await;
    assert!(status.is_success(), "{body}");
    status
}

#[tokio::test]
async fn a_revocation_notifies_exactly_the_requesters_provided_the_licence() {
    let app = TestApp::new();
    let licence = sign(&business_licence("N0001", COMPANY), "scjgj");
    let other = sign(&business_licence("N0002", OTHER_COMPANY), "scjgj");
    app.deposit(&licence).await;
    app.deposit(&other).await;
    let a = app.tokens.requester.clone();
    let b = requester(&app, "fz-test-b").await;
    let c = requester(&app, "fz-test-c").await;
    let d = requester(&app, "fz-test-d").await;
    // A pulls once, B twice; C pulls only the other company's licence; D never pulls.
    grant(
        &app,
        &app.tokens.holder_company,
        new_food_consent(REQUESTER),
    )
    .await;
    grant(
        &app,
        &app.tokens.holder_company,
        new_food_consent("fz-test-b"),
    )
    .await;
    grant(
        &app,
        &app.tokens.holder_other,
        new_food_consent("fz-test-c"),
    )
    .await;
    let (a1, provided) = pull(&app, &a, COMPANY).await;
    assert!(provided);
    let (b1, _) = pull(&app, &b, COMPANY).await;
    let (b2, _) = pull(&app, &b, COMPANY).await;
    let (_, provided) = pull(&app, &c, OTHER_COMPANY).await;
    assert!(provided);

    // A reinstatement-free suspension, then a revocation: two notices each for A and B.
    let suspend = signed_statement(&licence, "suspended", "经营异常，责令整改", "scjgj");
    assert_eq!(
        accepted(&app, &licence, suspend.clone()).await,
        StatusCode::CREATED
    );
    // The same statement again changes nothing and sends nothing.
    assert_eq!(accepted(&app, &licence, suspend).await, StatusCode::OK);
    accepted(
        &app,
        &licence,
        signed_statement(&licence, "revoked", "以欺骗手段取得登记", "scjgj"),
    )
    .await;

    let for_a = notices(&app, &a, None).await;
    let for_b = notices(&app, &b, None).await;
    assert_eq!((for_a.len(), for_b.len()), (2, 2), "{for_a:?} {for_b:?}");
    assert!(
        notices(&app, &c, None).await.is_empty(),
        "C was not provided it"
    );
    assert!(notices(&app, &d, None).await.is_empty(), "D never pulled");

    let subject = |n: &Value| n["notice"]["credentialSubject"].clone();
    let (first, second) = (subject(&for_a[0]), subject(&for_a[1]));
    assert_eq!(first["licence"], licence["id"]);
    assert_eq!(
        (&first["previousStatus"], &first["status"], &first["reason"]),
        (
            &json!("active"),
            &json!("suspended"),
            &json!("经营异常，责令整改")
        )
    );
    assert_eq!(
        (&second["previousStatus"], &second["status"]),
        (&json!("suspended"), &json!("revoked"))
    );
    assert_eq!(first["requester"]["id"], REQUESTER);
    assert_eq!(first["accessRecords"], json!([a1]));
    assert_eq!(subject(&for_b[0])["accessRecords"], json!([b1, b2]));

    // The feed resumes after a seq and is ordered.
    let seq = |n: &Value| n["seq"].as_u64().unwrap();
    assert!(seq(&for_a[0]) < seq(&for_a[1]));
    let rest = notices(&app, &a, Some(seq(&for_a[0]))).await;
    assert_eq!(rest, for_a[1..].to_vec());
    assert!(notices(&app, &a, Some(seq(&for_a[1]))).await.is_empty());

    // `verify` accepts a notice, with the vault's key; one changed byte breaks it.
    let (status, v) = app
        .post("/v1/verify", Some(&a), for_a[0]["notice"].clone())
        .await;
    assert_eq!((status, &v["valid"]), (StatusCode::OK, &json!(true)), "{v}");
    assert_eq!(check(&v, "issuer_key")["ok"], true, "{v}");
    let mut forged = for_a[0]["notice"].clone();
    forged["credentialSubject"]["status"] = json!("active");
    let (_, v) = app.post("/v1/verify", Some(&a), forged).await;
    assert_eq!(check(&v, "signature")["code"], "bad_signature", "{v}");

    // Not a requester: 403; a bad cursor: 400 naming it (`after`, deprecated, too); both: 400.
    let (status, _) = app
        .get("/v1/notices", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (query, field) in [
        ("after=x", "after"),
        ("cursor=x", "cursor"),
        ("cursor=1&after=1", "after"),
    ] {
        let (status, body) = app.get(&format!("/v1/notices?{query}"), Some(&a)).await;
        assert_eq!(
            (status, code(&body), body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request", Some(field)),
            "{query}: {body}"
        );
    }
    // The deprecated `after` still pages as `cursor` does.
    let (status, old) = app
        .get(&format!("/v1/notices?after={}", seq(&for_a[0])), Some(&a))
        .await;
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(old["notices"].as_array().unwrap().as_slice(), &for_a[1..]);
}

#[tokio::test]
async fn a_renewal_notifies_the_requesters_of_the_superseded_version() {
    let app = TestApp::new();
    let v1 = sign(&business_licence("N0003", COMPANY), "scjgj");
    app.deposit(&v1).await;
    grant(
        &app,
        &app.tokens.holder_company,
        new_food_consent(REQUESTER),
    )
    .await;
    let (record, provided) = pull(&app, &app.tokens.requester, COMPANY).await;
    assert!(provided);

    let id1 = LicenceId::from_urn_or_bare(v1["id"].as_str().unwrap()).unwrap();
    let mut v2 = business_licence("N0003", COMPANY);
    v2["id"] = json!(id1.with_version(2).unwrap().urn());
    v2["credentialSubject"]["licence"]["version"] = json!("002");
    v2["credentialSubject"]["licence"]["predecessor"] = v1["id"].clone();
    let v2 = sign(&v2, "scjgj");
    app.deposit(&v2).await;

    let got = notices(&app, &app.tokens.requester, None).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let s = &got[0]["notice"]["credentialSubject"];
    assert_eq!(
        (&s["licence"], &s["previousStatus"], &s["status"]),
        (&v1["id"], &json!("active"), &json!("superseded"))
    );
    assert_eq!(s["supersededBy"], v2["id"]);
    assert_eq!(s["cause"], sha(&v2));
    assert_eq!(s["accessRecords"], json!([record]));
}

/// The statement and its notices are one durable change: when it cannot be written, neither is
/// there; written again, both are, once.
#[tokio::test]
async fn a_failed_write_keeps_neither_the_statement_nor_its_notices() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(WatchedStore::failing(
        &dir.path().join("db"),
        Table::RequesterNotice,
    ));
    let vault = Arc::new(Vault::open(store.clone(), key("vault"), Vec::new()).unwrap());
    seed_registries(&vault);
    let router = licence_vault::http::router(vault.clone());
    let (market, requester, holder) = (
        token(&vault, &Principal::Issuer(uscc(MARKET))),
        token(&vault, &Principal::Requester(REQUESTER.into())),
        token(
            &vault,
            &Principal::Holder(format!("001:{COMPANY}").parse().unwrap()),
        ),
    );
    let licence = sign(&business_licence("N0004", COMPANY), "scjgj");
    vault
        .deposit(&uscc(MARKET), &licence, chrono::Utc::now())
        .unwrap();
    let (status, _) = send(
        &router,
        Method::POST,
        "/v1/me/consents",
        &holder,
        Some(
            json!({"requester": REQUESTER, "matter": NEW_FOOD, "purpose": "新办",
                    "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, p) = send(
        &router,
        Method::POST,
        "/v1/reuse",
        &requester,
        Some(json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "受理"})),
    )
    .await;
    assert_eq!(
        (status, &p["results"][0]["outcome"]),
        (StatusCode::OK, &json!("provided"))
    );

    let revoke = signed_statement(&licence, "revoked", "吊销", "scjgj");
    let path = format!("{}/status", licence_path(&licence));
    store.fail.store(true, Ordering::SeqCst);
    let (status, body) = send(&router, Method::POST, &path, &market, Some(revoke.clone())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("internal"))
    );
    let (_, view) = send(&router, Method::GET, &licence_path(&licence), &holder, None).await;
    assert_eq!(
        view["status"], "active",
        "the statement was not kept either"
    );
    let (_, feed) = send(&router, Method::GET, "/v1/notices", &requester, None).await;
    assert_eq!(feed["notices"], json!([]));

    store.fail.store(false, Ordering::SeqCst);
    let (status, _) = send(&router, Method::POST, &path, &market, Some(revoke)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, view) = send(&router, Method::GET, &licence_path(&licence), &holder, None).await;
    assert_eq!(view["status"], "revoked");
    let (_, feed) = send(&router, Method::GET, "/v1/notices", &requester, None).await;
    assert_eq!(feed["notices"].as_array().map(Vec::len), Some(1), "{feed}");
}

/// Only provisions within 90 days before the change make a recipient.
#[tokio::test]
async fn a_provision_older_than_90_days_sends_no_notice() {
    let app = TestApp::new();
    let recent = sign(&business_licence("N0005", COMPANY), "scjgj");
    let old = sign(&business_licence("N0006", OTHER_COMPANY), "scjgj");
    app.deposit(&recent).await;
    app.deposit(&old).await;
    grant(
        &app,
        &app.tokens.holder_company,
        new_food_consent(REQUESTER),
    )
    .await;
    grant(&app, &app.tokens.holder_other, new_food_consent(REQUESTER)).await;
    let a = app.tokens.requester.clone();
    assert!(pull(&app, &a, COMPANY).await.1);
    assert!(pull(&app, &a, OTHER_COMPANY).await.1);
    let now = chrono::Utc::now();
    let suspend = |doc: &Value, days: i64| {
        let id = LicenceId::from_urn_or_bare(doc["id"].as_str().unwrap()).unwrap();
        let st = signed_statement(doc, "suspended", "核查", "scjgj");
        app.vault
            .post_status(&uscc(MARKET), &id, &st, now + chrono::Duration::days(days))
            .unwrap()
    };
    assert!(suspend(&recent, 89).0);
    assert!(suspend(&old, 91).0);
    let got = notices(&app, &a, None).await;
    let about: Vec<&Value> = got
        .iter()
        .map(|n| &n["notice"]["credentialSubject"]["licence"])
        .collect();
    assert_eq!(about, vec![&recent["id"]], "{got:?}");
}
