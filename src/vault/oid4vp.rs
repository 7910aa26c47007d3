//! OpenID4VP 1.0 with the vault as the verifier back-end of an approval system (SPEC §15): a
//! registered requester opens a presentation transaction (a DCQL query, or a matter that expands
//! to one, and always a purpose); the vault signs the request object as
//! `decentralized_identifier:<its did:key>`, receives the wallet's `direct_post`, judges every
//! presentation and credential (`verify::presentation` under the transaction's nonce and client
//! id, each credential as `POST /v1/verify` would) and matches it to the query, and keeps the
//! verdict for the requester. The wire is `http/oid4vp`.
//!
//! A transaction is answered once: the answer is a conditional change on the stored transaction,
//! so two answers (two nodes, a replayed `state`) cannot both land.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::layout;
use super::{At, Vault, VaultError};
use crate::reuse::dcql::{DcqlQuery, LDP_VC};
use crate::reuse::{check_purpose, requester_for};
use crate::store::{Change, StoreError, Table};
use crate::verdict::{Reason, Rejection, Verdict};
use crate::verify::request_object;

/// How long a wallet has to answer (seconds); the nonce is a vault challenge, good as long.
pub const TRANSACTION_TTL_SECONDS: i64 = 10 * 60;
/// The most presentations one answer may carry.
pub const MAX_PRESENTATIONS: usize = 16;

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// Waiting for the wallet.
    Pending,
    /// The wallet sent presentations; `result` has the verdicts.
    Answered,
    /// The wallet sent an error response (the holder refused, or it could not answer).
    Refused,
    /// No answer in time.
    Expired,
}

/// One presentation of an answer, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpPresentationResult {
    /// The credential query it answers.
    pub query: String,
    /// The presentation's verdict: its proof under the nonce and client id, and every credential.
    pub verdict: Verdict,
    /// Each credential's own verdict, in order.
    pub credentials: Vec<Verdict>,
    /// Whether the credentials answer the query (types and claims).
    pub matches: bool,
    /// Whether the presenter is shown to be the licence's holder: `true` when the vault presented
    /// it as the holder's custodian (its own key, after the holder approved on `/me`); `null`
    /// (not checked) for any other presenter, since a licence is bound to an identity number, not
    /// to a key, and anyone with a copy could have signed. Required unless the query said
    /// `require_cryptographic_holder_binding: false`.
    pub holder_bound: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<String>,
    /// The claims the query asked for, as the presented credential holds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub claims: Vec<Value>,
}

/// What the wallet answered, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionResult {
    /// Every query answered, every presentation and credential valid and matching.
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presentations: Vec<VpPresentationResult>,
    /// Queries the answer left unanswered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The wallet's error response, for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// A presentation transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub id: String,
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter: Option<String>,
    pub purpose: String,
    #[schema(value_type = Object)]
    pub dcql_query: Value,
    /// The client id the wallet sees: `decentralized_identifier:` and the vault's `did:key`.
    pub client_id: String,
    pub nonce: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// As stored; see [`Transaction::state_at`].
    pub state: TransactionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TransactionResult>,
}

/// A transaction as stored: with its signed request object, which is served to the wallet and is
/// not in the requester's view.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredTransaction {
    #[serde(flatten)]
    pub tx: Transaction,
    pub request_object: String,
}

impl Transaction {
    pub fn state_at(&self, now: DateTime<Utc>) -> TransactionState {
        match self.state {
            TransactionState::Pending if now >= self.expires_at => TransactionState::Expired,
            s => s,
        }
    }
}

/// What a wallet posts to the response URI (`direct_post`).
#[derive(Debug, Clone, Default)]
pub struct WalletResponse {
    pub vp_token: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn unknown() -> VaultError {
    VaultError::new(Reason::NotFound, "id", "no such presentation transaction")
}

fn invalid(field: &str, message: impl Into<String>) -> VaultError {
    VaultError::new(Reason::InvalidRequest, field, message)
}

impl Vault {
    /// Opens a presentation transaction for `requester`: the query is `dcql_query`, or the one
    /// `matter` stands for (the requester must be registered for it); `purpose` is required.
    pub fn create_vp_transaction(
        &self,
        requester: &str,
        dcql_query: Option<&Value>,
        matter: Option<&str>,
        purpose: &str,
        at: impl Into<At>,
    ) -> Result<Transaction, VaultError> {
        let now = at.into().resolve();
        let purpose = check_purpose(purpose)?;
        let reg = self.registries();
        let query = match (dcql_query, matter) {
            (Some(q), None) => {
                if !reg.requesters.contains_key(requester) {
                    return Err(Rejection::new(
                        Reason::Forbidden,
                        "$",
                        format!("requester {requester} is not registered"),
                    )
                    .into());
                }
                DcqlQuery::parse(q, "$.dcql_query")?
            }
            (None, Some(m)) => DcqlQuery::for_matter(requester_for(&reg, requester, m)?.1),
            _ => {
                return Err(invalid(
                    "$",
                    "give either dcql_query or matter (which stands for its query)",
                ))
            }
        };
        let signer = self.signing_key(now)?;
        let client_id = format!("decentralized_identifier:{}", signer.did_key().as_str());
        let id = super::ids::vp_transaction(now);
        let nonce = self.challenge(now);
        let expires_at = now + Duration::seconds(TRANSACTION_TTL_SECONDS);
        let payload = json!({
            "aud": "https://self-issued.me/v2",
            "client_id": client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": format!("{}/v1/oid4vp/responses/{id}", self.public_url()),
            "nonce": nonce,
            "state": id,
            "dcql_query": query.json,
            "client_metadata": {"vp_formats_supported": {LDP_VC: {
                "proof_type_values": ["DataIntegrityProof"],
                "cryptosuite_values": ["eddsa-jcs-2022"],
            }}},
            "iat": now.timestamp(),
            "exp": expires_at.timestamp(),
        });
        let jwt = request_object::issue(&*signer, &payload)?;
        let tx = Transaction {
            id: id.clone(),
            requester: requester.to_owned(),
            matter: matter.map(str::to_owned),
            purpose,
            dcql_query: query.json,
            client_id,
            nonce,
            created_at: now,
            expires_at,
            state: TransactionState::Pending,
            answered_at: None,
            result: None,
        };
        let stored = StoredTransaction {
            tx,
            request_object: jwt,
        };
        let mut c = Change::durable();
        c.expect(Table::VpTransaction, layout::vp_transaction(&id), None)
            .put(
                Table::VpTransaction,
                layout::vp_transaction(&id),
                layout::encode(&stored),
            );
        self.store.commit(c)?;
        tracing::info!(transaction = %id, requester, matter = matter.unwrap_or(""), "presentation transaction opened");
        Ok(stored.tx)
    }

    /// A transaction and its stored bytes (for a conditional answer).
    pub(super) fn vp_transaction_stored(
        &self,
        id: &str,
    ) -> Result<(StoredTransaction, Vec<u8>), VaultError> {
        let bytes = self
            .store
            .get(Table::VpTransaction, &layout::vp_transaction(id))?
            .ok_or_else(unknown)?;
        Ok((layout::decode(Table::VpTransaction, &bytes)?, bytes))
    }

    /// The requester's own transaction (another's is as absent as one never opened).
    pub fn vp_transaction(&self, requester: &str, id: &str) -> Result<Transaction, VaultError> {
        let (s, _) = self.vp_transaction_stored(id)?;
        if s.tx.requester != requester {
            return Err(unknown());
        }
        Ok(s.tx)
    }

    /// The signed request object of a transaction a wallet may still answer.
    pub fn vp_request_object(&self, id: &str, now: DateTime<Utc>) -> Result<String, VaultError> {
        let (s, _) = self.vp_transaction_stored(id)?;
        if s.tx.state_at(now) != TransactionState::Pending {
            return Err(unknown());
        }
        Ok(s.request_object)
    }

    /// Takes a wallet's answer to transaction `id`, once: an error response is a refusal; a
    /// `vp_token` is judged presentation by presentation. The verdict is stored for the
    /// requester whatever it says; the wallet is told only whether the answer was taken.
    pub fn answer_vp_transaction(
        &self,
        id: &str,
        response: &WalletResponse,
        at: impl Into<At>,
    ) -> Result<Transaction, VaultError> {
        let now = at.into().resolve();
        let (mut stored, old) = self.vp_transaction_stored(id)?;
        let tx = &mut stored.tx;
        match tx.state_at(now) {
            TransactionState::Pending => {}
            TransactionState::Expired => {
                return Err(invalid("state", "the transaction has expired"));
            }
            _ => return Err(invalid("state", "the transaction was answered already")),
        }
        if response.state.as_deref() != Some(tx.id.as_str()) {
            return Err(invalid("state", "state is not this transaction's"));
        }
        let result = match (&response.vp_token, &response.error) {
            (Some(token), None) => self.judge_vp_token(tx, token, now)?,
            (None, Some(error)) => {
                tx.state = TransactionState::Refused;
                TransactionResult {
                    valid: false,
                    presentations: Vec::new(),
                    missing: Vec::new(),
                    error: Some(error.clone()),
                    error_description: response.error_description.clone(),
                }
            }
            _ => {
                return Err(invalid(
                    "vp_token",
                    "give vp_token or error, not both or neither",
                ))
            }
        };
        if tx.state == TransactionState::Pending {
            tx.state = TransactionState::Answered;
        }
        tx.answered_at = Some(now);
        tx.result = Some(result);
        let mut c = Change::durable();
        c.expect(Table::VpTransaction, layout::vp_transaction(id), Some(old))
            .put(
                Table::VpTransaction,
                layout::vp_transaction(id),
                layout::encode(&stored),
            );
        match self.store.commit(c) {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(invalid("state", "the transaction was answered already"))
            }
            Err(e) => return Err(e.into()),
        }
        let tx = stored.tx;
        tracing::info!(transaction = %id, state = ?tx.state, valid = tx.result.as_ref().is_some_and(|r| r.valid), "presentation transaction answered");
        Ok(tx)
    }

    /// The verdict of a presented licence that this vault holds with exactly these bytes: the
    /// stored licence's fresh verdict (status included). `None` for anything else.
    fn held_verdict(&self, credential: &Value, now: DateTime<Utc>) -> Option<Verdict> {
        if !crate::licence::Licence::is_licence(credential) {
            return None;
        }
        let id = crate::codes::LicenceId::from_urn_or_bare(credential.get("id")?.as_str()?).ok()?;
        let e = self.extract(&id, now).ok()??;
        let stored = e.document.as_ref()?;
        (crate::jcs::canonicalize(credential).as_slice() == stored.as_bytes()).then_some(e.verdict)
    }

    /// Judges a `vp_token`: a JSON object from credential query ids to arrays of presentations.
    fn judge_vp_token(
        &self,
        tx: &Transaction,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<TransactionResult, VaultError> {
        let query = DcqlQuery::parse(&tx.dcql_query, "$.dcql_query")?;
        let v = crate::jcs::parse(token.as_bytes())
            .map_err(|e| invalid("vp_token", format!("not I-JSON: {e}")))?;
        let map = v.as_object().ok_or_else(|| {
            invalid(
                "vp_token",
                "an object from credential query ids to presentations",
            )
        })?;
        let mut presentations = Vec::new();
        for (qid, list) in map {
            let q = query.get(qid).ok_or_else(|| {
                invalid(
                    "vp_token",
                    format!("{qid} is not a credential query of this transaction"),
                )
            })?;
            let list = list
                .as_array()
                .filter(|l| !l.is_empty() && (q.multiple || l.len() == 1))
                .ok_or_else(|| {
                    invalid(
                        "vp_token",
                        format!(
                            "{qid}: an array of {} presentation(s)",
                            if q.multiple {
                                "one or more"
                            } else {
                                "exactly one"
                            }
                        ),
                    )
                })?;
            for vp in list {
                if presentations.len() == MAX_PRESENTATIONS {
                    return Err(invalid(
                        "vp_token",
                        format!("at most {MAX_PRESENTATIONS} presentations"),
                    ));
                }
                let judged =
                    self.verify_presentation(vp, Some(&tx.nonce), Some(&tx.client_id), now);
                // The custodian's key: the one the transaction's client id names (in force when
                // it opened), which signed the presentation (the verdict says) as `holder`.
                let custodian = tx.client_id.strip_prefix("decentralized_identifier:");
                let holder_bound = (judged.verdict.valid
                    && vp.get("holder").and_then(Value::as_str) == custodian)
                    .then_some(true);
                let creds: Vec<&Value> = match vp.get("verifiableCredential") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(o @ Value::Object(_)) => vec![o],
                    _ => Vec::new(),
                };
                let matched: Result<Vec<Value>, String> = match creds.as_slice() {
                    [one] => q.matches(one).map(|found| {
                        found
                            .into_iter()
                            .map(|(path, value)| json!({"path": path, "value": value}))
                            .collect()
                    }),
                    _ => Err(format!(
                        "{} credentials in the presentation; one answers a query",
                        creds.len()
                    )),
                };
                // A licence this vault holds, presented byte for byte as stored, is judged as a
                // read of it is: with its status and dispute, which public data cannot give.
                let credentials = judged
                    .credentials
                    .into_iter()
                    .zip(&creds)
                    .map(|(public, c)| self.held_verdict(c, now).unwrap_or(public))
                    .collect();
                presentations.push(VpPresentationResult {
                    query: qid.clone(),
                    verdict: judged.verdict,
                    credentials,
                    matches: matched.is_ok(),
                    holder_bound,
                    mismatch: matched.as_ref().err().cloned(),
                    claims: matched.unwrap_or_default(),
                });
            }
        }
        let missing: Vec<String> = query
            .credentials
            .iter()
            .filter(|c| !map.contains_key(&c.id))
            .map(|c| c.id.clone())
            .collect();
        let bound_enough = |p: &VpPresentationResult| {
            p.holder_bound == Some(true) || query.get(&p.query).is_some_and(|q| !q.require_binding)
        };
        let valid = missing.is_empty()
            && presentations.iter().all(|p| {
                p.verdict.valid
                    && p.matches
                    && p.credentials.iter().all(|c| c.valid)
                    && bound_enough(p)
            });
        Ok(TransactionResult {
            valid,
            presentations,
            missing,
            error: None,
            error_description: None,
        })
    }
}
