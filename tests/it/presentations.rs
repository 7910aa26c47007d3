//! Presentation codes (亮证, SPEC §11): made by the holder for one licence, redeemed once by a
//! requester with a fresh verdict, dead after use, expiry or cancellation, and an in-person entry
//! in the holder's access log.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use licence_vault::codes::{HolderCode, LicenceId};
use licence_vault::reuse::delegation::Acting;
use licence_vault::vault::VaultError;
use licence_vault::verdict::Reason;
use serde_json::{json, Value};

use crate::support::*;

async fn make(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post(
        "/v1/me/presentations",
        Some(&app.tokens.holder_company),
        body,
    )
    .await
}

async fn redeem(app: &TestApp, code: &str) -> (StatusCode, Value) {
    app.post(
        "/v1/presentations:redeem",
        Some(&app.tokens.requester),
        json!({"code": code}),
    )
    .await
}

fn company() -> HolderCode {
    format!("001:{COMPANY}").parse().unwrap()
}

/// A vault holding COMPANY's business licence, and the licence.
async fn with_licence() -> (TestApp, Value) {
    let app = TestApp::new();
    let licence = sign(&business_licence("P0001", COMPANY), "scjgj");
    app.deposit(&licence).await;
    (app, licence)
}

#[tokio::test]
async fn a_code_shows_the_licence_once_and_is_logged_in_person() {
    let (app, licence) = with_licence().await;
    let (status, p) = make(&app, json!({"licence": licence["id"], "validFor": 300})).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let code = p["code"].as_str().unwrap().to_owned();
    assert_eq!(
        code.len(),
        39,
        "32 base32 characters in groups of four: {code}"
    );
    assert_eq!(
        p["url"],
        format!(
            "{}/verify#code={code}",
            licence_vault::vault::DEFAULT_PUBLIC_URL
        )
    );
    let svg = p["qrSvg"].as_str().unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    assert_eq!(
        (&p["state"], &p["stateNow"]),
        (&json!("pending"), &json!("pending"))
    );
    let expires = time(p["expiresAt"].as_str().unwrap()) - time(p["createdAt"].as_str().unwrap());
    assert_eq!(expires, Duration::seconds(300));

    // Typed in lower case without dashes, it is the same code.
    let typed = code.replace('-', "").to_lowercase();
    let (status, r) = redeem(&app, &typed).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["document"], licence, "the stored licence itself");
    assert_eq!(r["verdict"]["valid"], true);
    assert_eq!(r["licence"], licence["id"]);
    assert_eq!(r["type"], BUSINESS_LICENCE);
    assert!(r.get("fields").is_none());

    // A second redemption: refused, and nothing of the licence leaves.
    let (status, again) = redeem(&app, &code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        again,
        json!({"error": {"code": "presentation_used", "field": "$.code",
                         "message": "this code was redeemed already; ask the holder for a new one"}})
    );

    // The holder's log: one in-person entry naming the requester and the code.
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{log}");
    let rec = &records[0];
    assert_eq!(
        (
            &rec["kind"],
            &rec["requester"],
            &rec["presentation"],
            &rec["id"]
        ),
        (
            &json!("in_person"),
            &json!("fz-scjg-xk"),
            &p["id"],
            &r["accessRecord"]
        )
    );
    assert_eq!(rec["outcomes"][0]["outcome"], "provided");
    assert_eq!(rec["licences"], json!([licence["id"]]));

    let (_, list) = app
        .get("/v1/me/presentations", Some(&app.tokens.holder_company))
        .await;
    let shown = &list["presentations"][0];
    assert_eq!(
        (
            &shown["stateNow"],
            &shown["redeemedBy"],
            &shown["accessRecord"]
        ),
        (&json!("redeemed"), &json!("fz-scjg-xk"), &r["accessRecord"])
    );
    assert!(
        shown.get("code").is_none(),
        "the code is never kept: {shown}"
    );
}

#[tokio::test]
async fn a_code_for_some_fields_shows_only_those() {
    let (app, licence) = with_licence().await;
    let (status, p) = make(
        &app,
        json!({"licence": licence["id"], "fields": ["名称", "住所"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, r) = redeem(&app, p["code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let face = &licence["credentialSubject"]["licence"]["fields"];
    assert_eq!(
        r["fields"],
        json!({"名称": face["名称"], "住所": face["住所"]})
    );
    assert!(r.get("document").is_none());
    let text = r.to_string();
    for hidden in ["法定代表人", "林晓燕", "经营范围", "注册资本万元"] {
        assert!(!text.contains(hidden), "{hidden} left: {text}");
    }
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        log["records"][0]["outcomes"][0]["disclosed"],
        json!(["名称", "住所"])
    );
}

#[tokio::test]
async fn codes_die_when_expired_or_cancelled_and_refuse_the_wrong_callers() {
    let (app, licence) = with_licence().await;
    let id = LicenceId::from_urn_or_bare(licence["id"].as_str().unwrap()).unwrap();
    let now = Utc::now();

    // Expiry at its boundary: redeemable a millisecond before, not at the instant.
    let new = app
        .vault
        .create_presentation(&Acting::own(company()), &id, None, Some(60), now)
        .unwrap();
    let at = now + Duration::seconds(60);
    let refused = |r: Result<_, VaultError>| match r {
        Err(VaultError::Rejected(e)) => e.reason,
        other => panic!("{:?}", other.map(|_: licence_vault::vault::Redeemed| ())),
    };
    assert_eq!(
        refused(app.vault.redeem_presentation("fz-scjg-xk", &new.code, at)),
        Reason::PresentationExpired
    );
    let ok = app
        .vault
        .redeem_presentation("fz-scjg-xk", &new.code, at - Duration::milliseconds(1));
    assert!(ok.is_ok());

    // Cancelled: refused with its reason; cancelling again says why not.
    let (_, p) = make(&app, json!({"licence": licence["id"]})).await;
    let path = format!("/v1/me/presentations/{}", p["id"].as_str().unwrap());
    let (status, c) = app
        .call(
            axum::http::Method::DELETE,
            &path,
            Some(&app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(
        (status, &c["stateNow"]),
        (StatusCode::OK, &json!("cancelled")),
        "{c}"
    );
    let (status, body) = redeem(&app, p["code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("presentation_cancelled"))
    );
    let (status, body) = app
        .call(
            axum::http::Method::DELETE,
            &path,
            Some(&app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (
            StatusCode::CONFLICT,
            Some("presentation_cancelled"),
            Some("id")
        )
    );
    // Another holder cannot cancel it, nor see it.
    let (status, _) = app
        .call(
            axum::http::Method::DELETE,
            &path,
            Some(&app.tokens.holder_other),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A holder token cannot redeem; an unknown or malformed code is simply not found.
    let (_, p) = make(&app, json!({"licence": licence["id"]})).await;
    let code = p["code"].as_str().unwrap();
    let (status, _) = app
        .post(
            "/v1/presentations:redeem",
            Some(&app.tokens.holder_company),
            json!({"code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for unknown in ["AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", "not a code"] {
        let (status, body) = redeem(&app, unknown).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{unknown}"
        );
    }
    // The code refused to the holder token is still good.
    assert_eq!(redeem(&app, code).await.0, StatusCode::OK);

    // Making one: only for one's own licence, a lifetime of at most 300 s, fields on the face.
    let other = sign(&business_licence("P0002", OTHER_COMPANY), "scjgj");
    app.deposit(&other).await;
    for (body, status, field) in [
        (
            json!({"licence": other["id"]}),
            StatusCode::NOT_FOUND,
            "$.licence",
        ),
        (
            json!({"licence": licence["id"], "validFor": 301}),
            StatusCode::BAD_REQUEST,
            "$.validFor",
        ),
        (
            json!({"licence": licence["id"], "fields": ["无此项"]}),
            StatusCode::BAD_REQUEST,
            "$.fields[0]",
        ),
        (
            json!({"licence": "urn:x"}),
            StatusCode::BAD_REQUEST,
            "$.licence",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "$.licence"),
    ] {
        let (got, err) = make(&app, body.clone()).await;
        assert_eq!(
            (got, err["error"]["field"].as_str()),
            (status, Some(field)),
            "{body} → {err}"
        );
    }
}

#[tokio::test]
async fn racing_redemptions_show_the_licence_once() {
    let (app, licence) = with_licence().await;
    let id = LicenceId::from_urn_or_bare(licence["id"].as_str().unwrap()).unwrap();
    let new = app
        .vault
        .create_presentation(&Acting::own(company()), &id, None, None, Utc::now())
        .unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    app.vault
                        .redeem_presentation("fz-scjg-xk", &new.code, Utc::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(VaultError::Rejected(e)) => assert_eq!(e.reason, Reason::PresentationUsed),
            Err(e) => panic!("{e:?}"),
            Ok(_) => unreachable!(),
        }
    }
    let log = app.vault.access_log(&company(), 50, None).unwrap();
    assert_eq!(log.records.len(), 1);
}

#[tokio::test]
async fn a_revoked_licence_shows_its_verdict_and_nothing_else() {
    let (app, licence) = with_licence().await;
    let (_, p) = make(&app, json!({"licence": licence["id"]})).await;
    let (status, _) = app
        .post(
            &format!("{}/status", licence_path(&licence)),
            Some(&app.tokens.market),
            signed_statement(&licence, "revoked", "吊销", "scjgj"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, r) = redeem(&app, p["code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (
            &r["verdict"]["valid"],
            check(&r["verdict"], "status")["code"].as_str()
        ),
        (&json!(false), Some("revoked"))
    );
    assert!(
        r.get("document").is_none() && r.get("fields").is_none(),
        "{r}"
    );
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    let o = &log["records"][0]["outcomes"][0];
    assert_eq!(
        (&o["outcome"], &o["reason"]),
        (&json!("not_provided"), &json!("revoked"))
    );
}

#[tokio::test]
async fn a_requester_shown_a_licence_in_person_is_told_of_its_revocation() {
    let (app, licence) = with_licence().await;
    let (_, p) = make(&app, json!({"licence": licence["id"]})).await;
    let (_, r) = redeem(&app, p["code"].as_str().unwrap()).await;
    let (status, _) = app
        .post(
            &format!("{}/status", licence_path(&licence)),
            Some(&app.tokens.market),
            signed_statement(&licence, "suspended", "核查中", "scjgj"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, feed) = app.get("/v1/notices", Some(&app.tokens.requester)).await;
    let notices = feed["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{feed}");
    assert_eq!(
        notices[0]["notice"]["credentialSubject"]["accessRecords"],
        json!([r["accessRecord"]])
    );
}

/// The endpoints of SPEC §11: 401 without a known token, 403 for every other role.
#[tokio::test]
async fn presentation_and_notice_endpoints_refuse_other_roles() {
    let app = TestApp::new();
    let t = &app.tokens;
    let endpoints: Vec<(axum::http::Method, &str, Option<Value>, Vec<&String>)> = vec![
        (
            axum::http::Method::POST,
            "/v1/me/presentations",
            Some(json!({"licence": "x"})),
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            axum::http::Method::GET,
            "/v1/me/presentations",
            None,
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            axum::http::Method::DELETE,
            "/v1/me/presentations/prs_1",
            None,
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            axum::http::Method::POST,
            "/v1/presentations:redeem",
            Some(json!({"code": "x"})),
            vec![&t.admin, &t.market, &t.holder_company],
        ),
        (
            axum::http::Method::GET,
            "/v1/notices",
            None,
            vec![&t.admin, &t.market, &t.holder_company],
        ),
    ];
    for (method, path, body, others) in endpoints {
        app.assert_refused(
            &method,
            path,
            body.as_ref(),
            &[None, Some("lv_unknown")],
            &others,
        )
        .await;
    }
}

#[tokio::test]
async fn a_holders_codes_come_a_page_at_a_time_newest_first() {
    let (app, licence) = with_licence().await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let (status, p) = make(&app, json!({"licence": licence["id"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        made.push(p["id"].as_str().unwrap().to_owned());
    }
    made.reverse();
    let (status, first) = app
        .get(
            "/v1/me/presentations?limit=2",
            Some(&app.tokens.holder_company),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = app
        .get(
            &format!("/v1/me/presentations?limit=2&cursor={cursor}"),
            Some(&app.tokens.holder_company),
        )
        .await;
    assert!(second.get("nextCursor").is_none(), "{second}");
    let ids: Vec<&str> = first["presentations"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["presentations"].as_array().unwrap())
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, made.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, e) = app
        .get(
            "/v1/me/presentations?cursor=a%20b",
            Some(&app.tokens.holder_company),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("cursor"))
    );
}
