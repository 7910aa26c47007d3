//! Licence lifecycle in the vault: signed status statements kept in order forever, the version
//! chain, and the per-agency Bitstring Status Lists that offline verifiers fetch.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::{corrupt, status_index_key, to_vec, LicenceMeta, Vault, VaultError};
use crate::codes::{LicenceId, Uscc};
use crate::jcs;
use crate::licence::VC_CONTEXT;
use crate::lifecycle::{self, Purpose, Statement, LIST_SIZE};
use crate::proof::{self, format_time};
use crate::store::{Change, StoreError, Table};
use crate::verdict::{Reason, Rejection};
use crate::verify::{signing_key, Status};

/// How far in the future a statement's `effectiveAt` may lie (clock skew between agency and vault).
const EFFECTIVE_SKEW: Duration = Duration::minutes(5);
/// How long a served status list may be cached by verifiers.
const LIST_VALIDITY: Duration = Duration::hours(24);

/// The status in force, as set by the latest accepted statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusRecord {
    pub status: Status,
    #[schema(value_type = String, format = DateTime)]
    pub effective_at: DateTime<Utc>,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
}

/// A statement as the vault keeps it: the signed document and when the vault received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredStatement {
    #[schema(value_type = Object)]
    pub statement: Value,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    pub sha256: String,
}

fn statement_prefix(id: &LicenceId) -> Vec<u8> {
    let mut k = id.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

fn bits_key(issuer: &Uscc, purpose: Purpose, list: u64) -> Vec<u8> {
    format!("status_bits/{issuer}/{}/{list}", purpose.as_str()).into_bytes()
}

fn reject(reason: Reason, field: &str, message: impl Into<String>) -> VaultError {
    VaultError::Rejected(Rejection::new(reason, field, message))
}

impl Vault {
    pub(super) fn next_status_index(&self, issuer: &Uscc) -> Result<u64, StoreError> {
        Ok(
            match self.store.get(Table::Meta, &status_index_key(issuer))? {
                None => 0,
                Some(v) => u64::from_be_bytes(
                    v.try_into()
                        .map_err(|_| corrupt(Table::Meta, "status index is not 8 bytes"))?,
                ),
            },
        )
    }

    /// The stable URL of one of an agency's status lists.
    pub fn status_list_url(&self, issuer: &Uscc, purpose: Purpose, list: u64) -> String {
        format!(
            "{}/v1/status-lists/{issuer}/{}/{list}",
            self.public_url,
            purpose.as_str()
        )
    }

    /// Every statement about a licence, in the order the vault accepted them.
    pub fn statements(&self, id: &LicenceId) -> Result<Vec<StoredStatement>, StoreError> {
        self.store
            .scan(
                Table::LicenceStatement,
                &statement_prefix(id),
                false,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v).map_err(|e| corrupt(Table::LicenceStatement, e))
            })
            .collect()
    }

    /// Accepts a status statement signed by the licence's issuing agency. Returns whether it was
    /// new (`false`: the same statement was accepted before) and the statement history.
    pub fn post_status(
        &self,
        issuer: &Uscc,
        id: &LicenceId,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> Result<(bool, Vec<StoredStatement>), VaultError> {
        if &id.issuer() != issuer {
            return Err(reject(
                Reason::Forbidden,
                "id",
                "only the issuing agency may change a licence's status",
            ));
        }
        let st = Statement::parse(doc)?;
        if &st.licence != id {
            return Err(reject(
                Reason::InvalidRequest,
                "$.licence",
                format!(
                    "the statement is about {}, not {}",
                    st.licence.urn(),
                    id.urn()
                ),
            ));
        }
        let prepared = proof::prepare(doc)
            .map_err(|e| reject(Reason::BadSignature, e.field(), e.to_string()))?;
        if !prepared.verify() {
            return Err(reject(
                Reason::BadSignature,
                "$.proof.proofValue",
                format!("signature by {} does not verify", prepared.key),
            ));
        }
        let reg = self.registries();
        let (agency, _) = signing_key(&reg, &prepared.key, prepared.created, Some(now))
            .map_err(|(reason, detail)| reject(reason, "$.proof.verificationMethod", detail))?;
        if &agency.uscc != issuer {
            return Err(reject(
                Reason::IssuerMismatch,
                "$.proof.verificationMethod",
                format!(
                    "signed with a key of {}, but the licence was issued by {issuer}",
                    agency.uscc
                ),
            ));
        }
        if st.effective_at > now + EFFECTIVE_SKEW {
            return Err(reject(Reason::InvalidRequest, "$.effectiveAt", "a statement records a change that has happened: effectiveAt must not be in the future"));
        }
        let sha = hex::encode(Sha256::digest(jcs::canonicalize(doc)));

        let _guard = self.lock();
        let mut meta: LicenceMeta = self
            .meta(id)?
            .ok_or_else(|| reject(Reason::NotFound, "id", format!("no licence {}", id.urn())))?;
        let history = self.statements(id)?;
        if let Some(last) = history.last() {
            if last.sha256 == sha {
                return Ok((false, history));
            }
        }
        let current = meta.status.as_ref().map_or(Status::Active, |s| s.status);
        lifecycle::check_transition(current, st.status)?;
        if let Some(prev) = &meta.status {
            if st.effective_at < prev.effective_at {
                return Err(reject(
                    Reason::InvalidRequest,
                    "$.effectiveAt",
                    format!(
                        "must not precede the previous statement's effectiveAt {}",
                        format_time(prev.effective_at)
                    ),
                ));
            }
        }
        let stored = StoredStatement {
            statement: doc.clone(),
            received_at: now,
            sha256: sha,
        };
        meta.status = Some(StatusRecord {
            status: st.status,
            effective_at: st.effective_at,
            reason: st.reason.clone(),
            received_at: now,
        });
        let mut change = Change::durable();
        let mut key = statement_prefix(id);
        key.extend_from_slice(&(history.len() as u32).to_be_bytes());
        change.put(Table::LicenceStatement, key, to_vec(&stored));
        change.put(Table::LicenceMeta, id.as_str(), to_vec(&meta));
        if let Some(index) = meta.status_index {
            let (list, bit) = lifecycle::list_position(index);
            for purpose in [Purpose::Revocation, Purpose::Suspension] {
                let key = bits_key(issuer, purpose, list);
                let mut bits = self
                    .store
                    .get(Table::Meta, &key)?
                    .unwrap_or_else(|| vec![0; (LIST_SIZE / 8) as usize]);
                lifecycle::set_bit(&mut bits, bit, purpose.bit(st.status));
                change.put(Table::Meta, key, bits);
            }
        }
        self.store.commit(change)?;
        drop(_guard);
        tracing::info!(licence = %id, status = lifecycle::status_name(st.status), "status statement accepted");
        let mut history = history;
        history.push(stored);
        Ok((true, history))
    }

    /// A signed Bitstring Status List credential for one of an agency's lists, or `None` if the
    /// agency is unknown or has no licences in that list.
    pub fn status_list(
        &self,
        issuer: &Uscc,
        purpose: Purpose,
        list: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, StoreError> {
        if !self.registries().agencies.contains_key(issuer) {
            return Ok(None);
        }
        let assigned = self.next_status_index(issuer)?;
        if list > 0 && list * u64::from(LIST_SIZE) >= assigned {
            return Ok(None);
        }
        let bits = self
            .store
            .get(Table::Meta, &bits_key(issuer, purpose, list))?
            .unwrap_or_else(|| vec![0; (LIST_SIZE / 8) as usize]);
        let url = self.status_list_url(issuer, purpose, list);
        let unsigned = json!({
            "@context": [VC_CONTEXT],
            "id": url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": self.signer.did_key().as_str(),
            "validFrom": format_time(now),
            "validUntil": format_time(now + LIST_VALIDITY),
            "credentialSubject": {
                "id": format!("{url}#list"),
                "type": "BitstringStatusList",
                "statusPurpose": purpose.as_str(),
                "encodedList": lifecycle::encode_list(&bits),
            }
        });
        proof::sign(unsigned, &self.signer, now)
            .map(Some)
            .map_err(|e| StoreError::Engine(format!("signing status list: {e}")))
    }

    /// Every version of a licence that the vault holds, oldest first.
    pub fn versions(&self, id: &LicenceId) -> Result<Vec<LicenceId>, StoreError> {
        let mut out = Vec::new();
        let mut v = 1u16;
        // Versions chain by predecessor, so they are consecutive from 001.
        while let Ok(candidate) = id.with_version(v) {
            if self.meta(&candidate)?.is_none() {
                if v > id.version() {
                    break;
                }
            } else {
                out.push(candidate);
            }
            v += 1;
        }
        Ok(out)
    }
}
