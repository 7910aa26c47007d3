//! Over a real TCP socket on 127.0.0.1: the same router served by axum, driven by an HTTP client.

use serde_json::json;
use sha2::Digest as _;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposit_and_read_over_a_real_socket() {
    let (app, base, server) = TestApp::served().await;
    let client = reqwest::Client::new();

    let doc = sign(&business_licence("S0001", COMPANY), "scjgj");
    let res = client
        .post(format!("{base}/v1/licences"))
        .bearer_auth(&app.tokens.market)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("x-request-id").is_some());
    let res = client
        .get(format!(
            "{base}/v1/licences/{}",
            doc["id"].as_str().unwrap()
        ))
        .bearer_auth(&app.tokens.holder_company)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: serde_json::Value = res.json().await.unwrap();
    assert_eq!(view["licence"], doc);
    assert_eq!(view["verdict"]["valid"], json!(true));
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    server.abort();
}

/// Rate limits over a real socket, with the client's address: a share used up answers `429
/// rate_limited` in the envelope with `Retry-After`, runs nothing, and leaves the other callers
/// and the caller's other class their own shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_past_its_share_gets_429_and_the_others_do_not() {
    use licence_vault::http::limits::RateLimits;
    let app = TestApp::new();
    let limits = RateLimits {
        per_address: 1000,
        cheap: 3,
        expensive: 1,
        exempt: [sha2::Sha256::digest(app.tokens.admin.as_bytes()).into()].into(),
    };
    let router = licence_vault::http::app(app.vault.clone(), Default::default(), Some(&limits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let client = reqwest::Client::new();
    let get = |token: &str| {
        client
            .get(format!("{base}/v1/me/consents"))
            .bearer_auth(token)
            .send()
    };
    // A burst of twice the rate, then refused.
    for _ in 0..6 {
        assert_eq!(get(&app.tokens.holder_company).await.unwrap().status(), 200);
    }
    let res = get(&app.tokens.holder_company).await.unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another holder is not held back; nor is the exempt token.
    assert_eq!(get(&app.tokens.holder_other).await.unwrap().status(), 200);
    for _ in 0..20 {
        let res = client
            .get(format!("{base}/v1/admin/stats"))
            .bearer_auth(&app.tokens.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // Anonymous expensive calls share their address's expensive share.
    let verify = || {
        client
            .post(format!("{base}/credentials/verify"))
            .json(&json!({"verifiableCredential": {}}))
            .send()
    };
    for _ in 0..2 {
        assert_ne!(verify().await.unwrap().status(), 429);
    }
    assert_eq!(verify().await.unwrap().status(), 429);
    server.abort();
}
