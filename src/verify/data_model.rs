//! The rules of the W3C VC 2.0 data model that a document's JSON shows, for credentials and
//! presentations: what `sign` refuses and what the verifiers report as the `data_model` check.
//!
//! The vault is not a JSON-LD processor and never fetches a context. It knows the base context
//! (its terms and that they are protected) and the W3C examples context, and reads the term
//! definitions of contexts embedded as objects; any other context URL is refused, since it
//! could not be processed. Terms the contexts do not define map to the base context's
//! issuer-dependent vocabulary, unless a context turns `@vocab` off (DECISIONS: "The VC 2.0 data
//! model, checked without JSON-LD").

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::licence::VC_CONTEXT;
use crate::verdict::{Reason, Rejection};

/// The W3C examples context: it maps every term to the examples vocabulary.
pub const EXAMPLES_CONTEXT: &str = "https://www.w3.org/ns/credentials/examples/v2";

/// The terms the base context defines, all protected: a context may not redefine them.
const BASE_TERMS: &[&str] = &[
    "id",
    "type",
    "description",
    "digestMultibase",
    "digestSRI",
    "mediaType",
    "name",
    "VerifiableCredential",
    "EnvelopedVerifiableCredential",
    "VerifiablePresentation",
    "EnvelopedVerifiablePresentation",
    "JsonSchemaCredential",
    "JsonSchema",
    "BitstringStatusListCredential",
    "BitstringStatusList",
    "BitstringStatusListEntry",
    "DataIntegrityProof",
    // Scoped to credentials and presentations, and protected there.
    "confidenceMethod",
    "credentialSchema",
    "credentialStatus",
    "credentialSubject",
    "evidence",
    "holder",
    "issuer",
    "proof",
    "refreshService",
    "relatedResource",
    "renderMethod",
    "termsOfUse",
    "validFrom",
    "validUntil",
    "verifiableCredential",
];

/// The members of a credential whose values are typed objects (VC 2.0 §4.5): each object, or
/// each of a list, must name its type.
const TYPED_MEMBERS: &[&str] = &[
    "credentialStatus",
    "termsOfUse",
    "evidence",
    "refreshService",
    "credentialSchema",
];

type Checked = Result<(), Rejection>;

fn bad(field: impl Into<String>, message: impl Into<String>) -> Checked {
    Err(Rejection::new(Reason::SchemaViolation, field, message))
}

/// A URL as the data model means it: a scheme, then something, with no white space or
/// characters that never appear in a URL.
pub fn is_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(c))
}

/// The active context of a document, as far as the data model's rules need it.
#[derive(Debug, Default)]
struct Context {
    /// Terms defined by embedded contexts, with the IRI each maps to.
    terms: HashMap<String, String>,
    /// Terms no later context may redefine.
    protected: HashSet<String>,
    /// Undefined terms map to a vocabulary.
    vocab: bool,
}

impl Context {
    /// Reads `@context`: a list whose first item is the base context, then known context URLs
    /// and embedded contexts.
    fn read(doc: &Map<String, Value>) -> Result<Self, Rejection> {
        let Some(list) = doc.get("@context").and_then(Value::as_array) else {
            return Err(Rejection::new(
                Reason::SchemaViolation,
                "$.@context",
                format!("must be a list whose first item is {VC_CONTEXT}"),
            ));
        };
        if list.first().and_then(Value::as_str) != Some(VC_CONTEXT) {
            return Err(Rejection::new(
                Reason::SchemaViolation,
                "$.@context",
                format!("must be a list whose first item is {VC_CONTEXT}"),
            ));
        }
        let mut ctx = Context {
            protected: BASE_TERMS.iter().map(|t| (*t).to_owned()).collect(),
            // The base context's undefined terms are issuer-dependent (VC 2.0 §5.2).
            vocab: true,
            ..Context::default()
        };
        for (i, item) in list.iter().enumerate().skip(1) {
            let field = format!("$.@context[{i}]");
            match item {
                Value::String(url) if url == VC_CONTEXT => {
                    return Err(Rejection::new(
                        Reason::SchemaViolation,
                        field,
                        "the base context comes once, first",
                    ))
                }
                Value::String(url) if url == EXAMPLES_CONTEXT => ctx.vocab = true,
                Value::String(url) if is_url(url) => {
                    return Err(Rejection::new(
                        Reason::SchemaViolation,
                        field,
                        format!(
                            "{url} is not a context this vault knows (contexts are never fetched)"
                        ),
                    ))
                }
                Value::String(_) => {
                    return Err(Rejection::new(
                        Reason::SchemaViolation,
                        field,
                        "a context is a URL or an object",
                    ))
                }
                Value::Object(defs) => ctx.embed(defs, &field)?,
                _ => {
                    return Err(Rejection::new(
                        Reason::SchemaViolation,
                        field,
                        "a context is a URL or an object",
                    ))
                }
            }
        }
        Ok(ctx)
    }

    /// Takes the term definitions of an embedded context.
    fn embed(&mut self, defs: &Map<String, Value>, field: &str) -> Checked {
        let protect = defs.get("@protected") == Some(&Value::Bool(true));
        for (term, def) in defs {
            match term.as_str() {
                "@protected" | "@version" => continue,
                "@vocab" => {
                    match def {
                        Value::Null => self.vocab = false,
                        Value::String(v) if is_url(v) => self.vocab = true,
                        _ => return bad(format!("{field}.@vocab"), "must be a URL or null"),
                    }
                    continue;
                }
                t if t.starts_with('@') => {
                    return bad(format!("{field}.{t}"), "not a keyword this vault processes")
                }
                _ => {}
            }
            if self.protected.contains(term) {
                return bad(
                    format!("{field}.{term}"),
                    format!("redefines the protected term {term}"),
                );
            }
            let iri = match def {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("@id").and_then(Value::as_str),
                _ => None,
            };
            match iri {
                Some(iri) if is_url(iri) => {
                    self.terms.insert(term.clone(), iri.to_owned());
                }
                _ => return bad(format!("{field}.{term}"), "a term must map to a URL"),
            }
            if protect {
                self.protected.insert(term.clone());
            }
        }
        Ok(())
    }

    /// Whether a type value is a URL or a term the context maps to one.
    fn maps(&self, ty: &str) -> bool {
        if ty.contains(':') {
            return is_url(ty);
        }
        self.terms.contains_key(ty) || BASE_TERMS.contains(&ty) || self.vocab
    }

    /// A `type` member: one or more mapped types, including `required` when given.
    fn types(&self, value: Option<&Value>, field: &str, required: Option<&str>) -> Checked {
        let list: Vec<&Value> = match value {
            Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
            Some(v @ Value::String(_)) => vec![v],
            None => return bad(field, "is required"),
            _ => return bad(field, "must be a type or a non-empty list of types"),
        };
        for (i, t) in list.iter().enumerate() {
            match t.as_str() {
                Some(t) if self.maps(t) => {}
                Some(t) => {
                    return bad(
                        format!("{field}[{i}]"),
                        format!("{t} is neither a URL nor a term the @context maps to one"),
                    )
                }
                None => return bad(format!("{field}[{i}]"), "a type is a string"),
            }
        }
        if let Some(r) = required {
            if !list.iter().any(|t| t.as_str() == Some(r)) {
                return bad(field, format!("must name {r}"));
            }
        }
        Ok(())
    }
}

/// An optional `id`: one URL.
fn id(obj: &Map<String, Value>, field: &str) -> Checked {
    match obj.get("id") {
        None => Ok(()),
        Some(Value::String(s)) if is_url(s) => Ok(()),
        Some(_) => bad(format!("{field}.id"), "must be a single URL"),
    }
}

/// `name` or `description`: a string, a language value object, or a list of those (VC 2.0 §4.6,
/// §11.1).
fn language_values(obj: &Map<String, Value>, field: &str) -> Checked {
    for member in ["name", "description"] {
        let Some(v) = obj.get(member) else { continue };
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for item in items {
            let ok = match item {
                Value::String(_) => true,
                Value::Object(o) => {
                    o.get("@value").is_some_and(Value::is_string)
                        && o.get("@language").is_none_or(Value::is_string)
                        && o.get("@direction")
                            .is_none_or(|d| matches!(d.as_str(), Some("ltr" | "rtl")))
                        && o.keys()
                            .all(|k| matches!(k.as_str(), "@value" | "@language" | "@direction"))
                }
                _ => false,
            };
            if !ok {
                return bad(
                    format!("{field}.{member}"),
                    "must be a string or a language value object (@value, @language, @direction only)",
                );
            }
        }
    }
    Ok(())
}

/// A member whose value is one object or a non-empty list of objects.
fn objects<'a>(v: &'a Value, field: &str) -> Result<Vec<&'a Map<String, Value>>, Rejection> {
    let items: Vec<&Value> = match v {
        Value::Array(a) if !a.is_empty() => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => {
            return Err(Rejection::new(
                Reason::SchemaViolation,
                field,
                "must be an object or a non-empty list of objects",
            ))
        }
    };
    items
        .into_iter()
        .map(|i| {
            i.as_object().ok_or_else(|| {
                Rejection::new(
                    Reason::SchemaViolation,
                    field,
                    "must be an object or a non-empty list of objects",
                )
            })
        })
        .collect()
}

/// An XML Schema `dateTimeStamp`: `YYYY-MM-DDThh:mm:ss(.s+)?` and a time zone (`Z` or `±hh:mm`).
pub fn is_date_time_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let zone_ok = rest == "Z" || {
        let z = rest.as_bytes();
        z.len() == 6
            && matches!(z[0], b'+' | b'-')
            && z[1..3].iter().all(u8::is_ascii_digit)
            && z[3] == b':'
            && z[4..6].iter().all(u8::is_ascii_digit)
    };
    zone_ok && crate::proof::parse_time(s).is_some()
}

/// `validFrom` and `validUntil`: date-time stamps, the first not after the second.
fn validity(obj: &Map<String, Value>) -> Checked {
    let mut times = [None, None];
    for (slot, name) in times.iter_mut().zip(["validFrom", "validUntil"]) {
        match obj.get(name) {
            None => {}
            Some(Value::String(s)) if is_date_time_stamp(s) => *slot = crate::proof::parse_time(s),
            Some(_) => {
                return bad(
                    format!("$.{name}"),
                    "must be an XML Schema dateTimeStamp (e.g. 2026-01-01T00:00:00Z)",
                )
            }
        }
    }
    match times {
        [Some(from), Some(until)] if from > until => bad("$.validUntil", "is before validFrom"),
        _ => Ok(()),
    }
}

/// `relatedResource` (VC 2.0 §5.3): objects, each with a unique URL `id` and a well-formed
/// `digestSRI` or `digestMultibase`. Whether a digest matches the resource is not judged here:
/// the vault never fetches one.
fn related_resources(obj: &Map<String, Value>) -> Checked {
    let Some(v) = obj.get("relatedResource") else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for (i, r) in objects(v, "$.relatedResource")?.into_iter().enumerate() {
        let field = format!("$.relatedResource[{i}]");
        match r.get("id").and_then(Value::as_str) {
            Some(id) if is_url(id) => {
                if !seen.insert(id) {
                    return bad(format!("{field}.id"), format!("{id} is listed twice"));
                }
            }
            _ => return bad(format!("{field}.id"), "is required, a URL"),
        }
        let sri = r.get("digestSRI");
        let multibase = r.get("digestMultibase");
        if sri.is_none() && multibase.is_none() {
            return bad(&field, "must have digestSRI or digestMultibase");
        }
        if let Some(s) = sri {
            if !s.as_str().is_some_and(is_sri) {
                return bad(
                    format!("{field}.digestSRI"),
                    "must be sha256-, sha384- or sha512- and the digest in base64",
                );
            }
        }
        if let Some(m) = multibase {
            if !m.as_str().is_some_and(is_digest_multibase) {
                return bad(
                    format!("{field}.digestMultibase"),
                    "must be a multibase (u or z) digest of 32, 48 or 64 bytes",
                );
            }
        }
    }
    Ok(())
}

fn is_sri(s: &str) -> bool {
    use base64::Engine as _;
    let Some((alg, digest)) = s.split_once('-') else {
        return false;
    };
    let len = match alg {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => return false,
    };
    base64::engine::general_purpose::STANDARD
        .decode(digest)
        .is_ok_and(|d| d.len() == len)
}

fn is_digest_multibase(s: &str) -> bool {
    use base64::Engine as _;
    let bytes = if let Some(b) = s.strip_prefix('u') {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b)
            .ok()
    } else if s.starts_with('z') {
        crate::keys::multibase_decode(s).ok()
    } else {
        None
    };
    // A bare digest, or a multihash of one (code and length first).
    bytes.is_some_and(|d| matches!(d.len(), 32 | 48 | 64 | 34 | 50 | 66))
}

/// The rules of a verifiable credential (VC 2.0 §4): `@context`, `type` with
/// `VerifiableCredential`, `id`, `issuer` (a URL, or an object with one as `id`), `name` and
/// `description`, `credentialSubject` (objects with at least one claim each), the typed members,
/// `validFrom` and `validUntil`, `relatedResource`.
pub fn credential(doc: &Value) -> Checked {
    let Some(obj) = doc.as_object() else {
        return bad("$", "a credential is a JSON object");
    };
    let ctx = Context::read(obj)?;
    ctx.types(obj.get("type"), "$.type", Some("VerifiableCredential"))?;
    id(obj, "$")?;
    language_values(obj, "$")?;
    match obj.get("issuer") {
        Some(Value::String(s)) if is_url(s) => {}
        Some(Value::Object(i)) if i.get("id").and_then(Value::as_str).is_some_and(is_url) => {
            language_values(i, "$.issuer")?;
        }
        _ => return bad("$.issuer", "must be a URL, or an object whose id is a URL"),
    }
    let subjects = obj
        .get("credentialSubject")
        .ok_or_else(|| {
            Rejection::new(
                Reason::SchemaViolation,
                "$.credentialSubject",
                "is required",
            )
        })
        .and_then(|s| objects(s, "$.credentialSubject"))?;
    for (i, s) in subjects.into_iter().enumerate() {
        let field = format!("$.credentialSubject[{i}]");
        if s.is_empty() {
            return bad(field, "must make at least one claim");
        }
        id(s, &field)?;
    }
    for member in TYPED_MEMBERS {
        let Some(v) = obj.get(*member) else { continue };
        for (i, o) in objects(v, &format!("$.{member}"))?.into_iter().enumerate() {
            let field = format!("$.{member}[{i}]");
            ctx.types(o.get("type"), &format!("{field}.type"), None)?;
            id(o, &field)?;
            if *member == "credentialSchema" && !o.contains_key("id") {
                return bad(format!("{field}.id"), "is required: the URL of the schema");
            }
        }
    }
    validity(obj)?;
    related_resources(obj)
}

/// The rules of a verifiable presentation (VC 2.0 §4.13): `@context`, `type` with
/// `VerifiablePresentation`, `id`, `holder` (a URL, or an object with one as `id`), and
/// `verifiableCredential` as objects only. Each credential is judged on its own.
pub fn presentation(doc: &Value) -> Checked {
    let Some(obj) = doc.as_object() else {
        return bad("$", "a presentation is a JSON object");
    };
    let ctx = Context::read(obj)?;
    ctx.types(obj.get("type"), "$.type", Some("VerifiablePresentation"))?;
    id(obj, "$")?;
    match obj.get("holder") {
        None => {}
        Some(Value::String(s)) if is_url(s) => {}
        Some(Value::Object(h)) if h.get("id").and_then(Value::as_str).is_some_and(is_url) => {}
        Some(_) => return bad("$.holder", "must be a URL, or an object whose id is a URL"),
    }
    if let Some(v) = obj.get("verifiableCredential") {
        objects(v, "$.verifiableCredential")?;
    }
    Ok(())
}

/// The credentials a presentation carries (none, one, or a list).
pub fn presented_credentials(doc: &Value) -> Vec<&Value> {
    match doc.get("verifiableCredential") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "@context": [VC_CONTEXT],
            "type": ["VerifiableCredential"],
            "issuer": "did:example:issuer",
            "credentialSubject": {"id": "did:example:subject"}
        })
    }

    fn with(f: impl FnOnce(&mut Value)) -> Value {
        let mut v = base();
        f(&mut v);
        v
    }

    /// Each broken credential fails at the field named.
    #[test]
    fn each_rule_names_its_field() {
        let cases: Vec<(Value, &str)> = vec![
            (
                with(|v| v["@context"] = json!([VC_CONTEXT, "https ://not-a-url/v1"])),
                "$.@context[1]",
            ),
            (
                with(|v| v["@context"] = json!([VC_CONTEXT, 123192875])),
                "$.@context[1]",
            ),
            (
                with(|v| v["@context"] = json!([VC_CONTEXT, "https://example.com"])),
                "$.@context[1]",
            ),
            (
                with(|v| v["@context"] = json!([EXAMPLES_CONTEXT, VC_CONTEXT])),
                "$.@context",
            ),
            (with(|v| v["id"] = Value::Null), "$.id"),
            (
                with(|v| v["id"] = json!(["https://a.example/1", "https://b.example/1"])),
                "$.id",
            ),
            (
                with(|v| v["id"] = json!("https ://not-a-url/vcs/1")),
                "$.id",
            ),
            (
                with(|v| v["credentialSubject"]["id"] = json!(["did:example:1", "did:example:2"])),
                "$.credentialSubject[0].id",
            ),
            (
                with(|v| v["credentialSubject"] = json!({})),
                "$.credentialSubject[0]",
            ),
            (
                with(|v| v["credentialSubject"] = json!([{"id": "did:example:1"}, {}])),
                "$.credentialSubject[1]",
            ),
            (
                with(|v| {
                    v.as_object_mut().unwrap().remove("credentialSubject");
                }),
                "$.credentialSubject",
            ),
            (
                with(|v| {
                    v.as_object_mut().unwrap().remove("type");
                }),
                "$.type",
            ),
            (
                with(|v| v["type"] = json!(["RelationshipCredential"])),
                "$.type",
            ),
            (with(|v| v["issuer"] = Value::Null), "$.issuer"),
            (with(|v| v["issuer"] = json!("not a url")), "$.issuer"),
            (with(|v| v["issuer"] = json!({"id": null})), "$.issuer"),
            (
                with(|v| {
                    v["issuer"] =
                        json!({"id": "did:example:i", "name": {"@value": "x", "url": "y"}})
                }),
                "$.issuer.name",
            ),
            (
                with(|v| v["name"] = json!({"@value": "x", "@language": "en", "url": "y"})),
                "$.name",
            ),
            (
                with(|v| v["description"] = json!([{"@value": "x"}, 3])),
                "$.description",
            ),
            (
                with(|v| v["credentialStatus"] = json!({"id": "did:example:s"})),
                "$.credentialStatus[0].type",
            ),
            (
                with(|v| v["credentialStatus"] = json!({"type": 2})),
                "$.credentialStatus[0].type",
            ),
            (
                with(|v| {
                    v["credentialStatus"] =
                        json!({"type": "https://example.org/#S", "id": "https ://x/4"})
                }),
                "$.credentialStatus[0].id",
            ),
            (
                with(|v| {
                    v["credentialStatus"] =
                        json!({"type": "https://example.org/#S", "id": ["did:a:1", "did:a:2"]})
                }),
                "$.credentialStatus[0].id",
            ),
            (
                with(|v| v["termsOfUse"] = json!({"id": "did:example:t"})),
                "$.termsOfUse[0].type",
            ),
            (
                with(|v| {
                    v["evidence"] =
                        json!([{"type": "https://example.org/#E"}, {"id": "https://e.example"}])
                }),
                "$.evidence[1].type",
            ),
            (
                with(|v| v["refreshService"] = json!({"url": "https://r.example"})),
                "$.refreshService[0].type",
            ),
            (
                with(|v| v["credentialSchema"] = json!({"id": "https://s.example"})),
                "$.credentialSchema[0].type",
            ),
            (
                with(|v| v["credentialSchema"] = json!({"type": "https://example.org/#J"})),
                "$.credentialSchema[0].id",
            ),
            (
                with(|v| {
                    v["credentialSchema"] = json!({"type": "https://example.org/#J", "id": 5})
                }),
                "$.credentialSchema[0].id",
            ),
            (
                with(|v| v["validFrom"] = json!("Sat 25 Feb 2023 07:16:31 PM CST")),
                "$.validFrom",
            ),
            (
                with(|v| v["validUntil"] = json!("2023-02-26 01:20:18Z")),
                "$.validUntil",
            ),
            (
                with(|v| {
                    v["validFrom"] = json!("2027-01-01T00:00:00Z");
                    v["validUntil"] = json!("2025-01-01T00:00:00Z");
                }),
                "$.validUntil",
            ),
            (
                with(|v| v["relatedResource"] = json!(["https://www.w3.org/ns/credentials/v2"])),
                "$.relatedResource",
            ),
            (
                with(|v| {
                    v["relatedResource"] =
                        json!([{"digestMultibase": "uJKGMkOmFbVJhEfKTduMC2XCyvRAYLjOVmZWwIH1wQ7k"}])
                }),
                "$.relatedResource[0].id",
            ),
            (
                with(
                    |v| v["relatedResource"] = json!([{"id": "https://r.example/a", "digestMultibase": "uJKGMkOmFbVJhEfKTduMC2XCyvRAYLjOVmZWwIH1wQ7k"}, {"id": "https://r.example/a", "digestMultibase": "uJKGMkOmFbVJhEfKTduMC2XCyvRAYLjOVmZWwIH1wQ7k"}]),
                ),
                "$.relatedResource[1].id",
            ),
            (
                with(|v| v["relatedResource"] = json!([{"id": "https://r.example/a"}])),
                "$.relatedResource[0]",
            ),
            (
                with(
                    |v| v["relatedResource"] = json!([{"id": "https://r.example/a", "digestSRI": "sha384-_rCVIV7fSXXTNIvpiq26jRDyj8JG8TDjij-tD0ewLk4JpnXEz6a5AeeY_1qQ0d0P"}]),
                ),
                "$.relatedResource[0].digestSRI",
            ),
            (
                with(|v| {
                    v["@context"] =
                        json!([VC_CONTEXT, {"VerifiableCredential": "https://example.org/#Bad"}])
                }),
                "$.@context[1].VerifiableCredential",
            ),
            (
                with(|v| {
                    v["@context"] = json!([VC_CONTEXT, {"@protected": true, "X": "https://example.org/#X"}, {"X": "https://example.org/#Y"}]);
                    v["type"] = json!(["VerifiableCredential", "X"]);
                }),
                "$.@context[2].X",
            ),
            (
                with(|v| {
                    v["@context"] = json!([VC_CONTEXT, {"X": "https ://not-a-url#X"}]);
                    v["type"] = json!(["VerifiableCredential", "X"]);
                }),
                "$.@context[1].X",
            ),
            (
                with(|v| {
                    v["@context"] = json!([VC_CONTEXT, {"@vocab": null}]);
                    v["type"] = json!(["VerifiableCredential", "ExampleTestCredential"]);
                }),
                "$.type[1]",
            ),
        ];
        for (doc, field) in cases {
            let r = credential(&doc).expect_err(&doc.to_string());
            assert_eq!(
                (r.reason, r.field.as_str()),
                (Reason::SchemaViolation, field),
                "{doc}: {}",
                r.message
            );
        }
    }

    #[test]
    fn what_the_model_allows_passes() {
        let ok: Vec<Value> = vec![
            base(),
            with(|v| v["@context"] = json!([VC_CONTEXT, EXAMPLES_CONTEXT])),
            with(|v| {
                v["@context"] = json!([VC_CONTEXT, {"T": "https://example.org/#T"}]);
                v["type"] = json!(["T", "VerifiableCredential"]);
            }),
            with(|v| v["type"] = json!(["https://example.org/#C", "VerifiableCredential"])),
            with(|v| v["id"] = json!("urn:uuid:9a1b2c3d-0000-4000-8000-000000000000")),
            with(
                |v| v["issuer"] = json!({"id": "did:example:i", "name": [{"@value": "Dog", "@language": "en"}, {"@value": "Chien", "@language": "fr", "@direction": "ltr"}], "description": "d"}),
            ),
            with(|v| v["credentialSubject"] = json!([{"id": "did:example:1"}, {"name": "Alice"}])),
            with(|v| v["credentialStatus"] = json!({"type": "BitstringStatusListEntry"})),
            with(|v| {
                v["termsOfUse"] =
                    json!([{"type": "https://example.org/#P", "id": "did:example:terms/1"}])
            }),
            with(
                |v| v["credentialSchema"] = json!([{"type": "JsonSchema", "id": "https://s.example/1"}, {"type": "JsonSchema", "id": "https://s.example/2"}]),
            ),
            with(|v| {
                v["validFrom"] = json!("2023-02-25T19:10:39-06:00");
                v["validUntil"] = json!("2023-02-26T01:20:18.477Z");
            }),
            with(
                |v| v["relatedResource"] = json!([{"id": "https://www.w3.org/ns/credentials/v2", "mediaType": "application/ld+json", "digestSRI": "sha384-NSOcNpmdIVUxIJGvGUoe22FjTWrXiaXlsZ8q6912LdnR3KraQO2n75Ica4wK4Qeg"}]),
            ),
            with(
                |v| v["relatedResource"] = json!({"id": "https://www.w3.org/ns/credentials/v2", "digestMultibase": "uJKGMkOmFbVJhEfKTduMC2XCyvRAYLjOVmZWwIH1wQ7k"}),
            ),
        ];
        for doc in ok {
            assert_eq!(credential(&doc), Ok(()), "{doc}");
        }
    }

    #[test]
    fn presentations_follow_their_own_rules() {
        let vp = json!({"@context": [VC_CONTEXT], "type": ["VerifiablePresentation"], "holder": {"id": "did:example:h"}});
        assert_eq!(presentation(&vp), Ok(()));
        for (change, field) in [
            (json!({"type": ["VerifiableCredential"]}), "$.type"),
            (
                json!({"@context": [EXAMPLES_CONTEXT, VC_CONTEXT]}),
                "$.@context",
            ),
            (
                json!({"@context": [VC_CONTEXT, "https://example.com"]}),
                "$.@context[1]",
            ),
            (json!({"holder": {"name": "x"}}), "$.holder"),
            (
                json!({"verifiableCredential": ["https://example.com/vc/1"]}),
                "$.verifiableCredential",
            ),
        ] {
            let mut v = vp.clone();
            for (k, x) in change.as_object().unwrap() {
                v[k] = x.clone();
            }
            let r = presentation(&v).unwrap_err();
            assert_eq!(r.field, field, "{v}");
        }
        let mut v = vp.clone();
        v.as_object_mut().unwrap().remove("@context");
        assert_eq!(presentation(&v).unwrap_err().field, "$.@context");
    }

    #[test]
    fn date_time_stamps_are_strict() {
        for ok in [
            "2023-02-25T19:10:39Z",
            "2023-02-25T19:10:39.5-06:00",
            "2023-02-25T19:10:39+08:00",
        ] {
            assert!(is_date_time_stamp(ok), "{ok}");
        }
        for bad in [
            "2023-02-25 19:10:39Z",
            "2023-02-25T19:10:39",
            "2023-02-25t19:10:39z",
            "2023-02-25T19:10:39.Z",
            "2023-02-30T00:00:00Z",
            "Sat 25 Feb 2023 07:16:31 PM CST",
        ] {
            assert!(!is_date_time_stamp(bad), "{bad}");
        }
    }
}
