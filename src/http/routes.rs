//! The route table: every endpoint of the JSON API, declared once. A row names the handler — whose
//! `#[utoipa::path]` gives the method, the path template and the OpenAPI operation, taken together
//! by `utoipa_axum::routes!` — the roles it admits and whether it takes `Acting-For`. The router
//! ([`router`]), the OpenAPI document (`http::openapi_document`) and the 401/403 matrix test
//! (`tests/it/routes.rs`) are all built from [`routes`]; nothing else names a path of the API.
//!
//! The roles are enforced by the handlers' extractors (`Allow<ROLES>`, `Me`), before the body is
//! read, or — for a read whose caller's token is still to be read (`Deferred<ROLES>`) — by the
//! handler before it answers; the matrix test holds the two together.
//!
//! A custom method (`…/{id}:narrow`, `…/{id}:approve`) is one path segment to axum's router,
//! which allows nothing after a parameter in a segment: it is registered on `…/{id}` behind a
//! dispatch on the verb, so that every template answers `405` with its own methods in `Allow`.

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use axum::Router;
use tower::ServiceExt as _;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Required};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::extract::{ADMIN, HOLDER, ISSUER, REQUESTER, SUPERVISOR};
pub use super::limits::Class;
use super::{
    corrections, delegations, exports, issuers, licences, lifecycle, logs, notices, objections,
    oid4vci, oid4vp, presentations, prints, registries, requests, reuse, vcapi, ApiError, AppState,
    BATCH_BODY_LIMIT, BODY_LIMIT,
};
use crate::auth::Role;

/// No token needed.
const PUBLIC: u8 = 0;

/// Every endpoint of the JSON API.
pub fn routes() -> Vec<Route> {
    use ActingFor::{No, Yes};
    vec![
        // Licences (issuers deposit and state; holders and issuers read).
        route(routes!(licences::deposit), ISSUER, No),
        route(routes!(licences::deposit_batch), ISSUER, No)
            .body_limit(BATCH_BODY_LIMIT)
            .expensive(),
        route(routes!(licences::get_licence), ISSUER | HOLDER, Yes),
        route(routes!(licences::post_status), ISSUER, No),
        route(routes!(licences::verify), REQUESTER | HOLDER | ADMIN, No).expensive(),
        route(routes!(licences::my_licences), HOLDER, Yes).expensive(),
        route(routes!(issuers::deposits), ISSUER, No),
        route(routes!(issuers::notices), ISSUER, No),
        route(routes!(lifecycle::status_list), PUBLIC, No),
        // Registries: public reads, admin writes.
        route(routes!(registries::catalogue), PUBLIC, No),
        route(routes!(registries::matters), PUBLIC, No),
        route(routes!(registries::agency), PUBLIC, No),
        route(routes!(registries::vault_info), PUBLIC, No),
        route(routes!(registries::vault_keys), PUBLIC, No),
        route(routes!(registries::rotate_vault_key), ADMIN, No),
        route(routes!(registries::compromise_vault_key), ADMIN, No),
        route(routes!(registries::create_backup), ADMIN, No),
        route(routes!(registries::create_agency), ADMIN, No),
        route(routes!(registries::add_key), ADMIN, No),
        route(routes!(registries::retire_key), ADMIN, No),
        route(routes!(registries::compromise_key), ADMIN, No),
        route(routes!(registries::put_type), ADMIN, No),
        route(routes!(registries::put_matter), ADMIN, No),
        route(routes!(registries::put_requester), ADMIN, No),
        route(routes!(registries::create_token), ADMIN, No),
        route(routes!(registries::revoke_token), ADMIN, No),
        // Consents, the access log and pulls.
        route(routes!(reuse::create_consent), HOLDER, Yes),
        route(routes!(reuse::list_consents), HOLDER, Yes),
        route(routes!(reuse::withdraw_consent), HOLDER, Yes),
        route(routes!(reuse::consent_action), HOLDER, Yes),
        route(routes!(reuse::consent_receipts), HOLDER, Yes),
        route(routes!(reuse::access_log), HOLDER, Yes).expensive(),
        route(routes!(reuse::summary), HOLDER, Yes).expensive(),
        route(routes!(reuse::reuse), REQUESTER, No).expensive(),
        route(routes!(reuse::check), REQUESTER, No).expensive(),
        route(routes!(reuse::stats), ADMIN, No),
        // Consent requests at the point of service.
        route(routes!(requests::create), REQUESTER, No).expensive(),
        route(routes!(requests::get), REQUESTER, No),
        route(routes!(requests::list_mine), HOLDER, Yes).expensive(),
        route(routes!(requests::get_mine), HOLDER, Yes).expensive(),
        route(routes!(requests::approve), HOLDER, Yes),
        route(routes!(requests::reject), HOLDER, Yes),
        route(routes!(requests::reject_all), HOLDER, Yes),
        // Notices and notifications.
        route(routes!(notices::list), REQUESTER, No),
        route(routes!(notices::notifications), HOLDER, Yes).expensive(),
        route(routes!(notices::mark_read), HOLDER, Yes),
        // The holder's rights (SPEC §17).
        route(routes!(exports::create), HOLDER, Yes).expensive(),
        route(routes!(exports::download), HOLDER, Yes).expensive(),
        route(routes!(corrections::create), HOLDER, Yes),
        route(routes!(corrections::list_mine), HOLDER, Yes),
        route(routes!(corrections::get_mine), HOLDER, Yes),
        route(routes!(corrections::withdraw), HOLDER, Yes),
        route(routes!(corrections::dispute), HOLDER, Yes),
        route(routes!(corrections::list_issuer), ISSUER, No),
        route(routes!(corrections::get_issuer), ISSUER, No),
        route(routes!(corrections::answer), ISSUER, No),
        route(routes!(objections::create), HOLDER, Yes),
        route(routes!(objections::list_mine), HOLDER, Yes),
        route(routes!(objections::get_mine), HOLDER, Yes),
        route(routes!(objections::withdraw), HOLDER, Yes),
        route(routes!(objections::list_requester), REQUESTER, No),
        route(routes!(objections::get_requester), REQUESTER, No),
        route(routes!(objections::answer), REQUESTER, No),
        route(routes!(objections::list_supervisor), SUPERVISOR, No),
        route(routes!(objections::get_supervisor), SUPERVISOR, No),
        // Acting for others.
        route(routes!(delegations::create), HOLDER, Yes),
        route(routes!(delegations::list), HOLDER, Yes).expensive(),
        route(routes!(delegations::revoke), HOLDER, Yes),
        route(routes!(delegations::create_guardianship), ADMIN, No),
        route(routes!(delegations::revoke_guardianship), ADMIN, No),
        // Presentation codes.
        route(routes!(presentations::create), HOLDER, Yes),
        route(routes!(presentations::list), HOLDER, Yes),
        route(routes!(presentations::cancel), HOLDER, Yes),
        route(routes!(presentations::redeem), REQUESTER, No).expensive(),
        // Printable copies (SPEC §16).
        route(routes!(prints::copy_pdf), REQUESTER, No).expensive(),
        route(routes!(prints::licence_pdf), HOLDER, Yes).expensive(),
        route(routes!(prints::check), PUBLIC, No).expensive(),
        // A licence to a wallet (OpenID4VCI, pre-authorized code): the holder's offer, then the
        // wallet's protocol, whose access token is its own (checked by the handler).
        route(routes!(oid4vci::create), HOLDER, Yes),
        route(routes!(oid4vci::cancel), HOLDER, Yes),
        route(routes!(oid4vci::issuer_metadata), PUBLIC, No),
        route(routes!(oid4vci::authorization_server_metadata), PUBLIC, No),
        route(routes!(oid4vci::credential_offer), PUBLIC, No),
        route(routes!(oid4vci::token), PUBLIC, No),
        route(routes!(oid4vci::credential), PUBLIC, No).own_token(),
        // OpenID4VP: the vault as an approval system's verifier back-end, and the wallet's side
        // of its transactions (the request object, the direct_post answer).
        route(routes!(oid4vp::create), REQUESTER, No),
        route(routes!(oid4vp::get), REQUESTER, No),
        route(routes!(oid4vp::request_object), PUBLIC, No),
        route(routes!(oid4vp::response), PUBLIC, No).expensive(),
        route(routes!(oid4vp::resolve), HOLDER, Yes).expensive(),
        route(routes!(oid4vp::get_mine), HOLDER, Yes),
        route(routes!(oid4vp::approve), HOLDER, Yes).expensive(),
        route(routes!(oid4vp::reject), HOLDER, Yes),
        // The transparency logs (public: they hold no personal data).
        route(routes!(logs::checkpoint), PUBLIC, No),
        route(routes!(logs::tile), PUBLIC, No),
        route(routes!(logs::logs), PUBLIC, No),
        route(routes!(logs::proof), PUBLIC, No),
        route(routes!(logs::consistency), PUBLIC, No),
        route(routes!(logs::deposit), PUBLIC, No),
        route(routes!(logs::resume), ADMIN, No),
        // The VC-API verifier and the service's own.
        route(routes!(vcapi::verify), PUBLIC, No).expensive(),
        route(routes!(vcapi::verify_presentation), PUBLIC, No).expensive(),
        route(routes!(vcapi::challenge), PUBLIC, No),
        route(routes!(super::openapi), PUBLIC, No),
        route(routes!(super::healthz), PUBLIC, No),
        route(routes!(super::readyz), PUBLIC, No),
        route(routes!(super::metrics), PUBLIC, No),
    ]
}

/// Whether an endpoint takes the `Acting-For` header (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingFor {
    Yes,
    No,
}

/// The roles an endpoint admits; none: it is public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub fn is_public(self) -> bool {
        self.0 == PUBLIC
    }

    pub fn admits(self, role: Role) -> bool {
        self.0 & super::extract::bit(role) != 0
    }
}

/// One endpoint: what the table says of it, its handler and its OpenAPI operation.
pub struct Route {
    pub method: Method,
    /// The path template, as the OpenAPI document writes it (`{id}`, `{id}:narrow`).
    pub path: String,
    pub roles: Roles,
    pub acting_for: ActingFor,
    /// What it costs: its rate-limit share and blocking permits (`http/limits`).
    pub class: Class,
    /// Public to the vault's tokens, but the protocol's own access token is required by the
    /// handler (OpenID4VCI's credential endpoint): without it, `401`.
    pub own_token: bool,
    body_limit: usize,
    handler: MethodRouter<AppState>,
    operation: Operation,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("roles", &self.roles)
            .field("acting_for", &self.acting_for)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

fn route(
    (schemas, paths, handler): UtoipaMethodRouter<AppState>,
    roles: u8,
    acting_for: ActingFor,
) -> Route {
    // `routes!` of one handler gives one path with one operation: the handler's annotation.
    let (path, item) = paths.paths.into_iter().next().unwrap_or_default();
    let (method, mut operation) = only_operation(item);
    operation.security =
        (roles != PUBLIC).then(|| vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    if acting_for == ActingFor::Yes {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(acting_for_parameter());
    }
    Route {
        method,
        path,
        roles: Roles(roles),
        acting_for,
        class: Class::Cheap,
        own_token: false,
        body_limit: BODY_LIMIT,
        handler,
        operation,
        schemas,
    }
}

impl Route {
    fn body_limit(self, limit: usize) -> Self {
        Self {
            body_limit: limit,
            ..self
        }
    }

    /// See [`Route::own_token`].
    fn own_token(self) -> Self {
        Self {
            own_token: true,
            ..self
        }
    }

    /// Work that grows with what a holder has or verifies many signatures.
    fn expensive(self) -> Self {
        Self {
            class: Class::Expensive,
            ..self
        }
    }

    /// The method as the OpenAPI document's path items name it.
    pub fn openapi_method(&self) -> String {
        self.method.as_str().to_ascii_lowercase()
    }

    /// Adds this endpoint's operation and the schemas it names to `api`.
    pub(super) fn document(&self, api: &mut utoipa::openapi::OpenApi) {
        let method = match self.method {
            Method::POST => utoipa::openapi::HttpMethod::Post,
            Method::DELETE => utoipa::openapi::HttpMethod::Delete,
            Method::PUT => utoipa::openapi::HttpMethod::Put,
            Method::PATCH => utoipa::openapi::HttpMethod::Patch,
            _ => utoipa::openapi::HttpMethod::Get,
        };
        api.paths
            .add_path_operation(&self.path, vec![method], self.operation.clone());
        api.components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(self.schemas.iter().cloned());
    }

    /// The schemas this endpoint's operation names, under their names.
    pub fn schemas(&self) -> &[(String, RefOr<Schema>)] {
        &self.schemas
    }
}

fn only_operation(item: PathItem) -> (Method, Operation) {
    let PathItem {
        get,
        put,
        post,
        delete,
        patch,
        ..
    } = item;
    [
        (Method::GET, get),
        (Method::POST, post),
        (Method::DELETE, delete),
        (Method::PUT, put),
        (Method::PATCH, patch),
    ]
    .into_iter()
    .find_map(|(m, op)| op.map(|op| (m, op)))
    .unwrap_or((Method::GET, Operation::default()))
}

fn acting_for_parameter() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("Acting-For")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "`codeType:code` of the company or ward the caller acts for, as its delegate, legal representative or guardian; absent: for themselves. `400 invalid_holder_code` if malformed, `403` without an authorisation in force.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]{3}:[0-9A-Z]{1,32}$")),
        ))
        .build()
}

/// A path template's segment `{param}:verb`, as the router registers it: `{param}` and the verb.
fn custom_method(path: &str) -> Option<(&str, &str)> {
    let (base, last) = path.rsplit_once('/')?;
    let (param, verb) = last.rsplit_once(':')?;
    (param.starts_with('{') && param.ends_with('}'))
        .then(|| (&path[..base.len() + 1 + param.len()], verb))
}

/// The handlers of one router path: its own methods, and each custom method's.
#[derive(Default)]
struct Resource {
    methods: Option<MethodRouter<AppState>>,
    verbs: BTreeMap<String, MethodRouter<AppState>>,
}

fn merge(a: Option<MethodRouter<AppState>>, b: MethodRouter<AppState>) -> MethodRouter<AppState> {
    match a {
        Some(a) => a.merge(b),
        None => b,
    }
}

/// The routes of `routes` on one router, each with its body limit.
pub(super) fn router(routes: Vec<Route>, state: &AppState) -> Router<AppState> {
    let mut resources: BTreeMap<String, Resource> = BTreeMap::new();
    for r in routes {
        let handler = r.handler.layer(DefaultBodyLimit::max(r.body_limit)).layer(
            axum::middleware::from_fn_with_state(
                (state.limiter.clone(), r.class, r.roles.is_public()),
                super::limits::limit,
            ),
        );
        // A `{id}.pdf` segment is one parameter to axum's router; the handler reads the suffix.
        let path = r.path.replace("}.pdf", "}");
        match custom_method(&path) {
            Some((base, verb)) => {
                let res = resources.entry(base.to_owned()).or_default();
                let verb_handler = res.verbs.remove(verb);
                res.verbs
                    .insert(verb.to_owned(), merge(verb_handler, handler));
            }
            None => {
                let res = resources.entry(path.clone()).or_default();
                res.methods = Some(merge(res.methods.take(), handler));
            }
        }
    }
    let mut router = Router::new();
    for (path, res) in resources {
        if res.verbs.is_empty() {
            if let Some(methods) = res.methods {
                router = router.route(&path, methods);
            }
            continue;
        }
        // Each template's own methods, with its own `Allow` on a 405.
        let served = |m: MethodRouter<AppState>| {
            m.with_state(state.clone())
                .fallback(super::method_not_allowed)
        };
        let methods = served(res.methods.unwrap_or_default());
        let known = res
            .verbs
            .keys()
            .map(|v| format!("…/{{id}}:{v}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let verbs: BTreeMap<String, MethodRouter> =
            res.verbs.into_iter().map(|(v, m)| (v, served(m))).collect();
        router = router.route(
            &path,
            any(move |req: Request| {
                // Ids never hold a `:`, so a segment with one names a custom method, known or not.
                let target = match req
                    .uri()
                    .path()
                    .rsplit('/')
                    .next()
                    .and_then(|segment| segment.rsplit_once(':'))
                {
                    None => Ok(methods.clone()),
                    Some((_, verb)) => verbs
                        .get(verb)
                        .cloned()
                        .ok_or_else(|| ApiError::not_found(format!("no such action: {known}"))),
                };
                async move {
                    match target {
                        Ok(target) => {
                            let Ok(res): Result<Response, _> = target.oneshot(req).await;
                            res
                        }
                        Err(e) => e.into_response(),
                    }
                }
            }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_methods_are_told_from_their_resource() {
        assert_eq!(
            custom_method("/v1/me/consents/{id}:narrow"),
            Some(("/v1/me/consents/{id}", "narrow"))
        );
        assert_eq!(custom_method("/v1/licences:batch"), None);
        assert_eq!(custom_method("/v1/me/consents/{id}"), None);
    }

    /// Two types under one schema name would leave one of them undescribed.
    #[test]
    fn every_schema_name_names_one_schema() {
        let mut seen: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for r in routes() {
            for (name, schema) in r.schemas() {
                let schema = serde_json::to_value(schema).unwrap_or_default();
                if let Some(other) = seen.insert(name.clone(), schema.clone()) {
                    assert_eq!(other, schema, "two schemas are named {name}");
                }
            }
        }
    }

    #[test]
    fn every_route_is_declared_once() {
        let mut seen = std::collections::BTreeSet::new();
        for r in routes() {
            assert!(
                seen.insert((r.method.to_string(), r.path.clone())),
                "{} {} twice",
                r.method,
                r.path
            );
        }
    }
}
