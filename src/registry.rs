//! The registries of SPEC §5: the catalogue of licence types with their face-field schemas, the
//! matters (事项), the issuing agencies with their keys, and the requesters (approval systems).
//!
//! [`Registries`] is an immutable snapshot the verifier reads; the service swaps in a new one after
//! every admin change. **Invariant:** no I/O here; the wire shapes are the stored shapes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::codes::{TypeCode, Uscc};
use crate::keys::DidKey;

/// Whether holders of a type are natural persons (citizens) or legal persons (companies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HolderCategory {
    NaturalPerson,
    LegalPerson,
}

impl HolderCategory {
    /// The holder code type a holder of this category carries.
    pub fn code_type(self) -> &'static str {
        match self {
            Self::NaturalPerson => crate::codes::CODE_TYPE_CITIZEN,
            Self::LegalPerson => crate::codes::CODE_TYPE_USCC,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Date,
    Enum,
    Integer,
}

/// One face (照面) field of a licence type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
    /// The allowed values of an `enum` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// What the field means to the vault, beyond being shown (SPEC §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<FieldRole>,
}

/// A face field the vault reads, not only shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// The legal representative's name (营业执照: 法定代表人).
    LegalRepresentativeName,
    /// The legal representative's citizen identity number: who may act for the company and
    /// authorise staff. A `string` field whose value must be a valid GB 11643 number.
    LegalRepresentativeId,
}

/// A catalogue entry (GB/T 36902). The matters that accept it are derived from the matter registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LicenceType {
    #[schema(value_type = String, example = "11100000000013338W032")]
    pub type_code: TypeCode,
    pub name: String,
    /// The type's name in English, for wallets that show credentials in other languages
    /// (OpenID4VCI issuer metadata); absent: wallets show the Chinese name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    /// The defining authority's name; its USCC is the first 18 characters of `typeCode`.
    pub authority: String,
    pub holder_category: HolderCategory,
    /// The agencies allowed to issue the type.
    #[schema(value_type = Vec<String>)]
    pub issuers: Vec<Uscc>,
    pub fields: Vec<FieldSpec>,
}

/// A government matter (事项) and the licence types an application for it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Matter {
    pub code: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub types: Vec<TypeCode>,
    /// Per needed type, the face fields the matter needs (SPEC §10 minimisation): a pull for the
    /// matter releases only these of a licence of that type. A type not named here is released
    /// whole.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, Vec<String>>)]
    pub fields: BTreeMap<TypeCode, Vec<String>>,
}

impl Matter {
    /// The face fields a pull for this matter may release of a licence of type `ty`: `None` for
    /// the whole licence.
    pub fn fields_of(&self, ty: &TypeCode) -> Option<&[String]> {
        self.fields.get(ty).map(Vec::as_slice)
    }

    /// Checks the declared fields: each names a type the matter needs, at least one field, and
    /// only fields of that type's schema, without repeats.
    pub fn check_fields(
        &self,
        types: &BTreeMap<TypeCode, LicenceType>,
    ) -> Result<(), FieldViolation> {
        for (ty, names) in &self.fields {
            let at = |rest: &str| format!("$.fields.{ty}{rest}");
            let violation = |field: String, message: String| Err(FieldViolation { field, message });
            if !self.types.contains(ty) {
                return violation(
                    at(""),
                    format!("matter {} does not need type {ty}", self.code),
                );
            }
            if names.is_empty() {
                return violation(
                    at(""),
                    "name at least one field, or leave the type out to release it whole".into(),
                );
            }
            let Some(spec) = types.get(ty) else {
                return violation(at(""), format!("type {ty} is not catalogued"));
            };
            for (i, name) in names.iter().enumerate() {
                if !spec.fields.iter().any(|f| &f.name == name) {
                    return violation(
                        at(&format!("[{i}]")),
                        format!("{name} is not a field of {}", spec.name),
                    );
                }
                if names[..i].contains(name) {
                    return violation(at(&format!("[{i}]")), format!("{name} is named twice"));
                }
            }
        }
        Ok(())
    }
}

/// One signing key of an agency and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgencyKey {
    #[schema(value_type = String, example = "did:key:z6Mk…")]
    pub did_key: DidKey,
    #[schema(value_type = String, format = DateTime)]
    pub active_from: DateTime<Utc>,
    /// No new signatures after this time; earlier ones stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retired_at: Option<DateTime<Utc>>,
    /// Signatures deposited at or after this time are invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub compromised_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Agency {
    #[schema(value_type = String, example = "11350100003592016N")]
    pub uscc: Uscc,
    pub name: String,
    /// Administrative region code (GB/T 2260), e.g. `350100`.
    pub region: String,
    pub keys: Vec<AgencyKey>,
}

/// An approval system (用证方) and the matters it may pull licences for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requester {
    pub id: String,
    pub name: String,
    pub matters: Vec<String>,
}

/// Why a face field does not satisfy its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub message: String,
}

impl LicenceType {
    /// Checks face fields against the schema: required fields present, no unknown fields, types right.
    /// The legal representative a licence of this type names, when the type marks the field
    /// (`role: legal_representative_id`) and the licence's value is a valid number.
    pub fn legal_representative(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<crate::codes::CitizenId> {
        let spec = self
            .fields
            .iter()
            .find(|f| f.role == Some(FieldRole::LegalRepresentativeId))?;
        fields.get(&spec.name)?.as_str()?.parse().ok()
    }

    pub fn check_fields(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), FieldViolation> {
        let violation = |field: &str, message: String| {
            Err(FieldViolation {
                field: field.to_owned(),
                message,
            })
        };
        for name in fields.keys() {
            if !self.fields.iter().any(|f| &f.name == name) {
                return violation(name, format!("is not a field of {}", self.name));
            }
        }
        for spec in &self.fields {
            let Some(value) = fields.get(&spec.name) else {
                if spec.required {
                    return violation(&spec.name, "is required".into());
                }
                continue;
            };
            let ok = match (spec.field_type, value) {
                (FieldType::String, serde_json::Value::String(s))
                    if spec.role == Some(FieldRole::LegalRepresentativeId) =>
                {
                    s.parse::<crate::codes::CitizenId>().is_ok()
                }
                (FieldType::String, serde_json::Value::String(s)) => !s.is_empty(),
                (FieldType::Date, serde_json::Value::String(s)) => {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
                }
                (FieldType::Enum, serde_json::Value::String(s)) => spec.values.contains(s),
                (FieldType::Integer, serde_json::Value::Number(n)) => n.is_i64(),
                _ => false,
            };
            if !ok {
                let expected = match spec.field_type {
                    FieldType::String if spec.role == Some(FieldRole::LegalRepresentativeId) => {
                        "a citizen identity number (GB 11643)".to_owned()
                    }
                    FieldType::String => "a non-empty string".to_owned(),
                    FieldType::Date => "a date YYYY-MM-DD".to_owned(),
                    FieldType::Enum => format!("one of {}", spec.values.join(", ")),
                    FieldType::Integer => "an integer".to_owned(),
                };
                return violation(&spec.name, format!("must be {expected}"));
            }
        }
        Ok(())
    }
}

/// Where a key stands for a signature made at `created` and deposited at `deposited` (if known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStanding {
    Usable,
    NotYetActive,
    Retired(DateTime<Utc>),
    /// Compromised, and the signature cannot be proven older than the compromise.
    Compromised(DateTime<Utc>),
}

impl AgencyKey {
    pub fn standing(
        &self,
        created: DateTime<Utc>,
        deposited: Option<DateTime<Utc>>,
    ) -> KeyStanding {
        if let Some(at) = self.compromised_at {
            // Only the vault's own deposit time proves a signature predates the compromise.
            if deposited.is_none_or(|d| d >= at) {
                return KeyStanding::Compromised(at);
            }
        }
        if created < self.active_from {
            return KeyStanding::NotYetActive;
        }
        if let Some(at) = self.retired_at {
            if created >= at || deposited.is_some_and(|d| d >= at) {
                return KeyStanding::Retired(at);
            }
        }
        KeyStanding::Usable
    }
}

/// An immutable view of all registries, indexed for the verifier.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    pub types: BTreeMap<TypeCode, LicenceType>,
    pub matters: BTreeMap<String, Matter>,
    pub agencies: BTreeMap<Uscc, Agency>,
    pub requesters: BTreeMap<String, Requester>,
    key_owner: BTreeMap<String, Uscc>,
}

impl Registries {
    pub fn new(
        types: impl IntoIterator<Item = LicenceType>,
        matters: impl IntoIterator<Item = Matter>,
        agencies: impl IntoIterator<Item = Agency>,
        requesters: impl IntoIterator<Item = Requester>,
    ) -> Self {
        let agencies: BTreeMap<Uscc, Agency> =
            agencies.into_iter().map(|a| (a.uscc.clone(), a)).collect();
        let key_owner = agencies
            .values()
            .flat_map(|a| {
                a.keys
                    .iter()
                    .map(|k| (k.did_key.as_str().to_owned(), a.uscc.clone()))
            })
            .collect();
        Self {
            types: types
                .into_iter()
                .map(|t| (t.type_code.clone(), t))
                .collect(),
            matters: matters.into_iter().map(|m| (m.code.clone(), m)).collect(),
            agencies,
            requesters: requesters.into_iter().map(|r| (r.id.clone(), r)).collect(),
            key_owner,
        }
    }

    /// The agency that registered `key`, and the key's entry.
    pub fn key(&self, key: &DidKey) -> Option<(&Agency, &AgencyKey)> {
        let owner = self.key_owner.get(key.as_str())?;
        let agency = self.agencies.get(owner)?;
        agency
            .keys
            .iter()
            .find(|k| &k.did_key == key)
            .map(|k| (agency, k))
    }

    /// Matter codes that accept a type (derived, never stored twice).
    pub fn matters_accepting(&self, type_code: &TypeCode) -> BTreeSet<String> {
        self.matters
            .values()
            .filter(|m| m.types.contains(type_code))
            .map(|m| m.code.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::proof::parse_time(s).unwrap()
    }

    fn key() -> AgencyKey {
        AgencyKey {
            did_key: "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
                .parse()
                .unwrap(),
            active_from: t("2020-01-01T00:00:00Z"),
            retired_at: None,
            compromised_at: None,
        }
    }

    #[test]
    fn key_standing_follows_the_rules_of_spec_5() {
        let mut k = key();
        assert_eq!(
            k.standing(t("2019-12-31T23:59:59Z"), None),
            KeyStanding::NotYetActive
        );
        assert_eq!(
            k.standing(t("2021-01-01T00:00:00Z"), None),
            KeyStanding::Usable
        );
        k.retired_at = Some(t("2023-01-01T00:00:00Z"));
        assert_eq!(
            k.standing(t("2022-06-01T00:00:00Z"), Some(t("2022-06-02T00:00:00Z"))),
            KeyStanding::Usable
        );
        assert_eq!(
            k.standing(t("2023-01-01T00:00:00Z"), None),
            KeyStanding::Retired(t("2023-01-01T00:00:00Z"))
        );
        // Backdated but deposited after retirement.
        assert_eq!(
            k.standing(t("2022-06-01T00:00:00Z"), Some(t("2023-02-01T00:00:00Z"))),
            KeyStanding::Retired(t("2023-01-01T00:00:00Z"))
        );
        k.compromised_at = Some(t("2022-07-01T00:00:00Z"));
        // Deposited before the compromise: stays valid whatever it claims.
        assert_eq!(
            k.standing(t("2022-06-01T00:00:00Z"), Some(t("2022-06-02T00:00:00Z"))),
            KeyStanding::Usable
        );
        // Claims to be older, but the vault first saw it after the compromise.
        assert_eq!(
            k.standing(t("2022-06-01T00:00:00Z"), Some(t("2022-07-01T00:00:00Z"))),
            KeyStanding::Compromised(t("2022-07-01T00:00:00Z"))
        );
        // Never deposited: nothing proves it predates the compromise.
        assert_eq!(
            k.standing(t("2022-06-01T00:00:00Z"), None),
            KeyStanding::Compromised(t("2022-07-01T00:00:00Z"))
        );
    }

    #[test]
    fn face_fields_are_checked_against_the_schema() {
        let ty = LicenceType {
            type_code: "11100000000013338W032".parse().unwrap(),
            name: "营业执照".into(),
            name_en: None,
            authority: "国家市场监督管理总局".into(),
            holder_category: HolderCategory::LegalPerson,
            issuers: vec![],
            fields: vec![
                FieldSpec {
                    name: "名称".into(),
                    field_type: FieldType::String,
                    required: true,
                    values: vec![],
                    role: None,
                },
                FieldSpec {
                    name: "成立日期".into(),
                    field_type: FieldType::Date,
                    required: true,
                    values: vec![],
                    role: None,
                },
                FieldSpec {
                    name: "类型".into(),
                    field_type: FieldType::Enum,
                    required: false,
                    values: vec!["有限责任公司".into()],
                    role: None,
                },
                FieldSpec {
                    name: "注册资本".into(),
                    field_type: FieldType::Integer,
                    required: false,
                    values: vec![],
                    role: None,
                },
                FieldSpec {
                    name: "法定代表人证件号码".into(),
                    field_type: FieldType::String,
                    required: false,
                    values: vec![],
                    role: Some(FieldRole::LegalRepresentativeId),
                },
            ],
        };
        let check = |v: serde_json::Value| {
            ty.check_fields(v.as_object().unwrap())
                .map_err(|e| (e.field, e.message))
        };
        assert_eq!(
            check(serde_json::json!({"名称": "某公司", "成立日期": "2020-02-29"})),
            Ok(())
        );
        assert_eq!(
            check(serde_json::json!({"名称": "某公司"})),
            Err(("成立日期".into(), "is required".into()))
        );
        assert_eq!(
            check(serde_json::json!({"名称": "某公司", "成立日期": "2021-02-29"})),
            Err(("成立日期".into(), "must be a date YYYY-MM-DD".into()))
        );
        assert_eq!(
            check(serde_json::json!({"名称": "x", "成立日期": "2020-01-01", "类型": "合伙"})),
            Err(("类型".into(), "must be one of 有限责任公司".into()))
        );
        assert_eq!(
            check(serde_json::json!({"名称": "x", "成立日期": "2020-01-01", "注册资本": 1.5})),
            Err(("注册资本".into(), "must be an integer".into()))
        );
        assert_eq!(
            check(serde_json::json!({"名称": "x", "成立日期": "2020-01-01", "法人": "x"})),
            Err(("法人".into(), "is not a field of 营业执照".into()))
        );
        // The representative's number must be a valid one, and is read as such.
        let with_rep = |n: &str| serde_json::json!({"名称": "x", "成立日期": "2020-01-01", "法定代表人证件号码": n});
        assert_eq!(
            check(with_rep("350102198503120131")),
            Err((
                "法定代表人证件号码".into(),
                "must be a citizen identity number (GB 11643)".into()
            ))
        );
        assert_eq!(check(with_rep("350102198503120130")), Ok(()));
        assert_eq!(
            ty.legal_representative(with_rep("350102198503120130").as_object().unwrap())
                .map(|c| c.as_str().to_owned()),
            Some("350102198503120130".to_owned())
        );
    }
}
