//! DCQL, the Digital Credentials Query Language of OpenID4VP 1.0 (§6), as far as the vault speaks
//! it: credential queries of format `ldp_vc`, each with `meta.type_values` and optional `claims`
//! (paths, with `values` to match). Pure: parsing, the query a matter stands for, and matching a
//! credential against a query.
//!
//! Types are compared by name and by full URL alike: `ElectronicLicence` and
//! `https://www.w3.org/ns/credentials/issuer-dependent#ElectronicLicence` (the base context's
//! `@vocab`) are one type, as are `VerifiableCredential` and its URL in the credentials vocabulary.
//! What the vault does not speak (`credential_sets`, `claim_sets`, `trusted_authorities`, other
//! formats) is refused by name, never ignored: a verifier must not think a condition was applied.

use serde_json::{json, Map, Value};

use crate::licence::LICENCE_TYPE;
use crate::registry::Matter;
use crate::verdict::{Reason, Rejection};

/// The one credential format the vault presents.
pub const LDP_VC: &str = "ldp_vc";
/// The most credential queries a DCQL query may hold here.
pub const MAX_CREDENTIALS: usize = 16;
/// The most claims one credential query may name.
pub const MAX_CLAIMS: usize = 64;

const ISSUER_DEPENDENT: &str = "https://www.w3.org/ns/credentials/issuer-dependent#";
const CREDENTIALS_VOCAB: &str = "https://www.w3.org/2018/credentials#";

/// One element of a claim path: a member, an array index, or every element (`null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Member(String),
    Index(usize),
    All,
}

/// A claim a credential query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimQuery {
    pub path: Vec<Step>,
    /// The path as the query wrote it (for answers).
    pub path_json: Value,
    /// If given, the claim must have one of these values.
    pub values: Option<Vec<Value>>,
}

/// One credential query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialQuery {
    pub id: String,
    /// Alternatives: a credential matches when its types include every type of one of them.
    pub type_values: Vec<Vec<String>>,
    /// Absent: the whole credential is asked for.
    pub claims: Option<Vec<ClaimQuery>>,
    pub multiple: bool,
    /// DCQL's `require_cryptographic_holder_binding` (default `true`): the presenter must be shown
    /// to be the credential's holder, not merely someone with a copy.
    pub require_binding: bool,
}

/// A DCQL query the vault can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcqlQuery {
    pub credentials: Vec<CredentialQuery>,
    /// The query as given, for the request object.
    pub json: Value,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> Rejection {
    Rejection::new(Reason::InvalidRequest, field, message)
}

fn only_members(o: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), Rejection> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(bad(
            format!("{at}.{k}"),
            format!(
                "{k} is not supported here; the vault answers only {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// The type's name whether written as a name or a URL of the two vocabularies.
pub fn type_name(t: &str) -> &str {
    t.strip_prefix(ISSUER_DEPENDENT)
        .or_else(|| t.strip_prefix(CREDENTIALS_VOCAB))
        .unwrap_or(t)
}

impl DcqlQuery {
    /// Parses a DCQL query (`at`: where it is in the request, for errors).
    pub fn parse(v: &Value, at: &str) -> Result<Self, Rejection> {
        let o = v
            .as_object()
            .ok_or_else(|| bad(at, "a DCQL query is an object"))?;
        only_members(o, &["credentials"], at)?;
        let list = o
            .get("credentials")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty() && l.len() <= MAX_CREDENTIALS)
            .ok_or_else(|| {
                bad(
                    format!("{at}.credentials"),
                    format!("1 to {MAX_CREDENTIALS} credential queries"),
                )
            })?;
        let mut credentials: Vec<CredentialQuery> = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let at = format!("{at}.credentials[{i}]");
            let q = CredentialQuery::parse(c, &at)?;
            if credentials.iter().any(|x| x.id == q.id) {
                return Err(bad(format!("{at}.id"), format!("{} is used twice", q.id)));
            }
            credentials.push(q);
        }
        Ok(Self {
            credentials,
            json: v.clone(),
        })
    }

    /// The query a matter stands for: per licence type it needs, one credential query for a
    /// licence of that type (its `typeCode`), naming the face fields the matter may release, or
    /// none (the whole licence) when the matter declares none.
    pub fn for_matter(matter: &Matter) -> Self {
        let credentials: Vec<Value> = matter
            .types
            .iter()
            .map(|ty| {
                let mut claims = vec![json!({
                    "path": ["credentialSubject", "licence", "typeCode"],
                    "values": [ty.to_string()],
                })];
                for f in matter.fields_of(ty).unwrap_or_default() {
                    claims.push(json!({"path": ["credentialSubject", "licence", "fields", f]}));
                }
                json!({
                    "id": format!("t{ty}"),
                    "format": LDP_VC,
                    "meta": {"type_values": [["VerifiableCredential", LICENCE_TYPE]]},
                    "claims": claims,
                })
            })
            .collect();
        let json = json!({ "credentials": credentials });
        // Built from a registered matter: always well-formed.
        Self::parse(&json, "$.dcql_query").unwrap_or(Self {
            credentials: Vec::new(),
            json,
        })
    }

    /// The credential query named `id`.
    pub fn get(&self, id: &str) -> Option<&CredentialQuery> {
        self.credentials.iter().find(|c| c.id == id)
    }
}

impl CredentialQuery {
    fn parse(v: &Value, at: &str) -> Result<Self, Rejection> {
        let o = v
            .as_object()
            .ok_or_else(|| bad(at, "a credential query is an object"))?;
        only_members(
            o,
            &[
                "id",
                "format",
                "meta",
                "claims",
                "multiple",
                "require_cryptographic_holder_binding",
            ],
            at,
        )?;
        let require_binding = match o.get("require_cryptographic_holder_binding") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(bad(
                    format!("{at}.require_cryptographic_holder_binding"),
                    "a boolean",
                ))
            }
        };
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .ok_or_else(|| {
                bad(
                    format!("{at}.id"),
                    "an id of 1 to 64 letters, digits, _ or -",
                )
            })?
            .to_owned();
        if o.get("format").and_then(Value::as_str) != Some(LDP_VC) {
            return Err(bad(
                format!("{at}.format"),
                format!("the vault presents only {LDP_VC}"),
            ));
        }
        let meta = o
            .get("meta")
            .and_then(Value::as_object)
            .ok_or_else(|| bad(format!("{at}.meta"), "meta with type_values is required"))?;
        only_members(meta, &["type_values"], &format!("{at}.meta"))?;
        let type_values = meta
            .get("type_values")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .and_then(|a| {
                a.iter()
                    .map(|alt| {
                        alt.as_array().filter(|x| !x.is_empty()).and_then(|x| {
                            x.iter()
                                .map(|t| t.as_str().map(|t| type_name(t).to_owned()))
                                .collect::<Option<Vec<_>>>()
                        })
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                bad(
                    format!("{at}.meta.type_values"),
                    "a non-empty array of non-empty arrays of type names or URLs",
                )
            })?;
        let claims = match o.get("claims") {
            None => None,
            Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_CLAIMS => Some(
                list.iter()
                    .enumerate()
                    .map(|(j, c)| ClaimQuery::parse(c, &format!("{at}.claims[{j}]")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => {
                return Err(bad(
                    format!("{at}.claims"),
                    format!("1 to {MAX_CLAIMS} claim queries"),
                ))
            }
        };
        let multiple = match o.get("multiple") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad(format!("{at}.multiple"), "a boolean")),
        };
        Ok(Self {
            id,
            type_values,
            claims,
            multiple,
            require_binding,
        })
    }

    /// Whether `credential` answers this query: its types, and every claim asked for present (with
    /// one of the asked values, if any). The claims' values are returned by path; or why not.
    pub fn matches(&self, credential: &Value) -> Result<Vec<(Value, Value)>, String> {
        let types: Vec<&str> = match credential.get("type") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(type_name).collect(),
            Some(Value::String(s)) => vec![type_name(s)],
            _ => Vec::new(),
        };
        let typed = self
            .type_values
            .iter()
            .any(|alt| alt.iter().all(|t| types.contains(&t.as_str())));
        if !typed {
            return Err(format!(
                "the credential's types {types:?} match none of {:?}",
                self.type_values
            ));
        }
        let mut found = Vec::new();
        for c in self.claims.iter().flatten() {
            let selected = select(credential, &c.path);
            if selected.is_empty() {
                return Err(format!("the credential has no claim at {}", c.path_json));
            }
            if let Some(values) = &c.values {
                if !selected.iter().any(|v| values.contains(v)) {
                    return Err(format!(
                        "the claim at {} has none of the values asked for",
                        c.path_json
                    ));
                }
            }
            let value = if selected.len() == 1 {
                selected[0].clone()
            } else {
                Value::Array(selected.into_iter().cloned().collect())
            };
            found.push((c.path_json.clone(), value));
        }
        Ok(found)
    }
}

impl ClaimQuery {
    fn parse(v: &Value, at: &str) -> Result<Self, Rejection> {
        let o = v
            .as_object()
            .ok_or_else(|| bad(at, "a claim query is an object"))?;
        only_members(o, &["id", "path", "values"], at)?;
        let path_json = o.get("path").cloned().unwrap_or(Value::Null);
        let path = path_json
            .as_array()
            .filter(|p| !p.is_empty())
            .and_then(|p| {
                p.iter()
                    .map(|s| match s {
                        Value::String(m) => Some(Step::Member(m.clone())),
                        Value::Number(n) => n
                            .as_u64()
                            .and_then(|i| usize::try_from(i).ok())
                            .map(Step::Index),
                        Value::Null => Some(Step::All),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                bad(
                    format!("{at}.path"),
                    "a non-empty array of member names, indexes and nulls",
                )
            })?;
        let values = match o.get("values") {
            None => None,
            Some(Value::Array(vs))
                if !vs.is_empty()
                    && vs
                        .iter()
                        .all(|x| x.is_string() || x.is_number() || x.is_boolean()) =>
            {
                Some(vs.clone())
            }
            Some(_) => {
                return Err(bad(
                    format!("{at}.values"),
                    "a non-empty array of strings, numbers or booleans",
                ))
            }
        };
        Ok(Self {
            path,
            path_json,
            values,
        })
    }
}

/// The values a claim path selects in `v` (DCQL §7: `null` selects every element of an array).
pub fn select<'a>(v: &'a Value, path: &[Step]) -> Vec<&'a Value> {
    let Some((step, rest)) = path.split_first() else {
        return vec![v];
    };
    match (step, v) {
        (Step::Member(m), Value::Object(o)) => o.get(m).map_or_else(Vec::new, |x| select(x, rest)),
        (Step::Index(i), Value::Array(a)) => a.get(*i).map_or_else(Vec::new, |x| select(x, rest)),
        (Step::All, Value::Array(a)) => a.iter().flat_map(|x| select(x, rest)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licence() -> Value {
        json!({
            "type": ["VerifiableCredential", "ElectronicLicence"],
            "credentialSubject": {"licence": {"typeCode": "11100000000019713D001",
                "fields": {"姓名": "林志强", "住址": "福州"}}, "tags": ["a", "b"]},
        })
    }

    fn query(q: Value) -> Result<DcqlQuery, Rejection> {
        DcqlQuery::parse(&q, "$.dcql_query")
    }

    #[test]
    fn types_match_by_name_or_by_url() {
        for t in [
            json!(["VerifiableCredential", "ElectronicLicence"]),
            json!(["https://www.w3.org/ns/credentials/issuer-dependent#ElectronicLicence"]),
            json!(["https://www.w3.org/2018/credentials#VerifiableCredential"]),
        ] {
            let q = query(json!({"credentials": [{"id": "a", "format": "ldp_vc",
                "meta": {"type_values": [t]}}]}))
            .unwrap();
            assert_eq!(q.credentials[0].matches(&licence()), Ok(vec![]));
        }
        let q = query(json!({"credentials": [{"id": "a", "format": "ldp_vc",
            "meta": {"type_values": [["DepositReceipt"]]}}]}))
        .unwrap();
        assert!(q.credentials[0].matches(&licence()).is_err());
    }

    #[test]
    fn claims_are_selected_and_their_values_matched() {
        let q = query(json!({"credentials": [{"id": "id_card", "format": "ldp_vc",
            "meta": {"type_values": [["ElectronicLicence"]]},
            "claims": [
                {"path": ["credentialSubject", "licence", "typeCode"], "values": ["11100000000019713D001"]},
                {"path": ["credentialSubject", "licence", "fields", "姓名"]},
                {"path": ["credentialSubject", "tags", null]},
                {"path": ["credentialSubject", "tags", 1]},
            ]}]}))
        .unwrap();
        assert_eq!(
            q.credentials[0].matches(&licence()).unwrap(),
            vec![
                (
                    json!(["credentialSubject", "licence", "typeCode"]),
                    json!("11100000000019713D001")
                ),
                (
                    json!(["credentialSubject", "licence", "fields", "姓名"]),
                    json!("林志强")
                ),
                (
                    json!(["credentialSubject", "tags", null]),
                    json!(["a", "b"])
                ),
                (json!(["credentialSubject", "tags", 1]), json!("b")),
            ]
        );
        let wrong_type = query(json!({"credentials": [{"id": "x", "format": "ldp_vc",
            "meta": {"type_values": [["ElectronicLicence"]]},
            "claims": [{"path": ["credentialSubject", "licence", "typeCode"], "values": ["1"]}]}]}))
        .unwrap();
        assert_eq!(
            wrong_type.credentials[0].matches(&licence()).unwrap_err(),
            "the claim at [\"credentialSubject\",\"licence\",\"typeCode\"] has none of the values asked for"
        );
        let absent = query(json!({"credentials": [{"id": "x", "format": "ldp_vc",
            "meta": {"type_values": [["ElectronicLicence"]]},
            "claims": [{"path": ["credentialSubject", "licence", "fields", "民族"]}]}]}))
        .unwrap();
        assert!(absent.credentials[0].matches(&licence()).is_err());
    }

    #[test]
    fn what_the_vault_does_not_speak_is_refused_by_name() {
        let cases = [
            (json!({"credentials": [], }), "$.dcql_query.credentials"),
            (
                json!({"credentials": [{"id": "a", "format": "ldp_vc", "meta": {"type_values": [["X"]]}}],
                    "credential_sets": []}),
                "$.dcql_query.credential_sets",
            ),
            (
                json!({"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {"type_values": [["X"]]}}]}),
                "$.dcql_query.credentials[0].format",
            ),
            (
                json!({"credentials": [{"id": "a", "format": "ldp_vc", "meta": {"type_values": [["X"]]},
                    "claim_sets": [["x"]]}]}),
                "$.dcql_query.credentials[0].claim_sets",
            ),
            (
                json!({"credentials": [{"id": "a b", "format": "ldp_vc", "meta": {"type_values": [["X"]]}}]}),
                "$.dcql_query.credentials[0].id",
            ),
            (
                json!({"credentials": [{"id": "a", "format": "ldp_vc", "meta": {"type_values": [[]]}}]}),
                "$.dcql_query.credentials[0].meta.type_values",
            ),
            (
                json!({"credentials": [
                    {"id": "a", "format": "ldp_vc", "meta": {"type_values": [["X"]]}},
                    {"id": "a", "format": "ldp_vc", "meta": {"type_values": [["X"]]}}]}),
                "$.dcql_query.credentials[1].id",
            ),
            (
                json!({"credentials": [{"id": "a", "format": "ldp_vc", "meta": {"type_values": [["X"]]},
                    "claims": [{"path": [true]}]}]}),
                "$.dcql_query.credentials[0].claims[0].path",
            ),
        ];
        for (q, field) in cases {
            let e = query(q.clone()).unwrap_err();
            assert_eq!(
                (e.reason, e.field.as_str()),
                (Reason::InvalidRequest, field),
                "{q}"
            );
        }
    }
}
