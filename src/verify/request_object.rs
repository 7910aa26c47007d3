//! OpenID4VP request objects (RFC 9101 JAR, `typ` `oauth-authz-req+jwt`): the signed
//! authorization request the vault serves as a verifier back-end, signed by the vault key with
//! EdDSA and named by its `did:key` (client id prefix `decentralized_identifier`), and the check a
//! wallet makes of one: compact JWS, `alg` `EdDSA`, a `kid` that is a `did:key` verification
//! method, `verify_strict`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use serde_json::{json, Value};

use super::SigningError;
use crate::keys::{DidKey, Sign};
use crate::verdict::{Reason, Rejection};

/// The JOSE `typ` of a request object.
pub const TYP: &str = "oauth-authz-req+jwt";
/// The media type it is served as.
pub const MEDIA_TYPE: &str = "application/oauth-authz-req+jwt";
/// The largest request object checked.
pub const MAX_LEN: usize = 64 * 1024;

/// Signs `payload` as a request object of the key's `did:key`.
pub fn issue(signer: &dyn Sign, payload: &Value) -> Result<String, SigningError> {
    let header = json!({
        "alg": "EdDSA",
        "typ": TYP,
        "kid": signer.did_key().verification_method(),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let sig = signer
        .try_sign(input.as_bytes())
        .map_err(|e| SigningError::unavailable("request object", e))?;
    Ok(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ))
}

/// A request object checked: its payload and the `did:key` that signed it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub payload: Value,
    pub signer: DidKey,
}

fn bad(message: impl Into<String>) -> Rejection {
    Rejection::new(Reason::BadSignature, "request", message)
}

fn part(s: &str, what: &str) -> Result<Value, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad(format!("the {what} is not base64url")))?;
    crate::jcs::parse(&bytes).map_err(|e| bad(format!("the {what} is not I-JSON: {e}")))
}

/// Checks a request object signed with EdDSA by the `did:key` its `kid` names.
pub fn check(jwt: &str) -> Result<Checked, Rejection> {
    if jwt.len() > MAX_LEN {
        return Err(bad("the request object is too large"));
    }
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS"));
    };
    let header = part(h, "header")?;
    let payload = part(p, "payload")?;
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(bad("only alg EdDSA is accepted"));
    }
    if header.get("crit").is_some() {
        return Err(bad("crit names extensions this check does not understand"));
    }
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(bad(format!("typ must be {TYP}")));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("kid is missing"))?;
    let (did, fragment) = kid
        .split_once('#')
        .ok_or_else(|| bad("kid must be a did:key verification method"))?;
    let signer: DidKey = did
        .parse()
        .map_err(|e| bad(format!("kid is not a did:key: {e}")))?;
    if fragment != signer.fingerprint() {
        return Err(bad("kid's fragment is not its key's"));
    }
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the signature is not 64 bytes of base64url"))?;
    let input = &jwt[..h.len() + 1 + p.len()];
    signer
        .verifying_key()
        .verify_strict(input.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| bad("the signature does not verify"))?;
    if !payload.is_object() {
        return Err(bad("the payload is not an object"));
    }
    Ok(Checked { payload, signer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer;

    #[test]
    fn a_signed_request_object_checks_and_any_change_does_not() {
        let key = Signer::from_seed(&[7u8; 32]);
        let payload = json!({"client_id": format!("decentralized_identifier:{}", key.did_key().as_str()), "nonce": "n"});
        let jwt = issue(&key, &payload).unwrap();
        let c = check(&jwt).unwrap();
        assert_eq!(c.payload, payload);
        assert_eq!(c.signer.as_str(), key.did_key().as_str());

        let (h, rest) = jwt.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(json!({"client_id": "x", "nonce": "n"}).to_string());
        assert_eq!(
            check(&format!("{h}.{other}.{s}")).unwrap_err().message,
            "the signature does not verify"
        );
        let none = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": TYP}).to_string());
        assert_eq!(
            check(&format!("{none}.{p}.{s}")).unwrap_err().message,
            "only alg EdDSA is accepted"
        );
        assert_eq!(
            check(&format!("{h}.{p}")).unwrap_err().message,
            "not a compact JWS"
        );
        let e = check(&format!("{h}.{p}.{s}.x")).unwrap_err();
        assert_eq!(
            (e.reason, e.field.as_str()),
            (Reason::BadSignature, "request")
        );
    }
}
