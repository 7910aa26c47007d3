//! The test harness: a vault on a temp-dir RocksDB with the demo registries, its router, tokens
//! for every role, and helpers to sign licences with the demo keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt as _;
use licence_vault::auth::Principal;
use licence_vault::codes::{CitizenId, HolderCode, LicenceId, Uscc};
use licence_vault::keys::Signer;
use licence_vault::store::{RocksStore, Store};
use licence_vault::vault::Vault;
use serde_json::{json, Value};
use tower::ServiceExt as _;

pub const MARKET: &str = "113501000035920161";
pub const POLICE: &str = "113501000035902487";

pub const BUSINESS_LICENCE: &str = "11100000000013338W001";
pub const ID_CARD: &str = "11100000000019713D001";
pub const COMPANY: &str = "91350102MA2XN1A2K0";
pub const OTHER_COMPANY: &str = "91350103MA31C4H6XF";

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
                    "法定代表人": "林晓燕", "注册资本万元": 500, "成立日期": "2024-03-01",
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

pub struct Tokens {
    pub admin: String,
    pub market: String,
    pub police: String,
    pub requester: String,
    pub holder_company: String,
    pub holder_other: String,
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
        let dir = tempfile::tempdir().unwrap();
        let vault = open_with_url(dir.path(), url);
        seed_registries(&vault);
        let now = Utc::now();
        let tok = |p: Principal| vault.create_token(&p, now).unwrap().1;
        let holder = |s: &str| Principal::Holder(s.parse::<HolderCode>().unwrap());
        let tokens = Tokens {
            admin: tok(Principal::Admin),
            market: tok(Principal::Issuer(MARKET.parse().unwrap())),
            police: tok(Principal::Issuer(POLICE.parse().unwrap())),
            requester: tok(Principal::Requester("fz-scjg-xk".into())),
            holder_company: tok(holder(&format!("001:{COMPANY}"))),
            holder_other: tok(holder(&format!("001:{OTHER_COMPANY}"))),
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
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.raw(method, path, token, "application/json", bytes)
            .await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", content_type)
                .body(Body::from(b))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        self.request(req).await
    }

    /// Sends a request built by the caller (for headers the other helpers do not set).
    pub async fn request(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.router.clone().oneshot(req).await.unwrap();
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

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.vault.store()
    }
}

pub fn open(dir: &Path) -> Arc<Vault> {
    open_with_url(dir, licence_vault::vault::DEFAULT_PUBLIC_URL)
}

fn open_with_url(dir: &Path, url: &str) -> Arc<Vault> {
    let store: Arc<dyn Store> = Arc::new(RocksStore::open(&dir.join("db")).unwrap());
    let options = licence_vault::vault::VaultOptions {
        idp_keys: vec![key("idp").did_key().clone()],
        public_url: url.to_owned(),
    };
    Arc::new(Vault::open_with(store, key("vault"), options).unwrap())
}

fn read(path: &str) -> Value {
    licence_vault::jcs::parse(&std::fs::read(root().join(path)).unwrap()).unwrap()
}

pub fn seed_registries(vault: &Vault) {
    let items = |v: Value, k: &str| v[k].as_array().unwrap().clone();
    for a in items(read("fixtures/agencies.json"), "agencies") {
        vault
            .create_agency(serde_json::from_value(a).unwrap())
            .unwrap();
    }
    for t in items(read("fixtures/catalogue.json"), "types") {
        vault.put_type(serde_json::from_value(t).unwrap()).unwrap();
    }
    for m in items(read("fixtures/matters.json"), "matters") {
        vault
            .put_matter(serde_json::from_value(m).unwrap())
            .unwrap();
    }
    for r in items(read("fixtures/requesters.json"), "requesters") {
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
