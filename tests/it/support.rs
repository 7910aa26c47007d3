//! The test harness, one home per helper: a vault on a temp-dir RocksDB with the demo registries,
//! its router (also over TCP), tokens for every role, requests and their answers, helpers to sign
//! licences and statements with the demo keys, and the one way to run the CLI binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt as _;
use licence_vault::auth::Principal;
use licence_vault::codes::{CitizenId, HolderCode, LicenceId, Uscc};
use licence_vault::keys::{DidKey, Signer};
use licence_vault::store::{Change, Entry, Op, Read, RocksStore, Store, StoreError, Table};
use licence_vault::vault::{KeyRing, Vault};
use serde_json::{json, Value};
use sha2::Digest as _;
use tower::ServiceExt as _;

pub const MARKET: &str = "113501000035920161";
pub const POLICE: &str = "113501000035902487";
/// The demo registry's requester (the market regulator's approval system).
pub const REQUESTER: &str = "fz-scjg-xk";

pub const BUSINESS_LICENCE: &str = "11100000000013338W001";
pub const ID_CARD: &str = "11100000000019713D001";
pub const COMPANY: &str = "91350102MA2XN1A2K0";
pub const OTHER_COMPANY: &str = "91350103MA31C4H6XF";
/// The legal representative that `business_licence` names (a valid citizen number).
pub const REPRESENTATIVE: &str = "350102198503120130";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn key(name: &str) -> Signer {
    let path = root().join("keys").join(format!("{name}.key"));
    Signer::from_private_multibase(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn time(s: &str) -> DateTime<Utc> {
    licence_vault::proof::parse_time(s).unwrap()
}

/// A synthetic citizen number with a valid check character, distinct per `n`.
pub fn citizen(n: u32) -> String {
    let first17 = format!(
        "350102198{}{:02}1{}{:03}",
        n % 10,
        (n % 12) + 1,
        n % 10,
        n % 1000
    );
    let first17 = &first17[..17];
    format!("{first17}{}", CitizenId::check_char(first17).unwrap())
}

/// An unsigned 营业执照 for `holder` (a USCC), issued by the market regulator.
pub fn business_licence(serial: &str, holder: &str) -> Value {
    let id = LicenceId::new(
        &BUSINESS_LICENCE.parse().unwrap(),
        &MARKET.parse().unwrap(),
        serial,
        1,
    )
    .unwrap();
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": id.urn(),
        "type": ["VerifiableCredential", "ElectronicLicence"],
        "issuer": {"id": format!("urn:uscc:{MARKET}"), "name": "福州市市场监督管理局"},
        "validFrom": "2024-03-01T00:00:00Z",
        "validUntil": "2044-02-29T23:59:59Z",
        "credentialSubject": {
            "holder": {"name": "福州榕树科技有限公司", "codeType": "001", "code": holder},
            "licence": {
                "typeCode": BUSINESS_LICENCE, "typeName": "营业执照", "number": format!("NO{serial}"),
                "issueDate": "2024-03-01", "jurisdiction": "350100", "version": "001",
                "fields": {
                    "名称": "福州榕树科技有限公司", "统一社会信用代码": holder, "类型": "有限责任公司",
                    "法定代表人": "林晓燕", "法定代表人证件号码": REPRESENTATIVE, "注册资本万元": 500, "成立日期": "2024-03-01",
                    "住所": "福建省福州市鼓楼区五四路100号", "经营范围": "软件开发；信息技术咨询服务"
                }
            }
        }
    })
}

/// An unsigned 居民身份证 for citizen `code`, issued by the police.
pub fn id_card(serial: &str, code: &str) -> Value {
    let id = LicenceId::new(
        &ID_CARD.parse().unwrap(),
        &POLICE.parse().unwrap(),
        serial,
        1,
    )
    .unwrap();
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": id.urn(),
        "type": ["VerifiableCredential", "ElectronicLicence"],
        "issuer": {"id": format!("urn:uscc:{POLICE}"), "name": "福州市公安局"},
        "validFrom": "2024-05-01T00:00:00Z",
        "validUntil": "2044-05-01T00:00:00Z",
        "credentialSubject": {
            "holder": {"name": "张三", "codeType": "111", "code": code},
            "licence": {
                "typeCode": ID_CARD, "typeName": "居民身份证", "number": code,
                "issueDate": "2024-05-01", "jurisdiction": "350102", "version": "001",
                "fields": {"姓名": "张三", "性别": "男", "民族": "汉", "出生": "1980-01-01",
                           "住址": "福建省福州市鼓楼区杨桥东路1号", "签发机关": "福州市公安局鼓楼分局"}
            }
        }
    })
}

pub fn sign(doc: &Value, key_name: &str) -> Value {
    licence_vault::proof::sign(doc.clone(), &key(key_name), time("2024-06-01T08:00:00Z")).unwrap()
}

/// An unsigned status statement about `licence`.
pub fn statement(licence: &Value, status: &str, reason: &str, effective_at: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "licence": licence["id"],
        "status": status,
        "reason": reason,
        "effectiveAt": effective_at,
    })
}

/// A status statement about `licence`, effective a second ago, signed with the demo key `key_name`.
pub fn signed_statement(licence: &Value, status: &str, reason: &str, key_name: &str) -> Value {
    let now = licence_vault::proof::format_time(Utc::now() - Duration::seconds(1));
    sign(&statement(licence, status, reason, &now), key_name)
}

/// `days` from now, as the API writes times.
pub fn in_days(days: i64) -> String {
    licence_vault::proof::format_time(Utc::now() + Duration::days(days))
}

/// The SHA-256 of a document's canonical (JCS) form, in hex, as receipts and copies bind it.
pub fn sha(doc: &Value) -> String {
    hex::encode(sha2::Sha256::digest(licence_vault::jcs::canonicalize(doc)))
}

/// The API path of a licence.
pub fn licence_path(doc: &Value) -> String {
    format!("/v1/licences/{}", doc["id"].as_str().unwrap())
}

/// A new token for `principal` in `vault`.
pub fn token(vault: &Vault, principal: &Principal) -> String {
    vault.create_token(principal, Utc::now()).unwrap().1
}

pub struct Tokens {
    pub admin: String,
    pub market: String,
    pub police: String,
    pub requester: String,
    pub holder_company: String,
    pub holder_other: String,
    pub supervisor: String,
}

pub struct TestApp {
    _dir: tempfile::TempDir,
    pub vault: Arc<Vault>,
    pub router: axum::Router,
    pub tokens: Tokens,
}

impl TestApp {
    /// A vault with the demo registries (no licences) and one token per role.
    pub fn new() -> Self {
        Self::with_public_url(licence_vault::vault::DEFAULT_PUBLIC_URL)
    }

    /// A vault that names `url` in its receipts' status list URLs (for tests over a real socket).
    pub fn with_public_url(url: &str) -> Self {
        Self::with_options(licence_vault::vault::VaultOptions {
            public_url: url.to_owned(),
            ..Default::default()
        })
    }

    /// A vault run with `options` (the test identity provider is added to them).
    pub fn with_options(options: licence_vault::vault::VaultOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault = open_with_options(dir.path(), options);
        seed_registries(&vault);
        let tok = |p: Principal| token(&vault, &p);
        let holder = |s: &str| Principal::Holder(s.parse::<HolderCode>().unwrap());
        let tokens = Tokens {
            admin: tok(Principal::Admin),
            market: tok(Principal::Issuer(MARKET.parse().unwrap())),
            police: tok(Principal::Issuer(POLICE.parse().unwrap())),
            requester: tok(Principal::Requester("fz-scjg-xk".into())),
            holder_company: tok(holder(&format!("001:{COMPANY}"))),
            holder_other: tok(holder(&format!("001:{OTHER_COMPANY}"))),
            supervisor: tok(Principal::Supervisor("fz-dsj".into())),
        };
        let router = licence_vault::http::router(vault.clone());
        Self {
            _dir: dir,
            vault,
            router,
            tokens,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        respond(&self.router, json_request(method, path, token, body)).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        respond(
            &self.router,
            request(method, path, token, content_type, body),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Deposits `doc` as the market regulator, which must accept it: the receipt.
    pub async fn deposit(&self, doc: &Value) -> Value {
        let (status, receipt) = self
            .post("/v1/licences", Some(&self.tokens.market), doc.clone())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{receipt}");
        receipt
    }

    /// `method path` answers 401 `unauthorized` with each of `unauthenticated` (no token, an
    /// unknown one) and 403 `forbidden` with each token of `forbidden`.
    pub async fn assert_refused(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        unauthenticated: &[Option<&str>],
        forbidden: &[&String],
    ) {
        for &token in unauthenticated {
            let (status, b) = self.call(method.clone(), path, token, body.cloned()).await;
            assert_eq!(
                (status, code(&b)),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{method} {path}"
            );
        }
        for token in forbidden {
            let (status, b) = self
                .call(method.clone(), path, Some(token), body.cloned())
                .await;
            assert_eq!(
                (status, code(&b)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path}"
            );
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.vault.store()
    }

    /// A vault served on a free port of 127.0.0.1 that names that address in its receipts: the
    /// app, its base URL, and the server task (abort it at the end).
    pub async fn served() -> (Self, String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Self::with_public_url(&base);
        let router = app.router.clone();
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (app, base, server)
    }
}

/// Writes `value` under `key` in `app`'s store behind the vault's back: damage for it to find.
pub fn overwrite(app: &TestApp, table: Table, key: &[u8], value: Vec<u8>) {
    let mut c = Change::durable();
    c.put(table, key.to_vec(), value);
    app.store().commit(c).unwrap();
}

/// A request, with a bearer token when given and a body of `content_type` when given.
pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Option<Vec<u8>>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(b) => req
            .header("content-type", content_type)
            .body(Body::from(b))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

/// A request with a JSON body when given (see [`request`]).
pub fn json_request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    request(method, path, token, "application/json", bytes)
}

/// `req` through `router`: the status, and the body as JSON (a string when it is not JSON, null
/// when it is empty).
pub async fn respond(router: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

/// [`TestApp::call`] for a router of a vault the test opened itself.
pub async fn send(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    respond(router, json_request(method, path, Some(token), body)).await
}

pub fn open(dir: &Path) -> Arc<Vault> {
    open_with_options(dir, Default::default())
}

/// The environment variable that makes the suite run on PostgreSQL (`make test-pg`).
pub const TEST_PG: &str = "LICENCE_VAULT_TEST_PG";

/// The store of a test vault at `path`: RocksDB there, or — when [`TEST_PG`] names a PostgreSQL
/// server — a schema of that server named after `path`, so that reopening the same path reopens
/// the same data, and every test has its own.
pub fn store_at(path: &Path) -> Arc<dyn Store> {
    match test_pg() {
        Some(url) => {
            Arc::new(licence_vault::store::PgStore::open(&url, &pg_schema(path), 4).unwrap())
        }
        None => Arc::new(RocksStore::open(path).unwrap()),
    }
}

/// The PostgreSQL server of `make test-pg`, if this run has one.
pub fn test_pg() -> Option<String> {
    std::env::var(TEST_PG).ok().filter(|u| !u.is_empty())
}

/// The schema of the test vault at `path` on that server: its own, named after the path.
pub fn pg_schema(path: &Path) -> String {
    let digest = sha2::Sha256::digest(path.to_string_lossy().as_bytes());
    format!("t_{}", &hex::encode(digest)[..20])
}

fn open_with_options(dir: &Path, mut options: licence_vault::vault::VaultOptions) -> Arc<Vault> {
    let store = store_at(&dir.join("db"));
    options.idp_keys = vec![key("idp").did_key().clone()];
    if options.printing.is_none() {
        options.printing = licence_vault::vault::prints::printing_for_tests("127.0.0.1");
    }
    Arc::new(Vault::open_with(store, KeyRing::in_memory(key("vault")), options).unwrap())
}

/// A JSON file of the repository, parsed strictly.
pub fn read_json(path: &str) -> Value {
    licence_vault::jcs::parse(&std::fs::read(root().join(path)).unwrap()).unwrap()
}

pub fn seed_registries(vault: &Vault) {
    let items = |v: Value, k: &str| v[k].as_array().unwrap().clone();
    for a in items(read_json("fixtures/agencies.json"), "agencies") {
        vault
            .create_agency(serde_json::from_value(a).unwrap())
            .unwrap();
    }
    for t in items(read_json("fixtures/catalogue.json"), "types") {
        vault.put_type(serde_json::from_value(t).unwrap()).unwrap();
    }
    for m in items(read_json("fixtures/matters.json"), "matters") {
        vault
            .put_matter(serde_json::from_value(m).unwrap())
            .unwrap();
    }
    for r in items(read_json("fixtures/requesters.json"), "requesters") {
        vault
            .put_requester(serde_json::from_value(r).unwrap())
            .unwrap();
    }
}

/// The error code of an error envelope.
pub fn code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error envelope: {v}"))
}

pub fn uscc(s: &str) -> Uscc {
    s.parse().unwrap()
}

/// The check called `name` in a verdict.
pub fn check<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {verdict}"))
}

/// Writes `v` to `dir/name` (pretty-printed): its path, for a command line.
pub fn write_json(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

/// A `--registry` file in `dir` with the demo types, matters and agencies, trusting `vault_key`
/// for vault-signed documents: its path.
pub fn registry_file(dir: &Path, vault_key: &DidKey) -> String {
    let read = |f: &str| read_json(&format!("fixtures/{f}"));
    let reg = json!({
        "types": read("catalogue.json")["types"], "matters": read("matters.json")["matters"],
        "agencies": read("agencies.json")["agencies"], "vaultKeys": [vault_key.as_str()],
    });
    write_json(dir, "registry.json", &reg)
}

// ----- the CLI binary -------------------------------------------------------------------------

/// The `licence-vault` binary, the one way tests run it: every `LICENCE_VAULT_*` variable of the
/// environment removed (each one sets a flag: data directory, keys, vault URL, token, registry …)
/// and `RUST_LOG=warn`, so that a developer's shell cannot change what a test sees.
pub fn cli_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_licence-vault"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LICENCE_VAULT_") {
            c.env_remove(name);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

/// Runs the binary with `args` to the end.
pub fn run_cli(args: &[&str]) -> Output {
    cli_command().args(args).output().unwrap()
}

/// The binary's stdout, which must be JSON.
pub fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// Runs the binary with `args`: its exit code and its stdout as JSON (when that is not JSON,
/// `{"stderr": …}`, so that an assertion on it fails with the reason).
pub fn cli(args: &[&str]) -> (Option<i32>, Value) {
    let o = run_cli(args);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| json!({"stderr": String::from_utf8_lossy(&o.stderr)}));
    (o.status.code(), v)
}

/// `serve --demo` on a free port of 127.0.0.1 with its data in `data`, once it answers
/// `/healthz`: the process (its stderr piped) and the base URL.
pub fn serve_demo(data: &Path) -> (std::process::Child, String) {
    serve_demo_with(data, &[])
}

/// [`serve_demo`] with more arguments (`--store postgres://…`).
pub fn serve_demo_with(data: &Path, extra: &[&str]) -> (std::process::Child, String) {
    serve_demo_env(data, extra, &[])
}

/// [`serve_demo_with`] with environment variables (a PKCS#11 module's configuration).
pub fn serve_demo_env(
    data: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = cli_command()
        .env("RUST_LOG", "info")
        // The suites' own load; the limits are tested over a socket (`socket.rs`).
        .env("LICENCE_VAULT_NO_RATE_LIMITS", "true")
        .args([
            "serve",
            "--demo",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .envs(env.iter().copied())
        .current_dir(root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .is_ok_and(|r| r.status() == 200)
        {
            return (child, base);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the demo vault did not come up");
}

/// A RocksDB store a test watches: it counts the calls that read it (a flight of reads is one),
/// refuses, while `fail` is set, any change that writes to `table` (an injected store failure at
/// the moment of a durable change), and may say that other processes write it too (as a
/// database server's does: nothing read is remembered).
pub struct WatchedStore {
    inner: Arc<dyn Store>,
    table: Option<Table>,
    shared: bool,
    pub fail: AtomicBool,
    pub reads: AtomicUsize,
}

impl WatchedStore {
    /// Refuses changes to `table` while `fail` is set.
    pub fn failing(path: &Path, table: Table) -> Self {
        Self {
            inner: store_at(path),
            table: Some(table),
            shared: false,
            fail: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
        }
    }

    /// Says it is shared: tokens and registries are read from it on every request.
    pub fn shared(path: &Path) -> Self {
        Self {
            table: None,
            shared: true,
            ..Self::failing(path, Table::Meta)
        }
    }

    fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
    }
}

impl Store for WatchedStore {
    fn shared(&self) -> bool {
        self.shared || self.inner.shared()
    }
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read();
        self.inner.get(table, key)
    }
    fn read_all(&self, reads: &[Read<'_>]) -> Result<Vec<Vec<Entry>>, StoreError> {
        self.read();
        self.inner.read_all(reads)
    }
    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.read();
        self.inner.multi_get(table, keys)
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.read();
        self.inner.scan(table, prefix, reverse, limit)
    }
    fn scan_after(
        &self,
        table: Table,
        prefix: &[u8],
        after: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.read();
        self.inner.scan_after(table, prefix, after, reverse, limit)
    }
    fn commit(&self, change: Change) -> Result<(), StoreError> {
        let touches = change
            .ops
            .iter()
            .any(|op| matches!(op, Op::Put(t, ..) | Op::Delete(t, ..) if Some(*t) == self.table));
        if touches && self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Engine(format!(
                "injected: {} cannot be written",
                self.table.map_or("", Table::name)
            )));
        }
        self.inner.commit(change)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
}

/// Posts a status statement for `doc` as its issuing agency (the market regulator).
pub async fn post_status(app: &TestApp, doc: &Value, st: Value) -> (StatusCode, Value) {
    app.post(
        &format!("{}/status", licence_path(doc)),
        Some(&app.tokens.market),
        st,
    )
    .await
}

/// Grants a consent with `token` (a holder's); it must be created.
pub async fn grant(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, c) = app.post("/v1/me/consents", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c
}

/// A pull by `token` (a requester's); it must be answered.
pub async fn pull_as(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, p) = app.post("/v1/reuse", Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p
}
