//! Correction requests (SPEC §17): a holder asks, the issuing agency answers by renewal or
//! refusal before a deadline, the holder is told at every step; while disputed the licence is
//! still provided and every verdict and copy says so. And the boundaries: another's licence, a
//! field the type lacks, a second request, answering twice, a superseded licence, another agency.

use axum::http::StatusCode;
use licence_vault::codes::LicenceId;
use licence_vault::reuse::correction::due_after;
use serde_json::{json, Value};

use crate::support::*;

const NEW_FOOD: &str = "350100-SJ-004";

/// A vault holding COMPANY's 营业执照 (version 1, serial `serial`).
async fn with_licence(serial: &str) -> (TestApp, Value) {
    let app = TestApp::new();
    let v1 = sign(&business_licence(serial, COMPANY), "scjgj");
    app.deposit(&v1).await;
    (app, v1)
}

/// The renewal (version 2) of `v1` with `住所` corrected, signed by the market regulator.
fn renewal(v1: &Value, address: &str) -> Value {
    let id1 = LicenceId::from_urn_or_bare(v1["id"].as_str().unwrap()).unwrap();
    let mut d = v1.clone();
    d.as_object_mut().unwrap().remove("proof");
    d["id"] = json!(id1.with_version(2).unwrap().urn());
    d["credentialSubject"]["licence"]["version"] = json!("002");
    d["credentialSubject"]["licence"]["predecessor"] = json!(id1.urn());
    d["credentialSubject"]["licence"]["fields"]["住所"] = json!(address);
    sign(&d, "scjgj")
}

fn ask(licence: &Value) -> Value {
    json!({"licence": licence["id"], "fields": ["住所"],
           "problem": "住所登记错误：门牌号应为 108 号", "claimed": {"住所": "福建省福州市鼓楼区五四路108号"},
           "evidence": {"type": "租赁合同", "number": "ZL-2026-0042"}, "disputed": true})
}

async fn request(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/v1/me/corrections", Some(&app.tokens.holder_company), body)
        .await
}

fn events(c: &Value) -> Vec<&str> {
    c["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_wrong_address_is_disputed_then_corrected_by_renewal_and_the_holder_hears_each_step() {
    let (app, v1) = with_licence("C0001").await;
    let urn = v1["id"].as_str().unwrap().to_owned();
    let (status, c) = request(&app, ask(&v1)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cor_"), "{id}");
    let created = licence_vault::proof::parse_time(c["createdAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            &c["state"],
            &c["disputed"],
            &c["issuer"],
            &c["typeName"],
            &c["overdue"],
            &c["dueAt"]
        ),
        (
            &json!("open"),
            &json!(true),
            &json!(MARKET),
            &json!("营业执照"),
            &json!(false),
            &json!(licence_vault::proof::format_time(due_after(created, 15)))
        )
    );
    assert_eq!(events(&c), ["opened", "disputed"]);

    // Disputed: the licence is still valid and provided, and every verdict and copy says so.
    let (_, read) = app
        .get(&licence_path(&v1), Some(&app.tokens.holder_company))
        .await;
    assert_eq!(read["verdict"]["valid"], true);
    assert_eq!(
        read["verdict"]["disputed"],
        json!({"correction": id, "since": c["createdAt"], "fields": ["住所"]})
    );
    let (s, consent) = app
        .post(
            "/v1/me/consents",
            Some(&app.tokens.holder_company),
            json!({"requester": "fz-scjg-xk", "matter": NEW_FOOD, "purpose": "新办",
                   "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{consent}");
    let (s, pull) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "受理"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{pull}");
    let result = &pull["results"][0];
    assert_eq!(result["outcome"], "provided");
    assert_eq!(result["verdict"]["disputed"]["correction"], json!(id));
    let copy = &result["stampedCopy"];
    assert_eq!(
        copy["credentialSubject"]["disputed"]["correction"],
        json!(id)
    );
    let (s, v) = app
        .post("/v1/verify", Some(&app.tokens.requester), copy.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["valid"], &v["disputed"]["fields"]),
        (&json!(true), &json!(["住所"]))
    );

    // The agency sees it, with its deadline, and corrects it by renewal.
    let market = Some(app.tokens.market.as_str());
    let (_, open) = app.get("/v1/issuer/corrections", market).await;
    assert_eq!(open["corrections"][0]["id"], json!(id));
    assert_eq!(
        open["corrections"][0]["claimed"]["住所"],
        "福建省福州市鼓楼区五四路108号"
    );
    let v2 = renewal(&v1, "福建省福州市鼓楼区五四路108号");
    app.deposit(&v2).await;
    let (s, answered) = app
        .post(
            &format!("/v1/issuer/corrections/{id}:answer"),
            market,
            json!({"outcome": "corrected", "renewal": v2["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{answered}");
    assert_eq!(
        (
            &answered["state"],
            &answered["disputed"],
            &answered["answer"]["renewal"]
        ),
        (&json!("corrected"), &json!(false), &v2["id"])
    );
    assert_eq!(events(&answered), ["opened", "disputed", "corrected"]);
    let (_, open) = app.get("/v1/issuer/corrections", market).await;
    assert_eq!(open["corrections"], json!([]));
    let (_, all) = app.get("/v1/issuer/corrections?state=all", market).await;
    assert_eq!(all["corrections"][0]["state"], "corrected");

    // Answered once only.
    for body in [
        json!({"outcome": "refused", "reason": "x"}),
        json!({"outcome": "corrected", "renewal": v2["id"]}),
    ] {
        let (s, e) = app
            .post(&format!("/v1/issuer/corrections/{id}:answer"), market, body)
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::CONFLICT, "correction_closed"),
            "{e}"
        );
    }
    // The dispute ended with the answer; the approval system that was provided the old version
    // gets its revocation notice from the renewal.
    let (_, old) = app
        .get(&licence_path(&v1), Some(&app.tokens.holder_company))
        .await;
    assert!(old["verdict"].get("disputed").is_none(), "{old}");
    let (_, notices) = app.get("/v1/notices", Some(&app.tokens.requester)).await;
    assert_eq!(
        notices["notices"][0]["notice"]["credentialSubject"]["status"],
        "superseded"
    );
    // The holder heard of every step.
    let (_, n) = app
        .get("/v1/me/notifications", Some(&app.tokens.holder_company))
        .await;
    let steps: Vec<(&str, &str)> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "correction")
        .map(|n| {
            (
                n["event"].as_str().unwrap(),
                n["licences"][0].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("corrected", urn.as_str()),
            ("disputed", urn.as_str()),
            ("opened", urn.as_str())
        ]
    );
    let (_, mine) = app
        .get("/v1/me/corrections", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(mine["corrections"][0]["state"], "corrected");
}

#[tokio::test]
async fn a_correction_is_refused_with_a_reason_or_withdrawn_and_then_moves_no_more() {
    let (app, v1) = with_licence("C0002").await;
    let market = Some(app.tokens.market.as_str());
    let (_, c) = request(&app, ask(&v1)).await;
    let id = c["id"].as_str().unwrap().to_owned();
    // One open correction per licence.
    let (s, e) = request(&app, ask(&v1)).await;
    assert_eq!(
        (s, code(&e), e["error"]["field"].as_str()),
        (StatusCode::CONFLICT, "correction_open", Some("$.licence"))
    );
    // A refusal needs its reason.
    let answer = format!("/v1/issuer/corrections/{id}:answer");
    let (s, e) = app
        .post(
            &answer,
            market,
            json!({"outcome": "refused", "reason": "  "}),
        )
        .await;
    assert_eq!(
        (s, code(&e), e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request", Some("$.reason"))
    );
    // A renewal that does not supersede it is no correction.
    let other = sign(&business_licence("C0099", COMPANY), "scjgj");
    app.deposit(&other).await;
    let (s, e) = app
        .post(
            &answer,
            market,
            json!({"outcome": "corrected", "renewal": other["id"]}),
        )
        .await;
    assert_eq!(
        (s, code(&e), e["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("$.renewal")
        )
    );
    // Another agency's answer: as for a correction that never was.
    let (s, e) = app
        .post(
            &answer,
            Some(&app.tokens.police),
            json!({"outcome": "refused", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (s, code(&e), e["error"]["message"].as_str()),
        (
            StatusCode::NOT_FOUND,
            "not_found",
            Some(format!("no correction {id}").as_str())
        )
    );
    let (s, refused) = app
        .post(
            &answer,
            market,
            json!({"outcome": "refused", "reason": "住所以登记机关核准为准，请先办理住所变更登记"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{refused}");
    assert_eq!(
        (&refused["state"], &refused["answer"]["reason"]),
        (
            &json!("refused"),
            &json!("住所以登记机关核准为准，请先办理住所变更登记")
        )
    );
    let (s, e) = app
        .post(
            &format!("/v1/me/corrections/{id}:withdraw"),
            Some(&app.tokens.holder_company),
            json!({}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "correction_closed"));

    // A new request, undisputed then disputed, then withdrawn: the dispute ends with it.
    let mut body = ask(&v1);
    body["disputed"] = json!(false);
    let (s, c2) = request(&app, body).await;
    assert_eq!(s, StatusCode::CREATED, "{c2}");
    let id2 = c2["id"].as_str().unwrap();
    let h = Some(app.tokens.holder_company.as_str());
    let (s, d) = app
        .post(
            &format!("/v1/me/corrections/{id2}:dispute"),
            h,
            json!({"disputed": true}),
        )
        .await;
    assert_eq!((s, &d["disputed"]), (StatusCode::OK, &json!(true)), "{d}");
    let (_, read) = app.get(&licence_path(&v1), h).await;
    assert_eq!(read["verdict"]["disputed"]["correction"], json!(id2));
    let (s, w) = app
        .post(&format!("/v1/me/corrections/{id2}:withdraw"), h, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(events(&w), ["opened", "disputed", "withdrawn"]);
    let (_, read) = app.get(&licence_path(&v1), h).await;
    assert!(read["verdict"].get("disputed").is_none(), "{read}");
    for (path, body) in [
        (format!("/v1/me/corrections/{id2}:withdraw"), json!({})),
        (
            format!("/v1/me/corrections/{id2}:dispute"),
            json!({"disputed": true}),
        ),
    ] {
        let (s, e) = app.post(&path, h, body).await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::CONFLICT, "correction_closed"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn corrections_at_the_edges_leak_nothing_and_name_the_field() {
    let (app, v1) = with_licence("C0003").await;
    // Another holder's licence answers exactly as one that does not exist.
    let theirs = sign(&business_licence("C0004", OTHER_COMPANY), "scjgj");
    app.deposit(&theirs).await;
    let absent = {
        let id = LicenceId::from_urn_or_bare(v1["id"].as_str().unwrap()).unwrap();
        id.with_version(9).unwrap().urn()
    };
    let mut bodies = Vec::new();
    for licence in [theirs["id"].clone(), json!(absent)] {
        let mut body = ask(&v1);
        body["licence"] = licence.clone();
        let (s, e) = request(&app, body).await;
        assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"), "{e}");
        bodies.push(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .replace(licence.as_str().unwrap(), "ID"),
        );
    }
    assert_eq!(bodies[0], bodies[1]);

    // A field the type does not have is named; so is a claimed value for a field not named.
    let mut body = ask(&v1);
    body["fields"] = json!(["住所", "血型"]);
    let (s, e) = request(&app, body).await;
    assert_eq!(
        (
            s,
            code(&e),
            e["error"]["field"].as_str(),
            e["error"]["message"].as_str()
        ),
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("$.fields[1]"),
            Some("营业执照 has no field 血型")
        )
    );
    let mut body = ask(&v1);
    body["claimed"] = json!({"名称": "x"});
    let (s, e) = request(&app, body).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.claimed.名称"))
    );
    let mut body = ask(&v1);
    body.as_object_mut().unwrap().remove("problem");
    let (s, e) = request(&app, body).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.problem"))
    );

    // Another holder, and an agency that did not issue the licence, see nothing of it.
    let (_, c) = request(&app, ask(&v1)).await;
    let id = c["id"].as_str().unwrap();
    for (path, token) in [
        (format!("/v1/me/corrections/{id}"), &app.tokens.holder_other),
        (format!("/v1/issuer/corrections/{id}"), &app.tokens.police),
    ] {
        let (s, e) = app.get(&path, Some(token)).await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (_, police) = app
        .get("/v1/issuer/corrections?state=all", Some(&app.tokens.police))
        .await;
    assert_eq!(police["corrections"], json!([]));

    // Once superseded, a licence is corrected in its version in force.
    app.post(
        &format!("/v1/me/corrections/{id}:withdraw"),
        Some(&app.tokens.holder_company),
        json!({}),
    )
    .await;
    let v2 = renewal(&v1, "福建省福州市鼓楼区五四路100号");
    app.deposit(&v2).await;
    let (s, e) = request(&app, ask(&v1)).await;
    assert_eq!(
        (s, code(&e), e["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "superseded",
            Some("$.licence")
        )
    );
    let mut body = ask(&v1);
    body["licence"] = v2["id"].clone();
    assert_eq!(request(&app, body).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn a_delegate_asks_for_corrections_within_its_scope_and_is_named() {
    let (app, v1) = with_licence("C0005").await;
    let staff = format!("111:{}", citizen(3));
    let staff_token = token(
        &app.vault,
        &licence_vault::auth::Principal::Holder(staff.parse().unwrap()),
    );
    let (s, d) = app
        .post(
            "/v1/me/delegations",
            Some(&app.tokens.holder_company),
            json!({"delegate": staff, "scope": [NEW_FOOD], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    // The 营业执照 is needed by the delegate's matter: within its scope.
    let mut req = json_request(
        axum::http::Method::POST,
        "/v1/me/corrections",
        Some(&staff_token),
        Some(ask(&v1)),
    );
    req.headers_mut()
        .insert("acting-for", format!("001:{COMPANY}").parse().unwrap());
    let (s, c) = respond(&app.router, req).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let masked = format!("111:{}*************{}", &citizen(3)[..3], &citizen(3)[16..]);
    assert_eq!(c["history"][0]["by"], json!(masked));
    // The company sees it among its own.
    let (_, mine) = app
        .get("/v1/me/corrections", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(mine["corrections"][0]["id"], c["id"]);
}
