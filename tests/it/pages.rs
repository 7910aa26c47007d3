//! The pages' server side (SPEC §12) over the real router: page and asset headers, sign-in with
//! the double-submitted CSRF token, the session cookie, the API behind it, sign-out; and the
//! agency's views of its deposits and notices. The pages themselves run in Chromium (tests/web).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use licence_vault::http::pages::CSP;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::support::*;

/// One response: status, headers, body as JSON (null when empty or not JSON).
async fn exchange(app: &TestApp, req: Request<Body>) -> (StatusCode, header::HeaderMap, Value) {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, v)
}

/// `name=value` of the `Set-Cookie` for `name`, with the whole header line.
fn set_cookie(headers: &header::HeaderMap, name: &str) -> Option<(String, String)> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|line| {
            let pair = line.split(';').next().unwrap().to_owned();
            (pair, line.to_owned())
        })
}

fn req(
    method: Method,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    if let Some(t) = csrf {
        r = r.header("x-csrf-token", t);
    }
    match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap()))
            .unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}

/// Signs in on `realm` with `token`: the session cookie pair and the session's CSRF token.
async fn sign_in(
    app: &TestApp,
    realm: &str,
    token: &str,
) -> Result<(String, String), (StatusCode, Value)> {
    let (status, headers, state) = exchange(
        app,
        req(Method::GET, &format!("/{realm}/session"), None, None, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["signedIn"], false);
    let (pre, line) = set_cookie(&headers, "lv_pre").unwrap();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert!(line.contains(&format!("Path=/{realm}")), "{line}");
    let csrf = state["csrf"].as_str().unwrap();
    assert_eq!(pre, format!("lv_pre={csrf}"));
    let (status, headers, body) = exchange(
        app,
        req(
            Method::POST,
            &format!("/{realm}/session"),
            Some(&pre),
            Some(csrf),
            Some(json!({"token": token})),
        ),
    )
    .await;
    if status != StatusCode::OK {
        return Err((status, body));
    }
    let (session, line) = set_cookie(&headers, "lv_session").unwrap();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert!(
        !line.contains("Secure"),
        "no Secure over plain http: {line}"
    );
    assert!(!line.contains(token) && !body.to_string().contains(token));
    Ok((session, body["csrf"].as_str().unwrap().to_owned()))
}

#[tokio::test]
async fn pages_and_assets_carry_the_strict_policy() {
    let app = TestApp::new();
    for (path, ct) in [
        ("/me", "text/html; charset=utf-8"),
        ("/verify", "text/html; charset=utf-8"),
        ("/agency", "text/html; charset=utf-8"),
        ("/me/consent-requests/creq_x", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/zh.json", "application/json"),
    ] {
        let (status, headers, _) = exchange(&app, req(Method::GET, path, None, None, None)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], ct, "{path}");
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    let (status, _, body) = exchange(
        &app,
        req(Method::GET, "/assets/../Cargo.toml", None, None, None),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, body) = exchange(
        &app,
        req(Method::GET, "/assets/nothing.js", None, None, None),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // The API is where it was.
    let (status, _, _) = exchange(&app, req(Method::GET, "/v1/catalogue", None, None, None)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_stands_for_its_token_behind_the_csrf_check() {
    let app = TestApp::new();
    let holder = app.tokens.holder_company.clone();
    let (cookie, csrf) = sign_in(&app, "me", &holder).await.unwrap();
    // The API through the session: the company's own licences (none yet), as the token would see.
    let (status, _, body) = exchange(
        &app,
        req(
            Method::GET,
            "/me/api/v1/me/licences",
            Some(&cookie),
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"licences": []}));
    // An Authorization header of the page's own is dropped: the session's token is used.
    let mut r = req(
        Method::GET,
        "/me/api/v1/issuer/deposits",
        Some(&cookie),
        Some(&csrf),
        None,
    );
    r.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {}", app.tokens.market).parse().unwrap(),
    );
    let (status, _, body) = exchange(&app, r).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    // Without the CSRF token, with another, or from another site: refused before the API.
    for (csrf, origin) in [
        (None, None),
        (Some("x".repeat(43)), None),
        (Some(csrf.clone()), Some("https://evil.example")),
    ] {
        let mut r = req(
            Method::POST,
            "/me/api/v1/me/notifications:read",
            Some(&cookie),
            csrf.as_deref(),
            Some(json!({})),
        );
        if let Some(o) = origin {
            r.headers_mut().insert(header::ORIGIN, o.parse().unwrap());
            r.headers_mut()
                .insert(header::HOST, "localhost".parse().unwrap());
        }
        let (status, _, body) = exchange(&app, r).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{body}"
        );
    }
    // A proxy in front may rewrite Host: a call from the vault's public URL is still same-site.
    let public = licence_vault::vault::DEFAULT_PUBLIC_URL.trim_end_matches('/');
    let mut r = req(
        Method::GET,
        "/me/api/v1/me/licences",
        Some(&cookie),
        Some(&csrf),
        None,
    );
    r.headers_mut()
        .insert(header::ORIGIN, public.parse().unwrap());
    r.headers_mut()
        .insert(header::HOST, "vault-internal:9000".parse().unwrap());
    let (status, _, body) = exchange(&app, r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Only the API is behind the session.
    let (status, _, body) = exchange(
        &app,
        req(
            Method::GET,
            "/me/api/healthz",
            Some(&cookie),
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // The session belongs to /me: the agency page's API does not know it.
    let (status, _, body) = exchange(
        &app,
        req(
            Method::GET,
            "/agency/api/v1/issuer/deposits",
            Some(&cookie),
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    // The session's state gives the same CSRF token again, and no token.
    let (_, _, state) = exchange(
        &app,
        req(Method::GET, "/me/session", Some(&cookie), None, None),
    )
    .await;
    assert_eq!(state["signedIn"], true);
    assert_eq!(state["csrf"], csrf.as_str());
    assert_eq!(state["label"], "001:913*************K0");
    // Signing out needs the CSRF token, then ends the session for good.
    let (status, _, _) = exchange(
        &app,
        req(Method::POST, "/me/session/end", Some(&cookie), None, None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = exchange(
        &app,
        req(
            Method::POST,
            "/me/session/end",
            Some(&cookie),
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(set_cookie(&headers, "lv_session")
        .unwrap()
        .1
        .contains("Max-Age=0"));
    let (status, _, body) = exchange(
        &app,
        req(
            Method::GET,
            "/me/api/v1/me/licences",
            Some(&cookie),
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn sign_in_needs_the_pre_sign_in_token_a_known_token_and_the_page_s_role() {
    let app = TestApp::new();
    // No pre-sign-in cookie, or a header that does not match it.
    let body = json!({"token": app.tokens.holder_company});
    let (status, _, b) = exchange(
        &app,
        req(
            Method::POST,
            "/me/session",
            None,
            Some("abc"),
            Some(body.clone()),
        ),
    )
    .await;
    assert_eq!((status, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _, b) = exchange(
        &app,
        req(
            Method::POST,
            "/me/session",
            Some(&format!("lv_pre={}", "a".repeat(43))),
            Some(&"b".repeat(43)),
            Some(body),
        ),
    )
    .await;
    assert_eq!((status, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(b["error"]["field"], "X-CSRF-Token");
    // A cookie the client chose, repeated in the header as a double submit would: not one the
    // vault minted, so refused; and the session state replaces it with one the vault mints.
    let chosen = "A".repeat(43);
    let (status, _, b) = exchange(
        &app,
        req(
            Method::POST,
            "/me/session",
            Some(&format!("lv_pre={chosen}")),
            Some(&chosen),
            Some(json!({"token": app.tokens.holder_company})),
        ),
    )
    .await;
    assert_eq!(
        (status, code(&b), &b["error"]["field"]),
        (StatusCode::FORBIDDEN, "forbidden", &json!("X-CSRF-Token"))
    );
    let (_, headers, state) = exchange(
        &app,
        req(
            Method::GET,
            "/me/session",
            Some(&format!("lv_pre={chosen}")),
            None,
            None,
        ),
    )
    .await;
    let (pre, _) = set_cookie(&headers, "lv_pre").expect("a minted cookie replaces the chosen one");
    assert_ne!(pre, format!("lv_pre={chosen}"));
    assert_eq!(pre, format!("lv_pre={}", state["csrf"].as_str().unwrap()));
    // An unknown token, another role's token, a body with neither or both members.
    assert_eq!(
        sign_in(&app, "me", "lv_nope")
            .await
            .map_err(|(s, b)| (s, code(&b).to_owned())),
        Err((StatusCode::UNAUTHORIZED, "unauthorized".into()))
    );
    let market = app.tokens.market.clone();
    let refused = sign_in(&app, "me", &market).await.unwrap_err();
    assert_eq!(
        (refused.0, code(&refused.1)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        refused.1["error"]["message"],
        "this page is for holder tokens"
    );
    let refused = sign_in(&app, "verify", &market).await.unwrap_err();
    assert_eq!(
        refused.1["error"]["message"],
        "this page is for approval system (requester) tokens"
    );
    assert!(sign_in(&app, "agency", &market).await.is_ok());
    assert!(sign_in(&app, "verify", &app.tokens.requester.clone())
        .await
        .is_ok());
    let (status, headers, state) =
        exchange(&app, req(Method::GET, "/agency/session", None, None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        state["demo"],
        json!([]),
        "no demo principals outside --demo"
    );
    let (pre, _) = set_cookie(&headers, "lv_pre").unwrap();
    let csrf = state["csrf"].as_str().unwrap();
    for body in [
        json!({}),
        json!({"token": "a", "demo": "0"}),
        json!({"demo": "0"}),
        json!({"password": "x"}),
    ] {
        let (status, _, b) = exchange(
            &app,
            req(
                Method::POST,
                "/agency/session",
                Some(&pre),
                Some(csrf),
                Some(body.clone()),
            ),
        )
        .await;
        assert_eq!(
            (status, code(&b)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_issuer_sees_its_deposits_newest_first_and_the_notices_its_licences_caused() {
    let app = TestApp::new();
    let first = sign(&business_licence("202401010001", COMPANY), "scjgj");
    let second = sign(&business_licence("202401010002", OTHER_COMPANY), "scjgj");
    app.deposit(&first).await;
    app.deposit(&second).await;
    let (status, page) = app
        .get("/v1/issuer/deposits?limit=1", Some(&app.tokens.market))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["deposits"].as_array().unwrap().len(), 1);
    assert_eq!(page["deposits"][0]["id"], second["id"]);
    assert_eq!(page["deposits"][0]["typeCode"], BUSINESS_LICENCE);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/v1/issuer/deposits?limit=1&cursor={cursor}"),
            Some(&app.tokens.market),
        )
        .await;
    assert_eq!(rest["deposits"][0]["id"], first["id"]);
    assert_eq!(rest["nextCursor"], Value::Null);
    // The deprecated `before` and `nextBefore` still page the same way.
    let before = page["nextBefore"].as_u64().unwrap();
    assert_eq!(before.to_string(), cursor);
    let (_, old) = app
        .get(
            &format!("/v1/issuer/deposits?limit=1&before={before}"),
            Some(&app.tokens.market),
        )
        .await;
    assert_eq!(old, rest);
    // Another agency sees only its own; other roles are refused; bad paging is named.
    let (_, police) = app
        .get("/v1/issuer/deposits", Some(&app.tokens.police))
        .await;
    assert_eq!(
        police,
        json!({"deposits": [], "nextCursor": null, "nextBefore": null})
    );
    app.assert_refused(
        &Method::GET,
        "/v1/issuer/deposits",
        None,
        &[None],
        &[
            &app.tokens.requester,
            &app.tokens.holder_company,
            &app.tokens.admin,
        ],
    )
    .await;
    let (status, b) = app
        .get("/v1/issuer/deposits?limit=0", Some(&app.tokens.market))
        .await;
    assert_eq!(
        (status, code(&b), b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request", Some("limit"))
    );
    let (status, b) = app
        .get("/v1/issuer/notices?page=2", Some(&app.tokens.market))
        .await;
    assert_eq!(
        (status, b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("page"))
    );

    // The requester is provided the first licence, then the regulator suspends it: one notice.
    let (status, c) = app
        .post(
            "/v1/me/consents",
            Some(&app.tokens.holder_company),
            json!({"requester": "fz-scjg-xk", "matter": "350100-SJ-004", "purpose": "新办",
                   "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (status, pulled) = app
        .post("/v1/reuse", Some(&app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": "350100-SJ-004", "purpose": "新办"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pulled["results"][0]["outcome"], "provided");
    let (_, none) = app
        .get("/v1/issuer/notices", Some(&app.tokens.market))
        .await;
    assert_eq!(
        none,
        json!({"notices": [], "nextCursor": null, "nextBefore": null})
    );
    let suspend = signed_statement(&first, "suspended", "经营异常", "scjgj");
    let (status, b) = app
        .post(
            &format!("{}/status", licence_path(&first)),
            Some(&app.tokens.market),
            suspend,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (_, sent) = app
        .get("/v1/issuer/notices", Some(&app.tokens.market))
        .await;
    let notices = sent["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{sent}");
    // How many approval systems it reached, not which: the holder's access log says who.
    let (_, feed) = app.get("/v1/notices", Some(&app.tokens.requester)).await;
    let subject = &feed["notices"][0]["notice"]["credentialSubject"];
    assert_eq!(
        notices[0],
        json!({"seq": feed["notices"][0]["seq"], "licence": first["id"], "previousStatus": "active",
               "status": "suspended", "receivedAt": subject["receivedAt"], "requesters": 1})
    );
    assert!(!sent.to_string().contains("fz-scjg-xk"), "{sent}");
    let (_, police) = app
        .get("/v1/issuer/notices", Some(&app.tokens.police))
        .await;
    assert_eq!(police["notices"], json!([]));
}

#[tokio::test]
async fn behind_tls_the_cookies_are_secure_and_a_new_sign_in_ends_the_old_session() {
    let app = TestApp::with_public_url("https://vault.example.gov.cn");
    let (status, headers, state) =
        exchange(&app, req(Method::GET, "/me/session", None, None, None)).await;
    assert_eq!(status, StatusCode::OK);
    let (pre, line) = set_cookie(&headers, "lv_pre").unwrap();
    assert!(line.ends_with("; Secure"), "{line}");
    let csrf = state["csrf"].as_str().unwrap().to_owned();
    let body = json!({"token": app.tokens.holder_company});
    let (status, headers, first) = exchange(
        &app,
        req(
            Method::POST,
            "/me/session",
            Some(&pre),
            Some(&csrf),
            Some(body.clone()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (session, line) = set_cookie(&headers, "lv_session").unwrap();
    assert!(line.ends_with("; Secure"), "{line}");
    // The pre-sign-in token is spent: its cookie is cleared.
    assert!(set_cookie(&headers, "lv_pre")
        .unwrap()
        .1
        .contains("Max-Age=0"));
    // A call from the public URL's origin passes, from its plain-http twin or `null` it does not.
    for (origin, want) in [
        ("https://vault.example.gov.cn", StatusCode::OK),
        ("http://vault.example.gov.cn", StatusCode::FORBIDDEN),
        ("null", StatusCode::FORBIDDEN),
    ] {
        let mut r = req(
            Method::GET,
            "/me/api/v1/me/licences",
            Some(&session),
            first["csrf"].as_str(),
            None,
        );
        r.headers_mut()
            .insert(header::ORIGIN, origin.parse().unwrap());
        r.headers_mut()
            .insert(header::HOST, "10.0.0.7:8080".parse().unwrap());
        let (status, _, b) = exchange(&app, r).await;
        assert_eq!(status, want, "{origin}: {b}");
    }
    // Signing in again from the same browser ends the first session.
    let cookies = format!("{pre}; {session}");
    let (status, _, second) = exchange(
        &app,
        req(
            Method::POST,
            "/me/session",
            Some(&cookies),
            Some(&csrf),
            Some(body),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, _, b) = exchange(
        &app,
        req(
            Method::GET,
            "/me/api/v1/me/licences",
            Some(&session),
            first["csrf"].as_str(),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, code(&b)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    // No way out of the API through the proxy's path.
    let (status, _, b) = exchange(
        &app,
        req(
            Method::GET,
            "/me/api/v1/../metrics",
            Some(&session),
            first["csrf"].as_str(),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
}

#[tokio::test]
async fn batch_deposits_are_in_the_issuer_s_deposits_and_the_proxy_stays_inside_v1() {
    let app = TestApp::new();
    let docs: Vec<Value> = (1..=3)
        .map(|i| {
            sign(
                &business_licence(&format!("20240201000{i}"), COMPANY),
                "scjgj",
            )
        })
        .collect();
    let (status, b) = app
        .post(
            "/v1/licences:batch",
            Some(&app.tokens.market),
            json!({"licences": docs}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (_, page) = app
        .get("/v1/issuer/deposits", Some(&app.tokens.market))
        .await;
    let ids: Vec<&str> = page["deposits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = docs
        .iter()
        .rev()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want, "newest first: the batch's order reversed");
    let market = app.tokens.market.clone();
    let (cookie, csrf) = sign_in(&app, "agency", &market).await.unwrap();
    for path in [
        "/agency/api/v1/../metrics",
        "/agency/api/healthz",
        "/agency/api/",
    ] {
        let (status, _, b) = exchange(
            &app,
            req(Method::GET, path, Some(&cookie), Some(&csrf), None),
        )
        .await;
        assert_eq!(
            (status, code(&b)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (status, _, b) = exchange(
        &app,
        req(
            Method::GET,
            "/agency/api/v1/issuer/deposits?limit=2",
            Some(&cookie),
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b["deposits"].as_array().unwrap().len(), 2);
}
