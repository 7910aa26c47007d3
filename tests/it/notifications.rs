//! The holder's notifications (SPEC §11): one of each kind — pull, check, in-person showing, status
//! change, pending consent request, consent about to expire — newest first, paged without gaps or
//! repeats, with a read mark that only moves forward.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use licence_vault::auth::Principal;
use licence_vault::proof::format_time;
use serde_json::{json, Value};

use crate::support::*;

/// A matter that declares one face field of the business licence, so it can be checked.
const CHECKED: &str = "350100-TEST-001";
const CHECKER: &str = "fz-test-checker";

async fn notifications(app: &TestApp, query: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/v1/me/notifications{query}"),
            Some(&app.tokens.holder_company),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn kinds(page: &Value) -> Vec<String> {
    page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_kind_of_notification_newest_first_with_a_read_mark() {
    let app = TestApp::new();
    let holder = format!("001:{COMPANY}");
    let h = Some(app.tokens.holder_company.as_str());
    let admin = Some(app.tokens.admin.as_str());
    let licence = sign(&business_licence("M0001", COMPANY), "scjgj");
    app.deposit(&licence).await;
    let (s, b) = app
        .post(
            "/v1/admin/matters",
            admin,
            json!({"code": CHECKED, "name": "名称核验", "types": [BUSINESS_LICENCE],
                   "fields": {BUSINESS_LICENCE: ["名称"]}}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = app
        .post(
            "/v1/admin/requesters",
            admin,
            json!({"id": CHECKER, "name": "核验系统", "matters": [CHECKED]}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let checker = token(&app.vault, &Principal::Requester(CHECKER.into()));

    // 1. a pull (the consent lasts 30 days: not about to expire).
    let consent = |requester: &str, matter: &str, expires: String| {
        json!({"requester": requester, "matter": matter, "purpose": "办理",
               "types": [BUSINESS_LICENCE], "expiresAt": expires})
    };
    let (s, _) = app
        .post(
            "/v1/me/consents",
            h,
            consent("fz-scjg-xk", "350100-SJ-004", in_days(30)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, pull) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            json!({"holder": holder, "matter": "350100-SJ-004", "purpose": "受理"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{pull}");
    // 2. a check, under a consent that ends in 3 days: also a consent about to expire.
    let (s, soon) = app
        .post("/v1/me/consents", h, consent(CHECKER, CHECKED, in_days(3)))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{soon}");
    let (s, chk) = app
        .post(
            "/v1/reuse:check",
            Some(&checker),
            json!({"holder": holder, "matter": CHECKED, "purpose": "核验",
                   "type": BUSINESS_LICENCE, "claims": {"名称": "福州榕树科技有限公司"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{chk}");
    // 3. an in-person showing.
    let (_, p) = app
        .post("/v1/me/presentations", h, json!({"licence": licence["id"]}))
        .await;
    let (s, shown) = app
        .post(
            "/v1/presentations:redeem",
            Some(&app.tokens.requester),
            json!({"code": p["code"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{shown}");
    // 4. a status change.
    let (s, _) = app
        .post(
            &format!("{}/status", licence_path(&licence)),
            Some(&app.tokens.market),
            signed_statement(&licence, "suspended", "经营异常", "scjgj"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // 5. a pending consent request.
    let (s, req) = app
        .post(
            "/v1/consent-requests",
            Some(&app.tokens.requester),
            json!({"holder": holder, "matter": "350100-SJ-004", "purpose": "新办"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{req}");

    let page = notifications(&app, "").await;
    assert_eq!(page["readUpTo"], Value::Null);
    let all = page["notifications"].as_array().unwrap().clone();
    let by_kind = |k: &str| all.iter().find(|n| n["kind"] == k).cloned().unwrap();
    // Newest first; the expiring consent dates from when it was granted (within 7 days of its end).
    let times: Vec<_> = all
        .iter()
        .map(|n| time(n["at"].as_str().unwrap()))
        .collect();
    let sorted = {
        let mut t = times.clone();
        t.sort_by(|a, b| b.cmp(a));
        t
    };
    assert_eq!(times, sorted, "{page}");
    let mut ks = kinds(&page);
    ks.sort();
    assert_eq!(
        ks,
        [
            "check",
            "consent_expiring",
            "consent_request",
            "in_person",
            "pull",
            "status_change"
        ],
        "{page}"
    );
    assert!(all.iter().all(|n| n["read"] == false));

    let n = by_kind("pull");
    assert_eq!(
        (
            &n["id"],
            &n["requester"],
            &n["matter"],
            &n["provided"],
            &n["licences"]
        ),
        (
            &pull["accessRecord"],
            &json!("fz-scjg-xk"),
            &json!("350100-SJ-004"),
            &json!(1),
            &json!([licence["id"]])
        )
    );
    let n = by_kind("check");
    assert_eq!(
        (&n["id"], &n["licences"]),
        (&chk["accessRecord"], &json!([licence["id"]]))
    );
    let n = by_kind("in_person");
    assert_eq!((&n["id"], n.get("matter")), (&shown["accessRecord"], None));
    let n = by_kind("status_change");
    assert_eq!(
        (
            &n["licences"],
            &n["previousStatus"],
            &n["status"],
            &n["reason"]
        ),
        (
            &json!([licence["id"]]),
            &json!("active"),
            &json!("suspended"),
            &json!("经营异常")
        )
    );
    let n = by_kind("consent_request");
    assert_eq!(
        (&n["request"], &n["requesterName"]),
        (&req["id"], &json!("福州市市场监督管理局行政许可审批系统"))
    );
    let n = by_kind("consent_expiring");
    assert_eq!(
        (&n["consent"], &n["expiresAt"]),
        (&soon["id"], &soon["expiresAt"])
    );

    // Pages of two walk the same list without gaps or repeats.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let page = notifications(&app, &q).await;
        walked.extend(
            page["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].clone()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        walked,
        all.iter().map(|n| n["id"].clone()).collect::<Vec<_>>()
    );
    let (s, body) = app.get("/v1/me/notifications?cursor=nonsense", h).await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("cursor"))
    );

    // Answering the request removes it; marking read covers everything so far, and only that.
    let rid = req["id"].as_str().unwrap();
    let (s, _) = app
        .post(
            &format!("/v1/me/consent-requests/{rid}:reject"),
            h,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, mark) = app.post("/v1/me/notifications:read", h, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{mark}");
    let page = notifications(&app, "").await;
    assert!(!kinds(&page).contains(&"consent_request".to_owned()));
    assert!(page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["read"] == true));
    assert_eq!(page["readUpTo"], mark["readUpTo"]);
    // A mark is never ahead of now, and never moves back.
    let (_, future) = app
        .post(
            "/v1/me/notifications:read",
            h,
            json!({"upTo": "9999-01-01T00:00:00Z"}),
        )
        .await;
    let set = time(future["readUpTo"].as_str().unwrap());
    assert!(
        set <= Utc::now() && set >= time(mark["readUpTo"].as_str().unwrap()),
        "{future}"
    );
    let mark = future;
    let earlier = format_time(Utc::now() - Duration::days(1));
    let (_, again) = app
        .post("/v1/me/notifications:read", h, json!({"upTo": earlier}))
        .await;
    assert_eq!(again["readUpTo"], mark["readUpTo"]);
    let (s, _) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            json!({"holder": holder, "matter": "350100-SJ-004", "purpose": "受理"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let page = notifications(&app, "").await;
    let first = &page["notifications"][0];
    assert_eq!(
        (&first["kind"], &first["read"]),
        (&json!("pull"), &json!(false))
    );
    // The suspended licence is not provided: the notification says so.
    assert_eq!(
        (&first["provided"], &first["notProvided"]),
        (&json!(0), &json!(1))
    );

    // Another holder sees none of it; other roles are refused.
    let (_, theirs) = app
        .get("/v1/me/notifications", Some(&app.tokens.holder_other))
        .await;
    assert_eq!(theirs["notifications"], json!([]));
    let t = &app.tokens;
    for (method, path, body) in [
        (axum::http::Method::GET, "/v1/me/notifications", None),
        (
            axum::http::Method::POST,
            "/v1/me/notifications:read",
            Some(json!({})),
        ),
    ] {
        app.assert_refused(
            &method,
            path,
            body.as_ref(),
            &[None, Some("lv_unknown")],
            &[&t.admin, &t.market, &t.requester],
        )
        .await;
    }
}
