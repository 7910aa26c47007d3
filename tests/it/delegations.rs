//! Acting for others (SPEC §11): a delegate acting within its scope, outside it (`403`), after
//! expiry and after revocation (refused at once); the legal representative acting and a renewed
//! 营业执照 naming another one ending the old one's delegations; a guardian acting for a ward;
//! and every consent, answer and access record naming the person who acted.

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use licence_vault::auth::Principal;
use licence_vault::codes::{CitizenId, HolderCode, LicenceId};
use licence_vault::reuse::delegation::{NewDelegation, Scope};
use licence_vault::vault::VaultError;
use licence_vault::verdict::Reason;
use serde_json::{json, Value};

use crate::support::*;

const NEW_FOOD: &str = "350100-SJ-004";
const RENEW_FOOD: &str = "350100-SJ-005";

struct World {
    app: TestApp,
    licence: Value,
    /// The legal representative's own holder token, and theirs as a code.
    rep: String,
    /// A staff member (`111:…`) and their token; a stranger's token.
    staff: String,
    staff_token: String,
    stranger_token: String,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::new();
        let licence = sign(&business_licence("D0001", COMPANY), "scjgj");
        app.deposit(&licence).await;
        let tok = |code: &str| token(&app.vault, &Principal::Holder(code.parse().unwrap()));
        let staff = format!("111:{}", citizen(3));
        Self {
            rep: tok(&format!("111:{REPRESENTATIVE}")),
            staff_token: tok(&staff),
            stranger_token: tok(&format!("111:{}", citizen(5))),
            staff,
            licence,
            app,
        }
    }

    /// A call with `Acting-For: 001:COMPANY`.
    async fn for_company(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = json_request(method, path, Some(token), body);
        req.headers_mut()
            .insert("acting-for", format!("001:{COMPANY}").parse().unwrap());
        respond(&self.app.router, req).await
    }

    /// The company itself grants a delegation to the staff member.
    async fn delegate(&self, scope: Value) -> Value {
        let (status, d) = self
            .app
            .post(
                "/v1/me/delegations",
                Some(&self.app.tokens.holder_company),
                json!({"delegate": self.staff, "delegateName": "陈办事", "scope": scope,
                       "expiresAt": in_days(30)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
        d
    }
}

fn consent(matter: &str) -> Value {
    json!({"requester": "fz-scjg-xk", "matter": matter, "purpose": "办理",
           "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)})
}

fn forbidden(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str().filter(|c| *c == "forbidden")
}

#[tokio::test]
async fn a_delegate_acts_within_its_scope_and_every_record_names_them() {
    let w = World::new().await;
    let d = w.delegate(json!([NEW_FOOD])).await;
    assert_eq!(
        (
            &d["relation"],
            &d["holder"],
            &d["delegate"],
            &d["grantedBy"],
            &d["scope"]
        ),
        (
            &json!("delegation"),
            &json!(format!("001:{COMPANY}")),
            &json!(w.staff),
            &json!(format!("111:{REPRESENTATIVE}")),
            &json!([NEW_FOOD])
        )
    );

    // Within scope: a consent, naming the delegate.
    let (status, c) = w
        .for_company(
            Method::POST,
            "/v1/me/consents",
            &w.staff_token,
            Some(consent(NEW_FOOD)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["history"][0]["actedBy"], json!(w.staff));
    // Outside it: 403 naming the matter, and nothing written.
    let (status, body) = w
        .for_company(
            Method::POST,
            "/v1/me/consents",
            &w.staff_token,
            Some(consent(RENEW_FOOD)),
        )
        .await;
    assert_eq!(
        (status, forbidden(&body), body["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"), Some("$.matter")),
        "{body}"
    );
    let (_, all) = w
        .app
        .get("/v1/me/consents", Some(&w.app.tokens.holder_company))
        .await;
    assert_eq!(all["consents"].as_array().unwrap().len(), 1);

    // The pull under the delegate's consent: the access record names them, for the company.
    let (status, p) = w
        .app
        .post(
            "/v1/reuse",
            Some(&w.app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "受理"}),
        )
        .await;
    assert_eq!(
        (status, &p["results"][0]["outcome"]),
        (StatusCode::OK, &json!("provided"))
    );
    let (_, log) = w
        .for_company(Method::GET, "/v1/me/access-log", &w.staff_token, None)
        .await;
    assert_eq!(log["records"][0]["id"], p["accessRecord"]);
    assert_eq!(log["records"][0]["actedBy"], json!(w.staff));
    // It reads the licences its matters need.
    let (status, mine) = w
        .for_company(Method::GET, "/v1/me/licences", &w.staff_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["licences"][0]["id"], w.licence["id"]);
    let path = licence_path(&w.licence);
    let (status, _) = w
        .for_company(Method::GET, &path, &w.staff_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // An answer to a request in scope names the delegate; one outside is refused.
    let ask = |matter: &str| json!({"holder": format!("001:{COMPANY}"), "matter": matter, "purpose": "申请"});
    let (_, r1) = w
        .app
        .post(
            "/v1/consent-requests",
            Some(&w.app.tokens.requester),
            ask(NEW_FOOD),
        )
        .await;
    let (_, r2) = w
        .app
        .post(
            "/v1/consent-requests",
            Some(&w.app.tokens.requester),
            ask(RENEW_FOOD),
        )
        .await;
    let (_, pending) = w
        .for_company(Method::GET, "/v1/me/consent-requests", &w.staff_token, None)
        .await;
    let ids: Vec<&Value> = pending["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, vec![&r1["id"]], "only the requests of its matters");
    let approve = |r: &Value| {
        format!(
            "/v1/me/consent-requests/{}:approve",
            r["id"].as_str().unwrap()
        )
    };
    let (status, body) = w
        .for_company(Method::POST, &approve(&r2), &w.staff_token, Some(json!({})))
        .await;
    // Out of its scope: as if there were no such request.
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{body}"
    );
    let (status, c2) = w
        .for_company(Method::POST, &approve(&r1), &w.staff_token, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c2}");
    let (_, answered) = w
        .app
        .get(
            &format!("/v1/me/consent-requests/{}", r1["id"].as_str().unwrap()),
            Some(&w.app.tokens.holder_company),
        )
        .await;
    assert_eq!(answered["answer"]["actedBy"], json!(w.staff), "{answered}");
    // The requester learns that someone answered for the company, not their number.
    let (_, theirs) = w
        .app
        .get(
            &format!("/v1/consent-requests/{}", r1["id"].as_str().unwrap()),
            Some(&w.app.tokens.requester),
        )
        .await;
    assert_eq!(
        theirs["answer"]["actedBy"],
        json!(licence_vault::codes::mask(&w.staff)),
        "{theirs}"
    );
    // The signed consent receipt names the delegate too.
    let receipts = format!("/v1/me/consents/{}/receipts", c["id"].as_str().unwrap());
    let (_, r) = w
        .for_company(Method::GET, &receipts, &w.staff_token, None)
        .await;
    assert_eq!(
        r["receipts"][0]["credentialSubject"]["actedBy"],
        json!(w.staff),
        "{r}"
    );

    // What needs the whole scope, and delegating further, are refused.
    let (status, _) = w
        .for_company(
            Method::POST,
            "/v1/me/presentations",
            &w.staff_token,
            Some(json!({"licence": w.licence["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .for_company(
            Method::POST,
            "/v1/me/delegations",
            &w.staff_token,
            Some(
                json!({"delegate": format!("111:{}", citizen(7)), "scope": "all",
                        "expiresAt": in_days(3)}),
            ),
        )
        .await;
    assert_eq!(
        (status, forbidden(&body)),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{body}"
    );

    // A stranger may not act for the company; a bad header is named.
    let (status, body) = w
        .for_company(Method::GET, "/v1/me/consents", &w.stranger_token, None)
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("Acting-For"))
    );
    let mut req = json_request(Method::GET, "/v1/me/consents", Some(&w.staff_token), None);
    req.headers_mut()
        .insert("acting-for", "001:nonsense".parse().unwrap());
    let (status, body) = respond(&w.app.router, req).await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_holder_code",
            Some("Acting-For")
        )
    );

    // What lies outside its matters it neither sees nor touches: the food licence (needed only
    // for RENEW_FOOD), the company's own RENEW_FOOD consent, the pull under it, the read mark.
    let food = read_json("fixtures/licences/30-spjy-minwei.json");
    w.app.deposit(&food).await;
    let (s, other) = w
        .app
        .post(
            "/v1/me/consents",
            Some(&w.app.tokens.holder_company),
            consent(RENEW_FOOD),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    let (s, p2) = w
        .app
        .post(
            "/v1/reuse",
            Some(&w.app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": RENEW_FOOD, "purpose": "受理"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p2}");
    let (_, mine) = w
        .for_company(Method::GET, "/v1/me/licences", &w.staff_token, None)
        .await;
    let ids: Vec<&Value> = mine["licences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&w.licence["id"]],
        "only the licences its matters need"
    );
    let (status, _) = w
        .for_company(Method::GET, &licence_path(&food), &w.staff_token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, consents) = w
        .for_company(Method::GET, "/v1/me/consents", &w.staff_token, None)
        .await;
    assert!(
        consents["consents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["matter"] == NEW_FOOD),
        "{consents}"
    );
    let (_, log) = w
        .for_company(Method::GET, "/v1/me/access-log", &w.staff_token, None)
        .await;
    assert!(
        log["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["matter"] == NEW_FOOD),
        "{log}"
    );
    assert!(!log
        .to_string()
        .contains(p2["accessRecord"].as_str().unwrap()));
    let (_, summary) = w
        .for_company(Method::GET, "/v1/me/summary", &w.staff_token, None)
        .await;
    assert!(
        summary["matters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["matter"] == NEW_FOOD),
        "{summary}"
    );
    let (_, notes) = w
        .for_company(Method::GET, "/v1/me/notifications", &w.staff_token, None)
        .await;
    assert!(
        notes["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["matter"] == NEW_FOOD),
        "{notes}"
    );
    let withdraw = format!("/v1/me/consents/{}", other["id"].as_str().unwrap());
    let (status, body) = w
        .for_company(Method::DELETE, &withdraw, &w.staff_token, None)
        .await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (StatusCode::NOT_FOUND, "not_found", Some("id")),
        "{body}"
    );
    let (status, _) = w
        .for_company(
            Method::POST,
            "/v1/me/notifications:read",
            &w.staff_token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The delegate's own view lists what it received; the company's, what it gave.
    let (_, mine) = w.app.get("/v1/me/delegations", Some(&w.staff_token)).await;
    assert_eq!(mine["received"][0]["id"], d["id"]);
    assert_eq!(mine["received"][0]["inForce"], true);
    assert_eq!(mine["more"], false);
    let (_, given) = w
        .app
        .get("/v1/me/delegations", Some(&w.app.tokens.holder_company))
        .await;
    assert_eq!(given["given"][0]["id"], d["id"]);
}

#[tokio::test]
async fn revocation_and_expiry_stop_a_delegate_at_once() {
    let w = World::new().await;
    let d = w.delegate(json!("all")).await;
    let (status, _) = w
        .for_company(Method::GET, "/v1/me/consents", &w.staff_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/v1/me/delegations/{}", d["id"].as_str().unwrap());
    let (status, revoked) = w
        .app
        .call(
            Method::DELETE,
            &path,
            Some(&w.app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revokedAt"].is_string());
    let (status, body) = w
        .for_company(Method::GET, "/v1/me/consents", &w.staff_token, None)
        .await;
    assert_eq!(
        (status, forbidden(&body)),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // Revoking again changes nothing; another company cannot revoke it.
    let (status, again) = w
        .app
        .call(
            Method::DELETE,
            &path,
            Some(&w.app.tokens.holder_company),
            None,
        )
        .await;
    assert_eq!(
        (status, &again["revokedAt"]),
        (StatusCode::OK, &revoked["revokedAt"])
    );
    let (status, _) = w
        .app
        .call(
            Method::DELETE,
            &path,
            Some(&w.app.tokens.holder_other),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Expiry at its boundary.
    let now = Utc::now();
    let company: HolderCode = format!("001:{COMPANY}").parse().unwrap();
    let staff: HolderCode = w.staff.parse().unwrap();
    let d = w
        .app
        .vault
        .create_delegation(
            &licence_vault::reuse::delegation::Acting::own(company.clone()),
            NewDelegation {
                delegate: staff.clone(),
                delegate_name: None,
                scope: Scope::ALL,
                expires_at: now + Duration::hours(1),
            },
            now,
        )
        .unwrap();
    let at = d.expires_at;
    assert!(w
        .app
        .vault
        .acting(&staff, &company, at - Duration::milliseconds(1))
        .is_ok());
    match w.app.vault.acting(&staff, &company, at) {
        Err(VaultError::Rejected(r)) => assert_eq!(r.reason, Reason::Forbidden),
        other => panic!("{other:?}"),
    }

    // A bad delegation is refused, naming the field.
    for (body, field) in [
        (
            json!({"delegate": w.staff, "scope": "some", "expiresAt": in_days(3)}),
            "$.scope",
        ),
        (
            json!({"delegate": w.staff, "scope": ["350100-XX-999"], "expiresAt": in_days(3)}),
            "$.scope[0]",
        ),
        (
            json!({"delegate": w.staff, "scope": "all", "expiresAt": in_days(-1)}),
            "$.expiresAt",
        ),
        (
            json!({"delegate": w.staff, "scope": "all", "expiresAt": in_days(4000)}),
            "$.expiresAt",
        ),
        (
            json!({"delegate": format!("001:{OTHER_COMPANY}"), "scope": "all", "expiresAt": in_days(3)}),
            "$.delegate",
        ),
        (
            json!({"delegate": format!("111:{REPRESENTATIVE}"), "scope": "all", "expiresAt": in_days(3)}),
            "$.delegate",
        ),
        (
            json!({"scope": "all", "expiresAt": in_days(3)}),
            "$.delegate",
        ),
    ] {
        let (status, err) = w
            .app
            .post(
                "/v1/me/delegations",
                Some(&w.app.tokens.holder_company),
                body.clone(),
            )
            .await;
        assert_eq!(
            (status.is_client_error(), err["error"]["field"].as_str()),
            (true, Some(field)),
            "{body} → {err}"
        );
    }
}

#[tokio::test]
async fn a_new_legal_representative_ends_the_old_ones_delegations() {
    let w = World::new().await;
    // The representative acts for the company with their own token, and delegates.
    let (status, d) = w
        .for_company(
            Method::POST,
            "/v1/me/delegations",
            &w.rep,
            Some(json!({"delegate": w.staff, "scope": "all", "expiresAt": in_days(30)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["grantedBy"], json!(format!("111:{REPRESENTATIVE}")));
    let (status, c) = w
        .for_company(
            Method::POST,
            "/v1/me/consents",
            &w.rep,
            Some(consent(NEW_FOOD)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        c["history"][0]["actedBy"],
        json!(format!("111:{REPRESENTATIVE}"))
    );
    let (status, _) = w
        .for_company(Method::GET, "/v1/me/consents", &w.staff_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // A renewed 营业执照 names a new representative.
    let successor = citizen(9);
    let id1 = LicenceId::from_urn_or_bare(w.licence["id"].as_str().unwrap()).unwrap();
    let mut v2 = business_licence("D0001", COMPANY);
    v2["id"] = json!(id1.with_version(2).unwrap().urn());
    v2["credentialSubject"]["licence"]["version"] = json!("002");
    v2["credentialSubject"]["licence"]["predecessor"] = w.licence["id"].clone();
    v2["credentialSubject"]["licence"]["fields"]["法定代表人证件号码"] = json!(successor);
    w.app.deposit(&sign(&v2, "scjgj")).await;

    for token in [&w.staff_token, &w.rep] {
        let (status, body) = w
            .for_company(Method::GET, "/v1/me/consents", token, None)
            .await;
        assert_eq!(
            (status, forbidden(&body)),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{body}"
        );
    }
    let (_, given) = w
        .app
        .get("/v1/me/delegations", Some(&w.app.tokens.holder_company))
        .await;
    assert_eq!(
        (
            &given["given"][0]["id"],
            &given["given"][0]["inForce"],
            given["given"][0].get("revokedAt")
        ),
        (&d["id"], &json!(false), None),
        "ended by the new representative, not revoked: {given}"
    );
    let new_rep = token(
        &w.app.vault,
        &Principal::Holder(format!("111:{successor}").parse().unwrap()),
    );
    let (status, body) = w
        .for_company(Method::GET, "/v1/me/consents", &new_rep, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The company's 营业执照 revoked: nobody represents it.
    let (status, _) = w
        .app
        .post(
            &format!("{}/status", licence_path(&v2)),
            Some(&w.app.tokens.market),
            signed_statement(&v2, "revoked", "吊销", "scjgj"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = w
        .for_company(Method::GET, "/v1/me/consents", &new_rep, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_guardian_acts_for_a_registered_ward() {
    let w = World::new().await;
    let first17 = "35010220120312001";
    let ward = format!("111:{first17}{}", CitizenId::check_char(first17).unwrap());
    let guardian = format!("111:{}", citizen(4));
    let card = sign(&id_card("G0001", &ward[4..]), "gaj");
    let (status, body) = w
        .app
        .post("/v1/licences", Some(&w.app.tokens.police), card.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let guardian_token = token(&w.app.vault, &Principal::Holder(guardian.parse().unwrap()));
    let as_ward = |token: &str, path: &str| {
        let mut req = json_request(Method::GET, path, Some(token), None);
        req.headers_mut()
            .insert("acting-for", ward.parse().unwrap());
        respond(&w.app.router, req)
    };
    let (status, _) = as_ward(&guardian_token, "/v1/me/licences").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not before it is registered");

    let admin = Some(w.app.tokens.admin.as_str());
    let (status, g) = w
        .app
        .post(
            "/v1/admin/guardianships",
            admin,
            json!({"guardian": guardian, "ward": ward}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{g}");
    assert_eq!(
        (&g["relation"], &g["expiresAt"], &g["grantedBy"]),
        (
            &json!("guardianship"),
            &json!("2030-03-11T16:00:00Z"),
            &json!("admin")
        )
    );
    let (status, mine) = as_ward(&guardian_token, "/v1/me/licences").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["licences"][0]["id"], card["id"]);

    let path = format!("/v1/admin/guardianships/{}", g["id"].as_str().unwrap());
    let (status, _) = w.app.call(Method::DELETE, &path, admin, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_ward(&guardian_token, "/v1/me/licences").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Only the admin registers; a company is no ward.
    let (status, _) = w
        .app
        .post(
            "/v1/admin/guardianships",
            Some(&guardian_token),
            json!({"guardian": guardian, "ward": ward}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .app
        .post(
            "/v1/admin/guardianships",
            admin,
            json!({"guardian": guardian, "ward": format!("001:{COMPANY}")}),
        )
        .await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_holder_code",
            Some("$.ward")
        )
    );
    let t = &w.app.tokens;
    for (method, p, body) in [
        (
            Method::POST,
            "/v1/admin/guardianships".to_owned(),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            "/v1/admin/guardianships/gdn_1".to_owned(),
            None,
        ),
    ] {
        w.app
            .assert_refused(
                &method,
                &p,
                body.as_ref(),
                &[None],
                &[&t.market, &t.requester, &t.holder_company],
            )
            .await;
    }
    for (method, p, body) in [
        (Method::POST, "/v1/me/delegations", Some(json!({}))),
        (Method::GET, "/v1/me/delegations", None),
        (Method::DELETE, "/v1/me/delegations/dlg_1", None),
    ] {
        w.app
            .assert_refused(
                &method,
                p,
                body.as_ref(),
                &[None, Some("lv_unknown")],
                &[&t.admin, &t.market, &t.requester],
            )
            .await;
    }
}

/// Over the route table: every endpoint that takes an id and `Acting-For` answers a delegate an
/// id outside its scope exactly as it answers an id that does not exist — same status, same
/// code, same message but for the id — for each kind of scope.
#[tokio::test]
async fn an_id_outside_a_delegates_scope_answers_like_an_absent_one_on_every_endpoint() {
    use licence_vault::http::{routes, ActingFor};
    let w = World::new().await;
    // Out of a NEW_FOOD delegate's scope: the 食品经营许可证, a consent and a request for RENEW_FOOD.
    let food = read_json("fixtures/licences/30-spjy-minwei.json");
    let (status, r) = w
        .app
        .post("/v1/licences", Some(&w.app.tokens.market), food.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let company = &w.app.tokens.holder_company;
    let (status, c) = w
        .app
        .post("/v1/me/consents", Some(company), consent(RENEW_FOOD))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (status, q) = w
        .app
        .post(
            "/v1/consent-requests",
            Some(&w.app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": RENEW_FOOD, "purpose": "办理"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    let (status, export) = w.app.post("/v1/me/exports", Some(company), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{export}");
    // A correction of the food licence, a type outside the delegate's matters.
    let (status, cor) = w
        .app
        .post(
            "/v1/me/corrections",
            Some(company),
            json!({"licence": food["id"], "fields": ["经营场所"], "problem": "门牌号错误"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cor}");
    // An objection to a pull for a matter outside the delegate's scope.
    let (status, p) = w
        .app
        .post(
            "/v1/reuse",
            Some(&w.app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": RENEW_FOOD, "purpose": "受理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let (_, log) = w.app.get("/v1/me/access-log", Some(company)).await;
    let (status, obj) = w
        .app
        .post(
            "/v1/me/objections",
            Some(company),
            json!({"accessRecord": log["records"][0]["id"], "reason": "未办理"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{obj}");
    let food_id = food["id"].as_str().unwrap().to_owned();
    let hidden = [
        (
            "/v1/licences/",
            food_id.clone(),
            food_id.replace(".001.G", ".002.G"),
        ),
        // A printable copy of the licence (`{id}.pdf`).
        (
            "/v1/me/licences/",
            food_id.clone(),
            food_id.replace(".001.G", ".002.G"),
        ),
        (
            "/v1/me/consents/",
            c["id"].as_str().unwrap().to_owned(),
            "cst_0000000000000000000000000000000000000000".to_owned(),
        ),
        (
            "/v1/me/consent-requests/",
            q["id"].as_str().unwrap().to_owned(),
            "creq_00000000000000000000000000000000000000000000".to_owned(),
        ),
        // An export the company made itself: only the person who made it downloads it.
        (
            "/v1/me/exports/",
            export["id"].as_str().unwrap().to_owned(),
            "exp_0000000000000000000000000000000000000000000000".to_owned(),
        ),
        (
            "/v1/me/corrections/",
            cor["id"].as_str().unwrap().to_owned(),
            "cor_00000000000000000000000000000000".to_owned(),
        ),
        (
            "/v1/me/objections/",
            obj["id"].as_str().unwrap().to_owned(),
            "obj_00000000000000000000000000000000".to_owned(),
        ),
    ];
    for scope in [json!([NEW_FOOD]), json!([NEW_FOOD, "350100-GA-003"])] {
        w.delegate(scope.clone()).await;
        let mut covered = 0;
        for r in routes() {
            if r.acting_for != ActingFor::Yes || !r.path.contains('{') {
                continue;
            }
            let (prefix, out, absent) = match hidden.iter().find(|(p, ..)| r.path.starts_with(p)) {
                Some(h) => h,
                // Refused to any delegate before a lookup (presentations, delegations): no id
                // is told apart there.
                None => {
                    let path = r.path.replace("{id}", "x_absent");
                    let (status, body) = w
                        .for_company(r.method.clone(), &path, &w.staff_token, Some(json!({})))
                        .await;
                    assert_eq!(
                        (status, forbidden(&body)),
                        (StatusCode::FORBIDDEN, Some("forbidden")),
                        "{} {}: {body}",
                        r.method,
                        r.path
                    );
                    continue;
                }
            };
            let call = |id: &str| {
                let path = format!(
                    "{prefix}{}",
                    &r.path[prefix.len()..].replacen("{id}", id, 1)
                );
                let body = (r.method == Method::POST).then(|| json!({}));
                let req = {
                    let mut req = json_request(r.method.clone(), &path, Some(&w.staff_token), body);
                    req.headers_mut()
                        .insert("acting-for", format!("001:{COMPANY}").parse().unwrap());
                    req
                };
                respond(&w.app.router, req)
            };
            let (s_out, b_out) = call(out).await;
            let (s_abs, b_abs) = call(absent).await;
            assert_eq!(
                s_out,
                StatusCode::NOT_FOUND,
                "{} {} ({scope}): {b_out}",
                r.method,
                r.path
            );
            assert_eq!(
                (s_out, code(&b_out)),
                (s_abs, code(&b_abs)),
                "{} {}",
                r.method,
                r.path
            );
            assert_eq!(
                b_out["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(out.as_str(), "ID"),
                b_abs["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(absent.as_str(), "ID"),
                "{} {}",
                r.method,
                r.path
            );
            assert!(!b_out.to_string().contains(RENEW_FOOD), "{b_out}");
            covered += 1;
        }
        // GET licence and its PDF; consent DELETE, :narrow, receipts; request GET, :approve,
        // :reject; GET export; correction GET, :withdraw, :dispute; objection GET, :withdraw.
        assert_eq!(covered, 14, "{scope}");
    }

    // The feeds: a delegate's pages are filled with what it may see, and no cursor stands for
    // (or follows) something it may not.
    let (status, visible) = w
        .app
        .post(
            "/v1/consent-requests",
            Some(&w.app.tokens.requester),
            json!({"holder": format!("001:{COMPANY}"), "matter": NEW_FOOD, "purpose": "办理"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{visible}");
    for feed in [
        "/v1/me/notifications",
        "/v1/me/consent-requests",
        "/v1/me/access-log",
    ] {
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let path = match &cursor {
                None => format!("{feed}?limit=1"),
                Some(c) => format!("{feed}?limit=1&cursor={c}"),
            };
            let (status, page) = w
                .for_company(Method::GET, &path, &w.staff_token, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{feed}: {page}");
            let items = ["notifications", "requests", "records"]
                .iter()
                .find_map(|k| page[*k].as_array())
                .unwrap();
            assert!(
                cursor.is_none() || !items.is_empty(),
                "{feed}: an empty page after a cursor"
            );
            seen.extend(items.iter().map(|i| i["id"].clone()));
            match page["nextCursor"].as_str() {
                Some(c) => {
                    for (_, out, _) in &hidden {
                        assert!(!c.contains(out.as_str()), "{feed}: {c}");
                    }
                    cursor = Some(c.to_owned());
                }
                None => break,
            }
        }
        if feed != "/v1/me/access-log" {
            assert_eq!(seen, vec![visible["id"].clone()], "{feed}");
        }
    }
}

#[tokio::test]
async fn a_minors_guardianship_ends_by_18_and_an_adults_is_explicit_and_bounded() {
    let app = TestApp::new();
    let admin = Some(app.tokens.admin.as_str());
    let guardian = format!("111:{}", citizen(4));
    let with = |first17: &str| format!("111:{first17}{}", CitizenId::check_char(first17).unwrap());
    let minor = with("35010220120312001"); // 18 on 2030-03-12 (UTC+8)
    let adult = with("35010219600312001");
    let register = |body: Value| app.post("/v1/admin/guardianships", admin, body);
    let refused = |body: &Value, field: &str| {
        assert_eq!(
            (code(body), body["error"]["field"].as_str()),
            ("invalid_request", Some(field)),
            "{body}"
        )
    };

    // A minor: past the 18th birthday is refused (2099, 9999-12-31); before it is kept.
    for late in [
        "2099-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "2030-03-11T16:00:01Z",
    ] {
        let (status, body) =
            register(json!({"guardian": guardian, "ward": minor, "expiresAt": late})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{late}");
        refused(&body, "$.expiresAt");
    }
    let (status, g) =
        register(json!({"guardian": guardian, "ward": minor, "expiresAt": "2029-01-01T00:00:00Z"}))
            .await;
    assert_eq!(
        (status, &g["expiresAt"]),
        (StatusCode::CREATED, &json!("2029-01-01T00:00:00Z")),
        "{g}"
    );
    // A minor is no adult ward.
    let (status, body) = register(
        json!({"guardian": guardian, "ward": minor, "adult": true, "expiresAt": in_days(30)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    refused(&body, "$.adult");

    // An adult: only when said explicitly, with an expiry, within five years.
    let (status, body) = register(json!({"guardian": guardian, "ward": adult})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    refused(&body, "$.ward");
    let (status, body) =
        register(json!({"guardian": guardian, "ward": adult, "adult": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    refused(&body, "$.expiresAt");
    let (status, body) = register(json!({"guardian": guardian, "ward": adult, "adult": true, "expiresAt": "9999-12-31T00:00:00Z"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    refused(&body, "$.expiresAt");
    let (status, g) = register(
        json!({"guardian": guardian, "ward": adult, "adult": true, "expiresAt": in_days(1_800)}),
    )
    .await;
    assert_eq!(
        (status, &g["relation"]),
        (StatusCode::CREATED, &json!("guardianship")),
        "{g}"
    );
}

#[test]
fn a_legal_representative_of_a_store_from_before_the_representative_index_still_acts() {
    use licence_vault::store::{Change, Table};
    let dir = tempfile::tempdir().unwrap();
    let company: HolderCode = format!("001:{COMPANY}").parse().unwrap();
    let rep: HolderCode = format!("111:{REPRESENTATIVE}").parse().unwrap();
    {
        let vault = open(dir.path());
        seed_registries(&vault);
        let licence = sign(&business_licence("IDX0001", COMPANY), "scjgj");
        vault.deposit(&uscc(MARKET), &licence, Utc::now()).unwrap();
        assert!(vault.acting(&rep, &company, Utc::now()).is_ok());
        // What an older vault wrote: no representative index, no mark.
        let store = vault.store();
        let mut c = Change::durable();
        for (k, _) in store
            .scan(Table::CompanyRepresentative, b"", false, 10)
            .unwrap()
        {
            c.delete(Table::CompanyRepresentative, k);
        }
        c.delete(Table::Meta, b"representatives_indexed".to_vec());
        store.commit(c).unwrap();
        let refused = vault.acting(&rep, &company, Utc::now()).unwrap_err();
        assert!(matches!(refused, VaultError::Rejected(ref r) if r.reason == Reason::Forbidden));
    }
    let vault = open(dir.path());
    let acting = vault.acting(&rep, &company, Utc::now()).unwrap();
    assert_eq!(acting.actor, rep);
}

#[tokio::test]
async fn delegations_given_and_received_come_a_page_at_a_time() {
    let w = World::new().await;
    let mut ids = Vec::new();
    for scope in [json!([NEW_FOOD]), json!([RENEW_FOOD]), json!("all")] {
        ids.push(w.delegate(scope).await["id"].as_str().unwrap().to_owned());
    }
    ids.reverse(); // newest first
    let page = |token: &str, query: &str| {
        let (token, query) = (token.to_owned(), query.to_owned());
        let app = &w.app;
        async move {
            let (status, body) = app
                .get(&format!("/v1/me/delegations{query}"), Some(&token))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let ids_of = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let company = w.app.tokens.holder_company.clone();
    let first = page(&company, "?limit=2").await;
    assert_eq!(ids_of(&first["given"]), ids[..2]);
    assert_eq!(first["more"], true);
    let next = first["givenNextCursor"].as_str().unwrap();
    let second = page(&company, &format!("?limit=2&givenCursor={next}")).await;
    assert_eq!(ids_of(&second["given"]), ids[2..]);
    assert!(second.get("givenNextCursor").is_none(), "{second}");
    assert_eq!(second["more"], false);

    let first = page(&w.staff_token, "?limit=2").await;
    assert_eq!(ids_of(&first["received"]), ids[..2]);
    let next = first["receivedNextCursor"].as_str().unwrap();
    let second = page(&w.staff_token, &format!("?limit=2&receivedCursor={next}")).await;
    assert_eq!(ids_of(&second["received"]), ids[2..]);

    // A cursor names an authorisation of this feed: one that never was, or one someone else
    // received, is refused alike.
    for (token, cursor) in [
        (&w.staff_token, "dlg_nothing"),
        (&w.app.tokens.holder_other, ids[0].as_str()),
    ] {
        let (status, e) = w
            .app
            .get(
                &format!("/v1/me/delegations?receivedCursor={cursor}"),
                Some(token),
            )
            .await;
        assert_eq!(
            (status, code(&e), e["error"]["field"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some("receivedCursor")
            )
        );
    }
    let (status, e) = w
        .app
        .get("/v1/me/delegations?limit=201", Some(&company))
        .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
}
