//! The transparency logs (SPEC §14) through the real router: what the public log holds, the
//! access log's salted leaves and the holders' chains, the tiles and proofs an outside verifier
//! reads, and what the vault does when its stored tree was altered.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::support::*;
use licence_vault::store::{Change, Table};
use licence_vault::tlog::note::{Checkpoint, Note, NoteVerifier, TlogProof};
use licence_vault::tlog::tiles::{unbundle, TilePath};
use licence_vault::tlog::{leaf_hash, verify_consistency, verify_inclusion};
use licence_vault::vault::logs::{open_checkpoint, LogName};

const NEW_FOOD: &str = "350100-SJ-004";

/// GET `path`: status, content type, cache control and the body's bytes.
async fn fetch(app: &TestApp, path: &str) -> (StatusCode, String, String, Vec<u8>) {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let header = |n| {
        res.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (ct, cc) = (header("content-type"), header("cache-control"));
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, ct, cc, body)
}

async fn text(app: &TestApp, path: &str) -> String {
    let (s, _, _, b) = fetch(app, path).await;
    assert_eq!(s, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&b));
    String::from_utf8(b).unwrap()
}

async fn verifiers(app: &TestApp, log: &str) -> Vec<NoteVerifier> {
    let (s, logs) = app.get("/v1/logs", None).await;
    assert_eq!(s, StatusCode::OK, "{logs}");
    let l = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == log)
        .unwrap();
    let host = app.vault.public_url().split_once("://").unwrap().1;
    assert!(
        l["origin"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{host}/log/{log}")),
        "{l}"
    );
    l["verifierKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| NoteVerifier::parse(k.as_str().unwrap()).unwrap())
        .collect()
}

/// Every leaf of `log`, read from its entry bundles as an outside monitor would.
async fn leaves(app: &TestApp, log: &str, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut n = 0;
    while (n as u64) * 256 < size {
        let w = (size - n as u64 * 256).min(256);
        let path = TilePath {
            level: None,
            index: n as u64,
            partial: (w < 256).then_some(w as u8),
        };
        let (s, ct, cc, b) = fetch(app, &format!("/log/{log}/tile/{}", path.to_path())).await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::OK, "application/octet-stream")
        );
        assert!(cc.contains("immutable"), "{cc}");
        out.extend(unbundle(&b).unwrap());
        n += 1;
    }
    out
}

/// The C2SP proof of `leaf_hash` (base64) in `log`, checked against a checkpoint verified
/// with the log's keys: the leaf's index.
async fn proven(app: &TestApp, log: &str, leaf_hash_b64: &str) -> u64 {
    let keys = verifiers(app, log).await;
    let q = leaf_hash_b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let p = TlogProof::parse(&text(app, &format!("/v1/logs/{log}/proof?leaf={q}")).await).unwrap();
    let cp = open_checkpoint(&p.checkpoint, &keys).unwrap();
    let proof: Vec<Vec<u8>> = p.proof.iter().map(|h| h.to_vec()).collect();
    verify_inclusion(
        p.index,
        cp.size,
        &STANDARD.decode(leaf_hash_b64).unwrap(),
        &proof,
        &cp.root,
    )
    .unwrap();
    p.index
}

/// The company's business licence deposited and consented to for NEW_FOOD: the pull's body.
async fn consented(app: &TestApp) -> Value {
    app.deposit(&read_json("fixtures/licences/29-yyzz-minwei.json"))
        .await;
    grant(
        app,
        &app.tokens.holder_company,
        json!({"requester": REQUESTER, "matter": NEW_FOOD, "purpose": "食品经营许可证新办",
            "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
    )
    .await;
    json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "受理"})
}

fn leaf_json(leaf: &[u8]) -> Value {
    serde_json::from_slice(leaf).unwrap()
}

#[tokio::test]
async fn the_public_log_holds_deposits_statuses_registry_and_key_events_and_nothing_personal() {
    let app = TestApp::new();
    let lic = sign(&business_licence("L0001", COMPANY), "scjgj");
    app.deposit(&lic).await;
    let (s, _) = post_status(
        &app,
        &lic,
        signed_statement(&lic, "suspended", "整改", "scjgj"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, rotated) = app
        .post(
            "/v1/admin/vault/keys/rotate",
            Some(&app.tokens.admin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rotated}");
    app.vault.integrate_logs().unwrap();

    let keys = verifiers(&app, "public").await;
    assert_eq!(keys.len(), 2, "one verifier key per vault key");
    let note = text(&app, "/log/public/checkpoint").await;
    let cp = open_checkpoint(&note, &keys).unwrap();
    assert_eq!(cp.origin, "127.0.0.1:8080/log/public");
    let all = leaves(&app, "public", cp.size).await;
    assert_eq!(all.len() as u64, cp.size);
    // The tree of the leaves served is the tree the checkpoint signs.
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    assert_eq!(licence_vault::tlog::tree_hash(&refs), cp.root);

    let events: Vec<Value> = all.iter().map(|l| leaf_json(l)).collect();
    assert_eq!(events[0]["event"], "genesis");
    assert_eq!(events[0]["licences"], 0);
    assert_eq!(
        events[1]["event"], "registry",
        "the demo registries were seeded after"
    );
    let deposit = events.iter().find(|e| e["event"] == "deposit").unwrap();
    assert_eq!(deposit["licence"], sha(&lic));
    assert_eq!(deposit["issuer"], MARKET);
    assert_eq!(
        deposit["type"],
        BUSINESS_LICENCE[..BUSINESS_LICENCE.len() - 3].to_owned() + "001"
    );
    assert_eq!(deposit["key"], lic["proof"]["verificationMethod"]);
    // A deposit receipt finds its leaf by the licence's digest; the leaf is proved like any.
    let (s, d) = app
        .get(
            &format!("/v1/logs/public/deposit?sha256={}", sha(&lic)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(leaf_json(d["leaf"].as_str().unwrap().as_bytes()), *deposit);
    proven(&app, "public", d["leafHash"].as_str().unwrap()).await;
    for (q, st) in [
        ("00", StatusCode::BAD_REQUEST),
        (&"0".repeat(64)[..], StatusCode::NOT_FOUND),
    ] {
        let (s, b) = app
            .get(&format!("/v1/logs/public/deposit?sha256={q}"), None)
            .await;
        assert_eq!(s, st, "{b}");
    }
    let status = events.iter().find(|e| e["event"] == "status").unwrap();
    assert_eq!(
        (status["licence"].as_str(), status["status"].as_str()),
        (Some(sha(&lic).as_str()), Some("suspended"))
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "vault_keys" && e["keys"].as_array().map(Vec::len) == Some(2)));
    // Registry edits made after the log began are logged too.
    let (s, _) = app
        .post(
            "/v1/admin/requesters",
            Some(&app.tokens.admin),
            json!({"id": "fz-new", "name": "新系统", "matters": [NEW_FOOD]}),
        )
        .await;
    assert!(s.is_success(), "{s}");
    app.vault.integrate_logs().unwrap();
    let cp2 = open_checkpoint(&text(&app, "/log/public/checkpoint").await, &keys).unwrap();
    let last = leaves(&app, "public", cp2.size).await.pop().unwrap();
    assert_eq!(
        leaf_json(&last)["entry"],
        json!({"id": "fz-new", "name": "新系统", "matters": [NEW_FOOD]})
    );
    // No holder code nor name anywhere in the public log.
    let dump = String::from_utf8(leaves(&app, "public", cp2.size).await.concat()).unwrap();
    assert!(!dump.contains(COMPANY) && !dump.contains("闽"), "{dump}");

    // The consistency proof between the two checkpoints holds, and is the one served.
    let (s, c) = app
        .get(
            &format!(
                "/v1/logs/public/consistency?from={}&to={}",
                cp.size, cp2.size
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let proof: Vec<Vec<u8>> = c["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap())
        .collect();
    verify_consistency(cp.size, cp2.size, &cp.root, &cp2.root, &proof).unwrap();
    assert_eq!(c["fromRoot"], STANDARD.encode(cp.root));
}

#[tokio::test]
async fn every_release_has_a_salted_leaf_and_its_place_in_the_holders_chain() {
    let app = TestApp::new();
    let body = consented(&app).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(pull_as(&app, &app.tokens.requester, body.clone()).await);
    }
    // The pull answers before its leaf is integrated; the proof is there at once when asked.
    for a in &answers {
        assert_eq!(a["log"]["log"], "access");
        let leaf = a["log"]["leaf"].as_str().unwrap();
        assert_eq!(
            a["log"]["leafHash"].as_str().unwrap(),
            STANDARD.encode(leaf_hash(leaf.as_bytes()))
        );
        proven(&app, "access", a["log"]["leafHash"].as_str().unwrap()).await;
    }
    let (s, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut records: Vec<Value> = log["records"].as_array().unwrap().clone();
    records.reverse(); // oldest first
    assert_eq!(records.len(), 3);
    let mut prev: Option<String> = None;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["chain"]["seq"], i as u64);
        assert_eq!(r["chain"]["prev"].as_str().map(str::to_owned), prev);
        assert_eq!(
            STANDARD
                .decode(
                    r["salt"]
                        .as_str()
                        .unwrap()
                        .replace('-', "+")
                        .replace('_', "/")
                        + "="
                )
                .unwrap()
                .len(),
            32
        );
        // The record's digest, recomputed by the holder from what the page shows, is its leaf.
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            licence_vault::jcs::canonicalize(r),
        ));
        let leaf = licence_vault::jcs::canonicalize(&json!({"at": r["at"], "record": digest}));
        assert_eq!(
            answers[i]["log"]["leaf"].as_str().unwrap().as_bytes(),
            &leaf[..],
            "the requester's receipt names the holder's record"
        );
        prev = Some(digest);
    }
    // The public sees when a release happened, and nothing of who or what.
    let cp = app.vault.log_state(LogName::Access).unwrap().unwrap();
    let dump = String::from_utf8(leaves(&app, "access", cp.size).await.concat()).unwrap();
    assert!(!dump.contains(REQUESTER) && !dump.contains(COMPANY) && !dump.contains(NEW_FOOD));
}

#[tokio::test]
async fn tiles_and_proofs_refuse_what_the_tree_does_not_have() {
    let app = TestApp::new();
    app.deposit(&sign(&business_licence("L0002", COMPANY), "scjgj"))
        .await;
    app.vault.integrate_logs().unwrap();
    let size = app.vault.log_state(LogName::Public).unwrap().unwrap().size;
    // The genesis leaf, the demo registries' edits and the deposit.
    assert!((3..256).contains(&size), "{size}");
    let tile = |p: &str| format!("/log/public/tile/{p}");
    for (path, status, code_) in [
        (tile(&format!("0/000.p/{size}")), StatusCode::OK, ""),
        (tile(&format!("entries/000.p/{size}")), StatusCode::OK, ""),
        (tile("0/000.p/1"), StatusCode::OK, ""),
        (
            tile(&format!("0/000.p/{}", size + 1)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (tile("0/000"), StatusCode::NOT_FOUND, "not_found"),
        (tile("0/001.p/1"), StatusCode::NOT_FOUND, "not_found"),
        (tile("1/000.p/1"), StatusCode::NOT_FOUND, "not_found"),
        (tile("0/0.p/1"), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            tile("0/000.p/256"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (tile("64/000"), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            tile("0/x000/000"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/log/secret/checkpoint".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/logs/public/proof?leaf=AAAA".into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/logs/public/proof?leaf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/logs/public/proof?leaf=x&more=1".into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/logs/public/consistency?from=2&to=1".into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            format!("/v1/logs/public/consistency?from=1&to={}", size + 1),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/logs/public/consistency?from=1&to=x".into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let (s, b) = app.get(&path, None).await;
        assert_eq!(s, status, "{path}: {b}");
        if !code_.is_empty() {
            assert_eq!(code(&b), code_, "{path}: {b}");
        }
    }
    let (_, ct, cc, b) = fetch(&app, "/log/public/checkpoint").await;
    assert_eq!(ct, "text/plain; charset=utf-8");
    assert!(cc.contains("max-age=1"), "{cc}");
    let note = Note::parse(std::str::from_utf8(&b).unwrap()).unwrap();
    assert_eq!(Checkpoint::parse(&note.text).unwrap().size, size);
    let (_, _, _, t) = fetch(&app, &format!("/log/public/tile/0/000.p/{size}")).await;
    assert_eq!(t.len() as u64, 32 * size);
}

#[tokio::test]
async fn an_altered_tree_is_never_signed_again_and_health_says_so() {
    let app = TestApp::new();
    app.deposit(&sign(&business_licence("L0003", COMPANY), "scjgj"))
        .await;
    app.vault.integrate_logs().unwrap();
    // An insider rewrites the deposit's leaf hash in the level-0 tile.
    let key = licence_vault::vault::layout::log_tile(1, 0, 0);
    let mut row = app.store().get(Table::LogTile, &key).unwrap().unwrap();
    row[32] ^= 1;
    overwrite(&app, Table::LogTile, &key, row);
    app.deposit(&sign(&business_licence("L0004", COMPANY), "scjgj"))
        .await;
    let before = app.vault.log_state(LogName::Public).unwrap().unwrap();
    let e = app.vault.integrate_logs().unwrap_err();
    assert!(
        e.to_string()
            .contains("does not contain its last checkpoint"),
        "{e}"
    );
    assert_eq!(
        app.vault.log_state(LogName::Public).unwrap().unwrap(),
        before
    );
    let (_, health) = app.get("/healthz", None).await;
    assert!(
        health
            .as_str()
            .unwrap()
            .contains("log public: its stored tree no longer contains its last checkpoint"),
        "{health}"
    );
    // A pending leaf deleted behind the vault's back never reaches a checkpoint; nothing else
    // is lost (the monitor's replay finds the deposit without its leaf: tests of the monitor).
    let mut c = Change::durable();
    c.delete(Table::LogTile, key);
    app.store().commit(c).unwrap();
    assert!(app.vault.integrate_logs().is_err());
}

/// Builds the Go program of `tests/{name}` (Go's `sumdb/tlog` and `note`, from Debian, offline)
/// once per test run.
fn go_program(name: &'static str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Vec<(&str, std::path::PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if let Some((_, p)) = built.iter().find(|(n, _)| *n == name) {
        return p.clone();
    }
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = tmp.join(name);
    let o = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(root().join("tests").join(name))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", tmp.join("gocache"))
        .output()
        .unwrap_or_else(|e| {
            panic!("go (Debian's golang-go, installed by scripts/install-deps.sh): {e}")
        });
    assert!(
        o.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    built.push((name, out.clone()));
    out
}

/// Runs the Go checker against `log` of the vault at `base`: its JSON report.
fn go_check(base: &str, log: &str, key: &str, extra: &[&str]) -> Value {
    let o = std::process::Command::new(go_program("tlog-check"))
        .args(["-url", base, "-log", log, "-key", key])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tlog-check {log}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sumdb_tlog_checks_the_served_logs_their_proofs_and_their_growth() {
    let (app, base, server) = TestApp::served().await;
    let body = consented(&app).await;
    pull_as(&app, &app.tokens.requester, body.clone()).await;
    app.vault.integrate_logs().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut old = Vec::new();
    for log in ["public", "access"] {
        let p = dir.path().join(format!("{log}.checkpoint"));
        std::fs::write(&p, text(&app, &format!("/log/{log}/checkpoint")).await).unwrap();
        old.push(p);
    }
    // More than a tile of leaves, so that level-1 tiles and full bundles are read too.
    for i in 0..300 {
        app.deposit(&sign(
            &business_licence(&format!("G{i:04}"), COMPANY),
            "scjgj",
        ))
        .await;
    }
    let last = pull_as(&app, &app.tokens.requester, body).await;
    app.vault.integrate_logs().unwrap();

    let key = |log: &'static str| {
        let app = &app;
        async move { verifiers(app, log).await[0].to_text() }
    };
    let (public_key, access_key) = (key("public").await, key("access").await);
    let report = tokio::task::spawn_blocking({
        let (base, old, last) = (base.clone(), old.clone(), last.clone());
        move || {
            let leaf = last["log"]["leafHash"].as_str().unwrap().to_owned();
            (
                go_check(
                    &base,
                    "public",
                    &public_key,
                    &["-old", old[0].to_str().unwrap()],
                ),
                go_check(
                    &base,
                    "access",
                    &access_key,
                    &["-old", old[1].to_str().unwrap(), "-leaf", &leaf],
                ),
            )
        }
    })
    .await
    .unwrap();
    let size = app.vault.log_state(LogName::Public).unwrap().unwrap().size;
    assert!(size > 300, "{size}");
    assert_eq!(report.0["size"], size);
    assert_eq!(report.0["entriesHashed"], size);
    assert_eq!(
        report.0["origin"],
        format!("{}/log/public", base.trim_start_matches("http://"))
    );
    assert!(report.0["consistentFrom"].as_u64().unwrap() < size);
    assert_eq!(report.1["size"], 3, "the genesis leaf and two releases");
    assert_eq!(report.1["leafIndex"], 2);
    assert_eq!(report.1["consistentFrom"], 2);
    server.abort();
}

/// `licence-vault log verify` against `base`: exit code, report and stderr.
async fn monitor(base: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec![
        "log".to_owned(),
        "verify".into(),
        "--url".into(),
        base.to_owned(),
    ];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let o = run_cli(&refs);
        let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (
            o.status.code(),
            report,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn problems(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_follows_the_log_and_catches_a_rewrite_a_rollback_and_a_forged_key() {
    let (app, base, server) = TestApp::served().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("public.json");
    let state_s = state.to_str().unwrap();
    app.deposit(&sign(&business_licence("M0001", COMPANY), "scjgj"))
        .await;
    app.vault.integrate_logs().unwrap();
    let (code_, r, err) = monitor(&base, &["--state", state_s, "--replay"]).await;
    assert_eq!(code_, Some(0), "{r} {err}");
    assert!(
        err.contains("trusting the vault's own keys on first use"),
        "{err}"
    );
    assert_eq!(r["problems"], json!([]));
    let first_size = r["size"].as_u64().unwrap();
    assert_eq!(r["entries"], first_size);

    // It grows: the next run checks the new tree against what it saw.
    let before_second = app
        .store()
        .get(
            Table::Meta,
            &licence_vault::vault::layout::log_state("public"),
        )
        .unwrap()
        .unwrap();
    app.deposit(&sign(&business_licence("M0002", COMPANY), "scjgj"))
        .await;
    app.vault.integrate_logs().unwrap();
    let (code_, r, err) = monitor(&base, &["--state", state_s, "--replay"]).await;
    assert_eq!(
        (code_, r["previousSize"].as_u64()),
        (Some(0), Some(first_size)),
        "{r} {err}"
    );
    let second = std::fs::read(&state).unwrap();

    // An insider adds a key to the market regulator behind the registry's back and deposits
    // under it: the replay finds the deposit under a key the log never showed.
    let forged = licence_vault::keys::Signer::from_seed(&[7u8; 32]);
    let akey = licence_vault::vault::layout::registry(MARKET);
    let mut agency: Value =
        serde_json::from_slice(&app.store().get(Table::UsccAgency, &akey).unwrap().unwrap())
            .unwrap();
    agency["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"didKey": forged.did_key().as_str(), "activeFrom": "2020-01-01T00:00:00Z"}));
    overwrite(
        &app,
        Table::UsccAgency,
        &akey,
        serde_json::to_vec(&agency).unwrap(),
    );
    let (s, _) = app
        .post(
            "/v1/admin/requesters",
            Some(&app.tokens.admin),
            json!({"id": "fz-x", "name": "X", "matters": [NEW_FOOD]}),
        )
        .await;
    assert!(s.is_success());
    let doc = licence_vault::proof::sign(
        business_licence("M0003", COMPANY),
        &forged,
        time("2024-06-01T08:00:00Z"),
    )
    .unwrap();
    app.deposit(&doc).await;
    app.vault.integrate_logs().unwrap();
    let (code_, r, _) = monitor(&base, &["--state", state_s, "--replay"]).await;
    assert_eq!(code_, Some(1), "{r}");
    let p = problems(&r);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with(&format!(
            "a deposit under {}, a key the log never showed registered",
            forged.did_key().as_str()
        )),
        "{p:?}"
    );
    // The state is only moved on when every check held.
    assert_eq!(std::fs::read(&state).unwrap(), second);

    // An insider rewrites a leaf: the entries no longer give the root, nor the tree seen before.
    let size = app.vault.log_state(LogName::Public).unwrap().unwrap().size;
    let entry_key = licence_vault::vault::layout::log_entry(1, 1);
    let old_leaf = app
        .store()
        .get(Table::LogEntry, &entry_key)
        .unwrap()
        .unwrap();
    overwrite(&app, Table::LogEntry, &entry_key, b"{}".to_vec());
    let (code_, r, _) = monitor(&base, &["--state", state_s]).await;
    assert_eq!(code_, Some(1), "{r}");
    let p = problems(&r);
    assert!(
        p.contains(&"the entries do not give the checkpoint's root".to_owned()),
        "{p:?}"
    );
    assert!(
        p.iter().any(|x| x.contains("is not the one seen before")),
        "{p:?}"
    );
    overwrite(&app, Table::LogEntry, &entry_key, old_leaf);

    // Rolled back to the state of the first run: smaller than when last seen.
    overwrite(
        &app,
        Table::Meta,
        &licence_vault::vault::layout::log_state("public"),
        before_second,
    );
    let (code_, r, _) = monitor(&base, &["--state", state_s]).await;
    assert_eq!(code_, Some(1), "{r}");
    assert!(
        problems(&r).iter().any(|x| x.contains("rolled back")),
        "{r}"
    );
    assert!(size > first_size);

    // A key the checkpoints are not signed by.
    let other = NoteVerifier::new(
        &format!("{}/log/public", base.trim_start_matches("http://")),
        *forged.did_key().verifying_key(),
    )
    .unwrap();
    let (code_, r, _) = monitor(&base, &["--key", &other.to_text()]).await;
    assert_eq!(code_, Some(1), "{r}");
    assert!(
        problems(&r)[0].starts_with("the checkpoint is not signed by a trusted key"),
        "{r}"
    );
    // A vault that is not there: the log could not be checked.
    let (code_, _, err) = monitor("http://127.0.0.1:9", &[]).await;
    assert_eq!(code_, Some(2), "{err}");
    server.abort();
}

/// A witness of `tests/witness` (Go) for the logs of the vault whose key is `vault_key` and
/// public URL `http://127.0.0.1:8080`: the process, its URL and its cosigner key.
fn start_witness(
    name: &str,
    seed: u8,
    vault_key: &licence_vault::keys::Signer,
) -> (
    std::process::Child,
    String,
    licence_vault::tlog::witness::Cosigner,
) {
    use std::io::BufRead as _;
    let mut args = vec![
        "-name".to_owned(),
        name.to_owned(),
        "-seed".into(),
        hex::encode([seed; 32]),
    ];
    for log in ["public", "access"] {
        let v = NoteVerifier::new(
            &format!("127.0.0.1:8080/log/{log}"),
            *vault_key.did_key().verifying_key(),
        )
        .unwrap();
        args.extend(["-log".to_owned(), v.to_text()]);
    }
    let mut child = std::process::Command::new(go_program("witness"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut key, mut listen) = (String::new(), String::new());
    out.read_line(&mut key).unwrap();
    out.read_line(&mut listen).unwrap();
    let cosigner = licence_vault::tlog::witness::Cosigner::parse(key.trim()).unwrap();
    let w = licence_vault::keys::Signer::from_seed(&[seed; 32]);
    assert_eq!(
        cosigner,
        licence_vault::tlog::witness::Cosigner::new(name, *w.did_key().verifying_key()).unwrap()
    );
    let addr = listen
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (child, format!("http://{addr}"), cosigner)
}

fn witnessed_vault(
    dir: &std::path::Path,
    witnesses: Vec<licence_vault::vault::witness::Witness>,
    quorum: usize,
) -> std::sync::Arc<licence_vault::vault::Vault> {
    let options = licence_vault::vault::VaultOptions {
        idp_keys: vec![key("idp").did_key().clone()],
        witnesses: licence_vault::vault::witness::WitnessPolicy { witnesses, quorum },
        ..Default::default()
    };
    std::sync::Arc::new(
        licence_vault::vault::Vault::open_with(
            store_at(&dir.join("db")),
            licence_vault::vault::KeyRing::in_memory(key("vault")),
            options,
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnesses_cosign_each_checkpoint_served_and_the_policy_holds_it_back_until_a_quorum() {
    use licence_vault::vault::witness::Witness;
    let vault_key = key("vault");
    let (mut w1, url1, c1) = start_witness("witness.test/w1", 1, &vault_key);
    let (mut w2, url2, c2) = start_witness("witness.test/w2", 2, &vault_key);
    let dir = tempfile::tempdir().unwrap();
    let ws = vec![
        Witness {
            url: url1.clone(),
            cosigner: c1.clone(),
        },
        Witness {
            url: url2.clone(),
            cosigner: c2.clone(),
        },
    ];
    let vault = witnessed_vault(dir.path(), ws.clone(), 2);
    let router = licence_vault::http::router(vault.clone());
    let get = |path: &'static str| {
        let router = router.clone();
        async move { respond(&router, request(Method::GET, path, None, "", None)).await }
    };
    // Nothing is served before the witnesses cosigned.
    let (s, b) = get("/log/public/checkpoint").await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{b}"
    );
    let v = vault.clone();
    let cosigned = tokio::task::spawn_blocking(move || {
        seed_registries(&v);
        v.integrate_logs().unwrap();
        v.witness(LogName::Public).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(cosigned, 2);
    let (s, b) = get("/log/public/checkpoint").await;
    assert_eq!(s, StatusCode::OK);
    let note = Note::parse(b.as_str().unwrap()).unwrap();
    assert_eq!(
        note.signatures.len(),
        3,
        "the log's line and one per witness"
    );
    for c in [&c1, &c2] {
        let t = note
            .signatures
            .iter()
            .find_map(|s| c.verify(&note.text, s))
            .unwrap()
            .unwrap();
        assert!(t.abs_diff(chrono::Utc::now().timestamp() as u64) < 60);
    }
    let first = Checkpoint::parse(&note.text).unwrap();
    let (_, logs) = get("/v1/logs").await;
    assert_eq!(
        logs["logs"][0]["witnesses"],
        json!([c1.to_text(), c2.to_text()])
    );
    assert_eq!(logs["logs"][0]["quorum"], 2);

    // A witness down: the new checkpoint is signed, but not served until a quorum cosigns it.
    w2.kill().unwrap();
    w2.wait().unwrap();
    let v = vault.clone();
    let cosigned = tokio::task::spawn_blocking(move || {
        v.put_requester(licence_vault::registry::Requester {
            id: "fz-w".into(),
            name: "W".into(),
            matters: vec![NEW_FOOD.into()],
        })
        .unwrap();
        v.integrate_logs().unwrap();
        v.witness(LogName::Public).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(cosigned, 1);
    let (_, b) = get("/log/public/checkpoint").await;
    assert_eq!(
        Checkpoint::parse(&Note::parse(b.as_str().unwrap()).unwrap().text).unwrap(),
        first
    );
    assert!(vault.log_state(LogName::Public).unwrap().unwrap().size > first.size);
    drop(router);
    drop(vault);

    // Reopened with a quorum of one: the vault no longer knows what w1 cosigned, sends `old 0`,
    // is told the size by a 409 and sends the proof from there.
    let vault = witnessed_vault(dir.path(), ws[..1].to_vec(), 1);
    let v = vault.clone();
    let cosigned = tokio::task::spawn_blocking(move || v.witness(LogName::Public).unwrap())
        .await
        .unwrap();
    assert_eq!(cosigned, 1);
    let w = vault.witnessed(LogName::Public).unwrap().unwrap();
    assert_eq!(
        w.size,
        vault.log_state(LogName::Public).unwrap().unwrap().size
    );
    w1.kill().unwrap();
    w1.wait().unwrap();
}

#[tokio::test]
async fn after_a_restore_the_log_signs_nothing_until_resumed_and_never_a_size_twice() {
    let app = TestApp::new();
    let state_key = licence_vault::vault::layout::log_state("public");
    app.deposit(&sign(&business_licence("R0001", COMPANY), "scjgj"))
        .await;
    app.vault.integrate_logs().unwrap();
    // What a backup made now holds of the log, and what was published after it.
    let at_backup = app.store().get(Table::Meta, &state_key).unwrap().unwrap();
    let backed_up = app.vault.log_state(LogName::Public).unwrap().unwrap();
    app.deposit(&sign(&business_licence("R0002", COMPANY), "scjgj"))
        .await;
    app.vault.integrate_logs().unwrap();
    let published = app.vault.log_state(LogName::Public).unwrap().unwrap();
    assert!(published.size > backed_up.size);

    // The store goes back to the backup, and is marked restored.
    overwrite(&app, Table::Meta, &state_key, at_backup);
    licence_vault::vault::backup::mark_restored(
        &**app.store(),
        &licence_vault::vault::backup::Restored {
            restored_at: chrono::Utc::now(),
            backup_created_at: backed_up.at,
            manifest_sha256: "00".repeat(32),
            recovered_to: None,
        },
    )
    .unwrap();
    app.deposit(&sign(&business_licence("R0003", COMPANY), "scjgj"))
        .await;
    let e = app.vault.integrate_logs().unwrap_err();
    assert!(
        e.to_string()
            .contains("the public log is frozen (restored from a backup made"),
        "{e}"
    );
    assert_eq!(
        text(&app, "/log/public/checkpoint").await,
        backed_up.checkpoint
    );
    let (_, health) = app.get("/healthz", None).await;
    assert!(
        health
            .as_str()
            .unwrap()
            .contains("log public: frozen, no checkpoint is signed"),
        "{health}"
    );

    // Resuming needs the admin; a checkpoint of another log is refused.
    let resume = "/v1/admin/logs/public/resume";
    let (s, _) = app.post(resume, Some(&app.tokens.market), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let access = app
        .vault
        .log_state(LogName::Access)
        .unwrap()
        .unwrap()
        .checkpoint;
    let (s, b) = app
        .post(
            resume,
            Some(&app.tokens.admin),
            json!({"published": access}),
        )
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{b}"
    );
    // What was published is beyond this tree: the log goes on under a new origin, and no
    // checkpoint of the old origin is signed at a size it may have had.
    let (s, r) = app
        .post(
            resume,
            Some(&app.tokens.admin),
            json!({"published": published.checkpoint}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["origin"], "127.0.0.1:8080/log/public/2");
    let now = app.vault.log_state(LogName::Public).unwrap().unwrap();
    assert!(now.frozen.is_none() && now.size > backed_up.size);
    let keys = verifiers(&app, "public").await;
    let cp = open_checkpoint(&text(&app, "/log/public/checkpoint").await, &keys).unwrap();
    assert_eq!(cp.origin, "127.0.0.1:8080/log/public/2");
    let last = leaves(&app, "public", cp.size).await;
    let continued = last
        .iter()
        .map(|l| leaf_json(l))
        .find(|l| l["event"] == "continued")
        .unwrap();
    assert_eq!(
        (continued["from"].as_str(), continued["size"].as_u64()),
        (Some("127.0.0.1:8080/log/public"), Some(backed_up.size))
    );
    // The new origin's tree still extends what the backup held.
    let (s, c) = app
        .get(
            &format!(
                "/v1/logs/public/consistency?from={}&to={}",
                backed_up.size, cp.size
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["fromRoot"], backed_up.root);
    let (s, b) = app.post(resume, Some(&app.tokens.admin), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "{b}");

    // The access log, resumed with a checkpoint this tree holds, goes on as it was.
    let acc = app.vault.log_state(LogName::Access).unwrap().unwrap();
    let (s, r) = app
        .post(
            "/v1/admin/logs/access/resume",
            Some(&app.tokens.admin),
            json!({"published": acc.checkpoint}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["origin"], "127.0.0.1:8080/log/access");
}
