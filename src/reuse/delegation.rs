//! Acting for others (SPEC §11): a company's legal representative — the citizen its current
//! 营业执照 names — authorises staff to act for it, within a scope and until an expiry, revocable
//! at once; an admin registers a guardian to act for a minor. Pure: the vault stores the
//! authorisations and resolves, per request, who acts for whom ([`Acting`]).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::codes::{HolderCode, CODE_TYPE_CITIZEN, CODE_TYPE_USCC};
use crate::registry::Registries;
use crate::verdict::{Reason, Rejection};

/// The longest a delegation may last (days).
pub const MAX_DELEGATION_DAYS: i64 = 3 * 365;
/// Most matters one delegation may name.
pub const MAX_SCOPE_MATTERS: usize = 64;
/// Longest delegate name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// What a delegate may act on: everything, or only consents and requests for some matters (and
/// what those matters read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Scope {
    /// `"all"`.
    #[schema(value_type = String, example = "all")]
    All(AllWord),
    /// The matter codes.
    Matters(Vec<String>),
}

/// The word `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllWord {
    All,
}

impl Scope {
    pub const ALL: Scope = Scope::All(AllWord::All);

    pub fn is_all(&self) -> bool {
        matches!(self, Scope::All(_))
    }

    pub fn allows_matter(&self, matter: &str) -> bool {
        match self {
            Scope::All(_) => true,
            Scope::Matters(m) => m.iter().any(|x| x == matter),
        }
    }
}

/// Why one person may act for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Staff authorised by the company's legal representative.
    Delegation,
    /// A guardian registered by the admin.
    Guardianship,
}

/// An authorisation to act for a holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delegation {
    pub id: String,
    pub relation: Relation,
    /// For whom: the company (`001:…`) or the ward (`111:…`).
    pub holder: String,
    /// Who may act: a citizen, `111:…`.
    pub delegate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_name: Option<String>,
    pub scope: Scope,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// The legal representative who granted it (`111:…`), or `admin` for a guardianship. A
    /// delegation ends when its grantor is no longer the company's legal representative.
    pub granted_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Delegation {
    /// Not revoked and not expired at `now` (the grantor's standing is the vault's to check).
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// Whether it lets its delegate act at `now`, given the company's legal representative in
    /// office (`rep`): in force and, for a delegation, granted by that representative (a
    /// guardianship stands on the admin's word alone).
    pub fn lets_act(&self, rep: Option<&HolderCode>, now: DateTime<Utc>) -> bool {
        self.in_force(now)
            && match self.relation {
                Relation::Guardianship => true,
                Relation::Delegation => rep.is_some_and(|r| r.key() == self.granted_by),
            }
    }
}

/// On what ground the caller acts for the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// The holder itself.
    Own,
    /// The company's current legal representative, with their own token.
    Representative,
    /// A delegation or guardianship in force (its id).
    Authorised(String),
}

/// Who acts for whom in one request: `holder`'s data, `actor`'s hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub holder: HolderCode,
    pub actor: HolderCode,
    pub scope: Scope,
    pub basis: Basis,
}

impl Acting {
    /// The holder acting for itself.
    pub fn own(holder: HolderCode) -> Self {
        Self {
            actor: holder.clone(),
            holder,
            scope: Scope::ALL,
            basis: Basis::Own,
        }
    }

    /// The person who acted, when it is not the holder (what records name beside the holder).
    pub fn acted_by(&self) -> Option<&HolderCode> {
        (self.actor != self.holder).then_some(&self.actor)
    }

    /// Whether the caller may grant and revoke delegations for the holder: the company itself or
    /// its legal representative, never a delegate.
    pub fn may_delegate(&self) -> bool {
        matches!(self.basis, Basis::Own | Basis::Representative)
    }

    pub fn allows_matter(&self, matter: &str) -> bool {
        self.scope.allows_matter(matter)
    }

    /// Whether a licence of type `ty` is within the scope: needed by one of its matters.
    pub fn allows_type(&self, reg: &Registries, ty: &crate::codes::TypeCode) -> bool {
        match &self.scope {
            Scope::All(_) => true,
            Scope::Matters(ms) => ms
                .iter()
                .any(|m| reg.matters.get(m).is_some_and(|m| m.types.contains(ty))),
        }
    }

    /// Refuses an act on `matter` outside the scope (`403 forbidden` at `field`).
    pub fn require_matter(&self, matter: &str, field: &str) -> Result<(), Rejection> {
        if self.allows_matter(matter) {
            Ok(())
        } else {
            Err(Rejection::new(
                Reason::Forbidden,
                field,
                format!("your delegation does not cover matter {matter}"),
            ))
        }
    }

    /// Refuses an act that needs the whole scope (presentations, the notifications of licences).
    pub fn require_all(&self, what: &str) -> Result<(), Rejection> {
        if self.scope.is_all() {
            Ok(())
        } else {
            Err(Rejection::new(
                Reason::Forbidden,
                "Acting-For",
                format!("{what} needs a delegation of scope all"),
            ))
        }
    }
}

/// A delegation as the company asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelegation {
    pub delegate: HolderCode,
    pub delegate_name: Option<String>,
    pub scope: Scope,
    pub expires_at: DateTime<Utc>,
}

/// Checks a new delegation for `company`: a citizen delegate other than the grantor, a scope of
/// known matters named once each, an expiry in the future within [`MAX_DELEGATION_DAYS`].
pub fn check_new_delegation(
    reg: &Registries,
    company: &HolderCode,
    grantor: &HolderCode,
    new: &NewDelegation,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let bad =
        |field: &str, message: String| Err(Rejection::new(Reason::InvalidRequest, field, message));
    if company.code_type() != CODE_TYPE_USCC {
        return Err(Rejection::new(
            Reason::Forbidden,
            "Acting-For",
            "only a company (001) delegates; a guardian is registered by the admin",
        ));
    }
    if new.delegate.code_type() != CODE_TYPE_CITIZEN {
        return Err(Rejection::new(
            Reason::InvalidHolderCode,
            "$.delegate",
            "a delegate is a citizen (111:…)",
        ));
    }
    if &new.delegate == grantor {
        return bad(
            "$.delegate",
            "the legal representative acts for the company already".into(),
        );
    }
    if new
        .delegate_name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS)
    {
        return bad(
            "$.delegateName",
            format!("1 to {MAX_NAME_CHARS} characters"),
        );
    }
    if let Scope::Matters(m) = &new.scope {
        if m.is_empty() || m.len() > MAX_SCOPE_MATTERS {
            return bad(
                "$.scope",
                format!("\"all\" or 1 to {MAX_SCOPE_MATTERS} matter codes"),
            );
        }
        for (i, code) in m.iter().enumerate() {
            if !reg.matters.contains_key(code) {
                return bad(&format!("$.scope[{i}]"), format!("no matter {code}"));
            }
            if m[..i].contains(code) {
                return bad(&format!("$.scope[{i}]"), format!("{code} is named twice"));
            }
        }
    }
    if new.expires_at <= now {
        return bad("$.expiresAt", "must be in the future".into());
    }
    if new.expires_at > now + Duration::days(MAX_DELEGATION_DAYS) {
        return bad(
            "$.expiresAt",
            format!("at most {MAX_DELEGATION_DAYS} days from now"),
        );
    }
    Ok(())
}

/// When a ward comes of age: the start of the 18th birthday in China (UTC+8) in a GB 11643 number
/// (digits 7–14), if readable.
pub fn coming_of_age(ward: &HolderCode) -> Option<DateTime<Utc>> {
    if ward.code_type() != CODE_TYPE_CITIZEN {
        return None;
    }
    let birth = NaiveDate::parse_from_str(ward.code().get(6..14)?, "%Y%m%d").ok()?;
    let (y, m, d) = (
        chrono::Datelike::year(&birth) + 18,
        chrono::Datelike::month(&birth),
        chrono::Datelike::day(&birth),
    );
    // 29 February comes of age on 1 March in a common year.
    let day = NaiveDate::from_ymd_opt(y, m, d).or_else(|| NaiveDate::from_ymd_opt(y, 3, 1))?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc() - Duration::hours(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_as_all_or_matters() {
        let all: Scope = serde_json::from_str("\"all\"").unwrap();
        assert!(all.is_all() && all.allows_matter("x"));
        let some: Scope = serde_json::from_str(r#"["350100-SJ-004"]"#).unwrap();
        assert!(some.allows_matter("350100-SJ-004") && !some.allows_matter("350100-SJ-005"));
        assert!(serde_json::from_str::<Scope>("\"some\"").is_err());
        assert_eq!(serde_json::to_string(&Scope::ALL).unwrap(), "\"all\"");
    }

    #[test]
    fn wards_come_of_age_on_their_18th_birthday() {
        let ward: HolderCode = "111:350102201003120016".parse().unwrap();
        assert_eq!(
            coming_of_age(&ward).map(|t| t.to_rfc3339()),
            Some("2028-03-11T16:00:00+00:00".to_owned())
        );
        let company: HolderCode = "001:91350102MA2XN1A2K0".parse().unwrap();
        assert_eq!(coming_of_age(&company), None);
    }

    #[test]
    fn acting_for_another_names_the_actor_and_keeps_to_the_scope() {
        let company: HolderCode = "001:91350102MA2XN1A2K0".parse().unwrap();
        let staff: HolderCode = "111:350103198809230240".parse().unwrap();
        assert_eq!(Acting::own(company.clone()).acted_by(), None);
        let a = Acting {
            holder: company,
            actor: staff.clone(),
            scope: Scope::Matters(vec!["350100-SJ-004".into()]),
            basis: Basis::Authorised("dlg_1".into()),
        };
        assert_eq!(a.acted_by(), Some(&staff));
        assert!(!a.may_delegate());
        assert_eq!(a.require_matter("350100-SJ-004", "$.matter"), Ok(()));
        let r = a.require_matter("350100-SJ-005", "$.matter").unwrap_err();
        assert_eq!(
            (r.reason, r.field.as_str()),
            (Reason::Forbidden, "$.matter")
        );
        assert_eq!(
            a.require_all("a presentation code").unwrap_err().reason,
            Reason::Forbidden
        );
    }
}
