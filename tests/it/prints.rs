//! Printable copies (SPEC §16): a stamped copy, a minimised copy and a holder's licence as sealed
//! one-page PDFs, their check at `POST /v1/verify` and by QR code, and the refusals. With
//! `LICENCE_VAULT_PRINT_SAMPLES=DIR` the PDFs and what they must show are written there for the
//! outside tools (`scripts/pdf-check.sh`).

use axum::http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use licence_vault::codes::HolderCode;
use licence_vault::print::pdf;
use licence_vault::store::Table;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::support::*;

const POLICE_SYSTEM: &str = "fz-ga-zwfw";
const LICENCE_RENEWAL: &str = "350100-JJ-002";
const RENEW_FOOD: &str = "350100-SJ-005";

fn fixture(name: &str) -> Value {
    read_json(&format!("fixtures/licences/{name}.json"))
}

/// `GET path` as raw bytes: the status, the content type and the body.
async fn fetch(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let res = app
        .router
        .clone()
        .oneshot(request(Method::GET, path, Some(token), "", None))
        .await
        .unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, ct, body)
}

async fn verify_pdf(app: &TestApp, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    app.raw(
        Method::POST,
        "/v1/verify",
        Some(token),
        "application/pdf",
        Some(bytes),
    )
    .await
}

/// The police's ID card and driving licence of 林志强 and the market regulator's business and
/// food licences of COMPANY, each holder consenting to its approval system's matter; the copies
/// of one pull each: (app, police system token, citizen token, full copy, minimised copy).
async fn setup() -> (TestApp, String, String, Value, Value) {
    let app = TestApp::new();
    for name in ["01-sfz-linzhiqiang", "04-jsz-linzhiqiang"] {
        let (status, r) = app
            .post("/v1/licences", Some(&app.tokens.police), fixture(name))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
    }
    for name in ["29-yyzz-minwei", "30-spjy-minwei"] {
        app.deposit(&fixture(name)).await;
    }
    let citizen_code = "111:350102198503120130";
    let citizen = token(
        &app.vault,
        &licence_vault::auth::Principal::Holder(citizen_code.parse::<HolderCode>().unwrap()),
    );
    let police = token(
        &app.vault,
        &licence_vault::auth::Principal::Requester(POLICE_SYSTEM.into()),
    );
    grant(
        &app,
        &citizen,
        json!({"requester": POLICE_SYSTEM, "matter": LICENCE_RENEWAL, "purpose": "驾驶证期满换证",
               "types": ["11100000000019713D001", "11100000000019713D002"], "expiresAt": in_days(30)}),
    )
    .await;
    grant(
        &app,
        &app.tokens.holder_company,
        json!({"requester": "fz-scjg-xk", "matter": RENEW_FOOD, "purpose": "食品经营许可证延续申请",
               "types": ["11100000000013338W001", "11100000000013338W012"], "expiresAt": in_days(30)}),
    )
    .await;
    let full = pull_as(
        &app,
        &app.tokens.requester,
        json!({"holder": format!("001:{COMPANY}"), "matter": RENEW_FOOD, "purpose": "受理食品经营许可证延续申请"}),
    )
    .await;
    let minimised = pull_as(
        &app,
        &police,
        json!({"holder": citizen_code, "matter": LICENCE_RENEWAL, "purpose": "驾驶证期满换证"}),
    )
    .await;
    let full = full["results"][0]["stampedCopy"].clone();
    let minimised = minimised["results"][0]["stampedCopy"].clone();
    assert_eq!(
        full["credentialSubject"]["licence"],
        fixture("29-yyzz-minwei")["id"]
    );
    assert!(
        minimised["credentialSubject"]["disclosed"].is_object(),
        "{minimised}"
    );
    (app, police, citizen, full, minimised)
}

fn text_of(bytes: &[u8]) -> String {
    pdf::read(bytes).unwrap().text.unwrap()
}

#[tokio::test]
async fn copies_and_licences_print_as_sealed_pdfs_that_verify() {
    let (app, police, citizen, full, minimised) = setup().await;
    let full_id = full["id"].as_str().unwrap();
    let min_id = minimised["id"].as_str().unwrap();

    // The requester's full copy: a sealed PDF showing the licence's fields and the purpose band.
    let (status, ct, stamped) = fetch(
        &app,
        &format!("/v1/copies/{full_id}.pdf"),
        &app.tokens.requester,
    )
    .await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(stamped.starts_with(b"%PDF-1.7"));
    let text = text_of(&stamped);
    let licence = fixture("29-yyzz-minwei");
    for (name, value) in licence["credentialSubject"]["licence"]["fields"]
        .as_object()
        .unwrap()
    {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        assert!(text.contains(&format!("{name}{value}")), "{name}: {text}");
    }
    let band = format!(
        "本件仅供 福州市市场监督管理局行政许可审批系统 办理 食品经营许可证延续（受理食品经营许可证延续申请）使用，{} 前有效",
        full["credentialSubject"]["expiresAt"].as_str().unwrap()
    );
    assert!(text.contains(&band), "{text}");
    assert!(text.contains(&format!("副本编号{full_id}")));
    assert!(text.contains(&format!("证照 SHA-256{}", sha(&licence))));

    // It verifies: the seal, the page against the kept copy, then the copy's own checks.
    for token in [&app.tokens.requester, &citizen, &app.tokens.admin] {
        let (status, v) = verify_pdf(&app, token, stamped.clone()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(check(&v, "seal")["ok"], true);
        assert_eq!(check(&v, "printed")["ok"], true);
        assert_eq!(check(&v, "binding")["ok"], true);
        assert_eq!(check(&v, "signature")["ok"], true);
    }

    // The minimised copy shows the declared fields and none of the others.
    let (status, _, min_pdf) = fetch(&app, &format!("/v1/copies/{min_id}.pdf"), &police).await;
    assert_eq!(status, StatusCode::OK);
    let text = text_of(&min_pdf);
    let id_card = fixture("01-sfz-linzhiqiang");
    let fields = id_card["credentialSubject"]["licence"]["fields"]
        .as_object()
        .unwrap();
    for name in ["姓名", "性别", "出生"] {
        assert!(
            text.contains(&format!("{name}{}", fields[name].as_str().unwrap())),
            "{text}"
        );
    }
    for name in ["住址", "民族", "签发机关"] {
        assert!(
            !text.contains(fields[name].as_str().unwrap()),
            "{name} leaked: {text}"
        );
    }
    assert!(
        !text.contains("350102198503120130"),
        "the ID number is not a declared field"
    );
    let (_, v) = verify_pdf(&app, &police, min_pdf.clone()).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["disclosed"], json!(["出生", "姓名", "性别"]));

    // The holder's own licence, printed on demand.
    let path = format!(
        "{}.pdf",
        licence_path(&id_card).replace("/v1/licences/", "/v1/me/licences/")
    );
    let (status, _, own) = fetch(&app, &path, &citizen).await;
    assert_eq!(status, StatusCode::OK);
    let read = pdf::read(&own).unwrap();
    let print_id = read.print_id.clone().unwrap();
    assert!(print_id.starts_with("urn:uuid:"));
    assert!(read
        .text
        .unwrap()
        .contains("住址福建省福州市鼓楼区五四路128号3栋502室"));
    let (_, v) = verify_pdf(&app, &citizen, own.clone()).await;
    assert_eq!(
        (v["valid"].clone(), check(&v, "printed")["ok"].clone()),
        (json!(true), json!(true)),
        "{v}"
    );

    // The QR code's check: the page as the vault renders it from the kept copy, verified now.
    let (status, view) = app
        .post("/v1/prints:check", None, json!({"print": full_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["kind"], "stamped");
    assert_eq!(view["band"], band);
    assert_eq!(view["verdict"]["valid"], true);
    assert!(view["rows"].as_array().unwrap().contains(&json!([
        "名称",
        licence["credentialSubject"]["licence"]["fields"]["名称"]
    ])));
    let (status, view) = app
        .post("/v1/prints:check", None, json!({"print": print_id}))
        .await;
    assert_eq!(
        (status, view["kind"].as_str()),
        (StatusCode::OK, Some("licence"))
    );

    // The CA the seals chain to is published beside the vault's did:key.
    let (_, info) = app.get("/v1/vault", None).await;
    let ca = info["renderingCa"].as_str().unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let (_, history) = app.get("/v1/vault/keys", None).await;
    assert_eq!(history["renderingCa"], ca, "the key history names it too");

    if let Ok(dir) = std::env::var("LICENCE_VAULT_PRINT_SAMPLES") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("stamped.pdf"), &stamped).unwrap();
        std::fs::write(dir.join("minimised.pdf"), &min_pdf).unwrap();
        std::fs::write(dir.join("licence.pdf"), &own).unwrap();
        std::fs::write(dir.join("ca.pem"), ca).unwrap();
        let fields = |doc: &Value| -> Vec<String> {
            doc["credentialSubject"]["licence"]["fields"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        };
        let stamped_present = [
            fields(&licence),
            vec!["受理食品经营许可证延续申请".to_owned(), full_id.to_owned()],
        ]
        .concat();
        let expect = json!({
            "stamped.pdf": {"present": stamped_present,
                            "absent": [], "qr": licence_vault::print::verify_url(licence_vault::vault::DEFAULT_PUBLIC_URL, full_id)},
            "minimised.pdf": {"present": ["林志强", "男", "1985-03-12", "驾驶证期满换证", min_id],
                              "absent": ["福建省福州市鼓楼区五四路128号3栋502室", "福州市公安局鼓楼分局", "350102198503120130"],
                              "qr": licence_vault::print::verify_url(licence_vault::vault::DEFAULT_PUBLIC_URL, min_id)},
            "licence.pdf": {"present": fields(&id_card), "absent": [],
                            "qr": licence_vault::print::verify_url(licence_vault::vault::DEFAULT_PUBLIC_URL, &print_id)},
        });
        std::fs::write(
            dir.join("expect.json"),
            serde_json::to_vec_pretty(&expect).unwrap(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_changed_or_foreign_pdf_gets_a_verdict_and_others_copies_stay_hidden() {
    let (app, police, citizen, full, _) = setup().await;
    let full_id = full["id"].as_str().unwrap();
    let (_, _, stamped) = fetch(
        &app,
        &format!("/v1/copies/{full_id}.pdf"),
        &app.tokens.requester,
    )
    .await;

    // One byte of the page changed: the seal no longer holds.
    let mut changed = stamped.clone();
    let at = changed.windows(5).position(|w| w == b"Tj ET").unwrap() - 3;
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    let (status, v) = verify_pdf(&app, &citizen, changed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["valid"], false);
    assert_eq!(check(&v, "seal")["code"], "seal_invalid", "{v}");

    // An incremental update appended after the seal.
    let mut appended = stamped.clone();
    appended.extend_from_slice(b"13 0 obj\n<< /Title (forged) >>\nendobj\n");
    let (_, v) = verify_pdf(&app, &citizen, appended).await;
    assert_eq!(v["valid"], false);
    assert_eq!(check(&v, "seal")["code"], "pdf_modified", "{v}");

    // Not a PDF of ours: a verdict, never a 500.
    for body in [
        b"not a pdf at all".to_vec(),
        b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n".to_vec(),
        Vec::new(),
    ] {
        let (status, v) = verify_pdf(&app, &citizen, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["valid"], false);
        assert_eq!(check(&v, "seal")["code"], "not_sealed");
        assert_eq!(check(&v, "printed")["ok"], Value::Null);
    }

    // The kept copy changed behind the PDF's back: the page no longer shows what it says.
    let key = full_id.as_bytes();
    let mut kept: Value =
        serde_json::from_slice(&app.store().get(Table::Print, key).unwrap().unwrap()).unwrap();
    // The copy is kept without the licence it embeds (the vault holds those bytes already).
    assert_eq!(kept["elided"], true);
    let doc: Value = serde_json::from_str(kept["document"].as_str().unwrap()).unwrap();
    assert_eq!(doc["credentialSubject"]["document"], Value::Null);
    assert_eq!(doc["id"], full["id"]);
    kept["facts"]["status"] = json!("revoked");
    overwrite(&app, Table::Print, key, serde_json::to_vec(&kept).unwrap());
    let (_, v) = verify_pdf(&app, &citizen, stamped.clone()).await;
    assert_eq!(check(&v, "seal")["ok"], true);
    assert_eq!(check(&v, "printed")["code"], "print_mismatch", "{v}");
    assert_eq!(v["valid"], false);

    // Another requester's copy and an unknown id answer alike: 404, nothing of the copy.
    let (s1, _, b1) = fetch(&app, &format!("/v1/copies/{full_id}.pdf"), &police).await;
    let (s2, _, b2) = fetch(
        &app,
        "/v1/copies/urn:uuid:00000000-0000-4000-8000-000000000000.pdf",
        &police,
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(b1, b2);
    let (status, _, _) = fetch(
        &app,
        &format!("/v1/copies/{full_id}"),
        &app.tokens.requester,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A holder cannot print another holder's licence; an unknown print is not found.
    let path = format!(
        "{}.pdf",
        licence_path(&fixture("01-sfz-linzhiqiang")).replace("/v1/licences/", "/v1/me/licences/")
    );
    let (status, _, _) = fetch(&app, &path, &app.tokens.holder_company).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = app
        .post("/v1/prints:check", None, json!({"print": "urn:uuid:nope"}))
        .await;
    assert_eq!((status, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
    // Only requesters get copies; holders get their licences.
    app.assert_refused(
        &Method::GET,
        &format!("/v1/copies/{full_id}.pdf"),
        None,
        &[None, Some("no-such-token")],
        &[&citizen, &app.tokens.admin],
    )
    .await;
}

/// `render` writes a kept print of a stopped vault as the serving vault made it: the same text,
/// sealed under the same CA; an unknown id exits 1 and writes nothing.
#[test]
fn render_prints_a_kept_print_from_a_stopped_vault() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url) = serve_demo(&data);
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let holder = tokens["holders"]["111:350102198503120130"]
        .as_str()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let list: Value = client
        .get(format!("{url}/v1/me/licences"))
        .bearer_auth(holder)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = list["licences"][0]["id"].as_str().unwrap();
    let served = client
        .get(format!("{url}/v1/me/licences/{id}.pdf"))
        .bearer_auth(holder)
        .send()
        .unwrap()
        .bytes()
        .unwrap()
        .to_vec();
    let info: Value = client
        .get(format!("{url}/v1/vault"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let served = pdf::read(&served).unwrap();
    let print = served.print_id.clone().unwrap();

    let out = dir.path().join("again.pdf");
    let p = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let o = run_cli(&[
        "render",
        "--data",
        &p(&data),
        "--print",
        &print,
        "--out",
        &p(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = pdf::read(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(again.print_id, served.print_id);
    assert_eq!(again.text, served.text);
    let ca = x509_ca(info["renderingCa"].as_str().unwrap());
    licence_vault::print::seal::check(&again.cms, &again.digest, &[ca], chrono::Utc::now())
        .unwrap();

    let none = dir.path().join("none.pdf");
    let o = run_cli(&[
        "render",
        "--data",
        &p(&data),
        "--print",
        "urn:uuid:00000000-0000-4000-8000-000000000000",
        "--out",
        &p(&none),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no print urn:uuid:00000000"));
    assert!(!none.exists());
}

fn x509_ca(pem: &str) -> x509_cert::Certificate {
    use x509_cert::der::DecodePem as _;
    x509_cert::Certificate::from_pem(pem).unwrap()
}

/// Moving the rendering key and certificate away and opening again renews the key under the same
/// CA: a PDF sealed before still checks, and so does one sealed after.
#[test]
fn a_renewed_rendering_key_seals_under_the_same_ca() {
    use licence_vault::print::seal;
    use licence_vault::vault::prints::Printing;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("render-keys");
    let first = Printing::open(None, &keys, "vault.example").unwrap();
    let ca = std::fs::read(keys.join("ca.crt")).unwrap();
    let old_cert = std::fs::read(keys.join("render.crt")).unwrap();
    let digest = [7u8; 32];
    let before = first.keys.sign(&digest).unwrap();
    for f in ["render.key", "render.crt"] {
        std::fs::rename(keys.join(f), dir.path().join(f)).unwrap();
    }
    let renewed = Printing::open(None, &keys, "vault.example").unwrap();
    assert_eq!(std::fs::read(keys.join("ca.crt")).unwrap(), ca);
    assert_ne!(std::fs::read(keys.join("render.crt")).unwrap(), old_cert);
    let after = renewed.keys.sign(&digest).unwrap();
    let trusted = [renewed.keys.ca().clone()];
    for cms in [&before, &after] {
        seal::check(cms, &digest, &trusted, chrono::Utc::now()).unwrap();
    }
    // The same directory opened again uses the same keys.
    let again = Printing::open(None, &keys, "vault.example").unwrap();
    assert_eq!(again.keys.ca_pem(), renewed.keys.ca_pem());
}

/// A licence whose field needs a character the font cannot draw is not printed: 422
/// `unprintable` naming the character, and nothing is kept.
#[tokio::test]
async fn a_field_the_font_cannot_draw_is_refused_by_name() {
    let app = TestApp::new();
    let mut doc = business_licence("P0901", COMPANY);
    doc["credentialSubject"]["licence"]["fields"]["住所"] = json!("福州市\u{10FFFD}路1号");
    let doc = sign(&doc, "scjgj");
    app.deposit(&doc).await;
    let path = format!(
        "{}.pdf",
        licence_path(&doc).replace("/v1/licences/", "/v1/me/licences/")
    );
    let kept = || {
        app.store()
            .scan(Table::Print, b"", false, 1000)
            .unwrap()
            .len()
    };
    let before = kept();
    let (status, e) = app.get(&path, Some(&app.tokens.holder_company)).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unprintable"),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("U+10FFFD"),
        "{e}"
    );
    assert_eq!(kept(), before);
}
