//! Consent at the point of service (SPEC §10): requests, the holder's preview and answer,
//! minimised copies, checks without release, consent receipts and the holder's summary.

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use licence_vault::auth::Principal;
use licence_vault::codes::HolderCode;
use licence_vault::proof::format_time;
use licence_vault::reuse::delegation::Acting;
use licence_vault::reuse::Narrowing;
use licence_vault::vault::VaultError;
use licence_vault::verdict::Reason;
use serde_json::{json, Value};

use crate::support::*;

/// 机动车驾驶证期满换证: declares the fields it needs of the ID card and the driving licence.
const LICENCE_RENEWAL: &str = "350100-JJ-002";
const POLICE_SYSTEM: &str = "fz-ga-zwfw";
const DRIVING_LICENCE: &str = "11100000000019713D002";
/// The declared fields of `fixtures/matters.json` for LICENCE_RENEWAL.
const ID_FIELDS: [&str; 3] = ["姓名", "性别", "出生"];
const DL_FIELDS: [&str; 4] = ["姓名", "准驾车型", "初次领证日期", "档案编号"];

fn fixture(name: &str) -> Value {
    read_json(&format!("fixtures/licences/{name}.json"))
}

fn holder_of(doc: &Value) -> String {
    let h = &doc["credentialSubject"]["holder"];
    format!(
        "{}:{}",
        h["codeType"].as_str().unwrap(),
        h["code"].as_str().unwrap()
    )
}

/// A vault holding 林志强's ID card and driving licence, with tokens for him and the police
/// approval system.
struct Counter {
    app: TestApp,
    holder: String,
    citizen: String,
    system: String,
}

impl Counter {
    async fn new() -> Self {
        let app = TestApp::new();
        for name in ["01-sfz-linzhiqiang", "04-jsz-linzhiqiang"] {
            let (status, r) = app
                .post("/v1/licences", Some(&app.tokens.police), fixture(name))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{r}");
        }
        let holder = holder_of(&fixture("01-sfz-linzhiqiang"));
        let citizen = token(
            &app.vault,
            &Principal::Holder(holder.parse::<HolderCode>().unwrap()),
        );
        let system = token(&app.vault, &Principal::Requester(POLICE_SYSTEM.into()));
        Self {
            app,
            holder,
            citizen,
            system,
        }
    }

    async fn request(&self, body: Value) -> (StatusCode, Value) {
        self.app
            .post("/v1/consent-requests", Some(&self.system), body)
            .await
    }

    async fn ask(&self) -> Value {
        let (status, r) = self
            .request(json!({"holder": self.holder, "matter": LICENCE_RENEWAL, "purpose": "驾驶证期满换证"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        r
    }

    async fn answer(&self, id: &str, action: &str, body: Value) -> (StatusCode, Value) {
        self.app
            .post(
                &format!("/v1/me/consent-requests/{id}:{action}"),
                Some(&self.citizen),
                body,
            )
            .await
    }

    async fn pull(&self) -> Value {
        let (status, p) = self
            .app
            .post(
                "/v1/reuse",
                Some(&self.system),
                json!({"holder": self.holder, "matter": LICENCE_RENEWAL, "purpose": "受理驾驶证期满换证"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        p
    }
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_request_is_previewed_approved_and_pulled_with_only_the_declared_fields() {
    let c = Counter::new().await;
    let r = c.ask().await;
    let id = r["id"].as_str().unwrap();
    assert_eq!(r["state"], "pending");
    assert_eq!(r["requester"], POLICE_SYSTEM);
    assert_eq!(r["types"], json!([ID_CARD, DRIVING_LICENCE]));
    let created = time(r["createdAt"].as_str().unwrap());
    assert_eq!(
        time(r["expiresAt"].as_str().unwrap()),
        created + Duration::minutes(15)
    );
    assert_eq!(
        r["holderUrl"],
        format!("http://127.0.0.1:8080/me/consent-requests/{id}")
    );

    // The requester sees it pending.
    let (status, seen) = c
        .app
        .get(&format!("/v1/consent-requests/{id}"), Some(&c.system))
        .await;
    assert_eq!(
        (status, &seen["state"]),
        (StatusCode::OK, &json!("pending"))
    );

    // The holder previews exactly what would leave: per type the licence, a fresh verdict and
    // the declared face fields only.
    let (status, list) = c.app.get("/v1/me/consent-requests", Some(&c.citizen)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let req = &list["requests"][0];
    assert_eq!(list["requests"].as_array().unwrap().len(), 1);
    assert_eq!(req["id"], id);
    assert_eq!(req["requesterName"], "福州市公安局政务服务审批系统");
    assert_eq!(req["matterName"], "机动车驾驶证期满换证");
    let preview = req["preview"].as_array().unwrap();
    assert_eq!(preview.len(), 2);
    for (item, doc, declared) in [
        (&preview[0], fixture("01-sfz-linzhiqiang"), &ID_FIELDS[..]),
        (&preview[1], fixture("04-jsz-linzhiqiang"), &DL_FIELDS[..]),
    ] {
        assert_eq!(item["wouldRelease"], true, "{item}");
        assert_eq!(item["wholeLicence"], false);
        assert_eq!(item["licence"]["id"], doc["id"]);
        assert_eq!(item["licence"]["issuerName"], "福州市公安局");
        assert_eq!(item["licence"]["version"], 1);
        assert_eq!(item["licence"]["status"], "active");
        assert_eq!(item["licence"]["verdict"]["valid"], true);
        let fields = &doc["credentialSubject"]["licence"]["fields"];
        let expected: serde_json::Map<String, Value> = declared
            .iter()
            .map(|n| (n.to_string(), fields[n].clone()))
            .collect();
        assert_eq!(item["fields"], Value::Object(expected));
    }

    // Approval as asked: an ordinary consent, linked to the request, with its receipt.
    let (status, consent) = c.answer(id, "approve", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    assert_eq!(consent["request"], id);
    assert_eq!(consent["state"], "active");
    assert_eq!(consent["types"], json!([ID_CARD, DRIVING_LICENCE]));
    assert_eq!(consent["receipt"]["credentialSubject"]["event"], "approved");
    assert_eq!(consent["receipt"]["credentialSubject"]["request"], id);
    let (_, seen) = c
        .app
        .get(&format!("/v1/consent-requests/{id}"), Some(&c.system))
        .await;
    assert_eq!(seen["state"], "approved");
    assert_eq!(seen["answer"]["consent"], consent["id"]);
    // Answered: no longer pending, so not listed.
    let (_, list) = c.app.get("/v1/me/consent-requests", Some(&c.citizen)).await;
    assert_eq!(list["requests"], json!([]));
    let (_, consents) = c.app.get("/v1/me/consents", Some(&c.citizen)).await;
    assert_eq!(consents["consents"][0]["id"], consent["id"]);

    // The pull carries only the declared fields: no licence, a minimised copy per type.
    let p = c.pull().await;
    assert_eq!(p["provided"], 2, "{p}");
    let whole = p.to_string();
    for (i, doc, declared) in [
        (0, fixture("01-sfz-linzhiqiang"), &ID_FIELDS[..]),
        (1, fixture("04-jsz-linzhiqiang"), &DL_FIELDS[..]),
    ] {
        let item = &p["results"][i];
        assert_eq!(item["outcome"], "provided");
        assert!(item.get("licence").is_none(), "no whole licence: {item}");
        assert_eq!(item["disclosed"], json!(declared));
        let copy = &item["stampedCopy"];
        assert_eq!(
            copy["type"],
            json!([
                "VerifiableCredential",
                "PurposeStampedCopy",
                "MinimisedCopy"
            ])
        );
        let subject = &copy["credentialSubject"];
        assert_eq!(subject["licence"], doc["id"]);
        assert_eq!(subject["sha256"], sha(&doc));
        assert!(subject.get("document").is_none());
        assert_eq!(keys(&subject["disclosed"]), sorted(declared));
        // Byte check: no undisclosed field, by name or value, in this result.
        let text = item.to_string();
        let fields = doc["credentialSubject"]["licence"]["fields"]
            .as_object()
            .unwrap();
        let disclosed_values: Vec<&Value> = declared.iter().map(|n| &fields[*n]).collect();
        for (name, value) in fields {
            if declared.contains(&name.as_str()) {
                continue;
            }
            assert!(
                !text.contains(&format!("\"{name}\"")),
                "{name} leaked: {text}"
            );
            if !disclosed_values.contains(&value) {
                assert!(
                    !text.contains(value.as_str().unwrap()),
                    "{name}'s value leaked"
                );
            }
        }
    }
    // Of the ID card, 民族, 住址 and 签发机关 are in no result at all.
    let id_card = fixture("01-sfz-linzhiqiang");
    for name in ["民族", "住址", "签发机关"] {
        assert!(!whole.contains(name));
        let value = id_card["credentialSubject"]["licence"]["fields"][name]
            .as_str()
            .unwrap();
        assert!(!whole.contains(value), "{name}'s value in the answer");
    }

    // The copy verifies, online and offline, and says what it discloses; one changed byte fails.
    let copy = p["results"][1]["stampedCopy"].clone();
    let (status, v) = c
        .app
        .post("/v1/verify", Some(&c.system), copy.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["disclosed"], json!(sorted(&DL_FIELDS)));
    assert_eq!(check(&v, "binding")["ok"], true);
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_file(dir.path(), &c.app.vault.did_key());
    let (code_, v) = cli(&[
        "verify",
        "--in",
        &write_json(dir.path(), "copy.json", &copy),
        "--registry",
        &registry,
    ]);
    assert_eq!((code_, v["valid"].as_bool()), (Some(0), Some(true)), "{v}");
    assert_eq!(v["disclosed"], json!(sorted(&DL_FIELDS)));
    let mut forged = copy.clone();
    forged["credentialSubject"]["disclosed"]["准驾车型"] = json!("A1");
    let (_, v) = c.app.post("/v1/verify", Some(&c.system), forged).await;
    assert_eq!(v["valid"], false);
    assert_eq!(check(&v, "signature")["code"], "bad_signature");

    // The holder's log names the fields released.
    let (_, log) = c.app.get("/v1/me/access-log", Some(&c.citizen)).await;
    let r = &log["records"][0];
    assert_eq!(r["kind"], "pull");
    assert_eq!(r["outcomes"][0]["disclosed"], json!(ID_FIELDS));
    assert_eq!(r["outcomes"][1]["disclosed"], json!(DL_FIELDS));
}

#[tokio::test]
async fn a_check_answers_match_per_field_releases_nothing_else_and_is_logged() {
    let c = Counter::new().await;
    let body = |claims: Value| {
        json!({"holder": c.holder, "matter": LICENCE_RENEWAL, "purpose": "核验驾驶证信息",
               "type": DRIVING_LICENCE, "claims": claims})
    };
    // Without a consent: refused, and recorded all the same.
    let (status, a) = c
        .app
        .post(
            "/v1/reuse:check",
            Some(&c.system),
            body(json!({"准驾车型": "C1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        (&a["outcome"], &a["reason"]),
        (&json!("not_provided"), &json!("no_consent"))
    );
    assert!(a.get("results").is_none());

    let r = c.ask().await;
    let (status, _) = c
        .answer(r["id"].as_str().unwrap(), "approve", json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, a) = c
        .app
        .post(
            "/v1/reuse:check",
            Some(&c.system),
            body(json!({"准驾车型": "C1", "档案编号": "000000000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["outcome"], "provided");
    assert_eq!(
        a["results"],
        json!([{"field": "准驾车型", "match": true}, {"field": "档案编号", "match": false}])
    );
    // Nothing of the licence beyond the answers: not its id, not a field value.
    let dl = fixture("04-jsz-linzhiqiang");
    let text = a.to_string();
    assert!(!text.contains(dl["id"].as_str().unwrap()));
    for v in dl["credentialSubject"]["licence"]["fields"]
        .as_object()
        .unwrap()
        .values()
    {
        if v != "C1" {
            assert!(!text.contains(v.as_str().unwrap()), "{text}");
        }
    }
    assert_eq!(
        keys(&a),
        sorted(&[
            "accessRecord",
            "checkedAt",
            "log",
            "matter",
            "type",
            "outcome",
            "results"
        ])
    );

    // A field the matter does not declare cannot be claimed.
    let (status, e) = c
        .app
        .post(
            "/v1/reuse:check",
            Some(&c.system),
            body(json!({"性别": "男"})),
        )
        .await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert_eq!(e["error"]["field"], "$.claims.性别");
    let (status, e) = c
        .app
        .post("/v1/reuse:check", Some(&c.system), body(json!({})))
        .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.claims"))
    );

    // Each check is an access record of its own kind, with the answers and not the values.
    let (_, log) = c.app.get("/v1/me/access-log", Some(&c.citizen)).await;
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["kind"], "check");
    assert_eq!(records[0]["id"], a["accessRecord"]);
    assert_eq!(records[0]["licences"], json!([]));
    assert_eq!(
        records[0]["outcomes"][0]["claims"],
        json!({"准驾车型": true, "档案编号": false})
    );
    assert!(!records[0].to_string().contains("000000000000"));
    assert_eq!(records[1]["kind"], "check");
    assert_eq!(records[1]["outcomes"][0]["reason"], "no_consent");
    // A check counts as a use of the consent.
    let (_, consents) = c.app.get("/v1/me/consents", Some(&c.citizen)).await;
    assert_eq!(consents["consents"][0]["uses"], 1);
}

#[tokio::test]
async fn requests_move_only_from_pending_and_answers_are_final() {
    let c = Counter::new().await;
    // Rejected with a reason the requester sees; then neither approval nor rejection.
    let r = c.ask().await;
    let id = r["id"].as_str().unwrap();
    let (status, rej) = c
        .answer(id, "reject", json!({"reason": " 不在本人办理 "}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rej}");
    assert_eq!(rej["state"], "rejected");
    let (_, seen) = c
        .app
        .get(&format!("/v1/consent-requests/{id}"), Some(&c.system))
        .await;
    assert_eq!(
        (&seen["state"], &seen["answer"]["reason"]),
        (&json!("rejected"), &json!("不在本人办理"))
    );
    for action in ["approve", "reject"] {
        let (status, e) = c.answer(id, action, json!({})).await;
        assert_eq!(
            (status, code(&e)),
            (StatusCode::CONFLICT, "request_answered"),
            "{e}"
        );
    }
    // Approved twice: the second is refused and there is one consent.
    let r = c.ask().await;
    let id = r["id"].as_str().unwrap();
    assert_eq!(
        c.answer(id, "approve", json!({})).await.0,
        StatusCode::CREATED
    );
    let (status, e) = c.answer(id, "approve", json!({})).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::CONFLICT, "request_answered")
    );
    let (_, consents) = c.app.get("/v1/me/consents", Some(&c.citizen)).await;
    assert_eq!(consents["consents"].as_array().unwrap().len(), 1);

    // Expired unanswered: shown as expired, answered with 409 request_expired.
    let (status, r) = c
        .request(json!({"holder": c.holder, "matter": LICENCE_RENEWAL, "purpose": "换证", "expiresIn": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = r["id"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, seen) = c
        .app
        .get(&format!("/v1/consent-requests/{id}"), Some(&c.system))
        .await;
    assert_eq!(seen["state"], "expired");
    let (status, e) = c.answer(id, "approve", json!({})).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::CONFLICT, "request_expired")
    );
    let (_, mine) = c
        .app
        .get(&format!("/v1/me/consent-requests/{id}"), Some(&c.citizen))
        .await;
    assert_eq!(mine["state"], "expired");
    assert!(mine.get("preview").is_none(), "no preview once not pending");

    // The holder's two lists: one still pending; the three answered or expired, newest first,
    // a page at a time without gaps, with their answers and no preview.
    let pending = c.ask().await;
    let c = &c;
    let list = |q: &'static str| async move {
        let (status, l) = c
            .app
            .get(&format!("/v1/me/consent-requests{q}"), Some(&c.citizen))
            .await;
        assert_eq!(status, StatusCode::OK, "{l}");
        l
    };
    let ids = |l: &Value| -> Vec<String> {
        l["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&list("").await), [pending["id"].as_str().unwrap()]);
    let first = list("?state=answered&limit=2").await;
    let states: Vec<&Value> = first["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["state"])
        .collect();
    assert_eq!(states, [&json!("expired"), &json!("approved")]);
    assert!(first["requests"][0].get("preview").is_none());
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let (_, rest) = c
        .app
        .get(
            &format!("/v1/me/consent-requests?state=answered&limit=2&cursor={cursor}"),
            Some(&c.citizen),
        )
        .await;
    assert_eq!(rest["requests"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &rest["requests"][0]["state"],
            &rest["requests"][0]["answer"]["reason"]
        ),
        (&json!("rejected"), &json!("不在本人办理"))
    );
    assert!(rest.get("nextCursor").is_none(), "{rest}");
    let (status, e) = c
        .app
        .get("/v1/me/consent-requests?state=all", Some(&c.citizen))
        .await;
    assert_eq!(
        (status, code(&e), e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request", Some("state"))
    );
}

#[tokio::test]
async fn racing_approvals_create_one_consent() {
    let c = Counter::new().await;
    let r = c.ask().await;
    let id = r["id"].as_str().unwrap().to_owned();
    let holder: HolderCode = c.holder.parse().unwrap();
    let results: Vec<Result<_, VaultError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    c.app.vault.approve_request(
                        &Acting::own(holder.clone()),
                        &id,
                        &Narrowing::default(),
                        Utc::now(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1);
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(VaultError::Rejected(e)) => assert_eq!(e.reason, Reason::RequestAnswered),
            other => panic!("{other:?}"),
        }
    }
    let consents = c.app.vault.consents(&holder).unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].request.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn approval_narrows_but_never_widens() {
    let c = Counter::new().await;
    let r = c
        .request(
            json!({"holder": c.holder, "matter": LICENCE_RENEWAL, "purpose": "换证",
                        "maxUses": 3, "validFor": 7 * 86400}),
        )
        .await
        .1;
    let id = r["id"].as_str().unwrap();
    let far = format_time(Utc::now() + Duration::days(8));
    for (body, field) in [
        (json!({"types": ["11100000000013338W001"]}), "$.types[0]"),
        (json!({"types": []}), "$.types"),
        (json!({"maxUses": 4}), "$.maxUses"),
        (json!({"maxUses": 0}), "$.maxUses"),
        (json!({"expiresAt": far}), "$.expiresAt"),
        (json!({"expiresAt": "2020-01-01T00:00:00Z"}), "$.expiresAt"),
        (
            json!({"licences": [fixture("01-sfz-linzhiqiang")["id"]]}),
            "$.licences",
        ),
        (json!({"scope": "all"}), "$.scope"),
    ] {
        let (status, e) = c.answer(id, "approve", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    // Still pending after refused answers; then approved narrowed.
    let soon = format_time(Utc::now() + Duration::days(2));
    let (status, consent) = c
        .answer(
            id,
            "approve",
            json!({"types": [DRIVING_LICENCE], "maxUses": 1, "expiresAt": soon}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    assert_eq!(consent["types"], json!([DRIVING_LICENCE]));
    assert_eq!(
        (consent["maxUses"].as_u64(), &consent["expiresAt"]),
        (Some(1), &json!(soon))
    );
    let p = c.pull().await;
    assert_eq!(p["results"][0]["reason"], "no_consent");
    assert_eq!(p["results"][1]["outcome"], "provided");
}

#[tokio::test]
async fn requests_reveal_nothing_and_are_seen_only_by_their_parties() {
    let c = Counter::new().await;
    // Unknown holder: the same status and shape as a known one.
    let known = c.ask().await;
    let (status, unknown) = c
        .request(json!({"holder": format!("111:{}", citizen(77)), "matter": LICENCE_RENEWAL, "purpose": "驾驶证期满换证"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(keys(&known), keys(&unknown));
    for k in [
        "state",
        "requester",
        "matter",
        "purpose",
        "types",
        "validFor",
    ] {
        assert_eq!(known[k], unknown[k], "{k}");
    }

    // A requester not registered for the matter.
    let (status, e) = c
        .app
        .post(
            "/v1/consent-requests",
            Some(&c.app.tokens.requester),
            json!({"holder": c.holder, "matter": LICENCE_RENEWAL, "purpose": "x"}),
        )
        .await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::FORBIDDEN, "matter_not_allowed")
    );

    // Another holder answering, or another requester reading: 404, with nothing of the request.
    let id = known["id"].as_str().unwrap();
    let other = &c.app.tokens.holder_company;
    for (method, path, token) in [
        (
            Method::POST,
            format!("/v1/me/consent-requests/{id}:approve"),
            other,
        ),
        (
            Method::POST,
            format!("/v1/me/consent-requests/{id}:reject"),
            other,
        ),
        (Method::GET, format!("/v1/me/consent-requests/{id}"), other),
        (
            Method::GET,
            format!("/v1/consent-requests/{id}"),
            &c.app.tokens.requester,
        ),
    ] {
        let (status, e) = c
            .app
            .call(method.clone(), &path, Some(token), Some(json!({})))
            .await;
        assert_eq!(
            (status, code(&e)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
        assert!(!e.to_string().contains("驾驶证"), "{e}");
    }
    let (_, theirs) = c.app.get("/v1/me/consent-requests", Some(other)).await;
    assert_eq!(theirs, json!({"requests": []}));
    // Roles: a holder cannot ask, a requester cannot answer.
    c.app
        .assert_refused(
            &Method::POST,
            "/v1/consent-requests",
            Some(&json!({"holder": c.holder, "matter": LICENCE_RENEWAL, "purpose": "x"})),
            &[None, Some("nope")],
            &[&c.citizen, &c.app.tokens.admin],
        )
        .await;
    c.app
        .assert_refused(
            &Method::POST,
            &format!("/v1/me/consent-requests/{id}:approve"),
            Some(&json!({})),
            &[None],
            &[&c.system],
        )
        .await;
    // The request is still pending for its holder.
    let (_, mine) = c.app.get("/v1/me/consent-requests", Some(&c.citizen)).await;
    assert_eq!(mine["requests"][0]["id"], id);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let c = Counter::new().await;
    let base = json!({"holder": c.holder, "matter": LICENCE_RENEWAL, "purpose": "换证"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, status, reason, field) in [
        (
            with("expiresIn", json!(0)),
            400,
            "invalid_request",
            "$.expiresIn",
        ),
        (
            with("expiresIn", json!(86401)),
            400,
            "invalid_request",
            "$.expiresIn",
        ),
        (
            with("validFor", json!(366 * 86400)),
            400,
            "invalid_request",
            "$.validFor",
        ),
        (
            with("maxUses", json!(0)),
            400,
            "invalid_request",
            "$.maxUses",
        ),
        (
            with("types", json!(["11100000000013338W001"])),
            400,
            "invalid_request",
            "$.types[0]",
        ),
        (with("types", json!([])), 400, "invalid_request", "$.types"),
        (
            with("purpose", json!("  ")),
            400,
            "invalid_request",
            "$.purpose",
        ),
        (
            with("holder", json!("111:123")),
            400,
            "invalid_holder_code",
            "$.holder",
        ),
        (
            with("matter", json!("350100-XX-999")),
            403,
            "matter_not_allowed",
            "$.matter",
        ),
        (with("extra", json!(1)), 400, "invalid_request", "$.extra"),
    ] {
        let (s, e) = c.request(body.clone()).await;
        assert_eq!((s.as_u16(), code(&e)), (status, reason), "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}");
    }
    let (s, e) = c
        .app
        .raw(
            Method::POST,
            "/v1/consent-requests",
            Some(&c.system),
            "text/plain",
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let (s, e) = c
        .app
        .raw(
            Method::POST,
            "/v1/consent-requests",
            Some(&c.system),
            "application/json",
            Some(br#"{"holder":"a","holder":"b"}"#.to_vec()),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "malformed_json"));
    let (s, e) = c.answer("creq_x", "accept", json!({})).await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, e) = c.answer("../x", "approve", json!({})).await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn every_consent_change_gives_a_receipt_that_verifies_offline_and_fails_when_changed() {
    let c = Counter::new().await;
    let (status, granted) = c
        .app
        .post(
            "/v1/me/consents",
            Some(&c.citizen),
            json!({"requester": POLICE_SYSTEM, "matter": LICENCE_RENEWAL, "purpose": "驾驶证期满换证",
                   "types": [ID_CARD, DRIVING_LICENCE], "expiresAt": in_days(30), "maxUses": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{granted}");
    let id = granted["id"].as_str().unwrap();
    let g = &granted["receipt"];
    assert_eq!(g["type"], json!(["VerifiableCredential", "ConsentReceipt"]));
    assert_eq!(g["issuer"], c.app.vault.did_key().as_str());
    let s = &g["credentialSubject"];
    assert_eq!(s["event"], "granted");
    assert_eq!(s["consent"], id);
    assert_eq!(
        s["holder"],
        json!({"codeType": "111", "code": c.holder.split(':').nth(1).unwrap()})
    );
    assert_eq!(
        s["requester"],
        json!({"id": POLICE_SYSTEM, "name": "福州市公安局政务服务审批系统"})
    );
    assert_eq!(
        s["matter"],
        json!({"code": LICENCE_RENEWAL, "name": "机动车驾驶证期满换证"})
    );
    assert_eq!(
        (s["maxUses"].as_u64(), &s["expiresAt"]),
        (Some(3), &granted["expiresAt"])
    );

    let (status, narrowed) = c
        .app
        .post(
            &format!("/v1/me/consents/{id}:narrow"),
            Some(&c.citizen),
            json!({"types": [DRIVING_LICENCE], "maxUses": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(narrowed["types"], json!([DRIVING_LICENCE]));
    let n = &narrowed["receipt"]["credentialSubject"];
    assert_eq!(
        (&n["event"], &n["types"], n["maxUses"].as_u64()),
        (&json!("narrowed"), &json!([DRIVING_LICENCE]), Some(1))
    );
    // Widening is refused.
    let (status, e) = c
        .app
        .post(
            &format!("/v1/me/consents/{id}:narrow"),
            Some(&c.citizen),
            json!({"maxUses": 2}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.maxUses"))
    );

    let (status, withdrawn) = c
        .app
        .call(
            Method::DELETE,
            &format!("/v1/me/consents/{id}"),
            Some(&c.citizen),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        withdrawn["receipt"]["credentialSubject"]["event"],
        "withdrawn"
    );
    // Withdrawing again gives the same receipt; narrowing a withdrawn consent is refused.
    let (_, again) = c
        .app
        .call(
            Method::DELETE,
            &format!("/v1/me/consents/{id}"),
            Some(&c.citizen),
            None,
        )
        .await;
    assert_eq!(again["receipt"], withdrawn["receipt"]);
    let (status, e) = c
        .app
        .post(
            &format!("/v1/me/consents/{id}:narrow"),
            Some(&c.citizen),
            json!({"maxUses": 1}),
        )
        .await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::CONFLICT, "invalid_transition")
    );

    // All three again, byte for byte.
    let (status, all) = c
        .app
        .get(&format!("/v1/me/consents/{id}/receipts"), Some(&c.citizen))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        all["receipts"],
        json!([
            granted["receipt"],
            narrowed["receipt"],
            withdrawn["receipt"]
        ])
    );
    let (status, _) = c
        .app
        .get(
            &format!("/v1/me/consents/{id}/receipts"),
            Some(&c.app.tokens.holder_company),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each verifies offline against the vault's key, and fails after one byte changes.
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_file(dir.path(), &c.app.vault.did_key());
    for (i, receipt) in all["receipts"].as_array().unwrap().iter().enumerate() {
        let path = write_json(dir.path(), &format!("r{i}.json"), receipt);
        let (code_, v) = cli(&["verify", "--in", &path, "--registry", &registry]);
        assert_eq!((code_, v["valid"].as_bool()), (Some(0), Some(true)), "{v}");
        let (_, v) = c
            .app
            .post("/v1/verify", Some(&c.citizen), receipt.clone())
            .await;
        assert_eq!(v["valid"], true, "{v}");

        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replacen("驾驶证期满换证", "驾驶证期满换政", 1);
        assert_ne!(text, changed);
        std::fs::write(&path, changed).unwrap();
        let (code_, v) = cli(&["verify", "--in", &path, "--registry", &registry]);
        assert_eq!(code_, Some(1), "{v}");
        assert_eq!(check(&v, "signature")["code"], "bad_signature");
    }
    // Without the vault's key the signature is checked but not whose it is.
    let path = write_json(dir.path(), "plain.json", &granted["receipt"]);
    let (_, v) = cli(&["verify", "--in", &path]);
    assert_eq!(check(&v, "signature")["ok"], true);
    assert_eq!(check(&v, "issuer_key")["ok"], Value::Null, "{v}");
}

#[tokio::test]
async fn the_summary_counts_what_the_holder_did_not_upload_again() {
    let c = Counter::new().await;
    let (_, empty) = c.app.get("/v1/me/summary", Some(&c.citizen)).await;
    assert_eq!(empty, json!({"licencesProvided": 0, "matters": []}));
    let r = c.ask().await;
    c.answer(r["id"].as_str().unwrap(), "approve", json!({}))
        .await;
    let first = c.pull().await;
    let second = c.pull().await;
    let (status, s) = c.app.get("/v1/me/summary", Some(&c.citizen)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["licencesProvided"], 4);
    assert_eq!(
        s["matters"],
        json!([{"matter": LICENCE_RENEWAL, "matterName": "机动车驾驶证期满换证",
                "licencesProvided": 4, "pulls": 2, "checks": 0,
                "firstAt": first["pulledAt"], "lastAt": second["pulledAt"]}])
    );
    // Kept with each pull since the first read; where it was never kept (a store from before),
    // built from the whole log on the first read: the same.
    let store = c.app.store();
    let mut wipe = licence_vault::store::Change::durable();
    for (k, _) in store
        .scan(licence_vault::store::Table::HolderSummary, b"", false, 100)
        .unwrap()
    {
        wipe.delete(licence_vault::store::Table::HolderSummary, k);
    }
    store.commit(wipe).unwrap();
    let (_, rebuilt) = c.app.get("/v1/me/summary", Some(&c.citizen)).await;
    assert_eq!(rebuilt, s);
    let (_, other) = c
        .app
        .get("/v1/me/summary", Some(&c.app.tokens.holder_company))
        .await;
    assert_eq!(other["matters"], json!([]));
}

#[tokio::test]
async fn the_openapi_describes_the_point_of_service_endpoints_and_their_answers() {
    let app = TestApp::new();
    let (_, doc) = app.get("/v1/openapi.json", None).await;
    for (path, method, statuses) in [
        (
            "/v1/consent-requests",
            "post",
            &["201", "400", "401", "403"][..],
        ),
        (
            "/v1/consent-requests/{id}",
            "get",
            &["200", "401", "403", "404"],
        ),
        ("/v1/me/consent-requests", "get", &["200", "401", "403"]),
        ("/v1/me/consent-requests/{id}", "get", &["200", "404"]),
        (
            "/v1/me/consent-requests/{id}:approve",
            "post",
            &["201", "400", "404", "409", "415"],
        ),
        (
            "/v1/me/consent-requests/{id}:reject",
            "post",
            &["200", "400", "404", "409", "415"],
        ),
        (
            "/v1/me/consents/{id}:narrow",
            "post",
            &["200", "400", "404", "409"],
        ),
        ("/v1/me/consents/{id}/receipts", "get", &["200", "404"]),
        ("/v1/reuse:check", "post", &["200", "400", "403"]),
        ("/v1/me/summary", "get", &["200", "401"]),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not described");
        for s in statuses {
            assert!(
                op["responses"].get(*s).is_some(),
                "{method} {path}: {s} undocumented"
            );
        }
    }
    // Matters show the fields they declare.
    let (_, matters) = app.get("/v1/matters", None).await;
    let renewal = matters["matters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == LICENCE_RENEWAL)
        .unwrap();
    assert_eq!(renewal["fields"][DRIVING_LICENCE], json!(DL_FIELDS));
    assert!(doc["components"]["schemas"]["Matter"]["properties"]["fields"].is_object());
}

#[tokio::test]
async fn a_matter_may_declare_only_fields_of_types_it_needs() {
    let app = TestApp::new();
    let matter = |fields: Value| json!({"code": "350100-T-001", "name": "测试事项", "types": [ID_CARD], "fields": fields});
    for (fields, field) in [
        (
            json!({DRIVING_LICENCE: ["姓名"]}),
            format!("$.fields.{DRIVING_LICENCE}"),
        ),
        (json!({ID_CARD: []}), format!("$.fields.{ID_CARD}")),
        (
            json!({ID_CARD: ["姓名", "血型"]}),
            format!("$.fields.{ID_CARD}[1]"),
        ),
        (
            json!({ID_CARD: ["姓名", "姓名"]}),
            format!("$.fields.{ID_CARD}[1]"),
        ),
    ] {
        let (status, e) = app
            .post(
                "/v1/admin/matters",
                Some(&app.tokens.admin),
                matter(fields.clone()),
            )
            .await;
        assert_eq!(
            (status, code(&e)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{fields}"
        );
        assert_eq!(e["error"]["field"], field.as_str(), "{fields}");
    }
    let (status, m) = app
        .post(
            "/v1/admin/matters",
            Some(&app.tokens.admin),
            matter(json!({ID_CARD: ["姓名"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let (_, matters) = app.get("/v1/matters", None).await;
    assert!(matters["matters"].as_array().unwrap().contains(&m));
}
