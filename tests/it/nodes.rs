//! Three vault processes on one PostgreSQL (SPEC §13): the rules that rested on one process's
//! locks hold across nodes. Each test starts three real `serve --demo --store postgres://…`
//! processes on 127.0.0.1 over a schema of its own, and spreads its clients over them.
//!
//! They use the server of `make test-pg` (`LICENCE_VAULT_TEST_PG`) when there is one; otherwise
//! each test starts a throwaway PostgreSQL of its own (`scripts/pg.sh`, Debian's `postgresql`,
//! which `make deps` installs) and stops it at the end. Without PostgreSQL they fail: they are
//! never skipped.

use std::process::Child;

use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::support::{
    business_licence, in_days, pg_schema, root, serve_demo_with, sign, test_pg, MARKET,
};

const COMPANY: &str = "91350102MA2XN1A2K0";
const WANG: &str = "111:350105199011280350";
const POLICE: &str = "fz-ga-zwfw";
const RENEWAL: &str = "350100-JJ-002";

struct Cluster {
    nodes: Vec<(Child, String)>,
    tokens: Value,
    http: Client,
    _dir: tempfile::TempDir,
    /// This test's own server, stopped after the nodes (fields drop after `Drop::drop`).
    _pg: Option<OwnPg>,
}

/// A throwaway PostgreSQL on a free loopback port, stopped when dropped.
struct OwnPg {
    dir: tempfile::TempDir,
}

impl OwnPg {
    /// Starts it; its connection URL.
    fn start() -> (Self, String) {
        let dir = tempfile::tempdir().unwrap();
        // The server runs as the postgres user when the tests run as root.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = std::process::Command::new(root().join("scripts/pg.sh"))
            .arg("start")
            .arg(dir.path().join("pg"))
            .arg(port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/pg.sh start failed (is PostgreSQL installed? make deps): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        (Self { dir }, url)
    }
}

impl Drop for OwnPg {
    fn drop(&mut self) {
        let _ = std::process::Command::new(root().join("scripts/pg.sh"))
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .output();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (child, _) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// Three nodes on one schema: the first seeds the demo, the two others find it seeded.
    fn start() -> Self {
        let (pg, url) = match test_pg() {
            Some(url) => (None, url),
            None => {
                let (pg, url) = OwnPg::start();
                (Some(pg), url)
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let schema = pg_schema(dir.path());
        let args = ["--store", url.as_str(), "--pg-schema", schema.as_str()];
        let mut nodes = vec![serve_demo_with(dir.path(), &args)];
        for _ in 1..3 {
            nodes.push(serve_demo_with(dir.path(), &args));
        }
        // Each node logs a line per request to its piped stderr: read it, or a full pipe
        // would stop the node mid-request.
        for (child, _) in &mut nodes {
            if let Some(mut err) = child.stderr.take() {
                std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            }
        }
        let tokens =
            serde_json::from_slice(&std::fs::read(dir.path().join("demo-tokens.json")).unwrap())
                .unwrap();
        Self {
            nodes,
            tokens,
            http: Client::new(),
            _dir: dir,
            _pg: pg,
        }
    }

    fn token(&self, path: &[&str]) -> String {
        let mut v = &self.tokens;
        for p in path {
            v = &v[*p];
        }
        v.as_str()
            .unwrap_or_else(|| panic!("no demo token {path:?}"))
            .to_owned()
    }

    /// `method path` on node `n` with `token`: the status and the JSON body (`null` if none).
    fn call(
        &self,
        n: usize,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.nodes[n].1);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn pull_body() -> Value {
    json!({"holder": WANG, "matter": RENEWAL, "purpose": "驾驶证期满换证"})
}

/// A consent of 王海峰's for the police's licence renewal, granted on node `n`.
fn grant(c: &Cluster, n: usize, max_uses: Option<u32>) -> String {
    let mut body = json!({
        "requester": POLICE, "matter": RENEWAL, "purpose": "驾驶证期满换证",
        "types": ["11100000000019713D001", "11100000000019713D002"], "expiresAt": in_days(30)});
    if let Some(m) = max_uses {
        body["maxUses"] = json!(m);
    }
    let (status, consent) = c.call(
        n,
        "POST",
        "/v1/me/consents",
        &c.token(&["holders", WANG]),
        Some(&body),
    );
    assert_eq!(status, 201, "{consent}");
    consent["id"].as_str().unwrap().to_owned()
}

#[test]
fn concurrent_pulls_on_three_nodes_never_exceed_max_uses() {
    let c = Cluster::start();
    let consent = grant(&c, 0, Some(4));
    let police = c.token(&["requesters", POLICE]);
    // 24 pulls at once, eight on each node.
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let (c, police) = (&c, &police);
                s.spawn(move || c.call(i % 3, "POST", "/v1/reuse", police, Some(&pull_body())))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (status, p) in &answers {
        assert_eq!(*status, 200, "{p}");
    }
    let full = answers.iter().filter(|(_, p)| p["provided"] == 2).count();
    let none = answers
        .iter()
        .filter(|(_, p)| {
            p["provided"] == 0
                && p["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["reason"] == "consent_exhausted")
        })
        .count();
    let counts: Vec<_> = answers.iter().map(|(_, p)| p["provided"].clone()).collect();
    assert_eq!((full, none), (4, 20), "provided per pull: {counts:?}");
    // Every node sees the same count, and the holder's log has all 24 pulls.
    let holder = c.token(&["holders", WANG]);
    for n in 0..3 {
        let (_, list) = c.call(n, "GET", "/v1/me/consents", &holder, None);
        let mine = list["consents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == consent.as_str())
            .unwrap();
        assert_eq!(
            (mine["uses"].as_u64(), mine["state"].as_str()),
            (Some(4), Some("exhausted"))
        );
    }
    let (_, log) = c.call(2, "GET", "/v1/me/access-log?limit=100", &holder, None);
    let pulls = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["requester"] == POLICE && r["matter"] == RENEWAL)
        .count();
    assert_eq!(pulls, 24);
}

#[test]
fn a_withdrawal_on_one_node_stops_the_next_pull_on_another() {
    let c = Cluster::start();
    let consent = grant(&c, 0, None);
    let police = c.token(&["requesters", POLICE]);
    let (status, p) = c.call(1, "POST", "/v1/reuse", &police, Some(&pull_body()));
    assert_eq!((status, p["provided"].as_u64()), (200, Some(2)), "{p}");
    let (status, w) = c.call(
        0,
        "DELETE",
        &format!("/v1/me/consents/{consent}"),
        &c.token(&["holders", WANG]),
        None,
    );
    assert_eq!(
        (status, w["state"].as_str()),
        (200, Some("withdrawn")),
        "{w}"
    );
    for n in [1, 2] {
        let (status, p) = c.call(n, "POST", "/v1/reuse", &police, Some(&pull_body()));
        assert_eq!((status, p["provided"].as_u64()), (200, Some(0)), "{p}");
        for r in p["results"].as_array().unwrap() {
            assert_eq!(r["reason"], "consent_withdrawn", "{p}");
        }
    }
}

/// A pull is decided with the registries as its node last loaded them, and the door's flight
/// says whether they are still current: a matter taken from a requester on one node refuses its
/// next pull on another, at once, and records nothing.
#[test]
fn a_matter_taken_from_a_requester_on_one_node_refuses_its_next_pull_on_another() {
    let c = Cluster::start();
    grant(&c, 0, None);
    let (admin, police) = (c.token(&["admin"]), c.token(&["requesters", POLICE]));
    let (status, p) = c.call(1, "POST", "/v1/reuse", &police, Some(&pull_body()));
    assert_eq!((status, p["provided"].as_u64()), (200, Some(2)), "{p}");
    let (status, r) = c.call(
        2,
        "POST",
        "/v1/admin/requesters",
        &admin,
        Some(&json!({"id": POLICE, "name": "福州市公安局政务服务审批系统", "matters": ["350100-GA-003"]})),
    );
    assert_eq!(status, 200, "{r}");
    let (status, p) = c.call(1, "POST", "/v1/reuse", &police, Some(&pull_body()));
    assert_eq!(
        (status, p["error"]["code"].as_str()),
        (403, Some("matter_not_allowed")),
        "{p}"
    );
    let holder = c.token(&["holders", WANG]);
    let (_, log) = c.call(0, "GET", "/v1/me/access-log?limit=100", &holder, None);
    assert_eq!(log["records"].as_array().unwrap().len(), 1, "{log}");
}

#[test]
fn one_licence_deposited_on_two_nodes_at_once_is_created_once() {
    let c = Cluster::start();
    let market = c.token(&["issuers", MARKET]);
    for round in 0..20 {
        let doc = sign(&business_licence(&format!("N{round:04}"), COMPANY), "scjgj");
        let statuses: Vec<(u16, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|n| {
                    let (c, market, doc) = (&c, &market, &doc);
                    s.spawn(move || c.call(n, "POST", "/v1/licences", market, Some(doc)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut codes: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
        codes.sort_unstable();
        assert_eq!(codes, [200, 201], "{statuses:?}");
        // Both answers carry the one receipt the vault signed.
        assert_eq!(
            statuses[0].1["receipt"], statuses[1].1["receipt"],
            "{statuses:?}"
        );
        // Other content under the same id, on the third node: a conflict.
        let mut other = business_licence(&format!("N{round:04}"), COMPANY);
        other["credentialSubject"]["licence"]["fields"]["住所"] = json!("福建省福州市台江区");
        let (status, e) = c.call(
            2,
            "POST",
            "/v1/licences",
            &market,
            Some(&sign(&other, "scjgj")),
        );
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (409, Some("conflict")),
            "{e}"
        );
    }
    // The status-list indexes given on the nodes are distinct.
    let (_, deposits) = c.call(1, "GET", "/v1/issuer/deposits?limit=100", &market, None);
    let mut indexes: Vec<u64> = deposits["deposits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    let n = indexes.len();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), n, "{deposits}");
}

#[test]
fn a_token_revoked_on_one_node_is_refused_by_the_others_at_once() {
    let c = Cluster::start();
    let admin = c.token(&["admin"]);
    let (status, issued) = c.call(
        0,
        "POST",
        "/v1/admin/tokens",
        &admin,
        Some(&json!({"role": "requester", "subject": POLICE})),
    );
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap();
    // Used (and so known) on every node first.
    for n in 0..3 {
        let (status, _) = c.call(n, "GET", "/v1/notices", token, None);
        assert_eq!(status, 200);
    }
    let (status, _) = c.call(
        1,
        "DELETE",
        &format!("/v1/admin/tokens/{}", issued["id"].as_str().unwrap()),
        &admin,
        None,
    );
    assert_eq!(status, 204);
    for n in 0..3 {
        let (status, e) = c.call(n, "GET", "/v1/notices", token, None);
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "node {n}: {e}"
        );
    }
}

#[test]
fn a_registry_edit_on_one_node_is_seen_by_the_others_at_once() {
    let c = Cluster::start();
    let admin = c.token(&["admin"]);
    // Each node reads the matters first, so that each has them in memory.
    for n in 0..3 {
        let (status, _) = c.call(n, "GET", "/v1/matters", &admin, None);
        assert_eq!(status, 200);
    }
    let (status, r) = c.call(
        2,
        "POST",
        "/v1/admin/requesters",
        &admin,
        Some(&json!({"id": "fz-new", "name": "新审批系统", "matters": [RENEWAL]})),
    );
    assert_eq!(status, 201, "{r}");
    // A token for the new requester, made on another node, and its use on the third.
    let (status, issued) = c.call(
        0,
        "POST",
        "/v1/admin/tokens",
        &admin,
        Some(&json!({"role": "requester", "subject": "fz-new"})),
    );
    assert_eq!(status, 201, "{issued}");
    let (status, req) = c.call(
        1,
        "POST",
        "/v1/consent-requests",
        issued["token"].as_str().unwrap(),
        Some(&json!({"holder": WANG, "matter": RENEWAL, "purpose": "驾驶证期满换证"})),
    );
    assert_eq!(status, 201, "{req}");
    // Two edits of one requester on two nodes at once: both apply, one after the other.
    let answers: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|n| {
                let (c, admin) = (&c, &admin);
                s.spawn(move || {
                    c.call(
                        n,
                        "POST",
                        "/v1/admin/requesters",
                        admin,
                        Some(&json!({"id": "fz-new", "name": format!("新审批系统 {n}"), "matters": [RENEWAL]})),
                    )
                    .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers, [200, 200]);
}

/// A deposit is checked against the registries as this node last loaded them, and the store's
/// flight says whether they are still current: an agency key declared compromised on one node
/// refuses the next deposit signed with it on another, at once.
#[test]
fn a_key_compromised_on_one_node_refuses_the_next_deposit_on_another() {
    let c = Cluster::start();
    let (admin, market) = (c.token(&["admin"]), c.token(&["issuers", MARKET]));
    let doc = |n: &str| sign(&business_licence(n, COMPANY), "scjgj");
    let (status, r) = c.call(1, "POST", "/v1/licences", &market, Some(&doc("KC0001")));
    assert_eq!(status, 201, "{r}");
    let did = std::fs::read_to_string(root().join("keys/scjgj.pub")).unwrap();
    let at = licence_vault::proof::format_time(chrono::Utc::now());
    let (status, r) = c.call(
        2,
        "POST",
        &format!("/v1/admin/agencies/{MARKET}/keys/{}/compromise", did.trim()),
        &admin,
        Some(&json!({ "at": at })),
    );
    assert_eq!(status, 200, "{r}");
    let (status, r) = c.call(1, "POST", "/v1/licences", &market, Some(&doc("KC0002")));
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (422, Some("key_compromised")),
        "{r}"
    );
}

/// A rotation on one node while the three nodes pull (SPEC §18): every copy signed meanwhile
/// verifies under the key history every node then publishes, and none is signed by the retired
/// key at or after its `validUntil`; once the overlap is over, every node signs with the new key.
#[test]
fn a_rotation_racing_pulls_on_three_nodes_leaves_every_copy_valid() {
    let c = Cluster::start();
    grant(&c, 0, None);
    let police = c.token(&["requesters", POLICE]);
    let admin = c.token(&["admin"]);
    let (_, before) = c.call(1, "GET", "/v1/vault/keys", &admin, None);
    let old = before["keys"][0]["didKey"].as_str().unwrap().to_owned();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (copies, rotated) = std::thread::scope(|s| {
        // One client pulls on the three nodes in turn, as the rotation lands on one of them.
        let pullers: Vec<_> = (0..1)
            .map(|_| {
                let (c, police, stop) = (&c, &police, &stop);
                s.spawn(move || {
                    let mut copies = Vec::new();
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let (status, p) =
                            c.call(n % 3, "POST", "/v1/reuse", police, Some(&pull_body()));
                        n += 1;
                        assert_eq!(status, 200, "{p}");
                        for r in p["results"].as_array().unwrap() {
                            if !r["stampedCopy"].is_null() {
                                copies.push(r["stampedCopy"].clone());
                            }
                        }
                    }
                    copies
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let (status, rotated) = c.call(
            0,
            "POST",
            "/v1/admin/vault/keys/rotate",
            &admin,
            Some(&json!({"reason": "rotation under load"})),
        );
        assert_eq!(status, 201, "{rotated}");
        // Past the overlap (10 s) and the nodes' view of the history (2 s).
        std::thread::sleep(std::time::Duration::from_secs(12));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let copies: Vec<Value> = pullers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (copies, rotated)
    });
    let new = rotated["didKey"].as_str().unwrap();
    let mut histories = Vec::new();
    for n in 0..3 {
        let (_, h) = c.call(n, "GET", "/v1/vault/keys", &admin, None);
        histories.push(h["keys"].clone());
    }
    assert!(
        histories.iter().all(|h| *h == histories[0]),
        "{histories:?}"
    );
    let history: licence_vault::verify::VaultKeys =
        serde_json::from_value(histories[0].clone()).unwrap();
    let signer = |copy: &Value| {
        copy["proof"]["verificationMethod"]
            .as_str()
            .unwrap()
            .split('#')
            .next()
            .unwrap()
            .to_owned()
    };
    let (mut by_old, mut by_new) = (0, 0);
    for copy in &copies {
        let v = licence_vault::verify::document(copy, Some(&history), chrono::Utc::now());
        let key = v
            .check(licence_vault::verdict::CheckName::IssuerKey)
            .unwrap();
        assert_eq!(key.ok, Some(true), "{copy}: {:?}", key);
        if signer(copy) == old {
            by_old += 1;
        } else {
            assert_eq!(signer(copy), new);
            by_new += 1;
        }
    }
    assert!(by_old > 0 && by_new > 0, "old {by_old}, new {by_new}");
    // After the overlap, every node signs with the new key.
    for n in 0..3 {
        let (_, p) = c.call(n, "POST", "/v1/reuse", &police, Some(&pull_body()));
        let copy = p["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| !r["stampedCopy"].is_null())
            .unwrap();
        assert_eq!(signer(&copy["stampedCopy"]), new, "node {n}");
    }
}

/// GET `path` on node `n`, no token: the body as text.
fn text(c: &Cluster, n: usize, path: &str) -> String {
    let resp = c
        .http
        .get(format!("{}{path}", c.nodes[n].1))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.text().unwrap()
}

#[test]
fn three_nodes_appending_at_once_grow_one_tree_per_log_and_sign_one_checkpoint_per_size() {
    use licence_vault::tlog::note::{Checkpoint, Note};
    let c = Cluster::start();
    grant(&c, 0, None);
    let police = c.token(&["requesters", POLICE]);
    let market = c.token(&["issuers", MARKET]);
    let access_before = {
        let cp = Note::parse(&text(&c, 0, "/log/access/checkpoint")).unwrap();
        Checkpoint::parse(&cp.text).unwrap().size
    };
    // Pulls and deposits on all three nodes at once, while each node's integrator runs and
    // readers fetch checkpoints from every node.
    let seen = std::sync::Mutex::new(Vec::<String>::new());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|n| {
                let (c, seen, done) = (&c, &seen, &done);
                s.spawn(move || {
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        for log in ["public", "access"] {
                            let t = text(c, n, &format!("/log/{log}/checkpoint"));
                            seen.lock().unwrap().push(t);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..30)
            .map(|i| {
                let (c, police, market) = (&c, &police, &market);
                s.spawn(move || {
                    if i % 5 == 4 {
                        let doc = sign(&business_licence(&format!("N{i:04}"), COMPANY), "scjgj");
                        let (st, r) = c.call(i % 3, "POST", "/v1/licences", market, Some(&doc));
                        assert_eq!(st, 201, "{r}");
                    } else {
                        let (st, p) =
                            c.call(i % 3, "POST", "/v1/reuse", police, Some(&pull_body()));
                        assert_eq!(st, 200, "{p}");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        // The bound on the delay (INTEGRATION_INTERVAL_MS and the integration itself): within a
        // second every release is in a checkpoint, whichever node is asked.
        std::thread::sleep(std::time::Duration::from_millis(1000));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
    });
    for n in 0..3 {
        let cp = Note::parse(&text(&c, n, "/log/access/checkpoint")).unwrap();
        assert_eq!(
            Checkpoint::parse(&cp.text).unwrap().size,
            access_before + 24,
            "node {n} serves every release within a second"
        );
    }
    // The holder's chain, written from three nodes: every number once, each record after the
    // one before it.
    let (_, log) = c.call(
        0,
        "GET",
        "/v1/me/access-log?limit=200",
        &c.token(&["holders", WANG]),
        None,
    );
    let mut chained: Vec<&Value> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("chain").is_some())
        .collect();
    chained.sort_by_key(|r| r["chain"]["seq"].as_u64().unwrap());
    assert!(chained.len() >= 24);
    for (i, pair) in chained.windows(2).enumerate() {
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            licence_vault::jcs::canonicalize(pair[0]),
        ));
        assert_eq!(
            pair[1]["chain"]["seq"],
            pair[0]["chain"]["seq"].as_u64().unwrap() + 1,
            "at {i}"
        );
        assert_eq!(pair[1]["chain"]["prev"], digest.as_str(), "at {i}");
    }
    // One checkpoint per (origin, size), and every one consistent with the final tree.
    let mut by_size = std::collections::BTreeMap::<(String, u64), [u8; 32]>::new();
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() > 6);
    for t in &seen {
        let cp = Checkpoint::parse(&Note::parse(t).unwrap().text).unwrap();
        let prior = by_size.insert((cp.origin.clone(), cp.size), cp.root);
        assert!(
            prior.is_none_or(|r| r == cp.root),
            "two checkpoints of size {} differ",
            cp.size
        );
    }
    for ((origin, size), root) in &by_size {
        let log = origin.rsplit('/').next().unwrap();
        let last = Checkpoint::parse(
            &Note::parse(&text(&c, 1, &format!("/log/{log}/checkpoint")))
                .unwrap()
                .text,
        )
        .unwrap();
        let p: Value = serde_json::from_str(&text(
            &c,
            2,
            &format!("/v1/logs/{log}/consistency?from={size}&to={}", last.size),
        ))
        .unwrap();
        let b64 = |v: &Value| {
            base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                v.as_str().unwrap(),
            )
            .unwrap()
        };
        let proof: Vec<Vec<u8>> = p["proof"].as_array().unwrap().iter().map(b64).collect();
        licence_vault::tlog::verify_consistency(*size, last.size, root, &last.root, &proof)
            .unwrap_or_else(|e| panic!("{log} {size} → {}: {e}", last.size));
    }
}
