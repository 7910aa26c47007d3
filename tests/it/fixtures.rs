//! The committed fixtures: every sample licence deposits and verifies; every `fixtures/bad/` file
//! fails with exactly the reason code its name gives; the generator reproduces them byte for byte.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use licence_vault::auth::Principal;
use serde_json::Value;

use crate::support::*;

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn issuer_token(app: &TestApp, doc: &Value) -> String {
    let issuer = doc["id"]
        .as_str()
        .and_then(|s| licence_vault::codes::LicenceId::from_urn_or_bare(s).ok())
        .map_or_else(|| uscc(MARKET), |id| id.issuer());
    token(&app.vault, &Principal::Issuer(issuer))
}

#[tokio::test]
async fn every_sample_licence_deposits_and_verifies() {
    let app = TestApp::new();
    let samples = files("fixtures/licences");
    assert!(
        samples.len() >= 30,
        "only {} sample licences",
        samples.len()
    );
    let mut types = BTreeSet::new();
    let mut holders = BTreeSet::new();
    for (name, bytes) in &samples {
        let doc = licence_vault::jcs::parse(bytes).unwrap();
        let token = issuer_token(&app, &doc);
        let (status, body) = app
            .raw(
                Method::POST,
                "/v1/licences",
                Some(&token),
                "application/json",
                Some(bytes.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        types.insert(
            doc["credentialSubject"]["licence"]["typeCode"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        holders.insert(
            doc["credentialSubject"]["holder"]["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(types.len() >= 8, "{types:?}");
    assert!(holders.len() >= 8, "{holders:?}");
    // All of them read back valid, except predecessors in a version chain (superseded).
    for (name, bytes) in &samples {
        let doc = licence_vault::jcs::parse(bytes).unwrap();
        let token = issuer_token(&app, &doc);
        let (_, view) = app.get(&licence_path(&doc), Some(&token)).await;
        if view["supersededBy"].is_string() {
            assert_eq!(view["status"], "superseded", "{name}");
        } else {
            assert_eq!(view["verdict"]["valid"], true, "{name}: {view}");
        }
    }
}

#[tokio::test]
async fn every_bad_fixture_fails_with_its_reason_code() {
    let app = TestApp::new();
    let bad = files("fixtures/bad");
    let reasons: BTreeSet<&str> = bad
        .iter()
        .map(|(n, _)| n.trim_end_matches(".json").split("--").next().unwrap())
        .collect();
    for expected in [
        "malformed_json",
        "invalid_identifier",
        "invalid_holder_code",
        "invalid_agency_code",
        "unknown_type",
        "schema_violation",
        "bad_signature",
        "unknown_key",
        "key_not_active",
        "key_compromised",
        "issuer_mismatch",
        "type_not_allowed",
        "expired",
        "not_yet_valid",
    ] {
        assert!(
            reasons.contains(expected),
            "fixtures/bad has no {expected} file"
        );
    }
    for (name, bytes) in &bad {
        let expected = name.trim_end_matches(".json").split("--").next().unwrap();
        let doc = licence_vault::jcs::parse(bytes).ok();
        let token = doc
            .as_ref()
            .map_or_else(|| app.tokens.market.clone(), |d| issuer_token(&app, d));
        let (status, body) = app
            .raw(
                Method::POST,
                "/v1/licences",
                Some(&token),
                "application/json",
                Some(bytes.clone()),
            )
            .await;
        assert_eq!(code(&body), expected, "deposit of {name}: {body}");
        let reason: licence_vault::verdict::Reason =
            serde_json::from_value(body["error"]["code"].clone()).unwrap();
        assert_eq!(status, licence_vault::http::status_of(reason), "{name}");
        let (status, verdict) = app
            .raw(
                Method::POST,
                "/v1/verify",
                Some(&app.tokens.requester),
                "application/json",
                Some(bytes.clone()),
            )
            .await;
        if expected == "malformed_json" {
            assert_eq!(
                (status, code(&verdict)),
                (StatusCode::BAD_REQUEST, "malformed_json"),
                "{name}"
            );
        } else {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(verdict["valid"], false, "{name}");
            let first = verdict["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["ok"] == false)
                .unwrap();
            assert_eq!(first["code"], expected, "verify of {name}: {verdict}");
        }
    }
    assert_eq!(
        app.store()
            .scan(licence_vault::store::Table::LicenceDocument, b"", false, 10)
            .unwrap()
            .len(),
        0
    );
}

/// The generator itself, compiled into this binary: the test needs no example binary built beforehand.
#[path = "../../examples/make_fixtures.rs"]
#[allow(
    dead_code,
    reason = "its `main` is the example's entry point, unused here"
)]
mod make_fixtures;

#[test]
fn the_generator_reproduces_the_committed_fixtures() {
    assert!(
        make_fixtures::run(true).unwrap(),
        "fixtures differ from the generator (the files are listed above); \
         run `cargo run --example make_fixtures`"
    );
}

#[test]
fn registry_fixtures_name_the_committed_demo_keys() {
    let agencies = std::fs::read_to_string(root().join("fixtures/agencies.json")).unwrap();
    for name in [
        "scjgj",
        "scjgj-2019",
        "gaj",
        "gaj-2020",
        "mzj",
        "zrzyj",
        "rsj",
    ] {
        assert!(
            agencies.contains(key(name).did_key().as_str()),
            "{name}.pub is not in agencies.json"
        );
    }
    assert!(!agencies.contains(key("rogue").did_key().as_str()));
}
