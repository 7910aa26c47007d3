//! Objections to a use (SPEC §17): a holder objects to one access record; the approval system
//! that made the use answers once with its legal basis and, when asked, attests deletion (signed
//! by the vault, checkable offline); the supervisor sees every objection and answer; the holder
//! hears each step. And the boundaries: another's record, an export, answering twice.

use axum::http::StatusCode;
use licence_vault::auth::Principal;
use serde_json::{json, Value};

use crate::support::*;

const NEW_FOOD: &str = "350100-SJ-004";

/// COMPANY's 营业执照, a consent for NEW_FOOD and one pull by the market regulator's approval
/// system: the app and the pull's access record id.
async fn pulled() -> (TestApp, String) {
    let app = TestApp::new();
    app.deposit(&read_json("fixtures/licences/29-yyzz-minwei.json"))
        .await;
    let h = Some(app.tokens.holder_company.as_str());
    let (s, c) = app
        .post(
            "/v1/me/consents",
            h,
            json!({"requester": "fz-scjg-xk", "matter": NEW_FOOD, "purpose": "新办",
                   "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, p) = app
        .post(
            "/v1/reuse",
            Some(&app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "受理"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, log) = app.get("/v1/me/access-log", h).await;
    let record = log["records"][0]["id"].as_str().unwrap().to_owned();
    (app, record)
}

async fn object(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post("/v1/me/objections", Some(token), body).await
}

#[tokio::test]
async fn an_objection_is_answered_with_a_legal_basis_and_a_signed_deletion_the_supervisor_sees() {
    let (app, record) = pulled().await;
    let h = app.tokens.holder_company.clone();
    let (s, o) = object(
        &app,
        &h,
        json!({"accessRecord": record, "reason": "我没有在市场监管局办理任何事项", "askDeletion": true}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &o["state"],
            &o["requester"],
            &o["matter"],
            &o["askDeletion"],
            &o["overdue"]
        ),
        (
            &json!("open"),
            &json!("fz-scjg-xk"),
            &json!(NEW_FOOD),
            &json!(true),
            &json!(false)
        )
    );
    assert_eq!(o["licences"].as_array().unwrap().len(), 1);

    // The approval system and the supervisor see it; another approval system does not.
    let xk = Some(app.tokens.requester.as_str());
    let (_, mine) = app.get("/v1/objections", xk).await;
    assert_eq!(mine["objections"][0]["id"], json!(id));
    let gjj = token(&app.vault, &Principal::Requester("fz-gjj".into()));
    let (_, theirs) = app.get("/v1/objections?state=all", Some(&gjj)).await;
    assert_eq!(theirs["objections"], json!([]));
    let (s, e) = app.get(&format!("/v1/objections/{id}"), Some(&gjj)).await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
    let supervisor = app.tokens.supervisor.clone();
    let (_, all) = app
        .get("/v1/supervisor/objections", Some(&supervisor))
        .await;
    assert_eq!(
        all["objections"][0]["reason"],
        "我没有在市场监管局办理任何事项"
    );
    // Only the supervisor reads the supervisor's feed.
    for t in [&app.tokens.requester, &h, &app.tokens.admin] {
        let (s, e) = app.get("/v1/supervisor/objections", Some(t)).await;
        assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "forbidden"));
    }

    // Asked to delete: the answer must attest it.
    let answer = format!("/v1/objections/{id}:answer");
    let (s, e) = app
        .post(
            &answer,
            xk,
            json!({"legalBasis": "《食品经营许可和备案管理办法》第十二条"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.deleted"))
    );
    let (s, a) = app
        .post(
            &answer,
            xk,
            json!({"legalBasis": "《食品经营许可和备案管理办法》第十二条", "deleted": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["state"], "answered");
    let attestation = &a["answer"]["deletion"];
    assert_eq!(
        (
            &attestation["type"],
            &attestation["credentialSubject"]["accessRecord"],
            &attestation["credentialSubject"]["requester"]["id"]
        ),
        (
            &json!(["VerifiableCredential", "DeletionAttestation"]),
            &json!(record),
            &json!("fz-scjg-xk")
        )
    );
    let (s, v) = app.post("/v1/verify", xk, attestation.clone()).await;
    assert_eq!((s, &v["valid"]), (StatusCode::OK, &json!(true)), "{v}");
    let mut forged = attestation.clone();
    forged["credentialSubject"]["licences"] = json!([]);
    let (_, v) = app.post("/v1/verify", xk, forged).await;
    assert_eq!(check(&v, "signature")["ok"], false);

    // Final: no second answer, no withdrawal.
    let (s, e) = app
        .post(&answer, xk, json!({"legalBasis": "x", "deleted": true}))
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "objection_closed"));
    let (s, e) = app
        .post(
            &format!("/v1/me/objections/{id}:withdraw"),
            Some(&h),
            json!({}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "objection_closed"));

    // The supervisor sees the answer; the holder heard of each step.
    let (_, seen) = app
        .get(
            &format!("/v1/supervisor/objections/{id}"),
            Some(&supervisor),
        )
        .await;
    assert_eq!(
        seen["answer"]["legalBasis"],
        "《食品经营许可和备案管理办法》第十二条"
    );
    let (_, n) = app.get("/v1/me/notifications", Some(&h)).await;
    let steps: Vec<&str> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "objection")
        .map(|n| n["event"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["answered", "opened"]);
}

#[tokio::test]
async fn objections_at_the_edges_leak_nothing_and_move_only_from_open() {
    let (app, record) = pulled().await;
    let h = app.tokens.holder_company.clone();
    // Another holder objecting to this record hears what an unknown record gets.
    let mut messages = Vec::new();
    for id in [record.as_str(), "acc_0006000000000000aaaaaaaaaaaaaaaa"] {
        let (s, e) = object(
            &app,
            &app.tokens.holder_other,
            json!({"accessRecord": id, "reason": "x"}),
        )
        .await;
        assert_eq!(
            (s, code(&e), e["error"]["field"].as_str()),
            (StatusCode::NOT_FOUND, "not_found", Some("$.accessRecord"))
        );
        messages.push(e["error"]["message"].as_str().unwrap().replace(id, "ID"));
    }
    assert_eq!(messages[0], messages[1]);
    // A reason is required.
    let (s, e) = object(&app, &h, json!({"accessRecord": record, "reason": " "})).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.reason"))
    );
    // The holder's own export released nothing to anyone.
    let (_, ex) = app.post("/v1/me/exports", Some(&h), json!({})).await;
    let (s, e) = object(
        &app,
        &h,
        json!({"accessRecord": ex["accessRecord"], "reason": "x"}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.accessRecord"))
    );

    // Withdrawn, then nothing moves it.
    let (_, o) = object(&app, &h, json!({"accessRecord": record, "reason": "误会"})).await;
    let id = o["id"].as_str().unwrap();
    // One objection to a use at a time.
    let (s, e) = object(&app, &h, json!({"accessRecord": record, "reason": "again"})).await;
    assert_eq!(
        (s, code(&e), e["error"]["field"].as_str()),
        (StatusCode::CONFLICT, "conflict", Some("$.accessRecord"))
    );
    assert!(e["error"]["message"].as_str().unwrap().contains(id), "{e}");
    let (s, w) = app
        .post(
            &format!("/v1/me/objections/{id}:withdraw"),
            Some(&h),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, &w["state"]),
        (StatusCode::OK, &json!("withdrawn")),
        "{w}"
    );
    let (s, e) = app
        .post(
            &format!("/v1/objections/{id}:answer"),
            Some(&app.tokens.requester),
            json!({"legalBasis": "x"}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "objection_closed"));
    // Another holder cannot read it.
    let (s, _) = app
        .get(
            &format!("/v1/me/objections/{id}"),
            Some(&app.tokens.holder_other),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, mine) = app.get("/v1/me/objections", Some(&h)).await;
    assert_eq!(mine["objections"][0]["state"], "withdrawn");
    // The withdrawal frees the use for a new objection.
    let (s, again) = object(
        &app,
        &h,
        json!({"accessRecord": record, "reason": "想清楚了"}),
    )
    .await;
    assert_eq!(
        (s, &again["state"]),
        (StatusCode::CREATED, &json!("open")),
        "{again}"
    );
    assert_ne!(again["id"].as_str(), Some(id));
}
