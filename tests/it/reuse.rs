//! Authorised reuse (SPEC §7): consents, pulls, the access log written before anything leaves,
//! purpose-stamped copies (over HTTP and the CLI), statistics, and the demo consents.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use licence_vault::auth::Principal;
use licence_vault::codes::HolderCode;
use licence_vault::proof::format_time;
use licence_vault::reuse::delegation::Acting;
use licence_vault::reuse::{NewConsent, PullRequest};
use licence_vault::store::{Change, Table};
use licence_vault::vault::{layout, Vault};
use serde_json::{json, Value};

use crate::support::*;

const FOOD: &str = "11100000000013338W012";
/// 食品经营许可证新办: needs the business licence only.
const NEW_FOOD: &str = "350100-SJ-004";
/// 食品经营许可证延续: needs the business licence and the food licence.
const RENEW_FOOD: &str = "350100-SJ-005";

/// A signed sample licence from `fixtures/licences/`.
fn fixture(name: &str) -> Value {
    read_json(&format!("fixtures/licences/{name}.json"))
}

/// 营业执照 and 食品经营许可证 of COMPANY (闽味), and the business licence of OTHER_COMPANY.
fn business() -> Value {
    fixture("29-yyzz-minwei")
}
fn food() -> Value {
    fixture("30-spjy-minwei")
}
fn other_business() -> Value {
    fixture("31-yyzz-xinyuan")
}

fn holder() -> String {
    format!("001:{COMPANY}")
}

fn consent(matter: &str, types: &[&str], max_uses: Option<u32>) -> Value {
    let mut c = json!({
        "requester": REQUESTER, "matter": matter, "purpose": "食品经营许可证延续申请",
        "types": types, "expiresAt": in_days(30),
    });
    if let Some(m) = max_uses {
        c["maxUses"] = json!(m);
    }
    c
}

fn pull_body(holder: &str, matter: &str) -> Value {
    json!({"holder": holder, "matter": matter, "purpose": "受理食品经营许可证延续申请"})
}

async fn pull(app: &TestApp, matter: &str) -> Value {
    pull_as(app, &app.tokens.requester, pull_body(&holder(), matter)).await
}

/// `(type, outcome, reason)` of each result.
fn outcomes(pull: &Value) -> Vec<(String, String, Option<String>)> {
    pull["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn not_provided(ty: &str, name: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "typeName": name, "outcome": "not_provided", "reason": reason, "message": message})
}

fn holder_code() -> HolderCode {
    holder().parse().unwrap()
}

fn new_consent(matter: &str, types: &[&str], expires_at: DateTime<Utc>) -> NewConsent {
    NewConsent {
        requester: REQUESTER.into(),
        matter: matter.into(),
        purpose: "食品经营许可证延续申请".into(),
        types: types.iter().map(|t| t.parse().unwrap()).collect(),
        licences: Vec::new(),
        expires_at,
        max_uses: None,
    }
}

fn pull_request(matter: &str) -> PullRequest {
    PullRequest {
        holder: holder_code(),
        matter: matter.into(),
        purpose: "受理食品经营许可证延续申请".into(),
        types: None,
    }
}

#[tokio::test]
async fn consent_pull_copy_log_withdraw_end_to_end() {
    let app = TestApp::new();
    app.deposit(&business()).await;
    app.deposit(&food()).await;

    // The holder authorises the market regulator's approval system for the renewal matter.
    let c = grant(
        &app,
        &app.tokens.holder_company,
        consent(RENEW_FOOD, &[BUSINESS_LICENCE, FOOD], Some(5)),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cst_"), "{id}");
    assert_eq!(
        (
            c["state"].as_str(),
            c["uses"].as_u64(),
            c["remainingUses"].as_u64(),
            c["requester"].as_str(),
            c["matter"].as_str()
        ),
        (
            Some("active"),
            Some(0),
            Some(5),
            Some(REQUESTER),
            Some(RENEW_FOOD)
        )
    );
    assert_eq!(c["history"].as_array().unwrap().len(), 1);
    assert_eq!(c["history"][0]["event"], "created");

    // The approval system pulls what the matter needs: both licences, verified and stamped.
    let p = pull(&app, RENEW_FOOD).await;
    assert_eq!(
        (p["provided"].as_u64(), p["notProvided"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(p["matter"], RENEW_FOOD);
    let record = p["accessRecord"].as_str().unwrap().to_owned();
    for (item, doc) in p["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip([business(), food()])
    {
        assert_eq!(item["outcome"], "provided");
        assert_eq!(item["licence"], doc, "the stored bytes, as deposited");
        assert_eq!(item["licenceId"], doc["id"]);
        assert_eq!(item["consent"], id.as_str());
        assert_eq!(item["verdict"]["valid"], true);
        assert_eq!(check(&item["verdict"], "integrity")["ok"], true);
        let copy = &item["stampedCopy"];
        assert_eq!(
            copy["type"],
            json!(["VerifiableCredential", "PurposeStampedCopy"])
        );
        assert_eq!(copy["issuer"], app.vault.did_key().as_str());
        let s = &copy["credentialSubject"];
        assert_eq!(s["licence"], doc["id"]);
        assert_eq!(s["sha256"], sha(&doc));
        assert_eq!(s["requester"], REQUESTER);
        assert_eq!(s["matter"], RENEW_FOOD);
        assert_eq!(s["purpose"], "受理食品经营许可证延续申请");
        assert_eq!(s["accessRecord"], record.as_str());
        assert_eq!(s["document"], doc);
        assert_eq!(copy["validFrom"], s["issuedAt"]);
        assert_eq!(copy["validUntil"], s["expiresAt"]);
        let issued = licence_vault::proof::parse_time(s["issuedAt"].as_str().unwrap()).unwrap();
        let expires = licence_vault::proof::parse_time(s["expiresAt"].as_str().unwrap()).unwrap();
        assert_eq!(expires - issued, Duration::days(30));

        // The copy verifies at POST /v1/verify, for the requester and for the holder.
        for token in [&app.tokens.requester, &app.tokens.holder_company] {
            let (status, v) = app.post("/v1/verify", Some(token), copy.clone()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(check(&v, "binding")["ok"], true);
            assert_eq!(check(&v, "issuer_key")["ok"], true);
        }
    }

    // The holder sees the pull in the access log.
    let (status, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["nextCursor"], Value::Null);
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["id"], record.as_str());
    assert_eq!(
        (
            r["requester"].as_str(),
            r["matter"].as_str(),
            r["purpose"].as_str()
        ),
        (
            Some(REQUESTER),
            Some(RENEW_FOOD),
            Some("受理食品经营许可证延续申请")
        )
    );
    assert_eq!(r["matterName"], "食品经营许可证延续");
    assert_eq!(r["licences"], json!([business()["id"], food()["id"]]));
    assert_eq!(r["outcomes"][0]["outcome"], "provided");
    assert_eq!(r["outcomes"][1]["licence"], food()["id"]);
    assert_eq!(r["outcomes"][1]["consent"], id.as_str());
    assert_eq!(
        r["outcomes"][1]["stampedCopy"],
        p["results"][1]["stampedCopy"]["id"]
    );
    assert_eq!(r["holderDigest"].as_str().unwrap().len(), 64);
    assert!(
        !r.to_string().contains(COMPANY),
        "no holder code in the record"
    );
    // Nobody else sees it.
    let (_, theirs) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_other))
        .await;
    assert_eq!(theirs, json!({"records": [], "nextCursor": null}));

    // The consent shows the use.
    let (_, list) = app
        .get("/v1/me/consents", Some(&app.tokens.holder_company))
        .await;
    let c = &list["consents"][0];
    assert_eq!(
        (c["uses"].as_u64(), c["remainingUses"].as_u64()),
        (Some(1), Some(4))
    );
    // The use is counted, not written into the consent's history: the access log lists it
    // with the consent it was made under (above). The history keeps the terms granted.
    assert_eq!(
        c["history"],
        json!([{"event": "created", "at": c["createdAt"], "terms": {
            "types": c["types"], "expiresAt": c["expiresAt"], "maxUses": 5}}])
    );

    // Withdrawal takes effect for the very next pull.
    let (status, w) = app
        .call(
            Method::DELETE,
            &format!("/v1/me/consents/{id}"),
            Some(&app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["state"], "withdrawn");
    let p = pull(&app, RENEW_FOOD).await;
    let message = format!("consent {id} is withdrawn");
    assert_eq!(
        p["results"],
        json!([
            not_provided(BUSINESS_LICENCE, "营业执照", "consent_withdrawn", &message),
            not_provided(FOOD, "食品经营许可证", "consent_withdrawn", &message),
        ])
    );
    assert_eq!(
        (p["provided"].as_u64(), p["notProvided"].as_u64()),
        (Some(0), Some(2))
    );

    // Newest first; the refused pull is logged too.
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(log["records"].as_array().unwrap().len(), 2);
    assert_eq!(log["records"][0]["id"], p["accessRecord"]);
    assert_eq!(log["records"][0]["licences"], json!([]));
    assert_eq!(
        log["records"][0]["outcomes"][0]["reason"],
        "consent_withdrawn"
    );
    assert_eq!(log["records"][1]["id"], record.as_str());
    let (_, list) = app
        .get("/v1/me/consents", Some(&app.tokens.holder_company))
        .await;
    let events: Vec<&str> = list["consents"][0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["created", "withdrawn"]);
    assert_eq!(list["consents"][0]["uses"], 1);
    assert_eq!(w["uses"], 1, "the withdrawal answers with the uses counted");

    // Withdrawing again changes nothing; someone else's or an unknown consent is not found.
    let (status, again) = app
        .call(
            Method::DELETE,
            &format!("/v1/me/consents/{id}"),
            Some(&app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(
        (status, &again["withdrawnAt"]),
        (StatusCode::OK, &w["withdrawnAt"])
    );
    for (token, path) in [
        (&app.tokens.holder_other, format!("/v1/me/consents/{id}")),
        (
            &app.tokens.holder_company,
            "/v1/me/consents/cst_0000".to_owned(),
        ),
        (
            &app.tokens.holder_company,
            "/v1/me/consents/..%2Fx".to_owned(),
        ),
    ] {
        let (status, body) = app.call(Method::DELETE, &path, Some(token), None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }

    // No holder code in clear anywhere in the consent and access tables.
    for table in [
        Table::HolderConsent,
        Table::ConsentUses,
        Table::HolderAccess,
        Table::AccessRecord,
    ] {
        for (k, v) in app.store().scan(table, b"", false, usize::MAX).unwrap() {
            let needle = COMPANY.as_bytes();
            assert!(!k.windows(needle.len()).any(|w| w == needle));
            assert!(!v.windows(needle.len()).any(|w| w == needle));
        }
    }
}

#[tokio::test]
async fn each_reason_a_type_is_not_provided() {
    let app = TestApp::new();
    app.deposit(&business()).await;
    app.deposit(&food()).await;
    let no_consent = "the holder has not consented to this pull";

    // No consent at all: nothing is even read.
    let extractions = |app: &TestApp| {
        app.vault
            .metrics
            .get(licence_vault::metrics::Counter::Extractions { verdict: "valid" })
    };
    let before = extractions(&app);
    let p = pull(&app, RENEW_FOOD).await;
    assert_eq!(
        p["results"],
        json!([
            not_provided(BUSINESS_LICENCE, "营业执照", "no_consent", no_consent),
            not_provided(FOOD, "食品经营许可证", "no_consent", no_consent),
        ])
    );
    assert_eq!(
        extractions(&app),
        before,
        "no licence is read without consent"
    );

    // A type the matter does not need.
    grant(
        &app,
        &app.tokens.holder_company,
        consent(NEW_FOOD, &[BUSINESS_LICENCE], None),
    )
    .await;
    let (status, p) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            json!({"holder": holder(), "matter": NEW_FOOD, "purpose": "新办", "types": [FOOD, BUSINESS_LICENCE]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        p["results"][0],
        not_provided(
            FOOD,
            "食品经营许可证",
            "matter_not_allowed",
            &format!("matter {NEW_FOOD} does not need type {FOOD}")
        )
    );
    assert_eq!(p["results"][1]["outcome"], "provided");

    // Exhausted: one use, then no more.
    let c = grant(
        &app,
        &app.tokens.holder_company,
        consent(RENEW_FOOD, &[BUSINESS_LICENCE], Some(1)),
    )
    .await;
    let cid = c["id"].as_str().unwrap();
    let p = pull(&app, RENEW_FOOD).await;
    assert_eq!(outcomes(&p)[0].1, "provided");
    // The food licence has no consent of its own.
    assert_eq!(
        p["results"][1],
        not_provided(FOOD, "食品经营许可证", "no_consent", no_consent)
    );
    let p = pull(&app, RENEW_FOOD).await;
    assert_eq!(
        p["results"][0],
        not_provided(
            BUSINESS_LICENCE,
            "营业执照",
            "consent_exhausted",
            &format!("consent {cid} is exhausted")
        )
    );

    // Expired: a consent granted in the past for ten days.
    let past = Utc::now() - Duration::days(20);
    let old = app
        .vault
        .create_consent(
            &Acting::own(holder_code()),
            new_consent(RENEW_FOOD, &[FOOD], past + Duration::days(10)),
            past,
        )
        .unwrap();
    let p = pull(&app, RENEW_FOOD).await;
    assert_eq!(
        p["results"][1],
        not_provided(
            FOOD,
            "食品经营许可证",
            "consent_expired",
            &format!("consent {} is expired", old.id)
        )
    );

    // Withdrawn.
    let c = grant(
        &app,
        &app.tokens.holder_company,
        consent(RENEW_FOOD, &[FOOD], None),
    )
    .await;
    let cid = c["id"].as_str().unwrap();
    assert_eq!(outcomes(&pull(&app, RENEW_FOOD).await)[1].1, "provided");
    app.call(
        Method::DELETE,
        &format!("/v1/me/consents/{cid}"),
        Some(&app.tokens.holder_company),
        None,
    )
    .await;
    let p = pull(&app, RENEW_FOOD).await;
    assert_eq!(
        p["results"][1],
        not_provided(
            FOOD,
            "食品经营许可证",
            "consent_withdrawn",
            &format!("consent {cid} is withdrawn")
        )
    );

    // No licence: the other company consents but holds nothing.
    let mut body = consent(NEW_FOOD, &[BUSINESS_LICENCE], None);
    body["purpose"] = json!("新办");
    grant(&app, &app.tokens.holder_other, body).await;
    let (_, p) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            pull_body(&format!("001:{OTHER_COMPANY}"), NEW_FOOD),
        )
        .await;
    assert_eq!(
        p["results"],
        json!([not_provided(
            BUSINESS_LICENCE,
            "营业执照",
            "no_licence",
            &format!("the holder holds no current licence of type {BUSINESS_LICENCE}")
        )])
    );
}

#[tokio::test]
async fn licences_that_do_not_verify_are_not_provided_with_their_reason() {
    let app = TestApp::new();
    let doc = business();
    app.deposit(&doc).await;
    app.deposit(&food()).await;
    let id = doc["id"].as_str().unwrap();
    grant(
        &app,
        &app.tokens.holder_company,
        consent(RENEW_FOOD, &[BUSINESS_LICENCE, FOOD], None),
    )
    .await;

    // Suspended, then revoked by the issuer: refused with the status, the verdict says why.
    for (status, reason) in [("suspended", "经营异常"), ("revoked", "以欺骗手段取得登记")]
    {
        let (s, body) = app
            .post(
                &format!("/v1/licences/{id}/status"),
                Some(&app.tokens.market),
                signed_statement(&doc, status, reason, "scjgj"),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let p = pull(&app, RENEW_FOOD).await;
        let item = &p["results"][0];
        assert_eq!(
            (
                item["outcome"].as_str(),
                item["reason"].as_str(),
                item["licenceId"].as_str()
            ),
            (Some("not_provided"), Some(status), Some(id))
        );
        assert_eq!(item["message"], format!("{id} does not verify: {status}"));
        assert_eq!(item["verdict"]["valid"], false);
        assert_eq!(check(&item["verdict"], "status")["code"], status);
        assert!(
            item.get("licence").is_none() && item.get("stampedCopy").is_none(),
            "{item}"
        );
        // The other type is unaffected.
        assert_eq!(p["results"][1]["outcome"], "provided");
    }

    // Integrity failure: a flipped byte in RocksDB; the bytes are never served.
    let fid =
        licence_vault::codes::LicenceId::from_urn_or_bare(food()["id"].as_str().unwrap()).unwrap();
    let key = layout::licence(&fid).to_vec();
    let mut bytes = app
        .store()
        .get(Table::LicenceDocument, &key)
        .unwrap()
        .unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let mut c = Change::durable();
    c.put(Table::LicenceDocument, key, bytes);
    app.store().commit(c).unwrap();
    let p = pull(&app, RENEW_FOOD).await;
    let item = &p["results"][1];
    assert_eq!(
        (
            item["outcome"].as_str(),
            item["reason"].as_str(),
            item["licenceId"].as_str()
        ),
        (
            Some("not_provided"),
            Some("integrity_failure"),
            Some(fid.urn().as_str())
        )
    );
    assert!(
        item.get("licence").is_none() && item.get("stampedCopy").is_none(),
        "{item}"
    );
}

#[test]
fn an_expired_licence_is_not_provided() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(dir.path());
    seed_registries(&vault);
    let deposit_at = Utc::now();
    for d in [business(), food()] {
        vault.deposit(&uscc(MARKET), &d, deposit_at).unwrap();
    }
    // The food licence is valid until 2030-05-19T23:59:59Z; pull a month later.
    let later = time("2030-06-19T00:00:00Z");
    vault
        .create_consent(
            &Acting::own(holder_code()),
            new_consent(
                RENEW_FOOD,
                &[BUSINESS_LICENCE, FOOD],
                later + Duration::days(30),
            ),
            later,
        )
        .unwrap();
    let p = vault
        .reuse(REQUESTER, pull_request(RENEW_FOOD), later)
        .unwrap();
    assert_eq!(p.results[0].reason, None);
    assert_eq!(
        p.results[1].reason,
        Some(licence_vault::verdict::Reason::Expired)
    );
    assert!(p.results[1].licence.is_none() && p.results[1].stamped_copy.is_none());
}

#[tokio::test]
async fn pulls_are_refused_outside_the_requesters_matters_and_role() {
    let app = TestApp::new();
    app.deposit(&business()).await;
    grant(
        &app,
        &app.tokens.holder_company,
        consent(NEW_FOOD, &[BUSINESS_LICENCE], None),
    )
    .await;

    // A matter the requester is not registered for (and one that does not exist): 403, no record.
    for matter in ["350100-GJJ-001", "no-such-matter"] {
        let (status, body) = app
            .post(
                "/v1/reuse",
                Some(&app.tokens.requester),
                pull_body(&holder(), matter),
            )
            .await;
        assert_eq!(
            (status, code(&body), body["error"]["field"].as_str()),
            (
                StatusCode::FORBIDDEN,
                "matter_not_allowed",
                Some("$.matter")
            )
        );
        assert_eq!(
            body["error"]["message"],
            format!("{REQUESTER} is not registered for matter {matter}")
        );
    }
    // Holder, issuer and admin tokens: 403; none or unknown: 401.
    for token in [
        &app.tokens.holder_company,
        &app.tokens.market,
        &app.tokens.admin,
    ] {
        let (status, body) = app
            .post("/v1/reuse", Some(token), pull_body(&holder(), NEW_FOOD))
            .await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    }
    for token in [None, Some("lv_nope")] {
        let (status, body) = app
            .post("/v1/reuse", token, pull_body(&holder(), NEW_FOOD))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
    }
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        log["records"],
        json!([]),
        "refused requests pull nothing and log nothing"
    );

    // Another approval system registered for the same matter has no consent of this holder.
    let other = licence_vault::registry::Requester {
        id: "fz-other".into(),
        name: "另一审批系统".into(),
        matters: vec![NEW_FOOD.into()],
    };
    app.vault.put_requester(other).unwrap();
    let token = token(&app.vault, &Principal::Requester("fz-other".into()));
    let (status, p) = app
        .post("/v1/reuse", Some(&token), pull_body(&holder(), NEW_FOOD))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        outcomes(&p),
        [(
            BUSINESS_LICENCE.to_owned(),
            "not_provided".to_owned(),
            Some("no_consent".to_owned())
        )]
    );
    // The consented requester pulling for a holder who did not consent gets nothing either.
    let (_, p) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            pull_body(&format!("001:{OTHER_COMPANY}"), NEW_FOOD),
        )
        .await;
    assert_eq!(outcomes(&p)[0].2.as_deref(), Some("no_consent"));

    // Bad input names the field.
    for (body, status, code_, field) in [
        (
            json!({"holder": "001:91350102MA2XN1A2K1", "matter": NEW_FOOD, "purpose": "x"}),
            400,
            "invalid_holder_code",
            "$.holder",
        ),
        (
            json!({"matter": NEW_FOOD, "purpose": "x"}),
            400,
            "invalid_request",
            "$.holder",
        ),
        (
            json!({"holder": holder(), "matter": NEW_FOOD}),
            400,
            "invalid_request",
            "$.purpose",
        ),
        (
            json!({"holder": holder(), "matter": NEW_FOOD, "purpose": "  "}),
            400,
            "invalid_request",
            "$.purpose",
        ),
        (
            json!({"holder": holder(), "matter": NEW_FOOD, "purpose": "x", "types": []}),
            400,
            "invalid_request",
            "$.types",
        ),
        (
            json!({"holder": holder(), "matter": NEW_FOOD, "purpose": "x", "types": ["nope"]}),
            400,
            "invalid_identifier",
            "$.types[0]",
        ),
        (
            json!({"holder": holder(), "matter": NEW_FOOD, "purpose": "x", "extra": 1}),
            400,
            "invalid_request",
            "$.extra",
        ),
    ] {
        let (s, b) = app
            .post("/v1/reuse", Some(&app.tokens.requester), body.clone())
            .await;
        assert_eq!(
            (s.as_u16(), code(&b), b["error"]["field"].as_str()),
            (status, code_, Some(field)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn every_reuse_endpoint_answers_401_and_403() {
    let app = TestApp::new();
    let t = &app.tokens;
    let (_, openapi) = app.get("/v1/openapi.json", None).await;
    for (path, method) in [
        ("/v1/me/consents", "post"),
        ("/v1/me/consents", "get"),
        ("/v1/me/consents/{id}", "delete"),
        ("/v1/me/access-log", "get"),
        ("/v1/reuse", "post"),
        ("/v1/admin/stats", "get"),
    ] {
        assert!(
            openapi["paths"][path].get(method).is_some(),
            "{method} {path} is not in the OpenAPI description"
        );
    }
    let endpoints: [(Method, &str, Option<Value>, Vec<&String>); 6] = [
        (
            Method::POST,
            "/v1/me/consents",
            Some(consent(NEW_FOOD, &[BUSINESS_LICENCE], None)),
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            Method::GET,
            "/v1/me/consents",
            None,
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            Method::DELETE,
            "/v1/me/consents/cst_1",
            None,
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            Method::GET,
            "/v1/me/access-log",
            None,
            vec![&t.admin, &t.market, &t.requester],
        ),
        (
            Method::POST,
            "/v1/reuse",
            Some(pull_body(&holder(), NEW_FOOD)),
            vec![&t.admin, &t.market, &t.holder_company],
        ),
        (
            Method::GET,
            "/v1/admin/stats",
            None,
            vec![&t.market, &t.requester, &t.holder_company],
        ),
    ];
    for (method, path, body, others) in endpoints {
        app.assert_refused(
            &method,
            path,
            body.as_ref(),
            &[None, Some("lv_unknown")],
            &others,
        )
        .await;
    }
}

#[tokio::test]
async fn consents_are_checked_and_bad_ones_change_nothing() {
    let app = TestApp::new();
    app.deposit(&business()).await;
    app.deposit(&other_business()).await;
    let own = business()["id"].as_str().unwrap().to_owned();
    let theirs = other_business()["id"].as_str().unwrap().to_owned();
    let absent = licence_vault::codes::LicenceId::new(
        &BUSINESS_LICENCE.parse().unwrap(),
        &uscc(MARKET),
        "NOPE",
        1,
    )
    .unwrap()
    .urn();
    let base = consent(NEW_FOOD, &[BUSINESS_LICENCE], None);
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let by_ids = |ids: Value| {
        let mut b = without("types");
        b["licences"] = ids;
        b
    };
    let cases = [
        // Someone else's licence and an absent one get the same answer.
        (by_ids(json!([theirs])), 403, "forbidden", "$.licences[0]"),
        (
            by_ids(json!([own, absent])),
            403,
            "forbidden",
            "$.licences[1]",
        ),
        (
            by_ids(json!(["1.2.156.bad"])),
            400,
            "invalid_identifier",
            "$.licences[0]",
        ),
        (
            with("expiresAt", json!(in_days(367))),
            400,
            "invalid_request",
            "$.expiresAt",
        ),
        (
            with(
                "expiresAt",
                json!(format_time(Utc::now() - Duration::minutes(1))),
            ),
            400,
            "invalid_request",
            "$.expiresAt",
        ),
        (without("expiresAt"), 400, "invalid_request", "$.expiresAt"),
        (
            with("expiresAt", json!("tomorrow")),
            400,
            "invalid_request",
            "$.expiresAt",
        ),
        (
            with("maxUses", json!(0)),
            400,
            "invalid_request",
            "$.maxUses",
        ),
        (
            with("maxUses", json!(-1)),
            400,
            "invalid_request",
            "$.maxUses",
        ),
        (
            with("requester", json!("fz-nobody")),
            404,
            "not_found",
            "$.requester",
        ),
        (
            with("matter", json!("no-such-matter")),
            404,
            "not_found",
            "$.matter",
        ),
        (
            with("matter", json!("350100-GJJ-001")),
            400,
            "invalid_request",
            "$.matter",
        ),
        (
            with("types", json!([FOOD])),
            400,
            "invalid_request",
            "$.types[0]",
        ),
        (
            with("types", json!(["11100000000013338W999"])),
            400,
            "unknown_type",
            "$.types[0]",
        ),
        (
            with("types", json!(["x"])),
            400,
            "invalid_identifier",
            "$.types[0]",
        ),
        (with("types", json!([])), 400, "invalid_request", "$.types"),
        (
            with("licences", json!([own])),
            400,
            "invalid_request",
            "$.types",
        ),
        (
            with("purpose", json!("")),
            400,
            "invalid_request",
            "$.purpose",
        ),
        (
            with("purpose", json!("长".repeat(501))),
            400,
            "invalid_request",
            "$.purpose",
        ),
        (
            with("colour", json!("red")),
            400,
            "invalid_request",
            "$.colour",
        ),
    ];
    for (body, status, code_, field) in cases {
        let (s, b) = app
            .post(
                "/v1/me/consents",
                Some(&app.tokens.holder_company),
                body.clone(),
            )
            .await;
        assert_eq!(
            (s.as_u16(), code(&b), b["error"]["field"].as_str()),
            (status, code_, Some(field)),
            "{body}"
        );
    }
    let (_, b) = app
        .post(
            "/v1/me/consents",
            Some(&app.tokens.holder_company),
            with("expiresAt", json!(in_days(367))),
        )
        .await;
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("must be at most one year ahead"),
        "{b}"
    );
    let (_, list) = app
        .get("/v1/me/consents", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        list,
        json!({"consents": []}),
        "refused consents leave nothing behind"
    );

    // A consent over the holder's own licence by id covers it (and its later versions).
    let c = grant(
        &app,
        &app.tokens.holder_company,
        by_ids(json!([own.trim_start_matches("urn:gbt36904:")])),
    )
    .await;
    assert_eq!(
        c["licences"],
        json!([own.trim_start_matches("urn:gbt36904:")])
    );
    assert_eq!(c["remainingUses"], Value::Null);
    let p = pull(&app, NEW_FOOD).await;
    assert_eq!(p["results"][0]["licenceId"], own.as_str());
    assert_eq!(p["results"][0]["outcome"], "provided");
    // Just under a year is fine.
    grant(
        &app,
        &app.tokens.holder_company,
        with("expiresAt", json!(in_days(364))),
    )
    .await;
}

#[tokio::test]
async fn renewals_replace_their_predecessors_in_pulls() {
    let app = TestApp::new();
    let v1 = sign(&business_licence("R0001", COMPANY), "scjgj");
    app.deposit(&v1).await;
    let v1_id =
        licence_vault::codes::LicenceId::from_urn_or_bare(v1["id"].as_str().unwrap()).unwrap();
    // Consent names version 001.
    grant(&app, &app.tokens.holder_company, {
        let mut b = consent(NEW_FOOD, &[], None);
        b.as_object_mut().unwrap().remove("types");
        b["licences"] = json!([v1["id"]]);
        b
    })
    .await;
    let mut v2 = business_licence("R0001", COMPANY);
    let v2_id = v1_id.with_version(2).unwrap();
    v2["id"] = json!(v2_id.urn());
    v2["credentialSubject"]["licence"]["version"] = json!("002");
    v2["credentialSubject"]["licence"]["predecessor"] = v1["id"].clone();
    v2["credentialSubject"]["licence"]["fields"]["住所"] = json!("福建省福州市台江区八一七中路1号");
    app.deposit(&sign(&v2, "scjgj")).await;
    let p = pull(&app, NEW_FOOD).await;
    assert_eq!(p["results"][0]["outcome"], "provided");
    assert_eq!(p["results"][0]["licenceId"], v2_id.urn());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pulls_never_exceed_max_uses() {
    let app = Arc::new(TestApp::new());
    app.deposit(&business()).await;
    grant(
        &app,
        &app.tokens.holder_company,
        consent(NEW_FOOD, &[BUSINESS_LICENCE], Some(3)),
    )
    .await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post(
                    "/v1/reuse",
                    Some(&app.tokens.requester),
                    pull_body(&holder(), NEW_FOOD),
                )
                .await
            })
        })
        .collect();
    let mut provided = 0;
    let mut exhausted = 0;
    for t in tasks {
        let (status, p) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{p}");
        match p["results"][0]["reason"].as_str() {
            None => provided += 1,
            Some("consent_exhausted") => exhausted += 1,
            Some(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((provided, exhausted), (3, 13));
    let (_, list) = app
        .get("/v1/me/consents", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(
        (
            list["consents"][0]["uses"].as_u64(),
            list["consents"][0]["state"].as_str()
        ),
        (Some(3), Some("exhausted"))
    );

    // All sixteen pulls are in the log: pages of five, newest first, no repeats.
    let (pages, seen) = walk_access_log(&app).await;
    assert_eq!((pages, seen.len()), (4, 16));
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0));
    assert_eq!(
        seen.iter().map(|s| &s.0).collect::<Vec<_>>(),
        sorted.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<_> = seen.iter().map(|s| &s.1).collect();
    assert_eq!(ids.len(), 16);

    // Records in the layout of stores written before the index split (the record itself in
    // the holder's entry) read the same, mixed with indexed ones.
    let store = app.store();
    let index = store
        .scan(Table::HolderAccess, b"", false, usize::MAX)
        .unwrap();
    assert_eq!(index.len(), 16);
    assert!(
        index.iter().all(|(_, v)| v.is_empty()),
        "index entries only"
    );
    let mut legacy = Change::durable();
    for (k, _) in index.iter().step_by(3) {
        let at = layout::access_record_of(k).unwrap();
        let record = store.get(Table::AccessRecord, at).unwrap().unwrap();
        legacy.put(Table::HolderAccess, k.clone(), record);
        legacy.delete(Table::AccessRecord, at.to_vec());
    }
    store.commit(legacy).unwrap();
    let (_, again) = walk_access_log(&app).await;
    assert_eq!(again, seen);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("cursor=zz", "cursor"),
        ("page=2", "page"),
    ] {
        let (status, b) = app
            .get(
                &format!("/v1/me/access-log?{query}"),
                Some(&app.tokens.holder_company),
            )
            .await;
        assert_eq!(
            (status, code(&b), b["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request", Some(field)),
            "{query}"
        );
    }
}

/// The company holder's whole access log in pages of five: the number of pages and each
/// record's `(at, id)`, in the order served.
async fn walk_access_log(app: &TestApp) -> (usize, Vec<(String, String)>) {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/me/access-log?limit=5".to_owned(),
            Some(c) => format!("/v1/me/access-log?limit=5&cursor={c}"),
        };
        let (status, page) = app.get(&path, Some(&app.tokens.holder_company)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for r in page["records"].as_array().unwrap() {
            seen.push((
                r["at"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            ));
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    (pages, seen)
}

/// A vault over `store` with the demo registries, the business licence deposited and the
/// holder's consent for the new-food matter (at most `max_uses`): the vault, its router, a
/// requester's token and the holder's.
async fn consented(
    store: Arc<WatchedStore>,
    max_uses: u32,
) -> (Arc<Vault>, axum::Router, String, String) {
    let vault = Arc::new(Vault::open(store, key("vault"), Vec::new()).unwrap());
    seed_registries(&vault);
    let (requester, holder_t) = (
        token(&vault, &Principal::Requester(REQUESTER.into())),
        token(&vault, &Principal::Holder(holder_code())),
    );
    vault
        .deposit(&uscc(MARKET), &business(), Utc::now())
        .unwrap();
    let router = licence_vault::http::router(vault.clone());
    let (status, c) = send(
        &router,
        Method::POST,
        "/v1/me/consents",
        &holder_t,
        Some(consent(NEW_FOOD, &[BUSINESS_LICENCE], Some(max_uses))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    (vault, router, requester, holder_t)
}

#[tokio::test]
async fn a_failed_access_record_write_fails_the_pull_and_releases_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(WatchedStore::failing(
        &dir.path().join("db"),
        Table::HolderAccess,
    ));
    let (vault, router, requester, holder_t) = consented(store.clone(), 2).await;
    let admin = token(&vault, &Principal::Admin);

    store.fail.store(true, Ordering::SeqCst);
    let (status, body) = send(
        &router,
        Method::POST,
        "/v1/reuse",
        &requester,
        Some(pull_body(&holder(), NEW_FOOD)),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": {"code": "internal", "message": "internal error; the vault logged the details"}}),
        "nothing but the error leaves"
    );
    // No use counted, no record, no statistics.
    let (_, list) = send(&router, Method::GET, "/v1/me/consents", &holder_t, None).await;
    assert_eq!(
        (
            list["consents"][0]["uses"].as_u64(),
            list["consents"][0]["history"].as_array().unwrap().len()
        ),
        (Some(0), 1)
    );
    let (_, log) = send(&router, Method::GET, "/v1/me/access-log", &holder_t, None).await;
    assert_eq!(log["records"], json!([]));
    let (_, stats) = send(&router, Method::GET, "/v1/admin/stats", &admin, None).await;
    assert_eq!(
        stats,
        json!({"totals": {"pulls": 0, "provided": 0, "notProvided": {}}, "pulls": [], "licences": []})
    );
    assert_eq!(
        vault
            .metrics
            .get(licence_vault::metrics::Counter::ReusePulls { matter: NEW_FOOD }),
        0
    );

    // Once the log can be written again, the same pull succeeds and counts.
    store.fail.store(false, Ordering::SeqCst);
    let (status, p) = send(
        &router,
        Method::POST,
        "/v1/reuse",
        &requester,
        Some(pull_body(&holder(), NEW_FOOD)),
    )
    .await;
    assert_eq!((status, p["provided"].as_u64()), (StatusCode::OK, Some(1)));
    let (_, list) = send(&router, Method::GET, "/v1/me/consents", &holder_t, None).await;
    assert_eq!(list["consents"][0]["remainingUses"], 1);
}

/// A copy of `p`'s first licence as the vault signed it, which is strict JSON in canonical form.
fn first_copy(p: &licence_vault::vault::Pull) -> Value {
    let copy = p.results[0].stamped_copy.clone().unwrap();
    let value = licence_vault::jcs::parse(copy.as_bytes()).unwrap();
    assert_eq!(licence_vault::jcs::canonicalize(&value), copy.as_bytes());
    value
}

fn resign(copy: &Value, key_name: &str) -> Value {
    let mut unsigned = copy.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    licence_vault::proof::sign(unsigned.clone(), &key(key_name), Utc::now()).unwrap()
}

#[tokio::test]
async fn stamped_copies_expire_and_cannot_be_moved_onto_another_licence() {
    let app = TestApp::new();
    app.deposit(&business()).await;
    app.deposit(&other_business()).await;
    let now = Utc::now();
    app.vault
        .create_consent(
            &Acting::own(holder_code()),
            new_consent(NEW_FOOD, &[BUSINESS_LICENCE], now + Duration::days(60)),
            now,
        )
        .unwrap();
    let p = app
        .vault
        .reuse(REQUESTER, pull_request(NEW_FOOD), now)
        .unwrap();
    let copy = first_copy(&p);
    let verdict = |doc: &Value, at: DateTime<Utc>| {
        serde_json::to_value(app.vault.verify_presented(doc, at).unwrap()).unwrap()
    };
    let v = verdict(&copy, now);
    assert_eq!(v["valid"], true, "{v}");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "signature",
            "issuer_key",
            "issuer",
            "validity",
            "data_model",
            "binding",
            "integrity",
            "identifier",
            "schema",
            "signature",
            "issuer_key",
            "issuer",
            "status",
            "validity"
        ]
    );
    // The embedded licence's checks are marked as its own.
    assert_eq!(v["checks"][6]["detail"], "licence");
    assert!(
        v["checks"][9]["detail"]
            .as_str()
            .unwrap()
            .starts_with("licence: eddsa-jcs-2022 by "),
        "{v}"
    );

    // After expiresAt the copy is expired (the licence itself is still valid).
    let v = verdict(&copy, now + Duration::days(30));
    assert_eq!(
        (v["valid"].as_bool(), v["checks"][3]["code"].as_str()),
        (Some(false), Some("expired"))
    );
    let v = verdict(&copy, now + Duration::days(30) - Duration::seconds(1));
    assert_eq!(v["valid"], true);

    // The embedded licence swapped for another: the vault's signature no longer covers it …
    let mut swapped = copy.clone();
    swapped["credentialSubject"]["document"] = other_business();
    let v = verdict(&swapped, now);
    assert_eq!(
        (v["valid"].as_bool(), v["checks"][0]["code"].as_str()),
        (Some(false), Some("bad_signature"))
    );
    assert_eq!(check(&v, "binding")["code"], "integrity_failure");
    // … and even re-signed by the vault key, the binding fails.
    let v = verdict(&resign(&swapped, "vault"), now);
    assert_eq!(v["valid"], false);
    assert_eq!(check(&v, "signature")["ok"], true);
    assert_eq!(
        check(&v, "binding"),
        &json!({"check": "binding", "ok": false, "code": "integrity_failure",
                "detail": format!("the embedded licence has SHA-256 {}, the copy binds {}", sha(&other_business()), sha(&business()))})
    );
    // The digest fixed up too, but the id still names the first licence.
    let mut moved = swapped.clone();
    moved["credentialSubject"]["sha256"] = json!(sha(&other_business()));
    let v = verdict(&resign(&moved, "vault"), now);
    assert_eq!(
        check(&v, "binding")["detail"],
        format!(
            "the embedded licence is {}, the copy binds {}",
            other_business()["id"].as_str().unwrap(),
            business()["id"].as_str().unwrap()
        )
    );
    // A copy signed by anyone but the vault is not trusted.
    let v = verdict(&resign(&copy, "rogue"), now);
    assert_eq!(
        (
            v["valid"].as_bool(),
            check(&v, "issuer_key")["code"].as_str()
        ),
        (Some(false), Some("unknown_key"))
    );
    // Over HTTP, the same answer.
    let (status, v) = app
        .post(
            "/v1/verify",
            Some(&app.tokens.requester),
            resign(&swapped, "vault"),
        )
        .await;
    assert_eq!(
        (
            status,
            v["valid"].as_bool(),
            check(&v, "binding")["ok"].as_bool()
        ),
        (StatusCode::OK, Some(false), Some(false))
    );
}

#[test]
fn the_verify_cli_checks_stamped_copies_against_the_published_vault_key() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(&dir.path().join("vault"));
    seed_registries(&vault);
    let now = Utc::now();
    for d in [business(), other_business()] {
        vault.deposit(&uscc(MARKET), &d, now).unwrap();
    }
    // One pull now, one forty days ago (its copy expired ten days ago).
    let then = now - Duration::days(40);
    vault
        .create_consent(
            &Acting::own(holder_code()),
            new_consent(NEW_FOOD, &[BUSINESS_LICENCE], then + Duration::days(300)),
            then,
        )
        .unwrap();
    let fresh = first_copy(&vault.reuse(REQUESTER, pull_request(NEW_FOOD), now).unwrap());
    let old = first_copy(
        &vault
            .reuse(REQUESTER, pull_request(NEW_FOOD), then)
            .unwrap(),
    );

    let write = |name: &str, v: &Value| write_json(dir.path(), name, v);
    let registry = registry_file(dir.path(), &vault.did_key());
    let mut swapped = fresh.clone();
    swapped["credentialSubject"]["document"] = other_business();

    let (code_, v) = cli(&[
        "verify",
        "--in",
        &write("fresh.json", &fresh),
        "--registry",
        &registry,
    ]);
    assert_eq!((code_, v["valid"].as_bool()), (Some(0), Some(true)), "{v}");
    assert_eq!(check(&v, "binding")["ok"], true);
    assert_eq!(check(&v, "issuer_key")["ok"], true);

    let (code_, v) = cli(&[
        "verify",
        "--in",
        &write("old.json", &old),
        "--registry",
        &registry,
    ]);
    assert_eq!((code_, v["valid"].as_bool()), (Some(1), Some(false)));
    assert_eq!(v["checks"][3]["code"], "expired");

    for (name, doc) in [
        ("swapped.json", swapped.clone()),
        ("resigned.json", resign(&swapped, "vault")),
    ] {
        let (code_, v) = cli(&[
            "verify",
            "--in",
            &write(name, &doc),
            "--registry",
            &registry,
        ]);
        assert_eq!(
            (code_, check(&v, "binding")["code"].as_str()),
            (Some(1), Some("integrity_failure")),
            "{name}"
        );
    }
    // Without a registry the vault key cannot be checked: not checked, never passed.
    let (code_, v) = cli(&["verify", "--in", &write("fresh2.json", &fresh)]);
    assert_eq!(
        (code_, check(&v, "issuer_key")["ok"].clone()),
        (Some(0), Value::Null)
    );
}

fn metric(text: &str, line_start: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn reuse_statistics_are_in_metrics_and_admin_stats_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let (admin, requester) = {
        let vault = open(dir.path());
        seed_registries(&vault);
        for d in [business(), food()] {
            vault.deposit(&uscc(MARKET), &d, now).unwrap();
        }
        vault
            .create_consent(
                &Acting::own(holder_code()),
                new_consent(RENEW_FOOD, &[BUSINESS_LICENCE], now + Duration::days(9)),
                now,
            )
            .unwrap();
        let tokens = (
            token(&vault, &Principal::Admin),
            token(&vault, &Principal::Requester(REQUESTER.into())),
        );
        let router = licence_vault::http::router(vault.clone());
        for _ in 0..2 {
            let (status, _) = send(
                &router,
                Method::POST,
                "/v1/reuse",
                &tokens.1,
                Some(pull_body(&holder(), RENEW_FOOD)),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, _) = send(
            &router,
            Method::POST,
            "/v1/reuse",
            &tokens.1,
            Some(pull_body(&holder(), NEW_FOOD)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        tokens
    };
    // Reopened: the counters come from the store, the consent's use counter among them.
    let vault = open(dir.path());
    let consents = vault.consents(&holder_code()).unwrap();
    assert_eq!(
        consents.iter().map(|c| c.uses).collect::<Vec<_>>(),
        [2],
        "two pulls provided under the consent"
    );
    let router = licence_vault::http::router(vault.clone());
    let (status, stats) = send(&router, Method::GET, "/v1/admin/stats", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stats,
        json!({
            "totals": {"pulls": 3, "provided": 2, "notProvided": {"no_consent": 3}},
            "pulls": [{"matter": NEW_FOOD, "pulls": 1}, {"matter": RENEW_FOOD, "pulls": 2}],
            "licences": [
                {"agency": MARKET, "type": BUSINESS_LICENCE, "matter": RENEW_FOOD, "outcome": "provided", "count": 2},
                // The consent is for the renewal only; no licence is looked at without one.
                {"agency": "none", "type": BUSINESS_LICENCE, "matter": NEW_FOOD, "outcome": "no_consent", "count": 1},
                {"agency": "none", "type": FOOD, "matter": RENEW_FOOD, "outcome": "no_consent", "count": 2},
            ]
        })
    );
    let (status, text) = send(&router, Method::GET, "/metrics", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    assert!(
        text.contains("# HELP licence_vault_reuse_pulls_total "),
        "{text}"
    );
    assert!(text.contains("# HELP licence_vault_reuse_licences_total "));
    assert_eq!(
        metric(
            &text,
            &format!("licence_vault_reuse_pulls_total{{matter=\"{RENEW_FOOD}\"}}")
        ),
        Some(2)
    );
    assert_eq!(
        metric(&text, &format!("licence_vault_reuse_licences_total{{agency=\"{MARKET}\",type=\"{BUSINESS_LICENCE}\",matter=\"{RENEW_FOOD}\",outcome=\"provided\"}}")),
        Some(2)
    );
    assert_eq!(
        metric(&text, &format!("licence_vault_reuse_licences_total{{agency=\"none\",type=\"{FOOD}\",matter=\"{RENEW_FOOD}\",outcome=\"no_consent\"}}")),
        Some(2)
    );
    // One more pull moves both.
    send(
        &router,
        Method::POST,
        "/v1/reuse",
        &requester,
        Some(pull_body(&holder(), NEW_FOOD)),
    )
    .await;
    let (_, text) = send(&router, Method::GET, "/metrics", &admin, None).await;
    assert_eq!(
        metric(
            text.as_str().unwrap(),
            &format!("licence_vault_reuse_pulls_total{{matter=\"{NEW_FOOD}\"}}")
        ),
        Some(2)
    );
    let (_, stats) = send(&router, Method::GET, "/v1/admin/stats", &admin, None).await;
    assert_eq!(stats["totals"]["pulls"], 4);
}

#[tokio::test]
async fn the_demo_seeds_consents_that_pull_and_the_readme_walkthrough_works() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(&dir.path().join("vault"));
    licence_vault::demo::seed(&vault, &root().join("fixtures"), dir.path()).unwrap();
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo-tokens.json")).unwrap())
            .unwrap();
    let router = licence_vault::http::router(vault.clone());
    let lin = "111:350102198503120130";
    let holder_t = tokens["holders"][lin].as_str().unwrap();

    // A seeded consent: 林志强 → 公积金中心, for 住房公积金提取, six months.
    let (_, list) = send(&router, Method::GET, "/v1/me/consents", holder_t, None).await;
    let c = &list["consents"][0];
    assert_eq!(
        (
            c["requester"].as_str(),
            c["matter"].as_str(),
            c["state"].as_str()
        ),
        (Some("fz-gjj"), Some("350100-GJJ-001"), Some("active"))
    );
    let days = (licence_vault::proof::parse_time(c["expiresAt"].as_str().unwrap()).unwrap()
        - licence_vault::proof::parse_time(c["createdAt"].as_str().unwrap()).unwrap())
    .num_days();
    assert_eq!(days, 180);
    let (status, p) = send(
        &router,
        Method::POST,
        "/v1/reuse",
        tokens["requesters"]["fz-gjj"].as_str().unwrap(),
        Some(
            json!({"holder": lin, "matter": "350100-GJJ-001", "purpose": "住房公积金提取（购房）"}),
        ),
    )
    .await;
    assert_eq!(
        (status, p["provided"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{p}"
    );
    for (h, requester, matter) in [
        ("111:350103198809230240", "fz-ga-zwfw", "350100-GA-003"),
        ("111:350104197911050571", "fz-rs-zwfw", "350100-RS-006"),
        ("001:91350102MA2XN1A2K0", "fz-scjg-xk", "350100-SJ-005"),
    ] {
        let (status, p) = send(
            &router,
            Method::POST,
            "/v1/reuse",
            tokens["requesters"][requester].as_str().unwrap(),
            Some(json!({"holder": h, "matter": matter, "purpose": "演示"})),
        )
        .await;
        assert_eq!(
            (status, p["notProvided"].as_u64()),
            (StatusCode::OK, Some(0)),
            "{h}: {p}"
        );
    }

    // The README walk-through: 王海峰 grants the police approval system a licence renewal pull …
    let wang = "111:350105199011280350";
    let wang_t = tokens["holders"][wang].as_str().unwrap();
    let (status, c) = send(&router, Method::POST, "/v1/me/consents", wang_t, Some(json!({
        "requester": "fz-ga-zwfw", "matter": "350100-JJ-002", "purpose": "驾驶证期满换证",
        "types": ["11100000000019713D001", "11100000000019713D002"], "expiresAt": in_days(30), "maxUses": 1}))).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let police = tokens["requesters"]["fz-ga-zwfw"].as_str().unwrap();
    let (_, p) = send(
        &router,
        Method::POST,
        "/v1/reuse",
        police,
        Some(json!({"holder": wang, "matter": "350100-JJ-002", "purpose": "驾驶证期满换证"})),
    )
    .await;
    assert_eq!(p["provided"], 2, "{p}");
    let (_, log) = send(
        &router,
        Method::GET,
        "/v1/me/access-log?limit=1",
        wang_t,
        None,
    )
    .await;
    assert_eq!(log["records"][0]["requester"], "fz-ga-zwfw");
    let (status, _) = send(
        &router,
        Method::DELETE,
        &format!("/v1/me/consents/{}", c["id"].as_str().unwrap()),
        wang_t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, p) = send(
        &router,
        Method::POST,
        "/v1/reuse",
        police,
        Some(json!({"holder": wang, "matter": "350100-JJ-002", "purpose": "驾驶证期满换证"})),
    )
    .await;
    assert_eq!(p["results"][0]["reason"], "consent_withdrawn");

    // A pending consent request for 黄建华 (失业保险金申领), with its minimised preview.
    let huang = "111:350104197911050571";
    let huang_t = tokens["holders"][huang].as_str().unwrap();
    let (_, reqs) = send(
        &router,
        Method::GET,
        "/v1/me/consent-requests",
        huang_t,
        None,
    )
    .await;
    let r = &reqs["requests"][0];
    assert_eq!(reqs["requests"].as_array().unwrap().len(), 1, "{reqs}");
    assert_eq!(
        (r["requester"].as_str(), r["matter"].as_str()),
        (Some("fz-rs-zwfw"), Some("350100-RS-007"))
    );
    assert_eq!(r["preview"][1]["fields"]["卡号"], "D35012873");
    assert_eq!(r["preview"][1]["wholeLicence"], false);

    // Seeding again does not duplicate consents or pending requests; an answered request is
    // asked again, so every demo start has one pending.
    std::fs::remove_file(dir.path().join("demo-tokens.json")).unwrap();
    licence_vault::demo::seed(&vault, &root().join("fixtures"), dir.path()).unwrap();
    let h: HolderCode = lin.parse().unwrap();
    assert_eq!(vault.consents(&h).unwrap().len(), 1);
    let hh: HolderCode = huang.parse().unwrap();
    let pending = vault.pending_requests(&hh, Utc::now()).unwrap();
    assert_eq!(pending.len(), 1);
    vault
        .reject_request(&Acting::own(hh.clone()), &pending[0].id, None, Utc::now())
        .unwrap();
    licence_vault::demo::seed(&vault, &root().join("fixtures"), dir.path()).unwrap();
    let again = vault.pending_requests(&hh, Utc::now()).unwrap();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, pending[0].id);
}

#[tokio::test]
async fn the_verify_cli_checks_a_stamped_copy_against_a_running_vault() {
    let (app, base, server) = TestApp::served().await;
    app.deposit(&business()).await;
    grant(
        &app,
        &app.tokens.holder_company,
        consent(NEW_FOOD, &[BUSINESS_LICENCE], None),
    )
    .await;
    let p = pull(&app, NEW_FOOD).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_json(dir.path(), "copy.json", &p["results"][0]["stampedCopy"]);
    // Without a token the CLI verifies locally with the vault's public key and registries …
    let args = ["verify", "--in", &path, "--vault", &base].map(str::to_owned);
    let (code_, v) = tokio::task::spawn_blocking(move || cli(&args.each_ref().map(String::as_str)))
        .await
        .unwrap();
    assert_eq!(code_, Some(0), "{v}");
    for c in v["checks"].as_array().unwrap() {
        assert_ne!(c["ok"], false, "{c}");
    }
    assert_eq!(check(&v, "binding")["ok"], true);
    // … with one, the vault verifies it.
    let args = [
        "verify",
        "--in",
        &path,
        "--vault",
        &base,
        "--token",
        &app.tokens.requester,
    ]
    .map(str::to_owned);
    let (code_, v) = tokio::task::spawn_blocking(move || cli(&args.each_ref().map(String::as_str)))
        .await
        .unwrap();
    assert_eq!((code_, v["valid"].as_bool()), (Some(0), Some(true)), "{v}");
    server.abort();
}

/// On a store other processes write, a pull reads the store three times — its requester's token,
/// the holder's door (the holder's version, consents with their use counts, licence index, chain
/// head, summary, and whether the registries the pull was asked under are still current), the
/// licences it releases — then commits once; and answers as on any store.
#[tokio::test]
async fn a_pull_on_a_shared_store_reads_in_three_flights() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(WatchedStore::shared(&dir.path().join("db")));
    let (_vault, router, requester, holder_t) = consented(store.clone(), 3).await;
    for (n, remaining) in [(1, 2), (2, 1)] {
        store.reads.store(0, Ordering::SeqCst);
        let (status, p) = send(
            &router,
            Method::POST,
            "/v1/reuse",
            &requester,
            Some(pull_body(&holder(), NEW_FOOD)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(outcomes(&p)[0].1, "provided", "{p}");
        // The first pull of a holder also looks for an access record before the chain began.
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            if n == 1 { 5 } else { 3 }
        );
        let (_, list) = send(&router, Method::GET, "/v1/me/consents", &holder_t, None).await;
        assert_eq!(list["consents"][0]["remainingUses"], remaining);
    }
}
