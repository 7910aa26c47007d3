//! The VC-API endpoints as outside verifiers and conformance suites use them: the data model's
//! rules and the issuer's control of its key on `POST /credentials/verify`, and presentations
//! with challenges (`POST /presentations/verify`, `POST /challenges`).

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use licence_vault::keys::Signer;
use licence_vault::proof::{self, Binding};
use serde_json::{json, Value};

use crate::support::*;

const DOMAIN: &str = "verifier.example.org";

fn credential(issuer: &Signer) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did_key().as_str(),
        "credentialSubject": {"id": "did:example:subject", "name": "Alice"}
    })
}

fn signed(doc: Value, by: &Signer) -> Value {
    proof::sign(doc, by, Utc::now()).unwrap()
}

fn presentation(holder: &Signer, credentials: Vec<Value>, challenge: Option<&str>) -> Value {
    let mut vp = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did_key().as_str(),
    });
    if !credentials.is_empty() {
        vp["verifiableCredential"] = credentials.into();
    }
    let binding = Binding {
        challenge,
        domain: Some(DOMAIN),
    };
    proof::sign_presentation(vp, holder, Utc::now(), binding).unwrap()
}

/// The failed checks of an answer, as `check/code`.
fn errors(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {v}"))
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["check"].as_str().unwrap(),
                e["code"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn the_credential_verifier_reports_each_data_model_rule_and_who_signed() {
    let app = TestApp::new();
    let issuer = Signer::generate();
    let verify = |vc: Value| {
        let app = &app;
        async move {
            app.post(
                "/credentials/verify",
                None,
                json!({"verifiableCredential": vc}),
            )
            .await
        }
    };
    let (s, v) = verify(signed(credential(&issuer), &issuer)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["checks"].as_array().unwrap().contains(&json!("issuer")),
        "{v}"
    );

    // Signed, and breaking one rule each: the data_model check names the member.
    for (change, detail) in [
        (json!({"credentialSubject": {}}), "$.credentialSubject[0]"),
        (json!({"id": null}), "$.id"),
        (
            json!({"@context": ["https://www.w3.org/ns/credentials/v2", 123192875]}),
            "$.@context[1]",
        ),
        (
            json!({"credentialStatus": {"id": "did:example:status"}}),
            "$.credentialStatus[0].type",
        ),
        (
            json!({"name": {"@value": "x", "@language": "en", "url": "did:example:c"}}),
            "$.name",
        ),
        (
            json!({"relatedResource": [{"id": "https://r.example/1"}]}),
            "$.relatedResource[0]",
        ),
        (
            json!({"validFrom": "Sat 25 Feb 2023 07:16:31 PM CST"}),
            "$.validFrom",
        ),
    ] {
        let mut vc = credential(&issuer);
        for (k, x) in change.as_object().unwrap() {
            vc[k] = x.clone();
        }
        let (s, v) = verify(signed(vc, &issuer)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let e = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["check"] == "data_model")
            .unwrap_or_else(|| panic!("{v}"));
        assert_eq!(e["code"], "schema_violation");
        assert!(
            e["message"].as_str().unwrap().starts_with(detail),
            "{detail}: {v}"
        );
    }

    // Another did:key named as issuer: the signer does not speak for it.
    let other = Signer::generate();
    let (s, v) = verify(signed(credential(&other), &issuer)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(errors(&v), ["issuer/issuer_mismatch"]);
    // An issuer that is not a did:key cannot be resolved here: not checked, never passed.
    let mut vc = credential(&issuer);
    vc["issuer"] = json!("https://issuer.example.org");
    let (s, v) = verify(signed(vc, &issuer)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let warned: Vec<&Value> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["check"])
        .collect();
    assert_eq!(warned, [&json!("issuer_key"), &json!("issuer")], "{v}");
}

#[tokio::test]
async fn a_presentation_is_verified_with_its_challenge_domain_holder_and_credentials() {
    let app = TestApp::new();
    let issuer = Signer::generate();
    let holder = Signer::generate();
    // No body at all is a request for a challenge too; any other body is refused.
    let (s, c) = app
        .call(axum::http::Method::POST, "/challenges", None, None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert!(c["challenge"].as_str().unwrap().starts_with("vch_"));
    let (s, e) = app.post("/challenges", None, json!({"x": 1})).await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (s, c) = app.post("/challenges", None, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let challenge = c["challenge"].as_str().unwrap().to_owned();
    let vc = signed(credential(&issuer), &issuer);
    let verify = |vp: Value, challenge: &str| {
        let (app, challenge) = (&app, challenge.to_owned());
        async move {
            app.post(
                "/presentations/verify",
                None,
                json!({"verifiablePresentation": vp, "options": {"challenge": challenge, "domain": DOMAIN}}),
            )
            .await
        }
    };

    let vp = presentation(&holder, vec![vc.clone()], Some(&challenge));
    let (s, v) = verify(vp.clone(), &challenge).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["checks"],
        json!([
            "signature",
            "holder",
            "challenge",
            "domain",
            "data_model",
            "credentials"
        ])
    );
    assert_eq!(v["credentialResults"][0]["verdict"]["valid"], true, "{v}");

    // Another challenge than the verifier's; another domain.
    let (s, v) = verify(vp.clone(), "u-some-other-challenge").await;
    assert_eq!(
        (s, errors(&v)),
        (
            StatusCode::BAD_REQUEST,
            vec!["challenge/challenge_mismatch".to_owned()]
        )
    );
    let (_, v) = app
        .post(
            "/presentations/verify",
            None,
            json!({"verifiablePresentation": vp, "options": {"challenge": challenge, "domain": "elsewhere.example"}}),
        )
        .await;
    assert_eq!(errors(&v), ["domain/domain_mismatch"]);

    // A challenge that looks like the vault's but that it never gave.
    let forged = format!("{}A", &challenge[..challenge.len() - 1]);
    let forged = if forged == challenge {
        format!("{}B", &challenge[..challenge.len() - 1])
    } else {
        forged
    };
    let vp2 = presentation(&holder, vec![vc.clone()], Some(&forged));
    let (_, v) = verify(vp2, &forged).await;
    assert_eq!(errors(&v), ["challenge/challenge_mismatch"]);

    // Tampered after signing.
    let mut tampered = vp.clone();
    tampered["holder"] = json!(Signer::generate().did_key().as_str());
    let (_, v) = verify(tampered, &challenge).await;
    assert_eq!(errors(&v)[0], "signature/bad_signature");

    // Signed by a key the named holder does not control.
    let mut vp3 = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": Signer::generate().did_key().as_str(),
    });
    vp3 = proof::sign_presentation(
        vp3,
        &holder,
        Utc::now(),
        Binding {
            challenge: Some(&challenge),
            domain: Some(DOMAIN),
        },
    )
    .unwrap();
    let (_, v) = verify(vp3, &challenge).await;
    assert_eq!(errors(&v), ["holder/holder_mismatch"]);

    // A credential that is not valid on its own fails the presentation, and says why.
    let mut bad_vc = vc.clone();
    bad_vc["credentialSubject"]["name"] = json!("Mallory");
    let vp4 = presentation(&holder, vec![vc.clone(), bad_vc], Some(&challenge));
    let (s, v) = verify(vp4, &challenge).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(errors(&v), ["credentials/bad_signature"]);
    assert_eq!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("$.verifiableCredential[1]")
    );
    assert_eq!(v["credentialResults"][0]["verdict"]["valid"], true);
    assert_eq!(v["credentialResults"][1]["verdict"]["valid"], false);

    // A credential's proof is not a presentation's: the purpose must be authentication.
    let (_, v) = verify(vc.clone(), &challenge).await;
    assert_eq!(errors(&v)[0], "signature/bad_signature");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("authentication"),
        "{v}"
    );

    // Not a presentation at all.
    let (s, v) = app
        .post(
            "/presentations/verify",
            None,
            json!({"verifiablePresentation": [1]}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "malformed_json"));
    let (s, v) = app.post("/presentations/verify", None, json!({})).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("$.verifiablePresentation"))
    );
}

#[tokio::test]
async fn a_challenge_the_vault_gave_expires() {
    let app = TestApp::new();
    let holder = Signer::generate();
    let now = Utc::now();
    let challenge = app.vault.challenge(now - Duration::seconds(601));
    let vp = presentation(&holder, vec![], Some(&challenge));
    let judged = app
        .vault
        .verify_presentation(&vp, Some(&challenge), Some(DOMAIN), now);
    let v = serde_json::to_value(&judged.verdict).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(check(&v, "challenge")["code"], "challenge_mismatch");
    assert!(
        check(&v, "challenge")["detail"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{v}"
    );
    // The same challenge, judged within its ten minutes.
    let judged = app.vault.verify_presentation(
        &vp,
        Some(&challenge),
        Some(DOMAIN),
        now - Duration::seconds(2),
    );
    assert!(judged.verdict.valid, "{:?}", judged.verdict);
}

#[test]
fn a_challenge_is_refused_when_any_byte_of_it_changes() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use licence_vault::verify::presentation::{challenge_refusal, mint_challenge};
    let mac = |d: &[u8]| -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest([b"k".as_slice(), d].concat()).into()
    };
    let now = Utc::now();
    let c = mint_challenge(now, [7; 16], mac);
    assert_eq!(challenge_refusal(&c, now, mac), None);
    let raw = URL_SAFE_NO_PAD
        .decode(c.strip_prefix("vch_").unwrap())
        .unwrap();
    let forged = Some("not a challenge this vault gave");
    // The end time moved a year on, the nonce or the tag changed: each is forged.
    for i in [0, 7, 8, 23, 24, 39] {
        let mut b = raw.clone();
        b[i] ^= 1;
        let c = format!("vch_{}", URL_SAFE_NO_PAD.encode(&b));
        assert_eq!(challenge_refusal(&c, now, mac), forged, "byte {i}");
    }
    // Cut short, grown, not base64, or under another MAC.
    let other = |d: &[u8]| -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest([b"other".as_slice(), d].concat()).into()
    };
    for c in [
        format!("vch_{}", URL_SAFE_NO_PAD.encode(&raw[..39])),
        format!(
            "vch_{}",
            URL_SAFE_NO_PAD.encode([raw.as_slice(), &[0]].concat())
        ),
        "vch_!!".to_owned(),
    ] {
        assert_eq!(challenge_refusal(&c, now, mac), forged, "{c}");
    }
    assert_eq!(challenge_refusal(&c, now, other), forged);
    // A challenge the caller chose is the caller's to judge.
    assert_eq!(challenge_refusal("u-my-own", now, mac), None);
    // Ten minutes on, it has expired.
    assert_eq!(
        challenge_refusal(&c, now + Duration::seconds(600), mac),
        Some("the challenge this vault gave has expired")
    );
}

#[tokio::test]
async fn a_presentation_carries_a_bounded_number_of_credentials_and_may_name_no_holder() {
    let app = TestApp::new();
    let holder = Signer::generate();
    let vc = signed(credential(&holder), &holder);
    let max = licence_vault::http::MAX_PRESENTED;
    let vp = presentation(&holder, vec![vc.clone(); max + 1], Some("c"));
    let (s, e) = app
        .post(
            "/presentations/verify",
            None,
            json!({"verifiablePresentation": vp}),
        )
        .await;
    assert_eq!(
        (s, code(&e), e["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("$.verifiablePresentation.verifiableCredential")
        )
    );
    let vp = presentation(&holder, vec![vc; max], Some("c"));
    let (s, v) = app
        .post(
            "/presentations/verify",
            None,
            json!({"verifiablePresentation": vp, "options": {"challenge": "c", "domain": DOMAIN}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["credentialResults"].as_array().unwrap().len(), max);

    // No holder named: the holder check is not made (and says why); no challenge asked: neither.
    let mut anonymous = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
    });
    anonymous =
        proof::sign_presentation(anonymous, &holder, Utc::now(), Binding::default()).unwrap();
    let (s, v) = app
        .post(
            "/presentations/verify",
            None,
            json!({"verifiablePresentation": anonymous}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let warned: Vec<(&str, &str)> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["check"].as_str().unwrap(), w["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        warned,
        [
            ("holder", "not checked: the document names no holder"),
            ("challenge", "not checked: the verifier gave no challenge"),
            ("domain", "not checked: the verifier gave no domain"),
        ]
    );
}
