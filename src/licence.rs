//! The licence document (SPEC §3): a W3C VC 2.0 with GB/T 36903 core metadata.
//!
//! [`Licence::parse`] turns a JSON value into a typed view, or a [`Rejection`] naming the reason
//! code and the JSON path. It checks structure and codes only; the catalogue, keys and status are the
//! verifier's business ([`crate::verify`]).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::codes::{CodeError, HolderCode, LicenceId, TypeCode, Uscc, LICENCE_URN_PREFIX};
use crate::proof::parse_time;
use crate::verdict::{Reason, Rejection};

pub const VC_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
pub const LICENCE_TYPE: &str = "ElectronicLicence";
pub const USCC_URN_PREFIX: &str = "urn:uscc:";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawLicence {
    #[serde(rename = "@context")]
    context: Vec<String>,
    id: String,
    #[serde(rename = "type")]
    types: Vec<String>,
    issuer: RawIssuer,
    valid_from: String,
    #[serde(default)]
    valid_until: Option<String>,
    credential_subject: RawSubject,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "the proof is checked by crate::proof; it is only allowed here"
    )]
    proof: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    holder: RawHolder,
    licence: RawFacts,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHolder {
    name: String,
    code_type: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFacts {
    type_code: String,
    type_name: String,
    number: String,
    issue_date: String,
    jurisdiction: String,
    version: String,
    #[serde(default)]
    predecessor: Option<String>,
    fields: Map<String, Value>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// A file that belongs to the licence, bound by its digest (the file itself is stored elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
}

/// A structurally valid licence document.
#[derive(Debug, Clone, PartialEq)]
pub struct Licence {
    pub id: LicenceId,
    pub issuer: Uscc,
    pub issuer_name: String,
    pub holder: HolderCode,
    pub holder_name: String,
    pub type_code: TypeCode,
    pub type_name: String,
    pub number: String,
    pub issue_date: NaiveDate,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub predecessor: Option<LicenceId>,
    pub fields: Map<String, Value>,
    pub attachments: Vec<Attachment>,
}

fn rejection(reason: Reason, field: &str, e: CodeError) -> Rejection {
    Rejection::new(reason, field, e.to_string())
}

impl Licence {
    /// The face fields named in `names` that the licence has, and no others (SPEC §10).
    pub fn face(&self, names: &[String]) -> Map<String, Value> {
        names
            .iter()
            .filter_map(|n| self.fields.get(n).map(|v| (n.clone(), v.clone())))
            .collect()
    }

    /// Whether a document claims to be a licence (so the licence checks apply to it).
    pub fn is_licence(doc: &Value) -> bool {
        doc.get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t == LICENCE_TYPE))
    }

    pub fn parse(doc: &Value) -> Result<Self, Rejection> {
        let raw: RawLicence = crate::jcs::deserialize(doc)
            .map_err(|e| Rejection::new(Reason::SchemaViolation, e.path, e.message))?;
        if raw.context.first().map(String::as_str) != Some(VC_CONTEXT) {
            return Err(Rejection::new(
                Reason::SchemaViolation,
                "$.@context",
                format!("must start with {VC_CONTEXT}"),
            ));
        }
        if raw.types.first().map(String::as_str) != Some("VerifiableCredential")
            || !raw.types.iter().any(|t| t == LICENCE_TYPE)
        {
            return Err(Rejection::new(
                Reason::SchemaViolation,
                "$.type",
                "must be [\"VerifiableCredential\", \"ElectronicLicence\"]",
            ));
        }
        let id = raw
            .id
            .strip_prefix(LICENCE_URN_PREFIX)
            .ok_or_else(|| {
                Rejection::new(
                    Reason::InvalidIdentifier,
                    "$.id",
                    "must start with urn:gbt36904:",
                )
            })?
            .parse::<LicenceId>()
            .map_err(|e| rejection(Reason::InvalidIdentifier, "$.id", e))?;
        let issuer = raw
            .issuer
            .id
            .strip_prefix(USCC_URN_PREFIX)
            .ok_or_else(|| {
                Rejection::new(
                    Reason::InvalidAgencyCode,
                    "$.issuer.id",
                    "must start with urn:uscc:",
                )
            })?
            .parse::<Uscc>()
            .map_err(|e| rejection(Reason::InvalidAgencyCode, "$.issuer.id", e))?;
        if issuer != id.issuer() {
            return Err(Rejection::new(
                Reason::IssuerMismatch,
                "$.issuer.id",
                format!(
                    "issuer {issuer} is not the issuerCode {} of the identifier",
                    id.issuer()
                ),
            ));
        }
        let h = &raw.credential_subject.holder;
        let holder = HolderCode::new(&h.code_type, &h.code).map_err(|e| {
            let field = if matches!(e, CodeError::Format("codeType must be three digits")) {
                "$.credentialSubject.holder.codeType"
            } else {
                "$.credentialSubject.holder.code"
            };
            rejection(Reason::InvalidHolderCode, field, e)
        })?;
        let f = raw.credential_subject.licence;
        let type_code = f.type_code.parse::<TypeCode>().map_err(|e| {
            rejection(
                Reason::InvalidIdentifier,
                "$.credentialSubject.licence.typeCode",
                e,
            )
        })?;
        if type_code != id.type_code() {
            return Err(Rejection::new(
                Reason::InvalidIdentifier,
                "$.credentialSubject.licence.typeCode",
                "does not match the typeCode of the identifier",
            ));
        }
        if f.version != format!("{:03}", id.version()) {
            return Err(Rejection::new(
                Reason::InvalidIdentifier,
                "$.credentialSubject.licence.version",
                "does not match the version of the identifier",
            ));
        }
        let predecessor = f
            .predecessor
            .map(|p| {
                p.strip_prefix(LICENCE_URN_PREFIX)
                    .ok_or(CodeError::Format("must start with urn:gbt36904:"))
                    .and_then(str::parse::<LicenceId>)
                    .map_err(|e| {
                        rejection(
                            Reason::InvalidIdentifier,
                            "$.credentialSubject.licence.predecessor",
                            e,
                        )
                    })
            })
            .transpose()?;
        let expected_predecessor = match id.version() {
            1 => None,
            v => Some(
                id.with_version(v - 1)
                    .map_err(|e| rejection(Reason::InvalidIdentifier, "$.id", e))?,
            ),
        };
        if predecessor != expected_predecessor {
            let message = match &expected_predecessor {
                None => "must be absent on version 001".to_owned(),
                Some(p) => format!("must be {}", p.urn()),
            };
            return Err(Rejection::new(
                Reason::InvalidIdentifier,
                "$.credentialSubject.licence.predecessor",
                message,
            ));
        }
        let schema = |field: &str, msg: &str| Rejection::new(Reason::SchemaViolation, field, msg);
        let issue_date = NaiveDate::parse_from_str(&f.issue_date, "%Y-%m-%d").map_err(|_| {
            schema(
                "$.credentialSubject.licence.issueDate",
                "must be a date YYYY-MM-DD",
            )
        })?;
        let valid_from = parse_time(&raw.valid_from)
            .ok_or_else(|| schema("$.validFrom", "must be an RFC 3339 date-time"))?;
        let valid_until = raw
            .valid_until
            .map(|s| {
                parse_time(&s)
                    .ok_or_else(|| schema("$.validUntil", "must be an RFC 3339 date-time"))
            })
            .transpose()?;
        if valid_until.is_some_and(|u| u <= valid_from) {
            return Err(schema("$.validUntil", "must be after validFrom"));
        }
        if f.jurisdiction.len() != 6 || !f.jurisdiction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(schema(
                "$.credentialSubject.licence.jurisdiction",
                "must be a 6-digit region code",
            ));
        }
        for (name, value) in [
            ("$.issuer.name", &raw.issuer.name),
            ("$.credentialSubject.holder.name", &h.name),
            ("$.credentialSubject.licence.typeName", &f.type_name),
            ("$.credentialSubject.licence.number", &f.number),
        ] {
            if value.trim().is_empty() {
                return Err(schema(name, "must not be empty"));
            }
        }
        for (i, a) in f.attachments.iter().enumerate() {
            if a.sha256.len() != 64
                || !a
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(schema(
                    &format!("$.credentialSubject.licence.attachments[{i}].sha256"),
                    "must be 64 lowercase hex digits",
                ));
            }
        }
        Ok(Self {
            id,
            issuer,
            issuer_name: raw.issuer.name,
            holder,
            holder_name: h.name.clone(),
            type_code,
            type_name: f.type_name,
            number: f.number,
            issue_date,
            valid_from,
            valid_until,
            predecessor,
            fields: f.fields,
            attachments: f.attachments,
        })
    }
}
