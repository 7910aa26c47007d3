//! SPEC §9: every input a user controls gets a clear error and changes nothing.

use axum::http::{Method, StatusCode};
use licence_vault::store::Table;
use serde_json::json;

use crate::support::*;

fn stored_count(app: &TestApp) -> usize {
    app.store()
        .scan(Table::LicenceDocument, b"", false, usize::MAX)
        .unwrap()
        .len()
}

#[tokio::test]
async fn ambiguous_json_is_malformed_json_naming_the_place() {
    let app = TestApp::new();
    let token = Some(app.tokens.market.as_str());
    let good = serde_json::to_string(&sign(&business_licence("J0001", COMPANY), "scjgj")).unwrap();
    let cases: Vec<(String, Option<&str>)> = vec![
        ("{\"a\":1".into(), None),
        ("not json".into(), Some("$")),
        (
            good.replacen("\"holder\":{", "\"holder\":{\"name\":\"x\",", 1),
            Some("$.credentialSubject.holder.name"),
        ),
        (
            good.replacen(
                "\"typeName\":\"营业执照\"",
                "\"typeName\":\"营业执照\\ud800\"",
                1,
            ),
            Some("$.credentialSubject.licence.typeName"),
        ),
        (
            good.replacen(
                "\"注册资本万元\":500",
                "\"注册资本万元\":9007199254740993",
                1,
            ),
            Some("$.credentialSubject.licence.fields.注册资本万元"),
        ),
    ];
    for (body, field) in cases {
        let (status, b) = app
            .raw(
                Method::POST,
                "/v1/licences",
                token,
                "application/json",
                Some(body.clone().into_bytes()),
            )
            .await;
        assert_eq!(
            (status, code(&b)),
            (StatusCode::BAD_REQUEST, "malformed_json"),
            "{body}"
        );
        if let Some(f) = field {
            assert_eq!(b["error"]["field"], f, "{b}");
        }
        let (status, b) = app
            .raw(
                Method::POST,
                "/v1/verify",
                Some(&app.tokens.requester),
                "application/json",
                Some(body.into_bytes()),
            )
            .await;
        assert_eq!(
            (status, code(&b)),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
    }
    assert_eq!(stored_count(&app), 0);
}

#[tokio::test]
async fn wrong_content_type_and_oversized_bodies() {
    let app = TestApp::new();
    let body = serde_json::to_vec(&sign(&business_licence("J0002", COMPANY), "scjgj")).unwrap();
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, b) = app
            .raw(
                Method::POST,
                "/v1/licences",
                Some(&app.tokens.market),
                ct,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&b)),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        );
    }
    // A structured-syntax JSON media type is fine.
    let (status, _) = app
        .raw(
            Method::POST,
            "/v1/licences",
            Some(&app.tokens.market),
            "application/vc+json; charset=utf-8",
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let big = format!(
        "{{\"pad\":\"{}\"}}",
        "x".repeat(licence_vault::http::BODY_LIMIT + 1)
    );
    let (status, b) = app
        .raw(
            Method::POST,
            "/v1/licences",
            Some(&app.tokens.market),
            "application/json",
            Some(big.clone().into_bytes()),
        )
        .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (status, b) = app
        .raw(
            Method::POST,
            "/v1/verify",
            Some(&app.tokens.requester),
            "application/json",
            Some(big.into_bytes()),
        )
        .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let huge = format!(
        "{{\"licences\":[\"{}\"]}}",
        "x".repeat(licence_vault::http::BATCH_BODY_LIMIT + 1)
    );
    let (status, b) = app
        .raw(
            Method::POST,
            "/v1/licences:batch",
            Some(&app.tokens.market),
            "application/json",
            Some(huge.into_bytes()),
        )
        .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(stored_count(&app), 1);
}

#[tokio::test]
async fn unknown_fields_are_refused_by_name() {
    let app = TestApp::new();
    let (status, b) = app
        .post(
            "/v1/licences:batch",
            Some(&app.tokens.market),
            json!({"licences": [], "dryRun": true}),
        )
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request", Some("$.dryRun"))
    );
    // In a licence, an unknown member is a schema violation at its path.
    let mut doc = business_licence("J0003", COMPANY);
    doc["credentialSubject"]["licence"]["colour"] = json!("red");
    let (status, b) = app
        .post(
            "/v1/licences",
            Some(&app.tokens.market),
            sign(&doc, "scjgj"),
        )
        .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::BAD_REQUEST, "schema_violation")
    );
    assert_eq!(b["error"]["field"], "$.credentialSubject.licence.colour");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("colour"),
        "{b}"
    );
    assert_eq!(stored_count(&app), 0);
}

#[tokio::test]
async fn bad_identifiers_in_paths_and_documents_name_the_field() {
    let app = TestApp::new();
    let (status, b) = app
        .get(
            "/v1/licences/1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.G",
            Some(&app.tokens.market),
        )
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_identifier", Some("id"))
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected 'F'"),
        "{b}"
    );

    let mut doc = business_licence("J0004", COMPANY);
    doc["credentialSubject"]["holder"]["code"] = json!("91350102MA2XN1A2K1");
    let (status, b) = app
        .post(
            "/v1/licences",
            Some(&app.tokens.market),
            sign(&doc, "scjgj"),
        )
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_holder_code",
            Some("$.credentialSubject.holder.code")
        )
    );
    let mut doc = business_licence("J0005", COMPANY);
    doc["issuer"]["id"] = json!("urn:uscc:113501000035920162");
    let (status, b) = app
        .post(
            "/v1/licences",
            Some(&app.tokens.market),
            sign(&doc, "scjgj"),
        )
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_agency_code",
            Some("$.issuer.id")
        )
    );
    let mut doc = business_licence("J0006", COMPANY);
    doc["credentialSubject"]["licence"]["version"] = json!("002");
    let (status, b) = app
        .post(
            "/v1/licences",
            Some(&app.tokens.market),
            sign(&doc, "scjgj"),
        )
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_identifier",
            Some("$.credentialSubject.licence.version")
        )
    );
    assert_eq!(stored_count(&app), 0);
}

#[tokio::test]
async fn foreign_and_missing_proofs() {
    let app = TestApp::new();
    let unsigned = business_licence("J0007", COMPANY);
    let (status, b) = app
        .post("/v1/licences", Some(&app.tokens.market), unsigned.clone())
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_signature",
            Some("$.proof")
        )
    );
    let mut other_suite = sign(&unsigned, "scjgj");
    other_suite["proof"]["cryptosuite"] = json!("eddsa-rdfc-2022");
    let (status, b) = app
        .post("/v1/licences", Some(&app.tokens.market), other_suite)
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_signature",
            Some("$.proof.cryptosuite")
        )
    );
    let (status, b) = app
        .post("/v1/verify", Some(&app.tokens.requester), json!([1, 2]))
        .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    assert_eq!(stored_count(&app), 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let app = TestApp::new();
    let (status, b) = app.get("/v1/nothing", None).await;
    assert_eq!((status, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, b) = app
        .call(
            Method::PUT,
            "/v1/licences",
            Some(&app.tokens.market),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::METHOD_NOT_ALLOWED, "invalid_request")
    );
}
