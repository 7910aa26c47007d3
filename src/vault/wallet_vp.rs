//! OpenID4VP 1.0 with the vault as the citizen's custodial wallet (SPEC §15): the holder hands
//! `/me` an `openid4vp://` request (scanned or pasted); the vault resolves it, finds the holder's
//! licences that answer its DCQL query, and keeps it for the holder's answer — the same decision as
//! a consent request, on the same page: who asks, for which matter and purpose, which licences and
//! so which fields leave. Approving writes the access record (kind `oid4vp`) under the holder's
//! lock, before anything leaves; then the vault, as the holder's custodian, signs the presentation
//! (its `did:key` as `holder`, the request's `nonce` as challenge and client id as domain) and
//! posts it to the verifier (`direct_post`). Refusing posts `access_denied`.
//!
//! Verifiers are recognised by client id prefix:
//! - the vault's own transactions (`http/oid4vp`): request URI on the vault, resolved without a
//!   network call; the requester, matter and purpose are the transaction's;
//! - `decentralized_identifier:did:key:…`: a request object by value or reference, signed by that
//!   key (`verify::request_object`);
//! - `redirect_uri:…`: an unsigned request by value whose `response_uri` is the client id;
//! - a pre-registered approval system by its registry id (no prefix), for a transaction it opened
//!   on the vault;
//! - anything else (another prefix, a bare id that is no transaction of the vault) is refused.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::access_log::{put_access_record, vp_record, VpRecipient};
use super::layout;
use super::oid4vp::{StoredTransaction, WalletResponse};
use super::{At, Vault, VaultError};
use crate::codes::LicenceId;
use crate::proof::{self, Binding};
use crate::reuse::dcql::DcqlQuery;
use crate::reuse::delegation::Acting;
use crate::store::Table;
use crate::verdict::{Reason, Rejection};
use crate::verify::request_object;

/// How long a resolved request waits for the holder (seconds), at most.
pub const REQUEST_TTL_SECONDS: i64 = 10 * 60;
/// The largest request object or request URI handled.
const MAX_FETCH: usize = 64 * 1024;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VpRequestState {
    Pending,
    Approved,
    Rejected,
    Expired,
}

/// One credential query and the holder's licence that answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpAnswer {
    pub query: String,
    /// The licence that would leave (URN); absent: the holder has none that answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Every face field of that licence: an `ldp_vc` leaves whole, as the agency signed it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The claims the verifier asked for (paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub asked: Vec<Value>,
}

/// A verifier's request, resolved, as the holder sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpRequest {
    pub id: String,
    pub client_id: String,
    /// Who asks: the approval system's name, or the client id for an outside verifier.
    pub verifier: String,
    /// The approval system's registry id, when the vault knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub response_uri: String,
    pub answers: Vec<VpAnswer>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    pub state: VpRequestState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_record: Option<String>,
    /// What the verifier answered to the vault's post (its HTTP status), once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u16>,
    #[serde(skip)]
    nonce: String,
    #[serde(skip)]
    state_param: Option<String>,
    #[serde(skip)]
    internal: Option<String>,
}

/// The stored form keeps what the holder is not shown.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(flatten)]
    request: VpRequest,
    nonce: String,
    #[serde(default)]
    state_param: Option<String>,
    /// The vault's own transaction this answers, if any.
    #[serde(default)]
    internal: Option<String>,
}

impl Stored {
    fn into_request(self) -> VpRequest {
        VpRequest {
            nonce: self.nonce,
            state_param: self.state_param,
            internal: self.internal,
            ..self.request
        }
    }
    fn of(r: &VpRequest) -> Self {
        Self {
            request: r.clone(),
            nonce: r.nonce.clone(),
            state_param: r.state_param.clone(),
            internal: r.internal.clone(),
        }
    }
}

impl VpRequest {
    pub fn state_at(&self, now: DateTime<Utc>) -> VpRequestState {
        match self.state {
            VpRequestState::Pending if now >= self.expires_at => VpRequestState::Expired,
            s => s,
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> VaultError {
    VaultError::new(Reason::InvalidRequest, field, message)
}

/// The parameters of an `openid4vp://` (or `https://…?`) URI, each once.
fn params(uri: &str) -> Result<Vec<(String, String)>, VaultError> {
    let query = uri
        .split_once('?')
        .map(|(_, q)| q)
        .ok_or_else(|| bad("$.uri", "not an OpenID4VP request: no parameters"))?;
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if out.iter().any(|(n, _)| *n == k) {
            return Err(bad("$.uri", format!("{k} is given twice")));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The authorization request a resolved request stands on.
struct Resolved {
    payload: Value,
    internal: Option<String>,
}

impl Vault {
    /// Resolves a verifier's request for the holder `acting` speaks for and keeps it for their
    /// answer.
    pub fn resolve_vp_request(
        &self,
        acting: &Acting,
        uri: &str,
        at: impl Into<At>,
    ) -> Result<VpRequest, VaultError> {
        if uri.len() > MAX_FETCH {
            return Err(bad("$.uri", "the request is too large"));
        }
        let now = at.into().resolve();
        let r = self.resolve_request(uri, now)?;
        let p = &r.payload;
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        if s("response_type").as_deref() != Some("vp_token") {
            return Err(bad("response_type", "only vp_token is answered"));
        }
        if s("response_mode").as_deref() != Some("direct_post") {
            return Err(bad("response_mode", "only direct_post is answered"));
        }
        if p.get("transaction_data").is_some() {
            return Err(bad(
                "transaction_data",
                "transaction data is not supported: the vault signs no transaction",
            ));
        }
        let client_id = s("client_id").ok_or_else(|| bad("client_id", "missing"))?;
        let response_uri = s("response_uri").ok_or_else(|| bad("response_uri", "missing"))?;
        let nonce = s("nonce")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("nonce", "missing"))?;
        if let Some(exp) = p.get("exp").and_then(Value::as_i64) {
            if exp <= now.timestamp() {
                return Err(bad("exp", "the request has expired"));
            }
        }
        let dcql_value = match p.get("dcql_query") {
            Some(Value::String(text)) => crate::jcs::parse(text.as_bytes())
                .map_err(|e| bad("dcql_query", format!("not I-JSON: {e}")))?,
            Some(v) => v.clone(),
            None => return Err(bad("dcql_query", "only DCQL queries are answered")),
        };
        let query = DcqlQuery::parse(&dcql_value, "dcql_query")?;
        let reg = self.registries();
        let (requester, verifier, matter, purpose) = match &r.internal {
            Some(tx_id) => {
                let (StoredTransaction { tx, .. }, _) = self.vp_transaction_stored(tx_id)?;
                let name = reg
                    .requesters
                    .get(&tx.requester)
                    .map_or_else(|| tx.requester.clone(), |q| q.name.clone());
                (Some(tx.requester), name, tx.matter, Some(tx.purpose))
            }
            None => (None, client_id.clone(), None, None),
        };
        let matter_name = matter
            .as_ref()
            .and_then(|m| reg.matters.get(m))
            .map(|m| m.name.clone());
        // The holder's licences that verify now, and for each query the first that answers it.
        // Each parsed once, whatever the number of queries.
        let held: Vec<_> = self
            .holder_licences(&acting.holder, now)?
            .into_iter()
            .filter(|e| e.verdict.valid)
            .filter_map(|e| {
                let doc = crate::jcs::parse(e.document.as_ref()?.as_bytes()).ok()?;
                Some((e, doc))
            })
            .collect();
        let answers = query
            .credentials
            .iter()
            .map(|q| {
                let found = held
                    .iter()
                    .find(|(_, doc)| q.matches(doc).is_ok())
                    .map(|(e, _)| e);
                VpAnswer {
                    query: q.id.clone(),
                    licence: found.map(|e| e.id.urn()),
                    type_code: found.map(|e| e.id.type_code().to_string()),
                    type_name: found
                        .and_then(|e| reg.types.get(&e.id.type_code()).map(|t| t.name.clone())),
                    fields: found
                        .and_then(|e| e.licence.as_ref())
                        .map(|l| l.fields.keys().cloned().collect())
                        .unwrap_or_default(),
                    asked: q
                        .claims
                        .iter()
                        .flatten()
                        .map(|c| c.path_json.clone())
                        .collect(),
                }
            })
            .collect();
        let expires_at = p
            .get("exp")
            .and_then(Value::as_i64)
            .and_then(|e| DateTime::from_timestamp(e, 0))
            .map_or(now + Duration::seconds(REQUEST_TTL_SECONDS), |e| {
                e.min(now + Duration::seconds(REQUEST_TTL_SECONDS))
            });
        // An outside verifier must be one the vault may reach (checked before the holder is asked).
        if r.internal.is_none() {
            self.outbound(&response_uri, "response_uri")?;
        }
        let request = VpRequest {
            id: super::ids::wallet_vp(now),
            client_id,
            verifier,
            requester,
            matter,
            matter_name,
            purpose,
            response_uri,
            answers,
            created_at: now,
            expires_at,
            state: VpRequestState::Pending,
            access_record: None,
            delivered: None,
            nonce,
            state_param: s("state"),
            internal: r.internal,
        };
        let digest = self.holder_digest(&acting.holder);
        self.as_holder(acting, now, |tx| {
            // Requests that ended a day ago go (their uses stay in the access log).
            let horizon = now - Duration::hours(super::wallet::KEEP_ENDED_HOURS);
            for (k, v) in self
                .store
                .scan(Table::HolderVpRequest, &digest, false, 256)?
            {
                let r = layout::decode::<Stored>(Table::HolderVpRequest, &v)?;
                if r.request.expires_at < horizon {
                    tx.change().delete(Table::HolderVpRequest, k);
                }
            }
            tx.change().put(
                Table::HolderVpRequest,
                layout::holder_vp_request(&digest, &request.id),
                layout::encode(&Stored::of(&request)),
            );
            Ok(())
        })?;
        Ok(request)
    }

    /// One of the holder's resolved requests.
    pub fn vp_request(&self, acting: &Acting, id: &str) -> Result<VpRequest, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let v = self
            .store
            .get(
                Table::HolderVpRequest,
                &layout::holder_vp_request(&digest, id),
            )?
            .ok_or_else(|| VaultError::new(Reason::NotFound, "id", "no such request"))?;
        Ok(layout::decode::<Stored>(Table::HolderVpRequest, &v)?.into_request())
    }

    /// The holder's answer: approve (every licence found leaves, recorded first) or refuse.
    pub fn answer_vp_request(
        &self,
        acting: &Acting,
        id: &str,
        approve: bool,
        at: impl Into<At>,
    ) -> Result<VpRequest, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let key = layout::holder_vp_request(&digest, id);
        let (mut request, token) = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let mut r = self.vp_request(acting, id)?;
            match r.state_at(now) {
                VpRequestState::Pending => {}
                VpRequestState::Expired => {
                    return Err(VaultError::new(
                        Reason::RequestExpired,
                        "id",
                        "the request has expired",
                    ))
                }
                _ => {
                    return Err(VaultError::new(
                        Reason::RequestAnswered,
                        "id",
                        "the request was answered already",
                    ))
                }
            }
            if !approve {
                r.state = VpRequestState::Rejected;
                tx.change().put(
                    Table::HolderVpRequest,
                    key.clone(),
                    layout::encode(&Stored::of(&r)),
                );
                return Ok((r, None));
            }
            if r.answers.iter().any(|a| a.licence.is_none()) {
                return Err(VaultError::new(
                    Reason::NoLicence,
                    "id",
                    "you hold no licence for every credential asked for; refuse instead",
                ));
            }
            // The vault's own transaction must still wait for an answer: a use is recorded only
            // for an answer that can be taken.
            if let Some(tx_id) = &r.internal {
                let (super::oid4vp::StoredTransaction { tx: t, .. }, _) =
                    self.vp_transaction_stored(tx_id)?;
                match t.state_at(now) {
                    super::oid4vp::TransactionState::Pending => {}
                    super::oid4vp::TransactionState::Expired => {
                        return Err(VaultError::new(
                            Reason::RequestExpired,
                            "id",
                            "the verifier's request has expired",
                        ))
                    }
                    _ => {
                        return Err(VaultError::new(
                            Reason::RequestAnswered,
                            "id",
                            "the verifier's request was answered already",
                        ))
                    }
                }
            }
            // Verified afresh, now; the record is written before anything is signed or sent.
            let mut presented = serde_json::Map::new();
            let mut extracted = Vec::new();
            for a in &r.answers {
                let lid = LicenceId::from_urn_or_bare(a.licence.as_deref().unwrap_or_default())
                    .map_err(|_| layout::corrupt(Table::HolderVpRequest, "bad licence id"))?;
                let e = self.extract_own(&digest, &lid, now).map_err(|_| {
                    VaultError::new(
                        Reason::NoLicence,
                        "id",
                        "a licence of the answer is no longer yours",
                    )
                })?;
                if !e.verdict.valid {
                    let reason = e.verdict.reason().unwrap_or(Reason::IntegrityFailure);
                    return Err(VaultError::new(
                        reason,
                        "id",
                        format!("{} does not verify now", lid.urn()),
                    ));
                }
                extracted.push((a.query.clone(), e));
            }
            let reg = self.registries();
            let to = VpRecipient {
                requester: r.requester.as_deref().unwrap_or(&r.client_id),
                verifier: &r.verifier,
                matter: r.matter.as_deref().unwrap_or_default(),
                matter_name: r.matter_name.as_deref().unwrap_or_default(),
                purpose: r.purpose.as_deref().unwrap_or_default(),
                request: &r.id,
            };
            let mut record = vp_record(
                &reg,
                &digest,
                &to,
                &extracted,
                acting.acted_by().map(ToString::to_string),
                now,
            );
            let record_digest = self.chain_access(&digest, &mut record)?;
            self.count_access(tx.change(), &digest, &record)?;
            put_access_record(tx.change(), &digest, &record, record_digest);
            let signer = self.signing_key(now)?;
            for (query, e) in &extracted {
                let credential: Value = e
                    .document
                    .as_ref()
                    .and_then(|d| crate::jcs::parse(d.as_bytes()).ok())
                    .unwrap_or(Value::Null);
                let vp = json!({
                    "@context": ["https://www.w3.org/ns/credentials/v2"],
                    "type": ["VerifiablePresentation"],
                    "holder": signer.did_key().as_str(),
                    "verifiableCredential": [credential],
                });
                let binding = Binding {
                    challenge: Some(&r.nonce),
                    domain: Some(&r.client_id),
                };
                let signed = proof::sign_presentation(vp, &*signer, now, binding)
                    .map_err(|e| crate::verify::SigningError::proof("presentation", e))?;
                presented.insert(query.clone(), json!([signed]));
            }
            r.state = VpRequestState::Approved;
            r.access_record = Some(record.id.clone());
            tx.change().put(
                Table::HolderVpRequest,
                key.clone(),
                layout::encode(&Stored::of(&r)),
            );
            Ok((r, Some(Value::Object(presented).to_string())))
        })?;
        // Durable: now it may leave.
        let response = match token {
            Some(t) => WalletResponse {
                vp_token: Some(t),
                state: request.state_param.clone(),
                ..Default::default()
            },
            None => WalletResponse {
                error: Some("access_denied".into()),
                error_description: Some("the holder refused".into()),
                state: request.state_param.clone(),
                ..Default::default()
            },
        };
        let status = self.deliver(&request, &response);
        request.delivered = Some(status);
        let mut c = crate::store::Change::durable();
        c.put(
            Table::HolderVpRequest,
            key,
            layout::encode(&Stored::of(&request)),
        );
        self.store.commit(c)?;
        tracing::info!(request = %request.id, client = %request.client_id, approved = approve, delivered = status, "OpenID4VP request answered");
        Ok(request)
    }

    /// Posts the answer to the verifier: the vault's own transaction directly, any other over
    /// HTTP (`direct_post`). The verifier's status; 0 when it could not be reached.
    fn deliver(&self, r: &VpRequest, response: &WalletResponse) -> u16 {
        if let Some(tx) = &r.internal {
            return match self.answer_vp_transaction(tx, response, At::Now) {
                Ok(_) => 200,
                Err(e) => {
                    tracing::warn!(transaction = %tx, error = %e, "the vault's own transaction refused the answer");
                    400
                }
            };
        }
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("vp_token", &response.vp_token),
            ("state", &response.state),
            ("error", &response.error),
            ("error_description", &response.error_description),
        ] {
            if let Some(v) = v {
                form.append_pair(k, v);
            }
        }
        let sent = self
            .outbound(&r.response_uri, "response_uri")
            .and_then(|c| {
                c.post(&r.response_uri)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.finish())
                    .send()
                    .map_err(|_| bad("response_uri", "the verifier could not be reached"))
            });
        match sent {
            Ok(res) => res.status().as_u16(),
            Err(e) => {
                tracing::warn!(response_uri = %r.response_uri, error = %e, "the verifier could not be reached");
                0
            }
        }
    }

    /// A client for one outside verifier's URL: https to a public address, the address checked
    /// once and pinned (no second lookup, no redirects), ten seconds. With
    /// `allow_private_verifiers`, also http and loopback, private or link-local addresses.
    fn outbound(&self, url: &str, field: &str) -> Result<reqwest::blocking::Client, VaultError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| bad(field, "not a URL"))?;
        let allow = self.allow_private_verifiers;
        match parsed.scheme() {
            "https" => {}
            "http" if allow => {}
            _ => return Err(bad(field, "an https URL")),
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| bad(field, "a URL with a host"))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<std::net::SocketAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .map_err(|_| bad(field, "the verifier's host is not known"))?
                .collect();
        let addr = addrs
            .iter()
            .find(|a| allow || public(a.ip()))
            .copied()
            .filter(|_| allow || addrs.iter().all(|a| public(a.ip())))
            .ok_or_else(|| bad(field, "the verifier's address is not a public one"))?;
        reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .resolve(host, addr)
            .build()
            .map_err(|_| bad(field, "the verifier could not be reached"))
    }

    /// The authorization request behind `uri`, checked by its client id prefix.
    fn resolve_request(&self, uri: &str, now: DateTime<Utc>) -> Result<Resolved, VaultError> {
        let ps = params(uri)?;
        let get = |k: &str| ps.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let client_id = get("client_id").ok_or_else(|| bad("client_id", "missing"))?;
        let own = format!("{}/v1/oid4vp/requests/", self.public_url());
        let (jwt, internal) = match (get("request"), get("request_uri")) {
            (Some(_), Some(_)) => {
                return Err(bad("request_uri", "give request or request_uri, not both"))
            }
            (Some(j), None) => (Some(j), None),
            (None, Some(u)) => match u.strip_prefix(&own) {
                // The vault's own transaction: read, not fetched.
                Some(id) => (Some(self.vp_request_object(id, now)?), Some(id.to_owned())),
                None => (Some(self.fetch(&u)?), None),
            },
            (None, None) => (None, None),
        };
        // A pre-registered client by its registry id: only for a transaction it opened on the
        // vault (it authenticated with its token then); the answer is bound to the transaction's
        // own client id, as its request object says.
        if let Some(tx_id) = &internal {
            if !client_id.contains(':') {
                let (StoredTransaction { tx, request_object }, _) =
                    self.vp_transaction_stored(tx_id)?;
                if tx.requester != client_id {
                    return Err(bad(
                        "client_id",
                        "this transaction is not that approval system's",
                    ));
                }
                let checked = request_object::check(&request_object)?;
                return Ok(Resolved {
                    payload: checked.payload,
                    internal,
                });
            }
        }
        let payload = match (client_id.split_once(':'), jwt) {
            (Some(("decentralized_identifier", did)), Some(jwt)) => {
                let checked = request_object::check(&jwt)?;
                if checked.signer.as_str() != did {
                    return Err(Rejection::new(
                        Reason::BadSignature,
                        "request",
                        "the request object is not signed by the client id's DID",
                    )
                    .into());
                }
                checked.payload
            }
            (Some(("decentralized_identifier", _)), None) => {
                return Err(bad("request", "a decentralized_identifier client signs its request"))
            }
            (Some(("redirect_uri", target)), None) => {
                let mut p = serde_json::Map::new();
                for (k, v) in &ps {
                    p.insert(k.clone(), Value::String(v.clone()));
                }
                if p.get("response_uri").and_then(Value::as_str) != Some(target) {
                    return Err(bad("response_uri", "a redirect_uri client's response_uri is its client id"));
                }
                Value::Object(p)
            }
            (Some(("redirect_uri", _)), Some(_)) => {
                return Err(bad("request", "a redirect_uri client's request is not signed"))
            }
            _ => {
                return Err(bad(
                    "client_id",
                    "unknown client id prefix: the vault answers decentralized_identifier and redirect_uri clients",
                ))
            }
        };
        if payload.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
            return Err(bad("client_id", "the request's client_id is not the URI's"));
        }
        Ok(Resolved { payload, internal })
    }
}

/// Whether an address is one anyone on the internet could reach: not loopback, private,
/// link-local, shared, documentation, multicast or unspecified (IPv4, and IPv6 with its
/// unique-local, link-local and IPv4-mapped forms).
fn public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

impl Vault {
    /// A request object fetched by reference (`request_uri`, GET): as [`Vault::outbound`] allows,
    /// at most 64 KiB read.
    fn fetch(&self, uri: &str) -> Result<String, VaultError> {
        use std::io::Read as _;
        let unreachable = || bad("request_uri", "the verifier's request could not be fetched");
        let res = self
            .outbound(uri, "request_uri")?
            .get(uri)
            .header("accept", request_object::MEDIA_TYPE)
            .send()
            .map_err(|_| unreachable())?;
        if !res.status().is_success() {
            return Err(unreachable());
        }
        let mut body = String::new();
        res.take(MAX_FETCH as u64 + 1)
            .read_to_string(&mut body)
            .map_err(|_| unreachable())?;
        if body.len() > MAX_FETCH {
            return Err(bad("request_uri", "the request object is too large"));
        }
        Ok(body.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::public;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!public(private.parse().unwrap()), "{private}");
        }
        for open in [
            "8.8.8.8",
            "1.1.1.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(open.parse().unwrap()), "{open}");
        }
    }
}
