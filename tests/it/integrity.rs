//! Verification on extraction: stored bytes that no longer verify are reported as
//! `integrity_failure`, never served, logged and counted.

use axum::http::StatusCode;
use licence_vault::codes::LicenceId;
use licence_vault::store::{Change, Table};
use licence_vault::vault::layout;
use serde_json::json;
use sha2::Digest as _;

use crate::support::*;

async fn deposited(app: &TestApp, serial: &str) -> (LicenceId, String) {
    let doc = sign(&business_licence(serial, COMPANY), "scjgj");
    app.deposit(&doc).await;
    let id = LicenceId::from_urn_or_bare(doc["id"].as_str().unwrap()).unwrap();
    let path = format!("/v1/licences/{id}");
    (id, path)
}

fn failures(app: &TestApp) -> u64 {
    app.vault
        .metrics
        .get(licence_vault::metrics::Counter::IntegrityFailures)
}

#[tokio::test]
async fn a_flipped_byte_in_rocksdb_is_an_integrity_failure_and_is_not_served() {
    let app = TestApp::new();
    let (id, path) = deposited(&app, "I0001").await;
    let mut bytes = app
        .store()
        .get(Table::LicenceDocument, layout::licence(&id))
        .unwrap()
        .unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    overwrite(&app, Table::LicenceDocument, layout::licence(&id), bytes);
    assert_eq!(failures(&app), 0);

    for token in [&app.tokens.market, &app.tokens.holder_company] {
        let (status, view) = app.get(&path, Some(token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            view["licence"],
            serde_json::Value::Null,
            "damaged bytes are never served"
        );
        assert_eq!(view["verdict"]["valid"], false);
        assert_eq!(view["verdict"]["checks"][0]["check"], "integrity");
        assert_eq!(view["verdict"]["checks"][0]["code"], "integrity_failure");
    }
    let (_, mine) = app
        .get("/v1/me/licences", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        mine["licences"][0]["verdict"]["checks"][0]["code"],
        "integrity_failure"
    );
    assert_eq!(failures(&app), 3);
    let (_, text) = app.get("/metrics", None).await;
    assert!(text
        .as_str()
        .unwrap()
        .contains("licence_vault_integrity_failures_total 3\n"));
}

#[tokio::test]
async fn rewritten_bytes_with_a_matching_digest_still_fail_the_signature_on_read() {
    let app = TestApp::new();
    let (id, path) = deposited(&app, "I0002").await;
    // An attacker with write access to the store changes a face field and fixes up the digest.
    let stored = app
        .store()
        .get(Table::LicenceDocument, layout::licence(&id))
        .unwrap()
        .unwrap();
    let mut doc = licence_vault::jcs::parse(&stored).unwrap();
    doc["credentialSubject"]["licence"]["fields"]["注册资本万元"] = json!(99999);
    let forged = licence_vault::jcs::canonicalize(&doc);
    let mut meta = app.vault.meta(&id).unwrap().unwrap();
    meta.sha256 = hex::encode(sha2::Sha256::digest(&forged));
    overwrite(&app, Table::LicenceDocument, layout::licence(&id), forged);
    overwrite(
        &app,
        Table::LicenceMeta,
        layout::licence(&id),
        serde_json::to_vec(&meta).unwrap(),
    );

    let (status, view) = app.get(&path, Some(&app.tokens.market)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["licence"], serde_json::Value::Null);
    assert_eq!(view["verdict"]["valid"], false);
    assert_eq!(view["verdict"]["checks"][0]["code"], "integrity_failure");
    assert_eq!(
        check(&view["verdict"], "signature")["code"],
        "bad_signature"
    );
    assert_eq!(failures(&app), 1);
}

#[tokio::test]
async fn missing_or_unparsable_bytes_are_integrity_failures() {
    let app = TestApp::new();
    let (id, path) = deposited(&app, "I0003").await;
    overwrite(
        &app,
        Table::LicenceDocument,
        layout::licence(&id),
        b"{\"not\":".to_vec(),
    );
    let (_, view) = app.get(&path, Some(&app.tokens.market)).await;
    assert_eq!(view["verdict"]["checks"][0]["code"], "integrity_failure");
    assert_eq!(view["verdict"]["checks"].as_array().unwrap().len(), 1);

    let mut c = Change::durable();
    c.delete(Table::LicenceDocument, layout::licence(&id));
    app.store().commit(c).unwrap();
    let (_, view) = app.get(&path, Some(&app.tokens.market)).await;
    assert_eq!(view["verdict"]["checks"][0]["code"], "integrity_failure");
    assert_eq!(
        view["verdict"]["checks"][0]["detail"],
        "document bytes are missing"
    );
}

#[tokio::test]
async fn a_presented_licence_that_differs_from_the_deposit_is_a_conflict_or_a_forgery() {
    let app = TestApp::new();
    deposited(&app, "I0004").await;
    let failing = |v: &serde_json::Value| -> Vec<String> {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| c["code"].as_str().unwrap().to_owned())
            .collect()
    };
    // The issuer signs other content under the same identifier and presents it elsewhere.
    let mut other = business_licence("I0004", COMPANY);
    other["credentialSubject"]["licence"]["fields"]["法定代表人"] = json!("王五");
    let (_, v) = app
        .post(
            "/v1/verify",
            Some(&app.tokens.requester),
            sign(&other, "scjgj"),
        )
        .await;
    assert_eq!(v["valid"], false);
    assert_eq!(failing(&v), ["conflict"]);
    // A tampered copy of the deposited licence is just a bad signature.
    let mut tampered = sign(&business_licence("I0004", COMPANY), "scjgj");
    tampered["credentialSubject"]["licence"]["fields"]["法定代表人"] = json!("王五");
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.requester), tampered)
        .await;
    assert_eq!(failing(&v), ["bad_signature"]);
}
