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

/// Sends `requests` on one connection, one after the other, reading each answer: the status line
/// and headers of each (lower-cased), or `None` once the connection is closed.
async fn on_one_connection(base: &str, requests: &[Vec<u8>]) -> Vec<Option<String>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut out = Vec::new();
    for req in requests {
        if conn.write_all(req).await.is_err() {
            out.push(None);
            continue;
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        let head = loop {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse().unwrap());
                while buf.len() < end + 4 + len {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                break Some(head);
            }
        };
        out.push(head);
    }
    out
}

fn raw_post(path: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: vault\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_leaves_no_unread_body_on_the_connection() {
    let (app, base, server) = TestApp::served().await;
    let get = b"GET /healthz HTTP/1.1\r\nhost: vault\r\n\r\n".to_vec();
    // 200 KB refused from its headers (401, 403): the answer closes the connection, so the
    // unread body is never taken for a next request.
    let big = vec![b' '; 200 * 1024];
    for token in ["not-a-token", app.tokens.requester.as_str()] {
        let answers =
            on_one_connection(&base, &[raw_post("/v1/licences", token, &big), get.clone()]).await;
        let first = answers[0].as_deref().unwrap();
        assert!(
            first.starts_with("http/1.1 401") || first.starts_with("http/1.1 403"),
            "{first}"
        );
        assert!(first.contains("\r\nconnection: close"), "{first}");
        assert_eq!(answers[1], None, "nothing after a close");
    }
    // A body the handler read: the connection stays usable for the next request.
    let doc = sign(&business_licence("S0002", COMPANY), "scjgj");
    let answers = on_one_connection(
        &base,
        &[
            raw_post(
                "/v1/licences",
                &app.tokens.market,
                doc.to_string().as_bytes(),
            ),
            get.clone(),
        ],
    )
    .await;
    let first = answers[0].as_deref().unwrap();
    assert!(first.starts_with("http/1.1 201"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    assert!(answers[1].as_deref().unwrap().starts_with("http/1.1 200"));
    server.abort();
}
