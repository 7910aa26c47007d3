//! The endpoints of SPEC §7 over the real router: deposit, read, verify, registries, admin, and
//! the 401/403 answers of every endpoint.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

fn receipt_subject(r: &Value) -> &Value {
    &r["credentialSubject"]
}

#[tokio::test]
async fn deposit_returns_a_vault_signed_receipt_and_is_idempotent() {
    let app = TestApp::new();
    let doc = sign(&business_licence("A0001", COMPANY), "scjgj");
    let receipt = app.deposit(&doc).await;
    assert_eq!(receipt_subject(&receipt)["licence"], doc["id"]);
    assert_eq!(receipt_subject(&receipt)["sha256"], sha(&doc));
    assert_eq!(receipt["issuer"], app.vault.did_key().as_str());
    let verdict = licence_vault::verify::document(
        &receipt,
        Some(&app.vault.key_history().unwrap()),
        chrono::Utc::now(),
    );
    assert!(verdict.valid, "{verdict:?}");

    // The same licence again, with other whitespace and member order: the same JCS bytes.
    let mut text = serde_json::to_string_pretty(&doc).unwrap();
    text.push('\n');
    let (status, again) = app
        .raw(
            Method::POST,
            "/v1/licences",
            Some(&app.tokens.market),
            "application/json",
            Some(text.into_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, receipt);

    // Same id, other content (re-signed by the issuer): a conflict, and nothing changes.
    let mut other = business_licence("A0001", COMPANY);
    other["credentialSubject"]["licence"]["fields"]["住所"] =
        json!("福建省福州市台江区八一七中路1号");
    let (status, body) = app
        .post(
            "/v1/licences",
            Some(&app.tokens.market),
            sign(&other, "scjgj"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "conflict");
    assert_eq!(body["error"]["field"], "$.id");
    let (_, view) = app.get(&licence_path(&doc), Some(&app.tokens.market)).await;
    assert_eq!(view["licence"], doc);
}

/// On a store other processes write, tokens are never remembered: a read of a licence reads its
/// caller's token in the licence's own flight (one read of the store for an issuer), and every
/// answer — 200, 401, 403, 404, a revoked token at the next request — is the one it always was.
#[tokio::test]
async fn a_licence_read_on_a_shared_store_reads_the_token_in_its_own_flight() {
    use licence_vault::auth::Principal;
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(WatchedStore::shared(&dir.path().join("db")));
    let vault = std::sync::Arc::new(
        licence_vault::vault::Vault::open(store.clone(), key("vault"), Vec::new()).unwrap(),
    );
    seed_registries(&vault);
    let (market_id, market) = vault
        .create_token(&Principal::Issuer(uscc(MARKET)), chrono::Utc::now())
        .unwrap();
    let police = token(&vault, &Principal::Issuer(uscc(POLICE)));
    let requester = token(&vault, &Principal::Requester(REQUESTER.into()));
    let holder = token(
        &vault,
        &Principal::Holder(format!("001:{COMPANY}").parse().unwrap()),
    );
    let other = token(
        &vault,
        &Principal::Holder(format!("001:{OTHER_COMPANY}").parse().unwrap()),
    );
    let doc = sign(&business_licence("A0009", COMPANY), "scjgj");
    vault
        .deposit(&uscc(MARKET), &doc, chrono::Utc::now())
        .unwrap();
    let router = licence_vault::http::router(vault.clone());
    let path = licence_path(&doc);
    let get = |token: String| {
        let (router, path) = (router.clone(), path.clone());
        async move { send(&router, Method::GET, &path, &token, None).await }
    };

    store.reads.store(0, Ordering::SeqCst);
    let (status, view) = get(market.clone()).await;
    assert_eq!((status, &view["licence"]), (StatusCode::OK, &doc));
    assert_eq!(view["verdict"]["valid"], true);
    assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    // Again: nothing was remembered, the token is read again, in the flight again.
    assert_eq!(get(market.clone()).await.0, StatusCode::OK);
    assert_eq!(store.reads.load(Ordering::SeqCst), 2);

    let (status, mine) = get(holder.clone()).await;
    assert_eq!((status, &mine["licence"]), (StatusCode::OK, &doc));
    let (status, body) = get(other.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = get(police.clone()).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("an issuer may read only its own licences")
        )
    );
    let (status, body) = get(requester.clone()).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("this endpoint is for issuer or holder tokens")
        )
    );
    let (status, body) = get("lv_not-a-token".into()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(vault.revoke_token(&market_id).unwrap());
    let (status, body) = get(market.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn read_gives_the_stored_bytes_and_a_fresh_verdict_to_issuer_and_holder_only() {
    let app = TestApp::new();
    let doc = sign(&business_licence("A0002", COMPANY), "scjgj");
    let id = doc["id"].as_str().unwrap().to_owned();
    app.deposit(&doc).await;
    let path = format!("/v1/licences/{id}");

    let (status, view) = app.get(&path, Some(&app.tokens.market)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["licence"], doc);
    assert_eq!(view["status"], "active");
    assert_eq!(view["verdict"]["valid"], true);
    let checks: Vec<(&str, bool)> = view["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("integrity", true),
            ("identifier", true),
            ("schema", true),
            ("signature", true),
            ("issuer_key", true),
            ("issuer", true),
            ("status", true),
            ("validity", true)
        ]
    );
    assert!(view["verdict"]["checks"][4]["detail"]
        .as_str()
        .unwrap()
        .contains("registered for 113501000035920161"));

    // The bare identifier and the URN name the same licence.
    let bare = id.trim_start_matches("urn:gbt36904:");
    assert_eq!(
        app.get(
            &format!("/v1/licences/{bare}"),
            Some(&app.tokens.holder_company)
        )
        .await
        .0,
        StatusCode::OK
    );

    // Other holders cannot tell it from an absent licence; other issuers and other roles are refused.
    let (status, body) = app.get(&path, Some(&app.tokens.holder_other)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    for token in [&app.tokens.police, &app.tokens.requester, &app.tokens.admin] {
        let (status, body) = app.get(&path, Some(token)).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    }
    let (status, body) = app.get(&path, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (status, body) = app.get(&path, Some("lv_not-a-token")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );

    // An absent licence of the caller's own agency is a 404.
    let absent = licence_vault::codes::LicenceId::new(
        &BUSINESS_LICENCE.parse().unwrap(),
        &uscc(MARKET),
        "NOPE",
        1,
    )
    .unwrap();
    let (status, body) = app
        .get(&format!("/v1/licences/{absent}"), Some(&app.tokens.market))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // The holder sees it among their own licences.
    let (status, mine) = app
        .get("/v1/me/licences", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["licences"].as_array().unwrap().len(), 1);
    assert_eq!(mine["licences"][0]["id"], id.as_str());
    let (_, theirs) = app
        .get("/v1/me/licences", Some(&app.tokens.holder_other))
        .await;
    assert_eq!(theirs["licences"], json!([]));
    let (status, body) = app.get("/v1/me/licences", Some(&app.tokens.market)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = app.get("/v1/me/licences", None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn deposits_are_refused_for_roles_and_agencies_other_than_the_issuer() {
    let app = TestApp::new();
    let doc = sign(&business_licence("A0003", COMPANY), "scjgj");
    for token in [
        &app.tokens.admin,
        &app.tokens.requester,
        &app.tokens.holder_company,
    ] {
        let (status, body) = app.post("/v1/licences", Some(token), doc.clone()).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
        let (status, body) = app
            .post(
                "/v1/licences:batch",
                Some(token),
                json!({"licences": [doc]}),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    }
    // Another agency's token cannot deposit the market regulator's licence.
    let (status, body) = app
        .post("/v1/licences", Some(&app.tokens.police), doc.clone())
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = app.post("/v1/licences", None, doc.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (status, body) = app
        .post("/v1/licences:batch", None, json!({"licences": [doc]}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(app
        .vault
        .meta(
            &licence_vault::codes::LicenceId::from_urn_or_bare(doc["id"].as_str().unwrap())
                .unwrap()
        )
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn batch_deposit_reports_per_item_and_lands_the_valid_ones() {
    let app = TestApp::new();
    let good1 = sign(&business_licence("B0001", COMPANY), "scjgj");
    let good2 = sign(&business_licence("B0002", OTHER_COMPANY), "scjgj");
    let mut tampered = sign(&business_licence("B0003", COMPANY), "scjgj");
    tampered["credentialSubject"]["licence"]["fields"]["注册资本万元"] = json!(50000);
    let foreign = sign(&id_card("C0001", &citizen(1)), "gaj");
    let (status, body) = app
        .post(
            "/v1/licences:batch",
            Some(&app.tokens.market),
            json!({"licences": [good1, tampered, good2, good1, foreign]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["created"].as_u64(),
            body["existing"].as_u64(),
            body["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 422, 201, 200, 403]);
    assert_eq!(body["results"][1]["error"]["code"], "bad_signature");
    assert_eq!(body["results"][4]["error"]["code"], "forbidden");
    assert_eq!(body["results"][3]["receipt"], body["results"][0]["receipt"]);
    for (doc, expect) in [
        (&good1, StatusCode::OK),
        (&good2, StatusCode::OK),
        (&tampered, StatusCode::NOT_FOUND),
    ] {
        let (status, _) = app.get(&licence_path(doc), Some(&app.tokens.market)).await;
        assert_eq!(status, expect);
    }

    let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let (status, body) = app
        .post(
            "/v1/licences:batch",
            Some(&app.tokens.market),
            json!({"licences": too_many}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
}

#[tokio::test]
async fn verify_endpoint_gives_verdicts_and_knows_deposits() {
    let app = TestApp::new();
    let doc = sign(&business_licence("V0001", COMPANY), "scjgj");
    // Not deposited: status is not checked, the rest passes.
    let (status, v) = app
        .post("/v1/verify", Some(&app.tokens.requester), doc.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["valid"], true);
    assert_eq!(check(&v, "status")["ok"], Value::Null);
    let (_, receipt) = app
        .post("/v1/licences", Some(&app.tokens.market), doc.clone())
        .await;
    // Deposited: the status is checked.
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.holder_company), doc.clone())
        .await;
    assert_eq!(check(&v, "status")["ok"], true);
    // A receipt is a vault-signed document and verifies too.
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.admin), receipt.clone())
        .await;
    assert_eq!(v["valid"], true, "{v}");
    let mut forged = receipt;
    forged["credentialSubject"]["depositedAt"] = json!("2020-01-01T00:00:00Z");
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.admin), forged)
        .await;
    assert_eq!(
        (v["valid"].as_bool(), v["checks"][0]["code"].as_str()),
        (Some(false), Some("bad_signature"))
    );

    for token in [&app.tokens.market] {
        let (status, body) = app.post("/v1/verify", Some(token), doc.clone()).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    }
    let (status, body) = app.post("/v1/verify", None, doc).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn registries_are_public() {
    let app = TestApp::new();
    let (status, cat) = app.get("/v1/catalogue", None).await;
    assert_eq!(status, StatusCode::OK);
    let types = cat["types"].as_array().unwrap();
    assert!(types.len() >= 8);
    let bl = types
        .iter()
        .find(|t| t["typeCode"] == BUSINESS_LICENCE)
        .unwrap();
    assert_eq!(bl["name"], "营业执照");
    assert_eq!(bl["matters"], json!(["350100-SJ-004", "350100-SJ-005"]));
    let (_, matters) = app.get("/v1/matters", None).await;
    assert_eq!(matters["matters"].as_array().unwrap().len(), 7);
    let (status, agency) = app.get(&format!("/v1/agencies/{MARKET}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agency["name"], "福州市市场监督管理局");
    assert_eq!(agency["keys"][1]["didKey"], key("scjgj").did_key().as_str());
    let (status, body) = app.get("/v1/agencies/113501000035920162", None).await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_agency_code", Some("uscc"))
    );
    let (status, body) = app.get("/v1/agencies/91350100M000100Y43", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, info) = app.get("/v1/vault", None).await;
    assert_eq!(info["didKey"], key("vault").did_key().as_str());
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let (status, health) = app.get("/healthz", None).await;
    assert_eq!((status, health), (StatusCode::OK, json!("ok\n")));
}

#[tokio::test]
async fn openapi_describes_every_endpoint() {
    let app = TestApp::new();
    let (status, doc) = app.get("/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/v1/licences",
        "/v1/licences:batch",
        "/v1/licences/{id}",
        "/v1/verify",
        "/v1/me/licences",
        "/v1/catalogue",
        "/v1/matters",
        "/v1/agencies/{uscc}",
        "/v1/vault",
        "/v1/admin/agencies",
        "/v1/admin/agencies/{uscc}/keys",
        "/v1/admin/agencies/{uscc}/keys/{didKey}/retire",
        "/v1/admin/agencies/{uscc}/keys/{didKey}/compromise",
        "/v1/admin/types",
        "/v1/admin/matters",
        "/v1/admin/requesters",
        "/v1/admin/tokens",
        "/v1/admin/tokens/{id}",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
}

#[tokio::test]
async fn metrics_count_deposits_and_requests() {
    let app = TestApp::new();
    app.post(
        "/v1/licences",
        Some(&app.tokens.market),
        sign(&business_licence("M0001", COMPANY), "scjgj"),
    )
    .await;
    let (status, text) = app.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        text.contains("licence_vault_deposits_total{outcome=\"created\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("licence_vault_http_requests_total{method=\"POST\",route=\"/v1/licences\",status=\"201\"} 1\n"), "{text}");
}

// ----- admin ------------------------------------------------------------------------------

/// Every admin endpoint: 401 without a token, 403 for each non-admin role.
#[tokio::test]
async fn admin_endpoints_refuse_everyone_but_admin() {
    let app = TestApp::new();
    let did = key("rogue").did_key().to_string();
    let endpoints: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/v1/admin/agencies".into(),
            json!({"uscc": "91350100M000100Y43", "name": "x", "region": "350100", "keys": []}),
        ),
        (
            Method::POST,
            format!("/v1/admin/agencies/{MARKET}/keys"),
            json!({"didKey": did, "activeFrom": "2026-01-01T00:00:00Z"}),
        ),
        (
            Method::POST,
            format!("/v1/admin/agencies/{MARKET}/keys/{did}/retire"),
            json!({"at": "2026-01-01T00:00:00Z"}),
        ),
        (
            Method::POST,
            format!("/v1/admin/agencies/{MARKET}/keys/{did}/compromise"),
            json!({"at": "2026-01-01T00:00:00Z"}),
        ),
        (Method::POST, "/v1/admin/types".into(), json!({})),
        (Method::POST, "/v1/admin/matters".into(), json!({})),
        (Method::POST, "/v1/admin/requesters".into(), json!({})),
        (
            Method::POST,
            "/v1/admin/tokens".into(),
            json!({"role": "admin"}),
        ),
        (Method::DELETE, "/v1/admin/tokens/tok_x".into(), Value::Null),
    ];
    let t = &app.tokens;
    for (method, path, body) in endpoints {
        let body = (!body.is_null()).then_some(body);
        app.assert_refused(
            &method,
            &path,
            body.as_ref(),
            &[None],
            &[&t.market, &t.requester, &t.holder_company],
        )
        .await;
    }
}

#[tokio::test]
async fn admin_registers_an_agency_type_matter_requester_and_tokens() {
    let app = TestApp::new();
    let admin = Some(app.tokens.admin.as_str());
    let new_key = licence_vault::keys::Signer::generate();
    let agency_uscc = "11350100MB0000000Y";
    let agency = json!({"uscc": agency_uscc, "name": "福州市卫生健康委员会", "region": "350100",
        "keys": [{"didKey": new_key.did_key().as_str(), "activeFrom": "2024-01-01T00:00:00Z"}]});
    let (status, body) = app.post("/v1/admin/agencies", admin, agency.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.post("/v1/admin/agencies", admin, agency).await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (StatusCode::CONFLICT, "conflict", Some("$.uscc"))
    );
    // A key already registered elsewhere is a conflict.
    let (status, body) = app
        .post(&format!("/v1/admin/agencies/{agency_uscc}/keys"), admin, json!({"didKey": key("scjgj").did_key().as_str(), "activeFrom": "2024-01-01T00:00:00Z"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));

    let ty = json!({"typeCode": "11100000000018886C001", "name": "出生医学证明", "authority": "国家卫生健康委员会",
        "holderCategory": "natural_person", "issuers": [agency_uscc],
        "fields": [{"name": "新生儿姓名", "type": "string", "required": true}]});
    let (status, body) = app.post("/v1/admin/types", admin, ty.clone()).await;
    assert_eq!((status, &body), (StatusCode::CREATED, &ty));
    assert_eq!(
        app.post("/v1/admin/types", admin, ty).await.0,
        StatusCode::OK
    );
    let matter = json!({"code": "350100-WJ-008", "name": "出生医学证明补发", "types": ["11100000000018886C001"]});
    assert_eq!(
        app.post("/v1/admin/matters", admin, matter).await.0,
        StatusCode::CREATED
    );
    let requester =
        json!({"id": "fz-wjw", "name": "福州市卫健委审批系统", "matters": ["350100-WJ-008"]});
    assert_eq!(
        app.post("/v1/admin/requesters", admin, requester).await.0,
        StatusCode::CREATED
    );
    let (_, cat) = app.get("/v1/catalogue", None).await;
    let entry = cat["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["typeCode"] == "11100000000018886C001")
        .unwrap()
        .clone();
    assert_eq!(entry["matters"], json!(["350100-WJ-008"]));

    // Tokens: created once, usable at once, revoked at once.
    let (status, issued) = app
        .post(
            "/v1/admin/tokens",
            admin,
            json!({"role": "issuer", "subject": agency_uscc}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = issued["token"].as_str().unwrap();
    assert!(token.len() >= 43);
    let doc = sign(&business_licence("T0001", COMPANY), "scjgj");
    let (status, _) = app.post("/v1/licences", Some(token), doc.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a valid issuer token, but not this licence's issuer"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/tokens/{}", issued["id"].as_str().unwrap()),
            admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.post("/v1/licences", Some(token), doc).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .call(Method::DELETE, "/v1/admin/tokens/tok_nope", admin, None)
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn admin_input_is_validated_with_field_names() {
    let app = TestApp::new();
    let admin = Some(app.tokens.admin.as_str());
    let cases: Vec<(&str, Value, StatusCode, &str, &str)> = vec![
        (
            "/v1/admin/agencies",
            json!({"uscc": "91350100M000100Y44", "name": "x", "region": "350100", "keys": []}),
            StatusCode::BAD_REQUEST,
            "invalid_agency_code",
            "$.uscc",
        ),
        (
            "/v1/admin/agencies",
            json!({"uscc": "91350100M000100Y43", "name": "x", "region": "350100", "keys": [], "extra": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "$.extra",
        ),
        (
            "/v1/admin/agencies",
            json!({"uscc": "91350100M000100Y43", "name": "x", "region": "350100", "keys": [{"didKey": "did:web:x", "activeFrom": "2024-01-01T00:00:00Z"}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "$.keys[0].didKey",
        ),
        (
            "/v1/admin/types",
            json!({"typeCode": "11100000000018886C001", "name": "x", "authority": "x", "holderCategory": "natural_person", "issuers": ["91350100M000100Y43"], "fields": []}),
            StatusCode::BAD_REQUEST,
            "invalid_agency_code",
            "$.issuers[0]",
        ),
        (
            "/v1/admin/types",
            json!({"typeCode": "11100000000018886C00", "name": "x", "authority": "x", "holderCategory": "natural_person", "issuers": [], "fields": []}),
            StatusCode::BAD_REQUEST,
            "invalid_identifier",
            "$.typeCode",
        ),
        (
            "/v1/admin/types",
            json!({"typeCode": "11100000000018886C001", "name": "x", "authority": "x", "holderCategory": "natural_person", "issuers": [], "fields": [], "matters": []}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "$.matters",
        ),
        (
            "/v1/admin/matters",
            json!({"code": "M1", "name": "x", "types": ["11100000000018886C001"]}),
            StatusCode::BAD_REQUEST,
            "unknown_type",
            "$.types[0]",
        ),
        (
            "/v1/admin/matters",
            json!({"code": "a b", "name": "x", "types": []}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "$.code",
        ),
        (
            "/v1/admin/requesters",
            json!({"id": "r1", "name": "x", "matters": ["nope"]}),
            StatusCode::NOT_FOUND,
            "not_found",
            "$.matters[0]",
        ),
        (
            "/v1/admin/tokens",
            json!({"role": "issuer", "subject": "91350100M000100Y44"}),
            StatusCode::BAD_REQUEST,
            "invalid_agency_code",
            "$.subject",
        ),
        (
            "/v1/admin/tokens",
            json!({"role": "holder", "subject": "111:110105194912310021"}),
            StatusCode::BAD_REQUEST,
            "invalid_holder_code",
            "$.subject",
        ),
        (
            "/v1/admin/tokens",
            json!({"role": "requester", "subject": "nobody"}),
            StatusCode::NOT_FOUND,
            "not_found",
            "$.subject",
        ),
        (
            "/v1/admin/tokens",
            json!({"role": "root"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "$.role",
        ),
    ];
    for (path, body, status, reason, field) in cases {
        let (s, b) = app.post(path, admin, body.clone()).await;
        assert_eq!(
            (s, code(&b), b["error"]["field"].as_str()),
            (status, reason, Some(field)),
            "{path} {body}: {b}"
        );
    }
    let (status, body) = app
        .post(
            &format!(
                "/v1/admin/agencies/{MARKET}/keys/{}/retire",
                key("rogue").did_key()
            ),
            admin,
            json!({"at": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn holders_may_sign_in_with_a_trusted_identity_provider_jws() {
    let app = TestApp::new();
    let doc = sign(&business_licence("JWS01", COMPANY), "scjgj");
    app.deposit(&doc).await;
    let holder: licence_vault::codes::HolderCode = format!("001:{COMPANY}").parse().unwrap();
    let exp = chrono::Utc::now() + chrono::Duration::minutes(5);
    let jws = licence_vault::auth::sign_holder_jws(&key("idp"), &holder, exp);
    let (status, mine) = app.get("/v1/me/licences", Some(&jws)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["licences"].as_array().unwrap().len(), 1);
    // Signed by someone else, or expired: not a credential at all.
    let forged = licence_vault::auth::sign_holder_jws(&key("rogue"), &holder, exp);
    let expired = licence_vault::auth::sign_holder_jws(
        &key("idp"),
        &holder,
        chrono::Utc::now() - chrono::Duration::seconds(1),
    );
    for bad in [forged, expired] {
        let (status, body) = app.get("/v1/me/licences", Some(&bad)).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
    }
}

/// The shape of a licence read, pinned: a client that reads `GET /v1/licences/{id}` relies on it.
#[tokio::test]
async fn licence_view_shape_is_pinned() {
    let app = TestApp::new();
    let doc = sign(&business_licence("SNAP1", COMPANY), "scjgj");
    app.post("/v1/licences", Some(&app.tokens.market), doc.clone())
        .await;
    let (_, view) = app.get(&licence_path(&doc), Some(&app.tokens.market)).await;
    let mut view = view;
    for (path, placeholder) in [
        ("/licence", "[the signed licence]"),
        ("/receipt/validFrom", "[deposit time]"),
        ("/receipt/credentialSubject/depositedAt", "[deposit time]"),
        ("/receipt/proof/created", "[deposit time]"),
        ("/receipt/proof/proofValue", "[vault signature]"),
        ("/verdict/checkedAt", "[now]"),
    ] {
        *view.pointer_mut(path).unwrap() = json!(placeholder);
    }
    for check in view["verdict"]["checks"].as_array_mut().unwrap() {
        // Keep the wording, drop the times.
        if let Some(Value::String(detail)) = check.get_mut("detail") {
            if let Some(i) = detail.find(" (created") {
                detail.truncate(i);
            }
        }
    }
    let pinned: Value = serde_json::from_str(include_str!("snapshots/licence_view.json")).unwrap();
    assert_eq!(
        view,
        pinned,
        "the licence view changed shape; if that is intended, tests/it/snapshots/licence_view.json \
         becomes:\n{}",
        serde_json::to_string_pretty(&view).unwrap()
    );
}

/// A token resolved once is remembered (the HTTP layer authenticates it without a blocking task),
/// and revoking it forgets it at once, on the same vault and after a reopen. On a store other
/// vault processes share (PostgreSQL) nothing is remembered: each request reads its token, so a
/// revocation on another node holds at once (tests/it/nodes.rs).
#[tokio::test]
async fn remembered_tokens_are_forgotten_when_revoked() {
    use licence_vault::auth::Principal;
    let app = TestApp::new();
    let now = chrono::Utc::now();
    let requester = Principal::Requester("fz-scjg-xk".into());
    let (id, token) = app.vault.create_token(&requester, now).unwrap();
    assert_eq!(app.vault.known_token(&token), None, "not resolved yet");
    assert_eq!(
        app.vault.authenticate(&token, now).unwrap(),
        Some(requester.clone())
    );
    let remembered = (!app.vault.store().shared()).then_some(requester);
    assert_eq!(app.vault.known_token(&token), remembered);
    let (status, body) = app
        .call(Method::GET, "/v1/admin/stats", Some(&token), None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "known, not admin"
    );

    assert!(app.vault.revoke_token(&id).unwrap());
    assert_eq!(app.vault.known_token(&token), None);
    assert_eq!(app.vault.authenticate(&token, now).unwrap(), None);
    let (status, body) = app
        .call(Method::GET, "/v1/admin/stats", Some(&token), None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(!app.vault.revoke_token(&id).unwrap());
}

#[tokio::test]
async fn a_holders_licences_come_a_page_at_a_time_each_verified() {
    let app = TestApp::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        let doc = sign(&business_licence(&format!("PAGE{i:04}"), COMPANY), "scjgj");
        app.deposit(&doc).await;
        ids.push(doc["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/me/licences?limit=2".to_owned(),
            Some(c) => format!("/v1/me/licences?limit=2&cursor={c}"),
        };
        let (status, page) = app.get(&path, Some(&app.tokens.holder_company)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let list = page["licences"].as_array().unwrap();
        assert!(!list.is_empty() && list.len() <= 2, "{page}");
        for l in list {
            assert_eq!(l["verdict"]["valid"], true);
            seen.push(l["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // Every licence once, in identifier order, in three pages.
    let bare: Vec<String> = ids
        .iter()
        .map(|u| u.trim_start_matches("urn:gbt36904:").to_owned())
        .collect();
    assert_eq!(
        seen.iter()
            .map(|u| u.trim_start_matches("urn:gbt36904:").to_owned())
            .collect::<Vec<_>>(),
        bare
    );
    let (_, all) = app
        .get("/v1/me/licences", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(all["licences"].as_array().unwrap().len(), 5);
    assert!(all.get("nextCursor").is_none());
    for bad in ["?limit=0", "?limit=201", "?cursor=nonsense", "?page=2"] {
        let (status, body) = app
            .get(
                &format!("/v1/me/licences{bad}"),
                Some(&app.tokens.holder_company),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn a_holders_consents_come_a_page_at_a_time_newest_first() {
    let app = TestApp::new();
    let doc = sign(&business_licence("CPAGE001", COMPANY), "scjgj");
    app.deposit(&doc).await;
    let mut made = Vec::new();
    for _ in 0..5 {
        let c = grant(
            &app,
            &app.tokens.holder_company,
            json!({"requester": "fz-scjg-xk", "matter": "350100-SJ-004", "purpose": "分页",
                   "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        )
        .await;
        made.push(c["id"].as_str().unwrap().to_owned());
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/me/consents?limit=2".to_owned(),
            Some(c) => format!("/v1/me/consents?limit=2&cursor={c}"),
        };
        let (status, page) = app.get(&path, Some(&app.tokens.holder_company)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let list = page["consents"].as_array().unwrap();
        assert!(!list.is_empty() && list.len() <= 2, "{page}");
        seen.extend(list.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, made);
    let (_, all) = app
        .get("/v1/me/consents", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(all["consents"].as_array().unwrap().len(), 5);
    assert!(all.get("nextCursor").is_none());
    let (status, body) = app
        .get(
            "/v1/me/consents?cursor=../x",
            Some(&app.tokens.holder_company),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("cursor"))
    );
}

/// On a store other processes write, a deposit reads the store twice — the agency's token, then
/// one flight with the registry generation (are the registries it was checked against still
/// current?), the licence's metadata (is it there already?) and the agency's status-index
/// counter — then commits; the indexes still follow each other.
#[tokio::test]
async fn a_deposit_on_a_shared_store_reads_in_two_flights() {
    use licence_vault::auth::Principal;
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(WatchedStore::shared(&dir.path().join("db")));
    let vault = std::sync::Arc::new(
        licence_vault::vault::Vault::open(store.clone(), key("vault"), Vec::new()).unwrap(),
    );
    seed_registries(&vault);
    let market = token(&vault, &Principal::Issuer(uscc(MARKET)));
    let router = licence_vault::http::router(vault.clone());
    let mut indexes = Vec::new();
    for i in 0..3 {
        let doc = sign(&business_licence(&format!("S{i:04}"), COMPANY), "scjgj");
        store.reads.store(0, Ordering::SeqCst);
        let (status, receipt) =
            send(&router, Method::POST, "/v1/licences", &market, Some(doc)).await;
        assert_eq!(status, StatusCode::CREATED, "{receipt}");
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
        indexes.push(receipt["credentialStatus"][0]["statusListIndex"].clone());
    }
    assert_eq!(indexes, [json!("0"), json!("1"), json!("2")]);
}
