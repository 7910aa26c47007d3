//! The W3C `eddsa-jcs-2022` Data Integrity cryptosuite: JCS canonical JSON, SHA-256, Ed25519.
//!
//! Signing and verifying are split so that many documents can be verified in one Ed25519 batch:
//! [`prepare`] does all the JSON work (checks the proof options, builds the 64-byte hash data) and
//! [`Prepared::verify`] / [`verify_batch`] do the curve arithmetic.
//!
//! **Invariant:** every verification of an outside signature ends in `verify_strict`, or in a batch
//! whose failures are re-checked one by one with `verify_strict`.

use chrono::{DateTime, SecondsFormat, Utc};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::Signature;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::jcs;
use crate::keys::{multibase_decode, multibase_encode, DidKey, Sign};

pub const PROOF_TYPE: &str = "DataIntegrityProof";
pub const CRYPTOSUITE: &str = "eddsa-jcs-2022";
pub const ASSERTION_METHOD: &str = "assertionMethod";
/// The purpose of a holder's proof on a presentation (VC-API): it authenticates the holder to
/// the verifier that gave the `challenge`, for its `domain`.
pub const AUTHENTICATION: &str = "authentication";

/// What a presentation's proof binds besides the document: the verifier's `challenge` and
/// `domain` (Data Integrity §2.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Binding<'a> {
    pub challenge: Option<&'a str>,
    pub domain: Option<&'a str>,
}

/// Why a document's proof cannot be checked at all (as opposed to a signature that does not verify).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("document is not a JSON object")]
    NotAnObject,
    #[error("document has no proof")]
    Missing,
    #[error("proof.{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("proof.verificationMethod: {0}")]
    Key(#[from] crate::keys::KeyError),
    /// The signing key could not sign (a hardware module failed): nothing was signed.
    #[error("{0}")]
    Signing(crate::keys::KeyError),
}

impl ProofError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
    /// The JSON path of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotAnObject => "$",
            Self::Missing => "$.proof",
            Self::Invalid { field, .. } => match *field {
                "type" => "$.proof.type",
                "cryptosuite" => "$.proof.cryptosuite",
                "created" => "$.proof.created",
                "expires" => "$.proof.expires",
                "proofPurpose" => "$.proof.proofPurpose",
                "proofValue" => "$.proof.proofValue",
                "@context" => "$.proof.@context",
                _ => "$.proof",
            },
            Self::Key(_) => "$.proof.verificationMethod",
            Self::Signing(_) => "$.proof",
        }
    }
}

/// A proof ready for the curve check: the key, the message (proof hash ‖ document hash) and the signature.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub key: DidKey,
    /// `proof.created`: optional in Data Integrity, required of licences and statements by their
    /// own checks.
    pub created: Option<DateTime<Utc>>,
    /// `proof.expires`: the proof is not valid at or after it.
    pub expires: Option<DateTime<Utc>>,
    pub message: [u8; 64],
    pub signature: Signature,
}

impl Prepared {
    pub fn verify(&self) -> bool {
        self.key
            .verifying_key()
            .verify_strict(&self.message, &self.signature)
            .is_ok()
    }
}

/// Formats a time the way proofs and receipts carry it (`2024-01-04T08:00:00Z`).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an XML Schema dateTime with an explicit offset (RFC 3339).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The signed message: SHA-256 of the proof configuration's JCS bytes and of the document's,
/// concatenated (64 bytes).
fn hash_data(proof_config: &Map<String, Value>, canonical_document: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&Sha256::digest(jcs::canonicalize_object(
        proof_config,
        "proofValue",
        None,
    )));
    out[32..].copy_from_slice(&Sha256::digest(canonical_document));
    out
}

/// Adds an `eddsa-jcs-2022` proof to `document` (which must not have one) and returns the signed document.
pub fn sign(
    document: Value,
    signer: &dyn Sign,
    created: DateTime<Utc>,
) -> Result<Value, ProofError> {
    sign_until(document, signer, Some(created), None)
}

/// [`sign`] with the proof's optional times as given: `created` (Data Integrity makes it optional;
/// licences and statements require it) and `expires`.
pub fn sign_until(
    document: Value,
    signer: &dyn Sign,
    created: Option<DateTime<Utc>>,
    expires: Option<DateTime<Utc>>,
) -> Result<Value, ProofError> {
    sign_with(document, signer, created, expires, None)
}

/// Signs a presentation as its holder: an `eddsa-jcs-2022` proof for `authentication`, bound to
/// the verifier's challenge and domain.
pub fn sign_presentation(
    presentation: Value,
    signer: &dyn Sign,
    created: DateTime<Utc>,
    binding: Binding<'_>,
) -> Result<Value, ProofError> {
    sign_with(presentation, signer, Some(created), None, Some(binding))
}

/// Adds the proof: for `assertionMethod`, or for `authentication` with a presentation's binding.
fn sign_with(
    document: Value,
    signer: &dyn Sign,
    created: Option<DateTime<Utc>>,
    expires: Option<DateTime<Utc>>,
    presentation: Option<Binding<'_>>,
) -> Result<Value, ProofError> {
    let Value::Object(mut signed) = document else {
        return Err(ProofError::NotAnObject);
    };
    if signed.contains_key("proof") {
        return Err(ProofError::invalid("proof", "document already has a proof"));
    }
    let canonical = jcs::canonicalize_object(&signed, "proof", None);
    let context = signed.get("@context");
    let proof = proof_with(&canonical, context, signer, created, expires, presentation)?;
    signed.insert("proof".into(), proof);
    Ok(Value::Object(signed))
}

/// The `eddsa-jcs-2022` proof of an unsigned document given by its canonical bytes (its
/// `@context`, if any, is repeated in the proof): for callers that build those bytes without
/// canonicalising a whole tree ([`jcs::splice`]).
pub fn proof_for(
    canonical: &[u8],
    context: Option<&Value>,
    signer: &dyn Sign,
    created: DateTime<Utc>,
) -> Result<Value, ProofError> {
    proof_with(canonical, context, signer, Some(created), None, None)
}

fn proof_with(
    canonical: &[u8],
    context: Option<&Value>,
    signer: &dyn Sign,
    created: Option<DateTime<Utc>>,
    expires: Option<DateTime<Utc>>,
    presentation: Option<Binding<'_>>,
) -> Result<Value, ProofError> {
    let mut config = Map::new();
    config.insert("type".into(), PROOF_TYPE.into());
    config.insert("cryptosuite".into(), CRYPTOSUITE.into());
    if let Some(c) = created {
        config.insert("created".into(), format_time(c).into());
    }
    if let Some(e) = expires {
        config.insert("expires".into(), format_time(e).into());
    }
    config.insert(
        "verificationMethod".into(),
        signer.did_key().verification_method().into(),
    );
    match presentation {
        None => {
            config.insert("proofPurpose".into(), ASSERTION_METHOD.into());
        }
        Some(b) => {
            config.insert("proofPurpose".into(), AUTHENTICATION.into());
            for (name, value) in [("challenge", b.challenge), ("domain", b.domain)] {
                if let Some(v) = value {
                    config.insert(name.into(), v.into());
                }
            }
        }
    }
    if let Some(ctx) = context {
        config.insert("@context".into(), ctx.clone());
    }
    let signature = signer
        .try_sign(&hash_data(&config, canonical))
        .map_err(ProofError::Signing)?;
    config.insert(
        "proofValue".into(),
        multibase_encode(&signature.to_bytes()).into(),
    );
    Ok(Value::Object(config))
}

fn str_field<'a>(
    proof: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ProofError> {
    match proof.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ProofError::invalid(field, "must be a string")),
        None => Err(ProofError::invalid(field, "is required")),
    }
}

/// Checks the proof options of a secured document and builds what the curve check needs.
pub fn prepare(secured: &Value) -> Result<Prepared, ProofError> {
    prepare_with(secured, None, ASSERTION_METHOD)
}

/// [`prepare`] for a presentation's proof, whose purpose is `authentication`; its challenge and
/// domain are judged by the caller, which knows what they must be.
pub fn prepare_presentation(secured: &Value) -> Result<Prepared, ProofError> {
    prepare_with(secured, None, AUTHENTICATION)
}

/// [`prepare`] for a document whose canonical bytes are at hand (stored bytes, or about to be
/// stored): the document hash is taken from them with the proof cut out, not from a second
/// canonicalisation. `canonical` must be `jcs::canonicalize(secured)`.
pub fn prepare_canonical(secured: &Value, canonical: &[u8]) -> Result<Prepared, ProofError> {
    prepare_with(secured, Some(canonical), ASSERTION_METHOD)
}

fn prepare_with(
    secured: &Value,
    canonical: Option<&[u8]>,
    purpose: &'static str,
) -> Result<Prepared, ProofError> {
    let obj = secured.as_object().ok_or(ProofError::NotAnObject)?;
    let proof = match obj.get("proof") {
        None => return Err(ProofError::Missing),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(ProofError::invalid(
                "proof",
                "must be a single proof object",
            ))
        }
    };
    if str_field(proof, "type")? != PROOF_TYPE {
        return Err(ProofError::invalid("type", format!("must be {PROOF_TYPE}")));
    }
    if str_field(proof, "cryptosuite")? != CRYPTOSUITE {
        return Err(ProofError::invalid(
            "cryptosuite",
            format!("must be {CRYPTOSUITE}"),
        ));
    }
    if str_field(proof, "proofPurpose")? != purpose {
        return Err(ProofError::invalid(
            "proofPurpose",
            format!("must be {purpose}"),
        ));
    }
    let time = |name: &'static str| -> Result<Option<DateTime<Utc>>, ProofError> {
        match proof.get(name) {
            None => Ok(None),
            Some(v) => v.as_str().and_then(parse_time).map(Some).ok_or_else(|| {
                ProofError::invalid(name, "must be an RFC 3339 date-time with offset")
            }),
        }
    };
    let created = time("created")?;
    let expires = time("expires")?;
    let key = DidKey::from_verification_method(str_field(proof, "verificationMethod")?)?;
    let sig_bytes = multibase_decode(str_field(proof, "proofValue")?)
        .map_err(|e| ProofError::invalid("proofValue", e.to_string()))?;
    let sig_bytes: [u8; 64] = sig_bytes
        .try_into()
        .map_err(|_| ProofError::invalid("proofValue", "signature must be 64 bytes"))?;
    let signature = Signature::from_bytes(&sig_bytes);

    // Data Integrity §4.3 step: the document's @context must start with the proof's @context, and
    // the proof's @context is what is hashed with the document.
    let context = match proof.get("@context") {
        None => None,
        Some(proof_ctx) => {
            let list = context_list(proof_ctx);
            let doc_ctx = obj.get("@context").map(context_list).unwrap_or_default();
            if list.is_empty() || !doc_ctx.starts_with(&list) {
                return Err(ProofError::invalid(
                    "@context",
                    "document @context must start with the proof's @context",
                ));
            }
            Some(("@context", proof_ctx))
        }
    };
    let mut message = [0u8; 64];
    message[..32].copy_from_slice(&Sha256::digest(jcs::canonicalize_object(
        proof,
        "proofValue",
        None,
    )));
    // The proof's @context replaces the document's in the hashed form; usually it is the same.
    let unchanged = context.is_none_or(|(k, v)| obj.get(k) == Some(v));
    let span = canonical
        .filter(|_| unchanged)
        .and_then(|c| Some((c, jcs::member_span(c, "proof")?)));
    let doc_hash = match span {
        Some((c, span)) => Sha256::new()
            .chain_update(&c[..span.start])
            .chain_update(&c[span.end..])
            .finalize(),
        None => Sha256::digest(jcs::canonicalize_object(obj, "proof", context)),
    };
    message[32..].copy_from_slice(&doc_hash);
    Ok(Prepared {
        key,
        created,
        expires,
        message,
        signature,
    })
}

fn context_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Verifies many prepared proofs at once; one result per input, in order. A failing batch is
/// re-checked one by one, so the answer is always the `verify_strict` answer for each proof.
pub fn verify_batch(items: &[&Prepared]) -> Vec<bool> {
    if items.len() < 2 {
        return items.iter().map(|p| p.verify()).collect();
    }
    let messages: Vec<&[u8]> = items.iter().map(|p| &p.message[..]).collect();
    let signatures: Vec<Signature> = items.iter().map(|p| p.signature).collect();
    let keys: Vec<_> = items.iter().map(|p| *p.key.verifying_key()).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        // The batch equation is cofactored, verify_strict's is not. They agree whenever R and A
        // have no torsion component: DidKey only admits torsion-free keys; R is checked for small
        // order here, and every extraction re-verifies with verify_strict.
        items
            .iter()
            .map(|p| strict_components(&p.signature))
            .collect()
    } else {
        items.iter().map(|p| p.verify()).collect()
    }
}

/// R decompresses to a point that is not of small order, and s is a canonical scalar: the
/// checks `verify_strict` makes beyond the equation. (A torsion-free check of R would make batch
/// and strict agree even on signatures with a mixed-order R, but costs more than `verify_strict`
/// itself; see docs/DECISIONS.md.)
fn strict_components(sig: &Signature) -> bool {
    let r_ok = CompressedEdwardsY(*sig.r_bytes())
        .decompress()
        .is_some_and(|r| !r.is_small_order());
    let s_ok = bool::from(Scalar::from_canonical_bytes(*sig.s_bytes()).is_some());
    r_ok && s_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer;

    /// The W3C vectors, vendored in fixtures/ (and compared with the shared copy when present).
    fn conformance(name: &str) -> String {
        let path = format!(
            "{}/fixtures/conformance/eddsa-jcs-2022/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn prepare_canonical_hashes_what_prepare_hashes() {
        let signed = jcs::parse(conformance("signedJCS.json").as_bytes()).unwrap();
        let fixtures = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/licences"))
            .unwrap()
            .map(|e| jcs::parse(&std::fs::read(e.unwrap().path()).unwrap()).unwrap());
        // The last one's proof @context differs from the document's: the fallback path.
        let mut other_context = signed.clone();
        let mut ctx = other_context["proof"]["@context"]
            .as_array()
            .unwrap()
            .clone();
        ctx.push("urn:x".into());
        other_context["@context"] = ctx.into();
        let mut n = 0;
        for doc in std::iter::once(signed)
            .chain(fixtures)
            .chain([other_context])
        {
            let canonical = jcs::canonicalize(&doc);
            let a = prepare(&doc).unwrap();
            let b = prepare_canonical(&doc, &canonical).unwrap();
            assert_eq!(a.message, b.message);
            n += 1;
        }
        assert!(n > 30, "{n} documents");
    }

    #[test]
    fn vendored_vectors_match_the_shared_ones() {
        let shared = format!(
            "{}/../shared/conformance/eddsa-jcs-2022",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(entries) = std::fs::read_dir(&shared) else {
            // Not every checkout has the shared directory beside it; the vendored copy is the input.
            return;
        };
        let mut n = 0;
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            assert_eq!(
                std::fs::read_to_string(e.path()).unwrap(),
                conformance(&name),
                "{name}"
            );
            n += 1;
        }
        assert_eq!(n, 11);
    }

    #[test]
    fn reproduces_the_w3c_vectors_exactly() {
        let unsigned = jcs::parse(conformance("unsigned.json").as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(jcs::canonicalize(&unsigned)).unwrap(),
            conformance("canonDocJCS.txt").trim()
        );
        let config = jcs::parse(conformance("proofConfigJCS.json").as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(jcs::canonicalize(&config)).unwrap(),
            conformance("proofCanonJCS.txt").trim()
        );
        let hd = hash_data(config.as_object().unwrap(), &jcs::canonicalize(&unsigned));
        assert_eq!(hex::encode(&hd[32..]), conformance("docHashJCS.txt").trim());
        assert_eq!(
            hex::encode(&hd[..32]),
            conformance("proofHashJCS.txt").trim()
        );
        assert_eq!(hex::encode(hd), conformance("combinedHashJCS.txt").trim());

        let kp = jcs::parse(conformance("keyPair.json").as_bytes()).unwrap();
        let signer =
            Signer::from_private_multibase(kp["privateKeyMultibase"].as_str().unwrap()).unwrap();
        let created = parse_time("2023-02-24T23:36:38Z").unwrap();
        let signed = sign(unsigned.clone(), &signer, created).unwrap();
        assert_eq!(
            hex::encode(signer.sign(&hd).to_bytes()),
            conformance("sigHexJCS.txt").trim()
        );
        assert_eq!(
            signed["proof"]["proofValue"],
            conformance("sigBTC58JCS.txt").trim()
        );
        let expected = jcs::parse(conformance("signedJCS.json").as_bytes()).unwrap();
        assert_eq!(signed, expected);
        assert!(prepare(&expected).unwrap().verify());
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let signed = jcs::parse(conformance("signedJCS.json").as_bytes()).unwrap();
        let mut t = signed.clone();
        t["name"] = "Forged Credential".into();
        assert!(!prepare(&t).unwrap().verify());
        let mut t = signed.clone();
        t["proof"]["created"] = "2023-02-24T23:36:39Z".into();
        assert!(!prepare(&t).unwrap().verify());
        let mut t = signed;
        t["@context"] = serde_json::json!(["https://www.w3.org/ns/credentials/v2"]);
        assert_eq!(prepare(&t).unwrap_err().field(), "$.proof.@context");
    }

    #[test]
    fn batch_matches_one_by_one() {
        let signed = jcs::parse(conformance("signedJCS.json").as_bytes()).unwrap();
        let good = prepare(&signed).unwrap();
        let mut t = signed.clone();
        t["name"] = "x".into();
        let bad = prepare(&t).unwrap();
        assert_eq!(verify_batch(&[&good, &good, &good]), vec![true, true, true]);
        assert_eq!(verify_batch(&[&good, &bad, &good]), vec![true, false, true]);
    }

    #[test]
    fn malformed_proofs_name_their_field() {
        let signed = jcs::parse(conformance("signedJCS.json").as_bytes()).unwrap();
        for (field, value, path) in [
            ("type", Value::from("Ed25519Signature2020"), "$.proof.type"),
            (
                "cryptosuite",
                Value::from("eddsa-rdfc-2022"),
                "$.proof.cryptosuite",
            ),
            (
                "proofPurpose",
                Value::from("authentication"),
                "$.proof.proofPurpose",
            ),
            ("created", Value::from("yesterday"), "$.proof.created"),
            (
                "verificationMethod",
                Value::from("did:web:x#k"),
                "$.proof.verificationMethod",
            ),
            ("proofValue", Value::from("zabc"), "$.proof.proofValue"),
            ("proofValue", Value::from(12), "$.proof.proofValue"),
        ] {
            let mut t = signed.clone();
            t["proof"][field] = value;
            assert_eq!(prepare(&t).unwrap_err().field(), path, "{field}");
        }
        let mut t = signed;
        t.as_object_mut().unwrap().remove("proof");
        assert_eq!(prepare(&t).unwrap_err(), ProofError::Missing);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_byte_flip_in_the_document_breaks_the_proof(pos in 0usize..200, bit in 0u8..8) {
            let text = conformance("signedJCS.json");
            let bytes = text.as_bytes();
            // Flip a bit inside the document's text values (before the proof block).
            let end = text.find("\"proof\"").unwrap();
            let pos = pos % end;
            let mut b = bytes.to_vec();
            b[pos] ^= 1 << bit;
            if let Ok(v) = jcs::parse(&b) {
                if v != jcs::parse(bytes).unwrap() {
                    let ok = prepare(&v).map(|p| p.verify()).unwrap_or(false);
                    proptest::prop_assert!(!ok);
                }
            }
        }
    }
}
