//! Generated from the route table (`licence_vault::http::routes`), never from a list of our own:
//! every authenticated endpoint answers 401 without a token and 403 to each role it does not admit,
//! the roles it admits and public endpoints get past authorisation, `Acting-For` is read exactly
//! where the table says, an undeclared method is 405 with the declared ones in `Allow`, and the
//! OpenAPI document describes exactly the table's operations with their security and headers.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{header, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use licence_vault::auth::Role;
use licence_vault::codes::LicenceId;
use licence_vault::http::{routes, ActingFor, Route};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::support::*;

/// A request path for a template: a well-formed licence id for `{id}` (read before `Acting-For`
/// by `GET /v1/licences/{id}`; elsewhere an id that does not exist), the market regulator for
/// `{uscc}`.
fn concrete(template: &str) -> String {
    let licence = LicenceId::new(
        &BUSINESS_LICENCE.parse().unwrap(),
        &MARKET.parse().unwrap(),
        "R0001",
        1,
    )
    .unwrap()
    .to_string();
    let mut path = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        let (name, after) = after.split_once('}').unwrap();
        path.push_str(before);
        path.push_str(match name {
            "id" => &licence,
            "uscc" => MARKET,
            "purpose" => "revocation",
            "list" => "0",
            _ => "x",
        });
        rest = after;
    }
    path.push_str(rest);
    path
}

/// One token of each role.
fn tokens(app: &TestApp) -> [(Role, &String); 5] {
    let t = &app.tokens;
    [
        (Role::Admin, &t.admin),
        (Role::Issuer, &t.market),
        (Role::Requester, &t.requester),
        (Role::Holder, &t.holder_company),
        (Role::Supervisor, &t.supervisor),
    ]
}

fn label(r: &Route) -> String {
    format!("{} {}", r.method, r.path)
}

#[tokio::test]
async fn every_authenticated_endpoint_refuses_no_token_with_401_and_other_roles_with_403() {
    let app = TestApp::new();
    let mut checked = 0;
    for r in routes().iter().filter(|r| !r.roles.is_public()) {
        let others: Vec<&String> = tokens(&app)
            .into_iter()
            .filter(|(role, _)| !r.roles.admits(*role))
            .map(|(_, token)| token)
            .collect();
        app.assert_refused(
            &r.method,
            &concrete(&r.path),
            None,
            &[None, Some("not-a-token")],
            &others,
        )
        .await;
        checked += 1;
    }
    assert!(checked > 40, "only {checked} authenticated endpoints");
}

/// The other half of the table's roles: what it admits is not refused for its role.
#[tokio::test]
async fn the_roles_an_endpoint_admits_get_past_authorisation() {
    let app = TestApp::new();
    for r in routes() {
        let admitted: Vec<Option<&String>> = if r.roles.is_public() {
            vec![None]
        } else {
            tokens(&app)
                .into_iter()
                .filter(|(role, _)| r.roles.admits(*role))
                .map(|(_, token)| Some(token))
                .collect()
        };
        assert!(!admitted.is_empty(), "{}: admits no role", label(&r));
        for token in admitted {
            let (status, b) = app
                .call(
                    r.method.clone(),
                    &concrete(&r.path),
                    token.map(String::as_str),
                    None,
                )
                .await;
            let refused_role = status == StatusCode::FORBIDDEN
                && b["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("this endpoint is for"));
            assert!(
                (status != StatusCode::UNAUTHORIZED || r.own_token) && !refused_role,
                "{}: {status} {b}",
                label(&r)
            );
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && b["error"]["message"] != "no such endpoint",
                "{}: not routed: {status} {b}",
                label(&r)
            );
        }
    }
}

#[tokio::test]
async fn acting_for_is_read_exactly_where_the_table_says() {
    let app = TestApp::new();
    for r in routes() {
        if r.acting_for == ActingFor::Yes {
            assert!(r.roles.admits(Role::Holder), "{}", label(&r));
        }
        if !r.roles.admits(Role::Holder) {
            continue;
        }
        let mut req = json_request(
            r.method.clone(),
            &concrete(&r.path),
            Some(&app.tokens.holder_company),
            None,
        );
        req.headers_mut()
            .insert("acting-for", HeaderValue::from_static("not-a-holder"));
        let (status, b) = respond(&app.router, req).await;
        let read = status == StatusCode::BAD_REQUEST
            && b["error"]["code"] == "invalid_holder_code"
            && b["error"]["field"] == "Acting-For";
        assert_eq!(
            read,
            r.acting_for == ActingFor::Yes,
            "{}: {status} {b}",
            label(&r)
        );
    }
}

/// Every path template answers a method it does not declare with 405 and names exactly the
/// declared ones in `Allow` — custom methods (`…/{id}:narrow`) included, though axum sees them
/// as one segment with their resource.
#[tokio::test]
async fn undeclared_methods_are_405_with_the_declared_ones_in_allow() {
    let app = TestApp::new();
    let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in routes() {
        declared
            .entry(r.path.clone())
            .or_default()
            .insert(r.method.to_string());
    }
    for (path, methods) in &declared {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            if methods.contains(method.as_str()) {
                continue;
            }
            let req = json_request(
                method.clone(),
                &concrete(path),
                Some(&app.tokens.admin),
                None,
            );
            let res = app.router.clone().oneshot(req).await.unwrap();
            let status = res.status();
            let allow: BTreeSet<String> = res
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty() && m != "HEAD")
                .collect();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(
                (status, allow, body["error"]["code"].as_str()),
                (
                    StatusCode::METHOD_NOT_ALLOWED,
                    methods.clone(),
                    Some("invalid_request")
                ),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_table_and_nothing_else() {
    let app = TestApp::new();
    let (_, doc) = app.get("/v1/openapi.json", None).await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((path.clone(), method.clone()));
        }
    }
    let table: BTreeSet<(String, String)> = routes()
        .iter()
        // A wildcard (`{*path}`) is documented as the template parameter it binds.
        .map(|r| (r.path.replace("{*", "{"), r.openapi_method()))
        .collect();
    assert_eq!(documented, table);
    for r in routes() {
        let op = &doc["paths"][&r.path.replace("{*", "{")][r.openapi_method()];
        assert_eq!(
            op.get("security").is_some(),
            !r.roles.is_public(),
            "{}",
            label(&r)
        );
        let acting = op["parameters"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["name"] == "Acting-For" && p["in"] == "header")
        });
        assert_eq!(acting, r.acting_for == ActingFor::Yes, "{}", label(&r));
    }
}
