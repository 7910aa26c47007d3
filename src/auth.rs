//! Principals and bearer tokens (SPEC §7).
//!
//! A token is 256 random bits, shown once; the vault keeps only its SHA-256 digest. A holder may
//! instead present a compact JWS (EdDSA) from a trusted identity provider whose `sub` is
//! `codeType:code`. **Invariant:** tokens and full holder codes never reach a log line.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::codes::{HolderCode, Uscc};
use crate::keys::DidKey;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Issuer(Uscc),
    Requester(String),
    Holder(HolderCode),
    /// An oversight body (e.g. the city's data authority), by a name the admin gives: sees every
    /// objection and its answer (SPEC §17).
    Supervisor(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Issuer,
    Requester,
    Holder,
    Supervisor,
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Self::Admin => Role::Admin,
            Self::Issuer(_) => Role::Issuer,
            Self::Requester(_) => Role::Requester,
            Self::Holder(_) => Role::Holder,
            Self::Supervisor(_) => Role::Supervisor,
        }
    }

    /// Builds a principal from a role and its subject (USCC, requester id, `codeType:code`, or empty for admin).
    pub fn from_role(role: Role, subject: &str) -> Result<Self, String> {
        match role {
            Role::Admin if subject.is_empty() || subject == "admin" => Ok(Self::Admin),
            Role::Admin => Err("admin tokens take no subject".into()),
            Role::Issuer => subject
                .parse()
                .map(Self::Issuer)
                .map_err(|e| format!("issuer subject: {e}")),
            Role::Requester if !subject.is_empty() => Ok(Self::Requester(subject.to_owned())),
            Role::Requester => Err("requester subject must be a requester id".into()),
            Role::Holder => subject
                .parse()
                .map(Self::Holder)
                .map_err(|e| format!("holder subject (codeType:code): {e}")),
            Role::Supervisor if !subject.trim().is_empty() && subject.chars().count() <= 64 => {
                Ok(Self::Supervisor(subject.trim().to_owned()))
            }
            Role::Supervisor => {
                Err("supervisor subject must be a name of 1 to 64 characters".into())
            }
        }
    }

    /// The subject as stored with a token. For holders it holds the full code: never log it.
    pub fn subject(&self) -> String {
        match self {
            Self::Admin => String::new(),
            Self::Issuer(u) => u.to_string(),
            Self::Requester(r) => r.clone(),
            Self::Holder(h) => h.key(),
            Self::Supervisor(s) => s.clone(),
        }
    }
}

impl std::fmt::Display for Principal {
    /// Loggable: holder codes are masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Issuer(u) => write!(f, "issuer:{u}"),
            Self::Requester(r) => write!(f, "requester:{r}"),
            Self::Holder(h) => write!(f, "holder:{h}"),
            Self::Supervisor(s) => write!(f, "supervisor:{s}"),
        }
    }
}

/// What the vault stores for a token (under the token's digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub id: String,
    pub role: Role,
    pub subject: String,
    pub created_at: DateTime<Utc>,
}

/// A fresh random token (256 bits) and its id.
pub fn new_token() -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let mut id = [0u8; 9];
    rand::rngs::OsRng.fill_bytes(&mut id);
    (
        format!("tok_{}", URL_SAFE_NO_PAD.encode(id)),
        format!("lv_{}", URL_SAFE_NO_PAD.encode(secret)),
    )
}

pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Format,
    #[error("JWS header must be {{\"alg\":\"EdDSA\"}}")]
    Algorithm,
    #[error("JWS signature does not verify against a trusted identity provider")]
    Signature,
    #[error("JWS is expired or not yet valid")]
    Time,
    #[error("JWS sub must be codeType:code: {0}")]
    Subject(String),
}

/// Verifies a holder's identity-provider token: a compact JWS, EdDSA over Ed25519, with
/// `sub` = `codeType:code` and `exp` (seconds since the epoch) in the future.
pub fn verify_holder_jws(
    jws: &str,
    trusted: &[DidKey],
    now: DateTime<Utc>,
) -> Result<HolderCode, JwsError> {
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Format);
    };
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| JwsError::Format)?)
            .map_err(|_| JwsError::Format)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("EdDSA") {
        return Err(JwsError::Algorithm);
    }
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwsError::Format)?
        .try_into()
        .map_err(|_| JwsError::Format)?;
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    let signing_input = &jws.as_bytes()[..h.len() + 1 + p.len()];
    if !trusted
        .iter()
        .any(|k| k.verifying_key().verify_strict(signing_input, &sig).is_ok())
    {
        return Err(JwsError::Signature);
    }
    let payload = crate::jcs::parse(&URL_SAFE_NO_PAD.decode(p).map_err(|_| JwsError::Format)?)
        .map_err(|_| JwsError::Format)?;
    let exp = payload
        .get("exp")
        .and_then(|e| e.as_i64())
        .ok_or(JwsError::Time)?;
    let nbf = payload
        .get("nbf")
        .and_then(|e| e.as_i64())
        .unwrap_or(i64::MIN);
    if now.timestamp() >= exp || now.timestamp() < nbf {
        return Err(JwsError::Time);
    }
    let sub = payload
        .get("sub")
        .and_then(|s| s.as_str())
        .ok_or(JwsError::Subject("missing".into()))?;
    sub.parse()
        .map_err(|e: crate::codes::CodeError| JwsError::Subject(e.to_string()))
}

/// Makes a holder JWS (for the demo identity provider and tests).
pub fn sign_holder_jws(
    signer: &crate::keys::Signer,
    holder: &HolderCode,
    exp: DateTime<Utc>,
) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::json!({"sub": holder.key(), "exp": exp.timestamp()}).to_string());
    let input = format!("{header}.{payload}");
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let (id1, t1) = new_token();
        let (id2, t2) = new_token();
        assert_ne!(t1, t2);
        assert_ne!(id1, id2);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(t1.trim_start_matches("lv_"))
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn holder_jws_round_trips_and_rejects_forgeries() {
        let idp = crate::keys::Signer::generate();
        let other = crate::keys::Signer::generate();
        let holder: HolderCode = "111:11010519491231002X".parse().unwrap();
        let now = Utc::now();
        let jws = sign_holder_jws(&idp, &holder, now + chrono::Duration::minutes(5));
        assert_eq!(
            verify_holder_jws(&jws, &[idp.did_key().clone()], now),
            Ok(holder.clone())
        );
        assert_eq!(
            verify_holder_jws(&jws, &[other.did_key().clone()], now),
            Err(JwsError::Signature)
        );
        let expired = sign_holder_jws(&idp, &holder, now - chrono::Duration::seconds(1));
        assert_eq!(
            verify_holder_jws(&expired, &[idp.did_key().clone()], now),
            Err(JwsError::Time)
        );
        assert_eq!(
            verify_holder_jws("a.b", &[idp.did_key().clone()], now),
            Err(JwsError::Format)
        );
    }
}
