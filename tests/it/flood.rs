//! Bounded work under pressure (SPEC §10): the caps on pending consent requests, the paged list
//! with previews for the page shown only, rejecting a requester's requests at once, and a flood
//! of requests against one holder that leaves the holder's list and everyone else answering.
//! The flood's size is `LICENCE_VAULT_FLOOD` (default 2,000; `make flood` runs 40,000).

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use licence_vault::auth::Principal;
use licence_vault::codes::HolderCode;
use licence_vault::vault::{PendingLimits, VaultOptions};
use serde_json::{json, Value};

use crate::support::*;

const RENEWAL: &str = "350100-JJ-002";
const HOUSING_FUND: &str = "350100-GJJ-001";

/// A vault holding 林志强's ID card and driving licence, with his token and the given caps.
struct Holder {
    app: TestApp,
    holder: String,
    token: String,
}

impl Holder {
    async fn new(pending: PendingLimits) -> Self {
        let app = TestApp::with_options(VaultOptions {
            pending,
            ..Default::default()
        });
        let mut holder = String::new();
        for name in ["01-sfz-linzhiqiang", "04-jsz-linzhiqiang"] {
            let doc = read_json(&format!("fixtures/licences/{name}.json"));
            let (status, r) = app
                .post("/v1/licences", Some(&app.tokens.police), doc.clone())
                .await;
            assert_eq!(status, StatusCode::CREATED, "{r}");
            let h = &doc["credentialSubject"]["holder"];
            holder = format!(
                "{}:{}",
                h["codeType"].as_str().unwrap(),
                h["code"].as_str().unwrap()
            );
        }
        let token = token(
            &app.vault,
            &Principal::Holder(holder.parse::<HolderCode>().unwrap()),
        );
        Self { app, holder, token }
    }

    fn requester(&self, id: &str) -> String {
        token(&self.app.vault, &Principal::Requester(id.into()))
    }

    async fn ask(&self, requester: &str, matter: &str) -> (StatusCode, Value) {
        self.app
            .post(
                "/v1/consent-requests",
                Some(requester),
                json!({"holder": self.holder, "matter": matter, "purpose": "办理"}),
            )
            .await
    }

    /// Every page of the holder's list, `limit` at a time: the ids in order.
    async fn list_all(&self, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/v1/me/consent-requests?limit={limit}"),
                Some(c) => format!("/v1/me/consent-requests?limit={limit}&cursor={c}"),
            };
            let (status, page) = self.app.get(&path, Some(&self.token)).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let requests = page["requests"].as_array().unwrap();
            assert!(requests.len() <= limit);
            for r in requests {
                // A preview for each request of the page.
                assert!(
                    r["preview"].as_array().is_some_and(|p| !p.is_empty()),
                    "{r}"
                );
                ids.push(r["id"].as_str().unwrap().to_owned());
            }
            match page.get("nextCursor") {
                None => return ids,
                Some(c) => {
                    assert_eq!(requests.len(), limit, "only a full page has a next one");
                    cursor = Some(c.as_str().unwrap().to_owned());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_requester_waits_on_at_most_its_cap_and_the_holder_rejects_them_all_at_once() {
    let h = Holder::new(PendingLimits::DEFAULT).await;
    let police = h.requester("fz-ga-zwfw");
    let mut made = Vec::new();
    for _ in 0..20 {
        let (status, r) = h.ask(&police, RENEWAL).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        made.push(r["id"].as_str().unwrap().to_owned());
    }
    // The 21st waits for nothing: refused, and nothing stored.
    let (status, e) = h.ask(&police, RENEWAL).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_pending_requests"),
        "{e}"
    );
    assert_eq!(e["error"]["field"], "$.holder");
    // Another requester is not held back by the first one's cap.
    let fund = h.requester("fz-gjj");
    let (status, other) = h.ask(&fund, HOUSING_FUND).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");

    // The list, in pages of 7: newest first, each once, all 21.
    let listed = h.list_all(7).await;
    let mut expected: Vec<String> = made.clone();
    expected.push(other["id"].as_str().unwrap().to_owned());
    expected.reverse();
    assert_eq!(listed, expected);

    // A cursor this feed never gave.
    let (status, e) = h
        .app
        .get("/v1/me/consent-requests?cursor=..%2F", Some(&h.token))
        .await;
    assert_eq!(
        (status, code(&e), &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, "invalid_request", &json!("cursor"))
    );
    let (status, e) = h
        .app
        .get("/v1/me/consent-requests?limit=51", Some(&h.token))
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("limit"))
    );

    // One answer rejects all 20 of the police system's, and only those.
    let (status, r) = h
        .app
        .post(
            "/v1/me/consent-requests:rejectAll",
            Some(&h.token),
            json!({"requester": "fz-ga-zwfw", "reason": "我没有在办理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let rejected: BTreeSet<&str> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(
                (&v["state"], &v["answer"]["reason"]),
                (&json!("rejected"), &json!("我没有在办理"))
            );
            v["id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(rejected, made.iter().map(String::as_str).collect());
    let (_, seen) = h
        .app
        .get(&format!("/v1/consent-requests/{}", made[0]), Some(&police))
        .await;
    assert_eq!(seen["state"], "rejected");
    assert_eq!(
        h.list_all(50).await,
        vec![other["id"].as_str().unwrap().to_owned()]
    );
    // Room again; rejecting none is no error.
    let (status, _) = h.ask(&police, RENEWAL).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, r) = h
        .app
        .post(
            "/v1/me/consent-requests:rejectAll",
            Some(&h.token),
            json!({"requester": "nobody"}),
        )
        .await;
    assert_eq!((status, &r["rejected"]), (StatusCode::OK, &json!([])));
    let (status, e) = h
        .app
        .post(
            "/v1/me/consent-requests:rejectAll",
            Some(&h.token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("$.requester"))
    );
}

#[tokio::test]
async fn the_holder_cap_counts_every_requester_and_expired_requests_make_room() {
    let h = Holder::new(PendingLimits {
        per_requester: 2,
        per_holder: 3,
    })
    .await;
    let (police, fund) = (h.requester("fz-ga-zwfw"), h.requester("fz-gjj"));
    for (who, matter) in [
        (&police, RENEWAL),
        (&police, RENEWAL),
        (&fund, HOUSING_FUND),
    ] {
        let (status, r) = h.ask(who, matter).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
    }
    // The fund has one waiting, under its own cap, but the holder has three.
    let (status, e) = h.ask(&fund, HOUSING_FUND).await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_pending_requests")
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the holder has 3"),
        "{e}"
    );

    // Requests that expired no longer wait: the next request prunes them and is stored.
    let short =
        json!({"holder": h.holder, "matter": HOUSING_FUND, "purpose": "办理", "expiresIn": 60});
    let h2 = Holder::new(PendingLimits {
        per_requester: 2,
        per_holder: 3,
    })
    .await;
    let fund2 = h2.requester("fz-gjj");
    let at = chrono::Utc::now();
    let new = |holder: &str| licence_vault::reuse::request::NewRequest {
        holder: holder.parse().unwrap(),
        matter: HOUSING_FUND.into(),
        purpose: "办理".into(),
        types: None,
        max_uses: None,
        valid_for: None,
        expires_in: Some(60),
    };
    for _ in 0..2 {
        h2.app
            .vault
            .request_consent("fz-gjj", new(&h2.holder), at - chrono::Duration::minutes(5))
            .unwrap();
    }
    assert_eq!(h2.list_all(50).await, Vec::<String>::new());
    let (status, r) = h2
        .app
        .post("/v1/consent-requests", Some(&fund2), short.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, r) = h2
        .app
        .post("/v1/consent-requests", Some(&fund2), short)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(h2.list_all(50).await.len(), 2);
    let pending = h2
        .app
        .store()
        .scan(licence_vault::store::Table::HolderPending, b"", false, 100)
        .unwrap();
    assert_eq!(pending.len(), 2, "the expired entries were pruned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_leaves_the_holders_list_and_everyone_else_answering() {
    let n: usize = std::env::var("LICENCE_VAULT_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let h = Holder::new(PendingLimits::DEFAULT).await;
    let requesters = ["fz-ga-zwfw", "fz-gjj"];
    let tokens: Vec<String> = requesters.iter().map(|r| h.requester(r)).collect();
    let market = h.app.tokens.holder_company.clone();
    let mut created = 0;
    let mut others = 0;
    let mut tasks = Vec::new();
    for i in 0..n {
        let router = h.app.router.clone();
        let (who, matter) = (tokens[i % 2].clone(), [RENEWAL, HOUSING_FUND][i % 2]);
        let body = json!({"holder": h.holder, "matter": matter, "purpose": "办理"});
        tasks.push(tokio::spawn(async move {
            send(
                &router,
                Method::POST,
                "/v1/consent-requests",
                &who,
                Some(body),
            )
            .await
        }));
        // Meanwhile another holder reads their licences.
        if i % 100 == 0 {
            let router = h.app.router.clone();
            let market = market.clone();
            tasks.push(tokio::spawn(async move {
                let (s, b) = send(&router, Method::GET, "/v1/me/licences", &market, None).await;
                (s, json!({"other": b}))
            }));
        }
        if tasks.len() >= 64 {
            for t in tasks.drain(..) {
                let (status, body) = t.await.unwrap();
                if body.get("other").is_some() {
                    assert_eq!(status, StatusCode::OK, "{body}");
                    others += 1;
                } else if status == StatusCode::CREATED {
                    created += 1;
                } else {
                    assert_eq!(
                        (status, code(&body)),
                        (StatusCode::TOO_MANY_REQUESTS, "too_many_pending_requests")
                    );
                }
            }
        }
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if body.get("other").is_some() {
            assert_eq!(status, StatusCode::OK);
            others += 1;
        } else if status == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    // Each requester got its cap, no more.
    assert_eq!(created, 40.min(n));
    assert_eq!(others, n.div_ceil(100));
    // The holder's list answers one bounded page.
    let (status, page) = h
        .app
        .raw(
            Method::GET,
            "/v1/me/consent-requests",
            Some(&h.token),
            "application/json",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["requests"].as_array().unwrap().len(), 20);
    assert!(
        page.to_string().len() < 200_000,
        "{}",
        page.to_string().len()
    );
    assert_eq!(h.list_all(50).await.len(), 40);
}

#[test]
fn requests_pending_in_a_store_from_before_the_pending_index_are_listed_after_an_upgrade() {
    use licence_vault::store::{Change, Table};
    let dir = tempfile::tempdir().unwrap();
    let holder: HolderCode = format!("111:{}", citizen(7)).parse().unwrap();
    let id = {
        let vault = open(dir.path());
        seed_registries(&vault);
        let r = vault
            .request_consent(
                "fz-gjj",
                licence_vault::reuse::request::NewRequest {
                    holder: holder.clone(),
                    matter: HOUSING_FUND.into(),
                    purpose: "办理".into(),
                    types: None,
                    max_uses: None,
                    valid_for: None,
                    expires_in: None,
                },
                licence_vault::vault::At::Now,
            )
            .unwrap();
        // What an older vault wrote: no pending index, no mark.
        let store = vault.store();
        let mut c = Change::durable();
        for (k, _) in store.scan(Table::HolderPending, b"", false, 10).unwrap() {
            c.delete(Table::HolderPending, k);
        }
        c.delete(Table::Meta, b"pending_indexed".to_vec());
        store.commit(c).unwrap();
        assert!(vault
            .pending_requests(&holder, chrono::Utc::now())
            .unwrap()
            .is_empty());
        r.id
    };
    let vault = open(dir.path());
    let pending = vault.pending_requests(&holder, chrono::Utc::now()).unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![id.as_str()]
    );
}
