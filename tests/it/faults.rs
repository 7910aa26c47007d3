//! What an outside tester found (the faults-and-conformance issue), each held by a test that
//! failed before its fix.

use axum::http::{header, Method, StatusCode};
use chrono::{Duration, Utc};
use licence_vault::proof;
use serde_json::{json, Value};

use crate::support::*;

const NEW_FOOD: &str = "350100-SJ-004";

/// 50 concurrent pulls race a withdrawal, six times: whatever the responses say, the holder's log
/// must never show a licence provided under the consent after its `withdrawnAt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_access_log_never_shows_a_release_after_the_withdrawal() {
    let app = TestApp::new();
    app.deposit(&sign(&business_licence("R0001", COMPANY), "scjgj"))
        .await;
    let holder = format!("001:{COMPANY}");
    for round in 0..6 {
        let (status, c) = app
            .post(
                "/v1/me/consents",
                Some(&app.tokens.holder_company),
                json!({"requester": "fz-scjg-xk", "matter": NEW_FOOD, "purpose": "新办",
                       "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        let id = c["id"].as_str().unwrap().to_owned();
        let mut tasks = Vec::new();
        for i in 0..51 {
            let router = app.router.clone();
            let req = if i == 25 {
                json_request(
                    Method::DELETE,
                    &format!("/v1/me/consents/{id}"),
                    Some(&app.tokens.holder_company),
                    None,
                )
            } else {
                json_request(
                    Method::POST,
                    "/v1/reuse",
                    Some(&app.tokens.requester),
                    Some(json!({"holder": holder, "matter": NEW_FOOD, "purpose": "受理"})),
                )
            };
            tasks.push(tokio::spawn(async move { respond(&router, req).await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().0, StatusCode::OK);
        }
        let (_, list) = app
            .get("/v1/me/consents", Some(&app.tokens.holder_company))
            .await;
        let consent = list["consents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap();
        let withdrawn = time(consent["withdrawnAt"].as_str().unwrap());
        // The whole log, every page.
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/me/access-log?limit=200&cursor={c}"),
                None => "/v1/me/access-log?limit=200".to_owned(),
            };
            let (_, page) = app.get(&path, Some(&app.tokens.holder_company)).await;
            for r in page["records"].as_array().unwrap() {
                let provided_here = r["outcomes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["consent"] == id.as_str() && o["outcome"] == "provided");
                if provided_here {
                    let at = time(r["at"].as_str().unwrap());
                    assert!(
                        at < withdrawn,
                        "round {round}: {} provided at {at}, withdrawn at {withdrawn}",
                        r["id"]
                    );
                }
            }
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
    }
}

/// A generic VC signed by the demo vault key, with `changes` applied before signing.
fn credential(changes: impl FnOnce(&mut Value)) -> Value {
    let mut doc = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "did:example:issuer",
        "validFrom": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject"},
    });
    changes(&mut doc);
    proof::sign(doc, &key("vault"), time("2024-01-01T00:00:00Z")).unwrap()
}

async fn verdict(app: &TestApp, doc: Value) -> Value {
    let (status, v) = app
        .post("/v1/verify", Some(&app.tokens.requester), doc)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn dates_the_verifier_cannot_read_fail_validity() {
    let app = TestApp::new();
    let ok = verdict(&app, credential(|_| {})).await;
    assert_eq!(ok["valid"], true, "{ok}");
    for (member, value) in [("validFrom", "not-a-date"), ("validUntil", "2020-13-45")] {
        let v = verdict(&app, credential(|d| d[member] = json!(value))).await;
        assert_eq!(v["valid"], false, "{member}: {v}");
        let c = check(&v, "validity");
        assert_eq!(
            (&c["ok"], &c["code"]),
            (&json!(false), &json!("schema_violation"))
        );
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("$.{member}: ")),
            "{c}"
        );
    }
    let v = verdict(&app, credential(|d| d["validUntil"] = json!(20200101))).await;
    assert_eq!(check(&v, "validity")["code"], "schema_violation");
}

#[tokio::test]
async fn an_expired_proof_fails_and_created_is_optional_except_for_licences() {
    let app = TestApp::new();
    let unsigned = |doc: Value| {
        let mut d = doc;
        d.as_object_mut().unwrap().remove("proof");
        d
    };
    let base = unsigned(credential(|_| {}));
    let now = Utc::now();
    let signed = |created, expires| {
        proof::sign_until(base.clone(), &key("vault"), created, expires).unwrap()
    };
    let expired = verdict(
        &app,
        signed(Some(now - Duration::days(2)), Some(now - Duration::days(1))),
    )
    .await;
    assert_eq!(expired["valid"], false);
    let c = check(&expired, "signature");
    assert_eq!((&c["ok"], &c["code"]), (&json!(false), &json!("expired")));
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .starts_with("$.proof.expires: "));
    let live = verdict(&app, signed(Some(now), Some(now + Duration::days(1)))).await;
    assert_eq!(live["valid"], true, "{live}");
    // No created: a generic credential verifies.
    let undated = signed(None, None);
    assert!(undated["proof"].get("created").is_none());
    let v = verdict(&app, undated).await;
    assert_eq!(v["valid"], true, "{v}");
    // A licence still needs it: which key was usable is judged at that time.
    let lic = unsigned(sign(&business_licence("R0002", COMPANY), "scjgj"));
    let doc = proof::sign_until(lic, &key("scjgj"), None, None).unwrap();
    let v = verdict(&app, doc).await;
    let c = check(&v, "issuer_key");
    assert_eq!(
        (&c["ok"], &c["code"]),
        (&json!(false), &json!("bad_signature")),
        "{v}"
    );
    assert_eq!(v["valid"], false);
}

#[tokio::test]
async fn a_credential_must_follow_the_vc_data_model_to_verify_or_be_signed() {
    let app = TestApp::new();
    let ok = verdict(&app, credential(|_| {})).await;
    assert_eq!(check(&ok, "data_model")["ok"], true);
    for (change, field) in [
        (
            Box::new(|d: &mut Value| {
                d.as_object_mut().unwrap().remove("type");
            }) as Box<dyn FnOnce(&mut Value)>,
            "$.type",
        ),
        (
            Box::new(|d: &mut Value| {
                d.as_object_mut().unwrap().remove("credentialSubject");
            }),
            "$.credentialSubject",
        ),
        (
            Box::new(|d: &mut Value| d["credentialSubject"] = json!([])),
            "$.credentialSubject",
        ),
        (
            Box::new(|d: &mut Value| d["issuer"] = json!("not a url")),
            "$.issuer",
        ),
        (
            Box::new(|d: &mut Value| d["issuer"] = json!({"name": "x"})),
            "$.issuer",
        ),
        (
            Box::new(|d: &mut Value| d["@context"] = json!(["https://example.org/"])),
            "$.@context",
        ),
        (
            Box::new(|d: &mut Value| d["type"] = json!(["Licence"])),
            "$.type",
        ),
    ] {
        let v = verdict(&app, credential(change)).await;
        let c = check(&v, "data_model");
        assert_eq!(
            (&c["ok"], &c["code"]),
            (&json!(false), &json!("schema_violation")),
            "{field}: {v}"
        );
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{c}"
        );
        assert_eq!(v["valid"], false);
    }
    let ok = verdict(
        &app,
        credential(|d| d["issuer"] = json!({"id": "urn:uscc:113501000035920161"})),
    )
    .await;
    assert_eq!(ok["valid"], true, "{ok}");

    // `sign` refuses what is not a credential unless asked for plain JSON.
    let dir = tempfile::tempdir().unwrap();
    let plain = write_json(dir.path(), "plain.json", &json!({"hello": "world"}));
    let key_path = root().join("keys/vault.key");
    let key_path = key_path.to_str().unwrap();
    let o = run_cli(&["sign", "--key", key_path, "--in", &plain]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a VC 2.0 credential ($: ") || err.contains("$.@context"),
        "{err}"
    );
    assert!(err.contains("--plain-json"), "{err}");
    let o = run_cli(&["sign", "--key", key_path, "--in", &plain, "--plain-json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout_json(&o)["proof"]["proofValue"].is_string());
    // A proof set is refused, and says so.
    let mut set = credential(|_| {});
    set["proof"] = json!([set["proof"].clone(), set["proof"].clone()]);
    let v = verdict(&app, set).await;
    assert_eq!(check(&v, "signature")["code"], "bad_signature");
    assert!(check(&v, "signature")["detail"]
        .as_str()
        .unwrap()
        .contains("single proof object"));
}

#[tokio::test]
async fn a_list_number_beyond_the_index_space_is_not_found_and_bad_paths_get_the_envelope() {
    let app = TestApp::new();
    app.deposit(&sign(&business_licence("R0003", COMPANY), "scjgj"))
        .await;
    for list in ["1", "140737488355328", "18446744073709551615"] {
        let (status, e) = app
            .get(
                &format!("/v1/status-lists/{MARKET}/revocation/{list}"),
                None,
            )
            .await;
        assert_eq!(
            (status, code(&e)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{list}: {e}"
        );
    }
    let (status, e) = app
        .get(
            &format!("/v1/status-lists/{MARKET}/revocation/18446744073709551616"),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&e), e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request", Some("list"))
    );

    // A path segment that is not UTF-8, on every endpoint that takes one.
    for (method, path, token) in [
        (
            Method::DELETE,
            "/v1/me/consents/%ff%fe",
            &app.tokens.holder_company,
        ),
        (
            Method::GET,
            "/v1/me/consents/%ff%fe/receipts",
            &app.tokens.holder_company,
        ),
        (
            Method::GET,
            "/v1/me/consent-requests/%ff",
            &app.tokens.holder_company,
        ),
        (
            Method::GET,
            "/v1/consent-requests/%c3%28",
            &app.tokens.requester,
        ),
        (Method::GET, "/v1/licences/%ff", &app.tokens.market),
        (Method::GET, "/v1/agencies/%ff", &app.tokens.market),
        (Method::DELETE, "/v1/admin/tokens/%ff", &app.tokens.admin),
        (
            Method::GET,
            "/v1/status-lists/%ff/revocation/0",
            &app.tokens.market,
        ),
    ] {
        let res = respond_raw(&app, json_request(method.clone(), path, Some(token), None)).await;
        assert_eq!(res.0, StatusCode::BAD_REQUEST, "{method} {path}");
        assert_eq!(
            res.1.as_deref(),
            Some("application/json"),
            "{method} {path}"
        );
        assert_eq!(
            code(&res.2),
            "invalid_request",
            "{method} {path}: {}",
            res.2
        );
    }
}

/// Status, content type and JSON body of a request to the router.
async fn respond_raw(
    app: &TestApp,
    req: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Option<String>, Value) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_openapi_documents_what_every_operation_can_answer() {
    let app = TestApp::new();
    let (_, doc) = app.get("/v1/openapi.json", None).await;
    let mut posts = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            assert!(has("503"), "{method} {path}: 503");
            if method == "post" {
                assert!(
                    op.get("requestBody").is_some(),
                    "{path}: its body is not described"
                );
                posts += 1;
                for s in ["400", "413", "415"] {
                    assert!(has(s), "{method} {path}: {s}");
                }
            }
            if path.contains('{') {
                assert!(has("400"), "{method} {path}: 400");
            }
            if op.get("security").is_some() {
                assert!(has("401") && has("403"), "{method} {path}: 401/403");
            }
        }
    }
    assert_eq!(posts, 49);
    for action in ["retire", "compromise"] {
        let op =
            &doc["paths"][format!("/v1/admin/agencies/{{uscc}}/keys/{{didKey}}/{action}")]["post"];
        assert!(op["responses"].get("400").is_some(), "{action}");
    }
    // A flattened catalogue entry may carry `matters`: no part of it refuses other members.
    let entry = &doc["components"]["schemas"]["CatalogueEntry"];
    let parts = entry["allOf"].as_array().unwrap();
    assert!(
        parts
            .iter()
            .all(|p| p.get("additionalProperties") != Some(&json!(false))),
        "{entry}"
    );
    assert!(
        parts
            .iter()
            .any(|p| p["properties"].get("matters").is_some()),
        "{entry}"
    );
    assert!(
        parts
            .iter()
            .any(|p| p["properties"].get("typeCode").is_some()),
        "{entry}"
    );
    // The request body keeps refusing unknown members.
    assert_eq!(
        doc["components"]["schemas"]["LicenceType"]["additionalProperties"],
        false
    );
}

#[tokio::test]
async fn the_vc_api_verifier_answers_as_the_vc_api_says_from_public_data_only() {
    let app = TestApp::new();
    let vector = read_json("fixtures/conformance/eddsa-jcs-2022/signedJCS.json");
    let (status, r) = app
        .post(
            "/credentials/verify",
            None,
            json!({"@context": ["https://www.w3.org/ns/credentials/v2"], "verifiableCredential": vector, "options": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .contains(&json!("signature")),
        "{r}"
    );
    assert_eq!(r["errors"], json!([]));
    assert_eq!(r["verdict"]["valid"], true);

    let mut tampered = vector.clone();
    tampered["credentialSubject"]["alumniOf"] = json!("Someone Else");
    let (status, r) = app
        .post(
            "/credentials/verify",
            None,
            json!({"verifiableCredential": tampered}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert_eq!(r["errors"][0]["check"], "signature");
    assert_eq!(r["errors"][0]["code"], "bad_signature");

    // A licence the vault holds, since suspended: the public verifier cannot know its status
    // (that would tell what the vault holds), so status is a warning, not a pass.
    let lic = sign(&business_licence("V0001", COMPANY), "scjgj");
    app.deposit(&lic).await;
    let (status, r) = app
        .post(
            "/credentials/verify",
            None,
            json!({"verifiableCredential": lic}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert!(r["checks"]
        .as_array()
        .unwrap()
        .contains(&json!("issuer_key")));
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["check"] == "status"),
        "{r}"
    );
    let (_, with_record) = app
        .post("/v1/verify", Some(&app.tokens.requester), lic.clone())
        .await;
    assert_eq!(
        check(&with_record, "integrity")["ok"],
        true,
        "POST /v1/verify does use the record"
    );
    assert!(r["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["check"] != "integrity"));

    for (body, field) in [
        (json!({}), "$.verifiableCredential"),
        (
            json!({"verifiableCredential": [1]}),
            "$.verifiableCredential",
        ),
        (
            json!({"verifiableCredential": vector, "options": 3}),
            "$.options",
        ),
        (
            json!({"verifiableCredential": vector, "extra": 1}),
            "$.extra",
        ),
    ] {
        let (status, e) = app.post("/credentials/verify", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
}
