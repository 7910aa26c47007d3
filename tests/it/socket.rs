//! Over a real TCP socket on 127.0.0.1: the same router served by axum, driven by an HTTP client.

use serde_json::json;

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
