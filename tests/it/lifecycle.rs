//! Licence and key lifecycle (SPEC §5 keys, §6): status statements and their transitions, version
//! chains, key retirement and compromise judged by deposit time, status lists and offline/online
//! verification, expiry.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use licence_vault::codes::LicenceId;
use licence_vault::keys::Signer;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn legal_transitions_are_kept_in_order_and_shown_with_reasons() {
    let app = TestApp::new();
    let doc = sign(&business_licence("L0001", COMPANY), "scjgj");
    app.deposit(&doc).await;

    let (status, body) = post_status(
        &app,
        &doc,
        signed_statement(&doc, "suspended", "经营异常，责令整改", "scjgj"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "suspended");
    let (_, view) = app
        .get(&licence_path(&doc), Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        (view["status"].as_str(), view["statusReason"].as_str()),
        (Some("suspended"), Some("经营异常，责令整改"))
    );
    assert_eq!(view["verdict"]["valid"], false);
    let st = check(&view["verdict"], "status").clone();
    assert_eq!(st["code"], "suspended");
    assert!(
        st["detail"]
            .as_str()
            .unwrap()
            .ends_with(": 经营异常，责令整改"),
        "{st}"
    );

    let reinstate = signed_statement(&doc, "active", "整改完成，恢复", "scjgj");
    let (status, _) = post_status(&app, &doc, reinstate.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    // The same statement again is idempotent.
    let (status, body) = post_status(&app, &doc, reinstate).await;
    assert_eq!(
        (status, body["history"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    let (_, view) = app.get(&licence_path(&doc), Some(&app.tokens.market)).await;
    assert_eq!(
        (view["status"].as_str(), view["verdict"]["valid"].as_bool()),
        (Some("active"), Some(true))
    );

    let (status, _) = post_status(
        &app,
        &doc,
        signed_statement(&doc, "revoked", "以欺骗手段取得登记", "scjgj"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = app
        .get("/v1/me/licences", Some(&app.tokens.holder_company))
        .await;
    let l = &mine["licences"][0];
    assert_eq!(
        (l["status"].as_str(), l["statusReason"].as_str()),
        (Some("revoked"), Some("以欺骗手段取得登记"))
    );
    let reasons: Vec<&str> = l["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["statement"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["经营异常，责令整改", "整改完成，恢复", "以欺骗手段取得登记"]
    );

    // Nothing may follow a revocation.
    for next in ["active", "suspended", "cancelled", "revoked"] {
        let (status, body) = post_status(
            &app,
            &doc,
            signed_statement(&doc, next, "再次变更", "scjgj"),
        )
        .await;
        assert_eq!(
            (status, code(&body), body["error"]["field"].as_str()),
            (StatusCode::CONFLICT, "invalid_transition", Some("$.status")),
            "{next}"
        );
    }
}

#[tokio::test]
async fn every_transition_from_active_suspended_and_cancelled() {
    let app = TestApp::new();
    let cases: &[(&[&str], &str, bool)] = &[
        (&[], "active", false),
        (&[], "suspended", true),
        (&[], "revoked", true),
        (&[], "cancelled", true),
        (&["suspended"], "suspended", false),
        (&["suspended"], "active", true),
        (&["suspended"], "revoked", true),
        (&["suspended"], "cancelled", true),
        (&["cancelled"], "active", false),
        (&["cancelled"], "suspended", false),
        (&["cancelled"], "revoked", false),
        (&["cancelled"], "cancelled", false),
    ];
    for (n, (before, next, legal)) in cases.iter().enumerate() {
        let doc = sign(&business_licence(&format!("T{n:04}"), COMPANY), "scjgj");
        app.deposit(&doc).await;
        for b in *before {
            assert_eq!(
                post_status(&app, &doc, signed_statement(&doc, b, "准备", "scjgj"))
                    .await
                    .0,
                StatusCode::CREATED
            );
        }
        let (status, body) =
            post_status(&app, &doc, signed_statement(&doc, next, "变更", "scjgj")).await;
        if *legal {
            assert_eq!(status, StatusCode::CREATED, "{before:?} -> {next}: {body}");
        } else {
            assert_eq!(
                (status, code(&body)),
                (StatusCode::CONFLICT, "invalid_transition"),
                "{before:?} -> {next}"
            );
        }
    }
}

#[tokio::test]
async fn statements_are_checked_like_licences() {
    let app = TestApp::new();
    let doc = sign(&business_licence("L0002", COMPANY), "scjgj");
    app.deposit(&doc).await;
    let p = format!("{}/status", licence_path(&doc));
    let st = signed_statement(&doc, "revoked", "测试", "scjgj");
    let cases: Vec<(Option<&str>, Value, StatusCode, &str)> = vec![
        (None, st.clone(), StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            Some(&app.tokens.admin),
            st.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(&app.tokens.holder_company),
            st.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(&app.tokens.requester),
            st.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Another agency's token may not change this licence.
        (
            Some(&app.tokens.police),
            st.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Signed by the wrong agency's key.
        (
            Some(&app.tokens.market),
            signed_statement(&doc, "revoked", "测试", "gaj"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "issuer_mismatch",
        ),
        (
            Some(&app.tokens.market),
            signed_statement(&doc, "revoked", "测试", "rogue"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_key",
        ),
        (
            Some(&app.tokens.market),
            signed_statement(&doc, "revoked", "测试", "scjgj-2019"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key_not_active",
        ),
        (
            Some(&app.tokens.market),
            statement(&doc, "revoked", "测试", "2026-01-01T00:00:00Z"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_signature",
        ),
        (
            Some(&app.tokens.market),
            sign(
                &statement(&doc, "revoked", "测试", "2099-01-01T00:00:00Z"),
                "scjgj",
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some(&app.tokens.market),
            sign(
                &statement(&doc, "expired", "测试", "2026-01-01T00:00:00Z"),
                "scjgj",
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some(&app.tokens.market),
            sign(
                &statement(&doc, "revoked", " ", "2026-01-01T00:00:00Z"),
                "scjgj",
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (token, body, status, reason) in cases {
        let (s, b) = app.post(&p, token, body).await;
        assert_eq!((s, code(&b)), (status, reason), "{b}");
    }
    let mut tampered = st.clone();
    tampered["reason"] = json!("改过的理由");
    let (s, b) = app.post(&p, Some(&app.tokens.market), tampered).await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "bad_signature")
    );
    // A statement about another licence, posted under this one.
    let other = sign(&business_licence("L0003", COMPANY), "scjgj");
    let (s, b) = app
        .post(
            &p,
            Some(&app.tokens.market),
            signed_statement(&other, "revoked", "测试", "scjgj"),
        )
        .await;
    assert_eq!(
        (s, code(&b), b["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("$.licence")
        )
    );
    // An absent licence.
    let (s, b) = app
        .post(
            &format!("{}/status", licence_path(&other)),
            Some(&app.tokens.market),
            signed_statement(&other, "revoked", "测试", "scjgj"),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, view) = app.get(&licence_path(&doc), Some(&app.tokens.market)).await;
    assert_eq!(
        (
            view["status"].as_str(),
            view["statusHistory"].as_array().unwrap().len()
        ),
        (Some("active"), 0)
    );
}

#[tokio::test]
async fn renewal_supersedes_the_predecessor_and_chains_versions() {
    let app = TestApp::new();
    let v1 = sign(&business_licence("R0001", COMPANY), "scjgj");
    app.deposit(&v1).await;
    let id1 = LicenceId::from_urn_or_bare(v1["id"].as_str().unwrap()).unwrap();
    let unsigned_renewal = |predecessor: Option<&str>, version: u16| {
        let mut d = business_licence("R0001", COMPANY);
        d["id"] = json!(id1.with_version(version).unwrap().urn());
        d["credentialSubject"]["licence"]["version"] = json!(format!("{version:03}"));
        if let Some(p) = predecessor {
            d["credentialSubject"]["licence"]["predecessor"] = json!(p);
        }
        d
    };
    let renewal = |predecessor: Option<&str>, version: u16| {
        sign(&unsigned_renewal(predecessor, version), "scjgj")
    };
    // Missing, wrong and absent predecessors are refused.
    for (doc, message) in [
        (renewal(None, 2), "must be"),
        (
            renewal(Some(&id1.with_version(3).unwrap().urn()), 2),
            "must be",
        ),
        (
            renewal(Some(&id1.with_version(2).unwrap().urn()), 3),
            "is not in the vault",
        ),
    ] {
        let (s, b) = app
            .post("/v1/licences", Some(&app.tokens.market), doc)
            .await;
        assert_eq!(
            (s, code(&b), b["error"]["field"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                "invalid_identifier",
                Some("$.credentialSubject.licence.predecessor")
            ),
            "{b}"
        );
        assert!(
            b["error"]["message"].as_str().unwrap().contains(message),
            "{b}"
        );
    }
    let v2 = renewal(Some(v1["id"].as_str().unwrap()), 2);
    app.deposit(&v2).await;
    let (_, old) = app.get(&licence_path(&v1), Some(&app.tokens.market)).await;
    assert_eq!(
        (old["status"].as_str(), old["supersededBy"].as_str()),
        (Some("superseded"), v2["id"].as_str())
    );
    assert_eq!(old["verdict"]["valid"], false);
    let (_, new) = app
        .get(&licence_path(&v2), Some(&app.tokens.holder_company))
        .await;
    assert_eq!(new["verdict"]["valid"], true);
    assert_eq!(new["versions"], json!([v1["id"], v2["id"]]));
    assert_eq!(old["versions"], new["versions"]);
    // A second renewal of the same version is a conflict.
    let mut other_v2 = unsigned_renewal(Some(v1["id"].as_str().unwrap()), 2);
    other_v2["credentialSubject"]["licence"]["number"] = json!("OTHER");
    let (s, b) = app
        .post(
            "/v1/licences",
            Some(&app.tokens.market),
            sign(&other_v2, "scjgj"),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
}

/// Adds a fresh key to the police and returns it.
async fn add_police_key(app: &TestApp) -> Signer {
    let k = Signer::generate();
    let (s, b) = app
        .post(
            &format!("/v1/admin/agencies/{POLICE}/keys"),
            Some(&app.tokens.admin),
            json!({"didKey": k.did_key().as_str(), "activeFrom": "2024-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    k
}

fn police_doc(serial: &str, n: u32, k: &Signer, created: &str) -> Value {
    licence_vault::proof::sign(id_card(serial, &citizen(n)), k, time(created)).unwrap()
}

#[tokio::test]
async fn compromise_is_judged_by_the_vaults_deposit_time() {
    let app = TestApp::new();
    let k = add_police_key(&app).await;
    let before = police_doc("K0001", 1, &k, "2024-06-01T00:00:00Z");
    let (s, before_receipt) = app
        .post("/v1/licences", Some(&app.tokens.police), before.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let at = licence_vault::proof::format_time(Utc::now());
    let (s, agency) = app
        .post(
            &format!(
                "/v1/admin/agencies/{POLICE}/keys/{}/compromise",
                k.did_key()
            ),
            Some(&app.tokens.admin),
            json!({"at": at}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(agency["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["compromisedAt"].is_string()));
    // Claims to be old, but the vault first sees it after the compromise.
    let after = police_doc("K0002", 2, &k, "2024-06-01T00:00:00Z");
    let (s, b) = app
        .post("/v1/licences", Some(&app.tokens.police), after.clone())
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "key_compromised")
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("compromised"),
        "{b}"
    );
    // The licence deposited before the compromise stays valid, and the verdict says why.
    let holder = token(
        &app.vault,
        &licence_vault::auth::Principal::Holder(format!("111:{}", citizen(1)).parse().unwrap()),
    );
    let (_, view) = app.get(&licence_path(&before), Some(&holder)).await;
    assert_eq!(view["verdict"]["valid"], true, "{view}");
    let kc = check(&view["verdict"], "issuer_key").clone();
    assert!(
        kc["detail"]
            .as_str()
            .unwrap()
            .contains(k.did_key().as_str()),
        "{kc}"
    );
    // Presented outside the vault, nothing proves it predates the compromise — unless it is the deposited one.
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.requester), before.clone())
        .await;
    assert_eq!(v["valid"], true);
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.requester), after)
        .await;
    assert_eq!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["ok"] == false)
            .unwrap()["code"],
        "key_compromised"
    );

    // Offline, the vault's receipt is the evidence of the deposit time.
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, v: &Value| write_json(dir.path(), name, v);
    let (_, catalogue) = app.get("/v1/catalogue", None).await;
    let types: Vec<Value> = catalogue["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.as_object_mut().unwrap().remove("matters");
            t
        })
        .collect();
    let registry = save(
        "registry.json",
        &json!({"types": types, "agencies": [agency], "vaultKeys": [app.vault.did_key().as_str()]}),
    );
    let doc = save("before.json", &before);
    let receipt = save("receipt.json", &before_receipt);
    let (code_, v) = cli(&[
        "verify",
        "--offline",
        "--in",
        &doc,
        "--registry",
        &registry,
        "--receipt",
        &receipt,
    ]);
    assert_eq!(code_, Some(0), "{v}");
    let kc = check(&v, "issuer_key").clone();
    assert!(kc["detail"].as_str().unwrap().contains("deposited"), "{kc}");
    let (code_, v) = cli(&["verify", "--offline", "--in", &doc, "--registry", &registry]);
    assert_eq!(code_, Some(1));
    assert_eq!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["ok"] == false)
            .unwrap()["code"],
        "key_compromised"
    );
    // A receipt for other content proves nothing.
    let mut other_receipt = before_receipt.clone();
    other_receipt["credentialSubject"]["sha256"] = json!("00");
    let other = save("other-receipt.json", &other_receipt);
    let (code_, v) = cli(&[
        "verify",
        "--offline",
        "--in",
        &doc,
        "--registry",
        &registry,
        "--receipt",
        &other,
    ]);
    assert_eq!(code_, Some(1));
    assert_eq!(check(&v, "integrity")["code"], "bad_signature");
}

#[tokio::test]
async fn a_revoked_or_suspended_licence_cannot_be_renewed() {
    let app = TestApp::new();
    for (serial, status) in [
        ("RV001", "revoked"),
        ("RV002", "suspended"),
        ("RV003", "cancelled"),
    ] {
        let v1 = sign(&business_licence(serial, COMPANY), "scjgj");
        app.deposit(&v1).await;
        assert_eq!(
            post_status(&app, &v1, signed_statement(&v1, status, "处罚", "scjgj"))
                .await
                .0,
            StatusCode::CREATED
        );
        let id1 = LicenceId::from_urn_or_bare(v1["id"].as_str().unwrap()).unwrap();
        let mut v2 = business_licence(serial, COMPANY);
        v2["id"] = json!(id1.with_version(2).unwrap().urn());
        v2["credentialSubject"]["licence"]["version"] = json!("002");
        v2["credentialSubject"]["licence"]["predecessor"] = v1["id"].clone();
        let (s, b) = app
            .post("/v1/licences", Some(&app.tokens.market), sign(&v2, "scjgj"))
            .await;
        assert_eq!(
            (s, code(&b), b["error"]["field"].as_str()),
            (
                StatusCode::CONFLICT,
                "invalid_transition",
                Some("$.credentialSubject.licence.predecessor")
            ),
            "{status}"
        );
        let (_, old) = app.get(&licence_path(&v1), Some(&app.tokens.market)).await;
        assert_eq!(old["status"], status);
    }
}

#[tokio::test]
async fn a_retired_key_keeps_old_licences_valid_and_signs_no_new_ones() {
    let app = TestApp::new();
    let k = add_police_key(&app).await;
    let old = police_doc("K0003", 3, &k, "2024-06-01T00:00:00Z");
    assert_eq!(
        app.post("/v1/licences", Some(&app.tokens.police), old.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    let at = licence_vault::proof::format_time(Utc::now());
    let (s, _) = app
        .post(
            &format!("/v1/admin/agencies/{POLICE}/keys/{}/retire", k.did_key()),
            Some(&app.tokens.admin),
            json!({"at": at}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let new = police_doc("K0004", 4, &k, "2024-06-01T00:00:00Z");
    let (s, b) = app
        .post("/v1/licences", Some(&app.tokens.police), new)
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "key_not_active")
    );
    assert!(
        b["error"]["message"].as_str().unwrap().contains("retired"),
        "{b}"
    );
    let (_, view) = app.get(&licence_path(&old), Some(&app.tokens.police)).await;
    assert_eq!(view["verdict"]["valid"], true);
    // The current police key still works.
    let fresh = sign(&id_card("K0005", &citizen(5)), "gaj");
    assert_eq!(
        app.post("/v1/licences", Some(&app.tokens.police), fresh)
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn expiry_flips_at_valid_until() {
    let app = TestApp::new();
    let doc = sign(&business_licence("E0001", COMPANY), "scjgj");
    app.deposit(&doc).await;
    let id = LicenceId::from_urn_or_bare(doc["id"].as_str().unwrap()).unwrap();
    let until = time(doc["validUntil"].as_str().unwrap());
    let just_before = app
        .vault
        .extract(&id, until - Duration::seconds(1))
        .unwrap()
        .unwrap();
    assert!(just_before.verdict.valid);
    let at = app.vault.extract(&id, until).unwrap().unwrap();
    assert_eq!(
        at.verdict.reason(),
        Some(licence_vault::verdict::Reason::Expired)
    );
    let validity = at
        .verdict
        .check(licence_vault::verdict::CheckName::Validity)
        .unwrap();
    assert_eq!(
        validity.detail.as_deref(),
        Some("expired 2044-02-29T23:59:59Z")
    );
}

// ----- status lists --------------------------------------------------------------------------

fn entry<'a>(receipt: &'a Value, purpose: &str) -> &'a Value {
    receipt["credentialStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["statusPurpose"] == purpose)
        .unwrap()
}

fn bit(list: &Value, index: &str) -> bool {
    let bits = licence_vault::lifecycle::decode_list(
        list["credentialSubject"]["encodedList"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(bits.len(), 131_072 / 8);
    licence_vault::lifecycle::get_bit(&bits, index.parse().unwrap()).unwrap()
}

fn list_path(url: &str) -> &str {
    &url[url.find("/v1/").unwrap()..]
}

#[tokio::test]
async fn status_list_bits_flip_with_statements() {
    let app = TestApp::new();
    let first = sign(&business_licence("S0001", COMPANY), "scjgj");
    let doc = sign(&business_licence("S0002", COMPANY), "scjgj");
    let r1 = app.deposit(&first).await;
    let receipt = app.deposit(&doc).await;
    assert_eq!(entry(&r1, "revocation")["statusListIndex"], "0");
    let rev = entry(&receipt, "revocation").clone();
    let sus = entry(&receipt, "suspension").clone();
    assert_eq!(
        (rev["statusListIndex"].as_str(), rev["type"].as_str()),
        (Some("1"), Some("BitstringStatusListEntry"))
    );
    assert_eq!(
        rev["statusListCredential"],
        format!("http://127.0.0.1:8080/v1/status-lists/{MARKET}/revocation/0")
    );
    let fetch = |url: String| {
        let app = &app;
        async move {
            let (s, list) = app.get(list_path(&url), None).await;
            assert_eq!(s, StatusCode::OK, "{list}");
            let v = licence_vault::verify::document(
                &list,
                Some(&app.vault.key_history().unwrap()),
                Utc::now(),
            );
            assert!(v.valid, "{v:?}");
            assert_eq!(list["id"], url.as_str());
            list
        }
    };
    let rev_url = rev["statusListCredential"].as_str().unwrap().to_owned();
    let sus_url = sus["statusListCredential"].as_str().unwrap().to_owned();
    assert!(!bit(&fetch(rev_url.clone()).await, "1"));
    post_status(
        &app,
        &doc,
        signed_statement(&doc, "suspended", "暂扣", "scjgj"),
    )
    .await;
    assert!(bit(&fetch(sus_url.clone()).await, "1"));
    assert!(!bit(&fetch(rev_url.clone()).await, "1"));
    post_status(
        &app,
        &doc,
        signed_statement(&doc, "active", "恢复", "scjgj"),
    )
    .await;
    assert!(!bit(&fetch(sus_url.clone()).await, "1"));
    post_status(
        &app,
        &doc,
        signed_statement(&doc, "revoked", "吊销", "scjgj"),
    )
    .await;
    let list = fetch(rev_url).await;
    assert!(bit(&list, "1"));
    assert!(!bit(&list, "0"), "other licences are untouched");

    let (s, b) = app
        .get(&format!("/v1/status-lists/{MARKET}/revocation/1"), None)
        .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, b) = app
        .get(&format!("/v1/status-lists/{MARKET}/expiry/0"), None)
        .await;
    assert_eq!(
        (s, code(&b), b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request", Some("purpose"))
    );
    let (s, b) = app
        .get("/v1/status-lists/91350100M000100Y43/revocation/0", None)
        .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn offline_verify_uses_a_saved_status_list() {
    let app = TestApp::new();
    let dir = tempfile::tempdir().unwrap();
    let doc = sign(&business_licence("O0001", COMPANY), "scjgj");
    let receipt = app.deposit(&doc).await;
    let save = |name: &str, v: &Value| write_json(dir.path(), name, v);
    let registry = registry_file(dir.path(), &app.vault.did_key());
    let (doc_p, receipt_p) = (save("licence.json", &doc), save("receipt.json", &receipt));
    let rev_url = entry(&receipt, "revocation")["statusListCredential"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = save("before.json", &app.get(list_path(&rev_url), None).await.1);

    let (code_, v) = cli(&[
        "verify",
        "--offline",
        "--in",
        &doc_p,
        "--registry",
        &registry,
        "--receipt",
        &receipt_p,
        "--status",
        &before,
    ]);
    assert_eq!(code_, Some(0), "{v}");
    assert_eq!(check(&v, "status")["ok"], true);
    // Without a list, the status is not checked (and not passed).
    let (code_, v) = cli(&[
        "verify",
        "--offline",
        "--in",
        &doc_p,
        "--registry",
        &registry,
        "--receipt",
        &receipt_p,
    ]);
    assert_eq!(
        (code_, check(&v, "status")["ok"].clone()),
        (Some(0), Value::Null)
    );

    post_status(
        &app,
        &doc,
        signed_statement(&doc, "revoked", "吊销", "scjgj"),
    )
    .await;
    let after = save("after.json", &app.get(list_path(&rev_url), None).await.1);
    let (code_, v) = cli(&[
        "verify",
        "--offline",
        "--in",
        &doc_p,
        "--registry",
        &registry,
        "--receipt",
        &receipt_p,
        "--status",
        &after,
    ]);
    assert_eq!(code_, Some(1));
    assert_eq!(check(&v, "status")["code"], "revoked");
    // A forged list (bit flipped back, signature now wrong) is not believed.
    let mut forged: Value = licence_vault::jcs::parse(&std::fs::read(&before).unwrap()).unwrap();
    forged["validFrom"] = json!("2030-01-01T00:00:00Z");
    let forged = save("forged.json", &forged);
    let (code_, v) = cli(&[
        "verify",
        "--offline",
        "--in",
        &doc_p,
        "--registry",
        &registry,
        "--receipt",
        &receipt_p,
        "--status",
        &forged,
    ]);
    assert_eq!(
        (code_, check(&v, "status")["code"].as_str()),
        (Some(1), Some("bad_signature"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_verify_fetches_keys_and_status_from_a_running_vault() {
    let (app, base, server) = TestApp::served().await;
    let dir = tempfile::tempdir().unwrap();
    let doc = sign(&business_licence("N0001", COMPANY), "scjgj");
    let receipt = app.deposit(&doc).await;
    let args = vec![
        "verify".to_owned(),
        "--in".into(),
        write_json(dir.path(), "licence.json", &doc),
        "--vault".into(),
        base.clone(),
        "--receipt".into(),
        write_json(dir.path(), "receipt.json", &receipt),
    ];
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let (code_, v) = run(args.clone()).await.unwrap();
    assert_eq!(code_, Some(0), "{v}");
    for name in ["schema", "issuer_key", "issuer", "status"] {
        let c = check(&v, name);
        assert_eq!(c["ok"], true, "{name}: {c}");
    }
    post_status(
        &app,
        &doc,
        signed_statement(&doc, "suspended", "暂扣", "scjgj"),
    )
    .await;
    let (code_, v) = run(args).await.unwrap();
    assert_eq!(
        (code_, check(&v, "status")["code"].as_str()),
        (Some(1), Some("suspended"))
    );
    server.abort();
}
