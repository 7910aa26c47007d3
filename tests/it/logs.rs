//! What the vault logs while it works on a request carries that request's id, also the lines
//! written on the blocking pool (consents, pulls, integrity failures).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use licence_vault::codes::LicenceId;
use licence_vault::store::Table;
use licence_vault::vault::layout;
use serde_json::{json, Value};

use crate::support::*;

/// Everything logged in this test binary once [`captured`] has been called. The subscriber is
/// global because the blocking pool's threads do not see a thread's default; other tests log into
/// it too, so a test looks only at the lines of its own request ids.
fn captured() -> &'static Capture {
    static LOG: OnceLock<Capture> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Capture {
    /// The captured lines whose `request_id` field is exactly `id`.
    fn lines_of(&self, id: &str) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| {
                l.split("request_id=")
                    .skip(1)
                    .any(|rest| rest.split([' ', '}']).next() == Some(id))
            })
            .map(str::to_owned)
            .collect()
    }
}

/// `req` through the app's router with `x-request-id: id`.
async fn send_as(app: &TestApp, id: &str, mut req: Request<Body>) -> (StatusCode, Value) {
    req.headers_mut()
        .insert("x-request-id", HeaderValue::from_str(id).unwrap());
    respond(&app.router, req).await
}

fn assert_logged(id: &str, message: &str) {
    let lines = captured().lines_of(id);
    assert!(
        lines.iter().any(|l| l.contains(message)),
        "no line {message:?} with request_id={id}; its lines: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_log_lines_from_blocking_work_carry_the_request_id() {
    captured();
    let app = TestApp::new();
    let doc = sign(&business_licence("LOG0001", COMPANY), "scjgj");
    app.deposit(&doc).await;

    let consent = json!({
        "requester": "fz-scjg-xk", "matter": "350100-SJ-004", "purpose": "食品经营许可证新办申请",
        "types": [BUSINESS_LICENCE],
        "expiresAt": in_days(30),
    });
    let id = "it-logs-consent-5b1e0c";
    let (status, body) = send_as(
        &app,
        id,
        json_request(
            Method::POST,
            "/v1/me/consents",
            Some(&app.tokens.holder_company),
            Some(consent),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_logged(id, "consent granted");

    let pull = json!({"holder": format!("001:{COMPANY}"), "matter": "350100-SJ-004", "purpose": "受理食品经营许可证新办申请"});
    let id = "it-logs-pull-9d27a4";
    let (status, body) = send_as(
        &app,
        id,
        json_request(
            Method::POST,
            "/v1/reuse",
            Some(&app.tokens.requester),
            Some(pull),
        ),
    )
    .await;
    assert_eq!(
        (status, body["provided"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    assert_logged(id, "reuse pull recorded");

    let licence = LicenceId::from_urn_or_bare(doc["id"].as_str().unwrap()).unwrap();
    let key = layout::licence(&licence);
    let mut bytes = app
        .store()
        .get(Table::LicenceDocument, key)
        .unwrap()
        .unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    overwrite(&app, Table::LicenceDocument, key, bytes);
    let id = "it-logs-integrity-3f8c61";
    let (status, body) = send_as(
        &app,
        id,
        json_request(
            Method::GET,
            &licence_path(&doc),
            Some(&app.tokens.market),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, body["verdict"]["checks"][0]["code"].as_str()),
        (StatusCode::OK, Some("integrity_failure")),
        "{body}"
    );
    assert_logged(id, "INTEGRITY FAILURE");
}

#[tokio::test]
async fn a_clients_request_id_is_echoed_only_when_short_and_plain() {
    let app = TestApp::new();
    for (sent, kept) in [
        ("client-id_1.2", true),
        ("<img src=x onerror=alert(1)>", false),
        (&*"a".repeat(65), false),
        ("id with spaces", false),
    ] {
        let mut req = json_request(Method::GET, "/healthz", None, None);
        req.headers_mut()
            .insert("x-request-id", HeaderValue::from_str(sent).unwrap());
        let res = tower::ServiceExt::oneshot(app.router.clone(), req)
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        if kept {
            assert_eq!(echoed, sent);
        } else {
            // Replaced by one the vault made (a UUID).
            assert_ne!(echoed, sent);
            assert_eq!(echoed.len(), 36, "{echoed}");
        }
    }
}
