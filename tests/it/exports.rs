//! The holder's copy of everything (SPEC §17): an export is the API's own answers byte for byte,
//! with a manifest signed by the vault that `licence-vault verify` checks offline; it is an access
//! record of its own; only the person who made it downloads it; a delegate's holds its scope.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use licence_vault::auth::Principal;
use licence_vault::verify::{export_manifest, VaultKeys};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::support::*;

const NEW_FOOD: &str = "350100-SJ-004";
const RENEW_FOOD: &str = "350100-SJ-005";
const FOOD: &str = "11100000000013338W012";

/// GET `path` as `token` (acting for `acting_for`): the status and the body's bytes.
async fn get_bytes(
    app: &TestApp,
    path: &str,
    token: &str,
    acting_for: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(a) = acting_for {
        req = req.header("acting-for", a);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    (
        status,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

/// Makes an export as `token` and downloads it: the archive's files by path, in order.
async fn export(
    app: &TestApp,
    token: &str,
    acting_for: Option<&str>,
) -> (Value, Vec<(String, Vec<u8>)>, Vec<u8>) {
    let mut req = json_request(Method::POST, "/v1/me/exports", Some(token), Some(json!({})));
    if let Some(a) = acting_for {
        req.headers_mut().insert("acting-for", a.parse().unwrap());
    }
    let (status, ticket) = respond(&app.router, req).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let href = ticket["href"].as_str().unwrap().to_owned();
    assert_eq!(
        href,
        format!("/v1/me/exports/{}", ticket["id"].as_str().unwrap())
    );
    let (status, tar) = get_bytes(app, &href, token, acting_for).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&tar));
    // Once only.
    let (status, _) = get_bytes(app, &href, token, acting_for).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    (ticket, untar(&tar), tar)
}

fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in tar::Archive::new(bytes).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        out.push((path, content));
    }
    out
}

fn without_checked_at(bytes: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    for l in v["licences"].as_array_mut().unwrap() {
        l["verdict"]["checkedAt"] = Value::Null;
    }
    v
}

#[tokio::test]
async fn an_export_is_the_apis_own_answers_with_a_signed_manifest() {
    let app = TestApp::new();
    let business = read_json("fixtures/licences/29-yyzz-minwei.json");
    let food = read_json("fixtures/licences/30-spjy-minwei.json");
    app.deposit(&business).await;
    app.deposit(&food).await;
    let h = app.tokens.holder_company.clone();
    let (s, c) = app
        .post(
            "/v1/me/consents",
            Some(&h),
            json!({"requester": "fz-scjg-xk", "matter": RENEW_FOOD, "purpose": "延续申请",
                   "types": [BUSINESS_LICENCE, FOOD], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let consent = c["id"].as_str().unwrap().to_owned();
    let (s, p) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": RENEW_FOOD, "purpose": "受理"}),
        )
        .await;
    assert_eq!(
        (s, p["provided"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{p}"
    );

    let (ticket, files, tar) = export(&app, &h, None).await;
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let bare = |doc: &Value| {
        doc["id"]
            .as_str()
            .unwrap()
            .trim_start_matches("urn:gbt36904:")
            .to_owned()
    };
    let (b, f) = (bare(&business), bare(&food));
    let mut licence_files = [format!("licences/{b}.json"), format!("licences/{f}.json")];
    licence_files.sort();
    let receipts = format!("consents/{consent}/receipts.json");
    let mut expected = vec!["licences/page-0001.json"];
    expected.extend(licence_files.iter().map(String::as_str));
    expected.extend([
        "consents/page-0001.json",
        receipts.as_str(),
        "consent-requests/page-0001.json",
        "consent-requests/answered/page-0001.json",
        "access-log/page-0001.json",
        "corrections/page-0001.json",
        "objections/page-0001.json",
        "notifications/page-0001.json",
        "presentations/page-0001.json",
        "delegations/given/page-0001.json",
        "delegations/received/page-0001.json",
        "summary.json",
        "manifest.json",
    ]);
    assert_eq!(paths, expected);
    let file = |path: &str| &files.iter().find(|(p, _)| p == path).unwrap().1;

    // Byte for byte what the API answers the same caller now (the licence pages but for the
    // time of their fresh verdicts).
    for (path, url) in [
        (
            "consents/page-0001.json",
            "/v1/me/consents?limit=200".to_owned(),
        ),
        (
            receipts.as_str(),
            format!("/v1/me/consents/{consent}/receipts"),
        ),
        (
            "consent-requests/answered/page-0001.json",
            "/v1/me/consent-requests?state=answered&limit=50".into(),
        ),
        (
            "consent-requests/page-0001.json",
            "/v1/me/consent-requests?limit=50".into(),
        ),
        (
            "access-log/page-0001.json",
            "/v1/me/access-log?limit=200".into(),
        ),
        (
            "notifications/page-0001.json",
            "/v1/me/notifications?limit=200".into(),
        ),
        (
            "presentations/page-0001.json",
            "/v1/me/presentations?limit=200".into(),
        ),
        (
            "delegations/given/page-0001.json",
            "/v1/me/delegations?list=given&limit=200".into(),
        ),
        ("summary.json", "/v1/me/summary".into()),
    ] {
        let (status, body) = get_bytes(&app, &url, &h, None).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(
            String::from_utf8_lossy(file(path)),
            String::from_utf8_lossy(&body),
            "{path}"
        );
    }
    let (_, page) = get_bytes(&app, "/v1/me/licences?limit=200", &h, None).await;
    assert_eq!(
        without_checked_at(file("licences/page-0001.json")),
        without_checked_at(&page)
    );
    // Each licence alone: the JCS bytes its issuer signed, whose digest the vault's receipt names.
    for doc in [&business, &food] {
        let bytes = file(&format!("licences/{}.json", bare(doc)));
        assert_eq!(bytes, &licence_vault::jcs::canonicalize(doc));
    }

    // The export is an access record of its own kind, the newest, naming no requester.
    let log: Value = serde_json::from_slice(file("access-log/page-0001.json")).unwrap();
    let newest = &log["records"][0];
    assert_eq!(
        (
            &newest["id"],
            &newest["kind"],
            &newest["requester"],
            &newest["licences"]
        ),
        (
            &ticket["accessRecord"],
            &json!("export"),
            &json!(""),
            &json!([])
        )
    );
    assert_eq!(log["records"][1]["kind"], "pull");

    // The manifest: signed by the vault, every other file with its digest.
    let manifest: Value = serde_json::from_slice(file("manifest.json")).unwrap();
    let subject = &manifest["credentialSubject"];
    assert_eq!(
        (
            &subject["export"],
            &subject["accessRecord"],
            &subject["holder"]
        ),
        (
            &ticket["id"],
            &ticket["accessRecord"],
            &json!({"codeType": "001", "code": COMPANY})
        )
    );
    assert_eq!(subject["files"].as_array().unwrap().len(), files.len() - 1);
    // The public log's checkpoint the export was made at: what the log serves everyone.
    let (s, served) = get_bytes(&app, "/log/public/checkpoint", &h, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        subject["checkpoint"],
        json!(String::from_utf8(served).unwrap())
    );
    let keys = VaultKeys::trusting([app.vault.did_key().clone()]);
    let by_path: BTreeMap<String, Vec<u8>> = files.iter().cloned().collect();
    let v = export_manifest::check_archive(&by_path, Some(&keys), chrono::Utc::now()).unwrap();
    assert!(v.valid, "{v:?}");

    // Offline, with the CLI: valid; one byte changed in one file and it names that file.
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_file(dir.path(), &app.vault.did_key());
    let good = dir.path().join("export.tar");
    std::fs::write(&good, &tar).unwrap();
    let (code, verdict) = cli(&[
        "verify",
        "--in",
        good.to_str().unwrap(),
        "--registry",
        &registry,
    ]);
    assert_eq!(code, Some(0), "{verdict}");
    assert_eq!(
        check(&verdict, "integrity")["detail"],
        json!(format!("{} files match the manifest", files.len() - 1))
    );
    let at = find(&tar, br#""consents":["#).unwrap() + 3;
    let mut bad = tar.clone();
    bad[at] ^= 0x01;
    let changed = dir.path().join("changed.tar");
    std::fs::write(&changed, &bad).unwrap();
    let (code, verdict) = cli(&[
        "verify",
        "--in",
        changed.to_str().unwrap(),
        "--registry",
        &registry,
    ]);
    assert_eq!(code, Some(1), "{verdict}");
    assert_eq!(
        (
            &check(&verdict, "integrity")["ok"],
            &check(&verdict, "integrity")["code"]
        ),
        (&json!(false), &json!("integrity_failure"))
    );
    assert!(check(&verdict, "integrity")["detail"]
        .as_str()
        .unwrap()
        .starts_with("consents/page-0001.json: "));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn only_the_person_who_made_an_export_downloads_it() {
    let app = TestApp::new();
    let (status, ticket) = app
        .post(
            "/v1/me/exports",
            Some(&app.tokens.holder_company),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let href = ticket["href"].as_str().unwrap();
    let absent = "/v1/me/exports/exp_0000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (path, token) in [
        (href, &app.tokens.holder_other),
        (absent, &app.tokens.holder_company),
    ] {
        let (status, body) = app.get(path, Some(token)).await;
        assert_eq!(
            (status, code(&body), body["error"]["message"].as_str()),
            (StatusCode::NOT_FOUND, "not_found", Some("no such export")),
            "{path}"
        );
    }
    app.assert_refused(
        &Method::GET,
        href,
        None,
        &[None, Some("nope")],
        &[&app.tokens.requester],
    )
    .await;
}

#[tokio::test]
async fn a_delegates_export_holds_its_scope_and_names_the_delegate() {
    let app = TestApp::new();
    app.deposit(&sign(&business_licence("E0001", COMPANY), "scjgj"))
        .await;
    let company = format!("001:{COMPANY}");
    let staff = format!("111:{}", citizen(3));
    let staff_token = token(&app.vault, &Principal::Holder(staff.parse().unwrap()));
    let (s, d) = app
        .post(
            "/v1/me/delegations",
            Some(&app.tokens.holder_company),
            json!({"delegate": staff, "delegateName": "陈办事", "scope": [NEW_FOOD],
                   "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    // The company's consent for another matter is outside the delegate's scope.
    let (s, c) = app
        .post(
            "/v1/me/consents",
            Some(&app.tokens.holder_company),
            json!({"requester": "fz-scjg-xk", "matter": RENEW_FOOD, "purpose": "延续",
                   "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");

    let (_, files, _) = export(&app, &staff_token, Some(&company)).await;
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    // Presentation codes are the company's own (a delegate may not read them): left out.
    assert!(
        !paths.contains(&"presentations/page-0001.json"),
        "{paths:?}"
    );
    let file = |path: &str| &files.iter().find(|(p, _)| p == path).unwrap().1;
    let consents: Value = serde_json::from_slice(file("consents/page-0001.json")).unwrap();
    assert_eq!(consents["consents"], json!([]));
    // The manifest and the company's access log name the delegate, masked alike.
    let masked = json!(format!(
        "111:{}*************{}",
        &citizen(3)[..3],
        &citizen(3)[16..]
    ));
    let manifest: Value = serde_json::from_slice(file("manifest.json")).unwrap();
    assert_eq!(manifest["credentialSubject"]["actedBy"], masked);
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        (&log["records"][0]["kind"], &log["records"][0]["actedBy"]),
        (&json!("export"), &masked)
    );
}

#[tokio::test]
async fn a_large_holders_export_follows_every_page_of_every_feed() {
    let app = TestApp::new();
    app.deposit(&read_json("fixtures/licences/29-yyzz-minwei.json"))
        .await;
    let h = app.tokens.holder_company.clone();
    let (s, c) = app
        .post(
            "/v1/me/consents",
            Some(&h),
            json!({"requester": "fz-scjg-xk", "matter": NEW_FOOD, "purpose": "新办",
                   "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    for _ in 0..205 {
        let (s, p) = app
            .post(
                "/v1/reuse",
                Some(&app.tokens.requester),
                json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "受理"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
    }
    let (_, files, _) = export(&app, &h, None).await;
    let log: Vec<&(String, Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("access-log/"))
        .collect();
    assert_eq!(
        log.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["access-log/page-0001.json", "access-log/page-0002.json"]
    );
    // The second file is the API's second page, byte for byte: 205 pulls and the export.
    let first: Value = serde_json::from_slice(&log[0].1).unwrap();
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = get_bytes(
        &app,
        &format!("/v1/me/access-log?limit=200&cursor={cursor}"),
        &h,
        None,
    )
    .await;
    assert_eq!(log[1].1, second);
    let second: Value = serde_json::from_slice(&second).unwrap();
    assert_eq!(
        first["records"].as_array().unwrap().len() + second["records"].as_array().unwrap().len(),
        206
    );
}
