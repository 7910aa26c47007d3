//! The reuse rules (SPEC §7): consents, and what a pull may release under them. Pure: the vault
//! reads the consents and licences, these rules decide, once, which consent covers which licence
//! and each asked type's outcome.
//!
//! A pull is decided in two steps: [`needs`] says for each asked type, from the consents alone,
//! whether it is refused or which consents may release it (no licence is read for a refused
//! type); then, for each licence of such a type, [`charge`] names the consent it would be released
//! under (none: it is not a candidate), and [`decide`] turns the best candidate into the type's
//! outcome.
//!
//! **Invariant:** no I/O; a licence is released only under an active consent that covers its type
//! and admits it, and only when its fresh verdict is valid and its stored bytes can be served.

pub mod correction;
pub mod dcql;
pub mod delegation;
pub mod objection;
pub mod presentation;
pub mod request;
pub mod wallet_offer;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::codes::{HolderCode, LicenceId, TypeCode};
use crate::proof::format_time;
use crate::registry::{Matter, Registries, Requester};
use crate::verdict::{Reason, Rejection, Verdict};

/// Longest purpose text of a consent or a pull, in characters.
pub const MAX_PURPOSE_CHARS: usize = 500;
/// Most types one consent or one pull may name.
pub const MAX_TYPES: usize = 32;

// ----- consents ----------------------------------------------------------------------------

/// A holder's authorisation of one requester for one matter (stored under the holder digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    pub id: String,
    /// The approval system authorised.
    pub requester: String,
    pub matter: String,
    pub purpose: String,
    /// Licence types covered (any licence of the holder of these types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub types: Vec<TypeCode>,
    /// Specific licences covered, with their later versions (same type, issuer and serial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub licences: Vec<LicenceId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Pulls that released at least one licence under this consent (each is in the access log).
    pub uses: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Created, narrowed and withdrawn, oldest first. Uses are counted in `uses` and listed in the
    /// access log.
    pub history: Vec<ConsentEvent>,
    /// The consent request (SPEC §10) whose approval created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

impl Consent {
    /// Who granted it for the holder (a delegate or guardian), if not the holder itself.
    pub fn granted_by(&self) -> Option<&str> {
        self.history.first().and_then(|e| e.acted_by.as_deref())
    }
}

/// What a consent allows: the part a holder may narrow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Terms {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub types: Vec<TypeCode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub licences: Vec<LicenceId>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
}

/// A holder's narrowing of terms (each member absent: unchanged). Terms are only ever narrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub types: Option<Vec<TypeCode>>,
    pub licences: Option<Vec<LicenceId>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_uses: Option<u32>,
}

impl Narrowing {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `terms` narrowed: types and licences only to non-empty subsets, `expiresAt` only earlier (and
/// in the future), `maxUses` only lower (at least 1, and at least `used`).
pub fn narrow(
    terms: &Terms,
    n: &Narrowing,
    used: u32,
    now: DateTime<Utc>,
) -> Result<Terms, Rejection> {
    fn subset<T: PartialEq + Clone + std::fmt::Display>(
        field: &str,
        current: &[T],
        asked: Option<&Vec<T>>,
    ) -> Result<Vec<T>, Rejection> {
        let Some(asked) = asked else {
            return Ok(current.to_vec());
        };
        if current.is_empty() {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                field,
                "the consent does not cover licences this way",
            ));
        }
        if asked.is_empty() {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                field,
                "keep at least one, or withdraw the consent",
            ));
        }
        let mut out: Vec<T> = Vec::new();
        for (i, x) in asked.iter().enumerate() {
            if !current.contains(x) {
                return Err(Rejection::new(
                    Reason::InvalidRequest,
                    format!("{field}[{i}]"),
                    format!("{x} is not covered: terms can only be narrowed"),
                ));
            }
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        Ok(out)
    }
    let types = subset("$.types", &terms.types, n.types.as_ref())?;
    let licences = subset("$.licences", &terms.licences, n.licences.as_ref())?;
    let expires_at = match n.expires_at {
        None => terms.expires_at,
        Some(t) if t <= now => {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.expiresAt",
                "must be in the future",
            ))
        }
        Some(t) if t > terms.expires_at => {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.expiresAt",
                format!(
                    "can only be brought forward (at most {})",
                    format_time(terms.expires_at)
                ),
            ))
        }
        Some(t) => t,
    };
    let max_uses = match n.max_uses {
        None => terms.max_uses,
        Some(0) => {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.maxUses",
                "must be at least 1",
            ))
        }
        Some(m) if terms.max_uses.is_some_and(|cur| m > cur) => {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.maxUses",
                format!(
                    "can only be lowered (at most {})",
                    terms.max_uses.unwrap_or_default()
                ),
            ))
        }
        Some(m) if m < used => {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.maxUses",
                format!("the consent was already used {used} times"),
            ))
        }
        Some(m) => Some(m),
    };
    Ok(Terms {
        types,
        licences,
        expires_at,
        max_uses,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentEvent {
    pub event: ConsentEventKind,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// For `used` (kept by vaults of before the access log held uses): the access record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_record: Option<String>,
    /// For `created` and `narrowed`: the terms from then on (what its consent receipt states).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<Terms>,
    /// Who acted for the holder (a delegate or guardian, `111:…`); absent: the holder itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_by: Option<String>,
}

impl ConsentEvent {
    pub fn new(event: ConsentEventKind, at: DateTime<Utc>, terms: Option<Terms>) -> Self {
        Self {
            event,
            at,
            access_record: None,
            terms,
            acted_by: None,
        }
    }

    /// The event as done by `actor` for the holder (`None`: by the holder itself).
    pub fn by(mut self, actor: Option<&HolderCode>) -> Self {
        self.acted_by = actor.map(HolderCode::key);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentEventKind {
    Created,
    /// Only in consents written before uses were counted apart (see [`Consent::uses`]).
    Used,
    /// The holder narrowed the terms.
    Narrowed,
    Withdrawn,
}

/// Where a consent stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Active,
    Expired,
    Exhausted,
    Withdrawn,
}

impl ConsentState {
    /// The reuse reason of a consent in this state (`None` when it can be used).
    pub fn reason(self) -> Option<Reason> {
        match self {
            Self::Active => None,
            Self::Expired => Some(Reason::ConsentExpired),
            Self::Exhausted => Some(Reason::ConsentExhausted),
            Self::Withdrawn => Some(Reason::ConsentWithdrawn),
        }
    }
}

impl Consent {
    pub fn terms(&self) -> Terms {
        Terms {
            types: self.types.clone(),
            licences: self.licences.clone(),
            expires_at: self.expires_at,
            max_uses: self.max_uses,
        }
    }

    pub fn set_terms(&mut self, t: Terms) {
        self.types = t.types;
        self.licences = t.licences;
        self.expires_at = t.expires_at;
        self.max_uses = t.max_uses;
    }

    /// Each event of the history with the terms in force after it, oldest first. Consents of
    /// before terms were kept in the history were never narrowed: their terms are the current ones.
    pub fn events_with_terms(&self) -> Vec<(&ConsentEvent, Terms)> {
        let mut current: Option<&Terms> = None;
        self.history
            .iter()
            .map(|e| {
                current = e.terms.as_ref().or(current);
                (e, current.cloned().unwrap_or_else(|| self.terms()))
            })
            .collect()
    }

    pub fn state(&self, now: DateTime<Utc>) -> ConsentState {
        if self.withdrawn_at.is_some() {
            ConsentState::Withdrawn
        } else if now >= self.expires_at {
            ConsentState::Expired
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            ConsentState::Exhausted
        } else {
            ConsentState::Active
        }
    }

    /// Uses left, `None` when unlimited.
    pub fn remaining_uses(&self) -> Option<u32> {
        self.max_uses.map(|m| m.saturating_sub(self.uses))
    }

    /// Whether the consent covers licences of type `ty` (by type, or by naming one).
    pub fn covers(&self, ty: &TypeCode) -> bool {
        self.types.contains(ty) || self.licences.iter().any(|l| &l.type_code() == ty)
    }

    /// Whether the consent lets `id` out: any licence of a covered type, or a named licence and
    /// its later versions.
    pub fn admits(&self, id: &LicenceId) -> bool {
        self.types.contains(&id.type_code()) || self.licences.iter().any(|l| same_lineage(l, id))
    }
}

fn same_lineage(a: &LicenceId, b: &LicenceId) -> bool {
    a.type_code() == b.type_code() && a.issuer() == b.issuer() && a.serial() == b.serial()
}

/// What a holder asks for when granting a consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsent {
    pub requester: String,
    pub matter: String,
    pub purpose: String,
    pub types: Vec<TypeCode>,
    pub licences: Vec<LicenceId>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<u32>,
}

// ----- pulls -------------------------------------------------------------------------------

/// A requester's pull (`POST /v1/reuse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub holder: HolderCode,
    pub matter: String,
    pub purpose: String,
    /// `None`: the matter's needed types.
    pub types: Option<Vec<TypeCode>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Provided,
    NotProvided,
}

/// Most claims one check may make.
pub const MAX_CLAIMS: usize = 32;

/// A requester's check of claimed face values (`POST /v1/reuse:check`, 核验): the answer is only
/// whether each claim matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheck {
    pub holder: HolderCode,
    pub matter: String,
    pub purpose: String,
    pub type_code: TypeCode,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The claims of a check against the registries: at least one and at most [`MAX_CLAIMS`], each a
/// face field of the catalogued type and, when the matter declares the fields it needs of the
/// type, one of those (a match says something of a field too).
pub fn check_claims(
    reg: &Registries,
    matter: &Matter,
    check: &ClaimCheck,
) -> Result<(), Rejection> {
    let ty = reg.types.get(&check.type_code).ok_or_else(|| {
        Rejection::new(
            Reason::UnknownType,
            "$.type",
            format!("type {} is not catalogued", check.type_code),
        )
    })?;
    if check.claims.is_empty() || check.claims.len() > MAX_CLAIMS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.claims",
            format!("claim 1 to {MAX_CLAIMS} face fields"),
        ));
    }
    let declared = matter.fields_of(&check.type_code);
    for name in check.claims.keys() {
        let field = format!("$.claims.{name}");
        if !ty.fields.iter().any(|f| &f.name == name) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                field,
                format!("{name} is not a field of {}", ty.name),
            ));
        }
        if declared.is_some_and(|d| !d.contains(name)) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                field,
                format!("matter {} does not need field {name}", matter.code),
            ));
        }
    }
    Ok(())
}

/// Whether each claim equals the licence's face field of its name (an absent field matches
/// nothing). Values compare as JSON: `"2020-01-01"` is not `20200101`.
pub fn matches(
    fields: &serde_json::Map<String, serde_json::Value>,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, bool> {
    claims
        .iter()
        .map(|(k, v)| (k.clone(), fields.get(k) == Some(v)))
        .collect()
}

// ----- validating what holders and requesters ask ------------------------------------------------

/// A consent as asked for, checked against the registries: the requester may pull for the
/// matter, the types are catalogued and needed by it, named licences are the holder's own (`owns`
/// asks the vault), `expiresAt` is in the future and at most one year ahead. Returns the requester,
/// the matter and the trimmed purpose.
pub fn check_new_consent<'r, E: From<Rejection>>(
    reg: &'r Registries,
    new: &NewConsent,
    now: DateTime<Utc>,
    mut owns: impl FnMut(&LicenceId) -> Result<bool, E>,
) -> Result<(&'r Requester, &'r Matter, String), E> {
    let purpose = check_purpose(&new.purpose).map_err(E::from)?;
    let requester = reg.requesters.get(&new.requester).ok_or_else(|| {
        E::from(Rejection::new(
            Reason::NotFound,
            "$.requester",
            format!("requester {} is not registered", new.requester),
        ))
    })?;
    let matter = reg.matters.get(&new.matter).ok_or_else(|| {
        E::from(Rejection::new(
            Reason::NotFound,
            "$.matter",
            format!("matter {} is not registered", new.matter),
        ))
    })?;
    if !requester.matters.contains(&matter.code) {
        return Err(E::from(Rejection::new(
            Reason::InvalidRequest,
            "$.matter",
            format!("{} may not pull for matter {}", requester.id, matter.code),
        )));
    }
    if new.types.is_empty() == new.licences.is_empty() {
        return Err(E::from(Rejection::new(
            Reason::InvalidRequest,
            "$.types",
            "name either the licence types or the licences the consent covers",
        )));
    }
    if new.types.len() + new.licences.len() > MAX_TYPES {
        let field = if new.types.is_empty() {
            "$.licences"
        } else {
            "$.types"
        };
        return Err(E::from(Rejection::new(
            Reason::InvalidRequest,
            field,
            format!("at most {MAX_TYPES} entries"),
        )));
    }
    for (i, t) in new.types.iter().enumerate() {
        let field = format!("$.types[{i}]");
        if !reg.types.contains_key(t) {
            return Err(E::from(Rejection::new(
                Reason::UnknownType,
                field,
                format!("type {t} is not catalogued"),
            )));
        }
        if !matter.types.contains(t) {
            return Err(E::from(Rejection::new(
                Reason::InvalidRequest,
                field,
                format!("matter {} does not need type {t}", matter.code),
            )));
        }
    }
    for (i, id) in new.licences.iter().enumerate() {
        // The type is read off the id the caller gave, before anything is looked up: what the
        // answer says does not depend on what the holder has.
        if !matter.types.contains(&id.type_code()) {
            return Err(E::from(Rejection::new(
                Reason::InvalidRequest,
                format!("$.licences[{i}]"),
                format!(
                    "matter {} does not need type {}",
                    matter.code,
                    id.type_code()
                ),
            )));
        }
        // Absent and foreign licences get the same answer: nothing about others leaks.
        if !owns(id)? {
            return Err(E::from(Rejection::new(
                Reason::Forbidden,
                format!("$.licences[{i}]"),
                format!("{} is not one of your licences", id.urn()),
            )));
        }
    }
    if new.expires_at <= now {
        return Err(E::from(Rejection::new(
            Reason::InvalidRequest,
            "$.expiresAt",
            "must be in the future",
        )));
    }
    let limit = now.checked_add_months(Months::new(12)).unwrap_or(now);
    if new.expires_at > limit {
        return Err(E::from(Rejection::new(
            Reason::InvalidRequest,
            "$.expiresAt",
            format!(
                "must be at most one year ahead (before {})",
                format_time(limit)
            ),
        )));
    }
    if new.max_uses == Some(0) {
        return Err(E::from(Rejection::new(
            Reason::InvalidRequest,
            "$.maxUses",
            "must be at least 1",
        )));
    }
    Ok((requester, matter, purpose))
}

/// A pull checked against the registries: who asks, for which matter, why, and which types.
#[derive(Debug, Clone)]
pub struct Ask<'r> {
    pub requester: &'r Requester,
    pub matter: &'r Matter,
    pub purpose: String,
    pub holder: HolderCode,
    /// The types asked for, without repeats, in the order asked (the matter's needed types when
    /// the pull names none).
    pub types: Vec<TypeCode>,
}

impl<'r> Ask<'r> {
    /// The requester must be registered for the matter; named types are at least one and at most
    /// [`MAX_TYPES`].
    pub fn new(reg: &'r Registries, requester: &str, req: PullRequest) -> Result<Self, Rejection> {
        let (requester, matter) = requester_for(reg, requester, &req.matter)?;
        let purpose = check_purpose(&req.purpose)?;
        let types = match req.types {
            None => matter.types.clone(),
            Some(t) if t.is_empty() => {
                return Err(Rejection::new(
                    Reason::InvalidRequest,
                    "$.types",
                    "name at least one type, or leave types out for the matter's needed types",
                ))
            }
            Some(t) if t.len() > MAX_TYPES => {
                return Err(Rejection::new(
                    Reason::InvalidRequest,
                    "$.types",
                    format!("at most {MAX_TYPES} types"),
                ))
            }
            Some(t) => {
                let mut seen = BTreeSet::new();
                t.into_iter().filter(|x| seen.insert(x.clone())).collect()
            }
        };
        Ok(Self {
            requester,
            matter,
            purpose,
            holder: req.holder,
            types,
        })
    }
}

/// The registered requester and a matter it may pull for: `403 forbidden` for an unknown
/// requester, `403 matter_not_allowed` for a matter it is not registered for (or an unknown one).
pub fn requester_for<'r>(
    reg: &'r Registries,
    requester: &str,
    matter: &str,
) -> Result<(&'r Requester, &'r Matter), Rejection> {
    let requester = reg.requesters.get(requester).ok_or_else(|| {
        Rejection::new(
            Reason::Forbidden,
            "$",
            format!("requester {requester} is not registered"),
        )
    })?;
    match reg.matters.get(matter) {
        Some(m) if requester.matters.contains(&m.code) => Ok((requester, m)),
        _ => Err(Rejection::new(
            Reason::MatterNotAllowed,
            "$.matter",
            format!("{} is not registered for matter {matter}", requester.id),
        )),
    }
}

/// A purpose text trimmed, not empty and at most [`MAX_PURPOSE_CHARS`] characters.
pub fn check_purpose(purpose: &str) -> Result<String, Rejection> {
    let p = purpose.trim();
    if p.is_empty() {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.purpose",
            "must not be empty",
        ));
    }
    if p.chars().count() > MAX_PURPOSE_CHARS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.purpose",
            format!("at most {MAX_PURPOSE_CHARS} characters"),
        ));
    }
    Ok(p.to_owned())
}

// ----- deciding a pull ---------------------------------------------------------------------------

/// Why a type is not provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What the consents say of one asked type, before any licence is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Refused from the consents alone: no licence of the type is read.
    Refused(Refusal),
    /// Look for the holder's licences of the type: these consents (indices into the consents
    /// given to [`needs`], all active and covering the type) may release one.
    Look(Vec<usize>),
}

/// For each asked type, in order: refused (the matter does not need it, or no active consent
/// covers it — the newest covering consent then says why), or the consents that may release it.
/// `consents` are the holder's consents for this requester and matter.
pub fn needs(
    types: &[TypeCode],
    matter: &Matter,
    consents: &[Consent],
    now: DateTime<Utc>,
) -> Vec<Need> {
    types
        .iter()
        .map(|ty| {
            if !matter.types.contains(ty) {
                return Need::Refused(Refusal::new(
                    Reason::MatterNotAllowed,
                    format!("matter {} does not need type {ty}", matter.code),
                ));
            }
            let covering: Vec<usize> = (0..consents.len())
                .filter(|&i| consents[i].covers(ty))
                .collect();
            let active: Vec<usize> = covering
                .iter()
                .copied()
                .filter(|&i| consents[i].state(now) == ConsentState::Active)
                .collect();
            if !active.is_empty() {
                return Need::Look(active);
            }
            Need::Refused(
                match covering
                    .iter()
                    .map(|&i| &consents[i])
                    .max_by_key(|c| c.created_at)
                {
                    Some(c) => {
                        let reason = c.state(now).reason().unwrap_or(Reason::NoConsent);
                        Refusal::new(
                            reason,
                            format!(
                                "consent {} is {}",
                                c.id,
                                reason.as_str().trim_start_matches("consent_")
                            ),
                        )
                    }
                    None => Refusal::new(
                        Reason::NoConsent,
                        "the holder has not consented to this pull",
                    ),
                },
            )
        })
        .collect()
}

/// The consent a licence would be released under: of the type's consents that admit it, one with
/// a use limit first (so unlimited ones are not charged needlessly), then the oldest. `None`: no
/// consent admits it, and it is not a candidate.
pub fn charge(look: &[usize], consents: &[Consent], id: &LicenceId) -> Option<usize> {
    look.iter()
        .copied()
        .filter(|&i| consents[i].admits(id))
        .min_by_key(|&i| (consents[i].max_uses.is_none(), consents[i].created_at))
}

/// Order of preference among a holder's candidate licences of one type: valid first, then the
/// highest version, then the latest deposit.
pub fn preference(
    valid: bool,
    id: &LicenceId,
    deposited_at: DateTime<Utc>,
) -> (bool, u16, DateTime<Utc>) {
    (valid, id.version(), deposited_at)
}

/// The best candidate of a looked-for type, freshly verified.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: &'a LicenceId,
    pub verdict: &'a Verdict,
    /// Whether its stored bytes can be served (they passed their digest and signature).
    pub servable: bool,
    /// The consent [`charge`] named for it.
    pub consent: usize,
}

/// A type's outcome: provided under a consent (an index into the consents), or refused.
pub fn decide(ty: &TypeCode, need: &Need, best: Option<Candidate<'_>>) -> Result<usize, Refusal> {
    match (need, best) {
        (Need::Refused(r), _) => Err(r.clone()),
        (Need::Look(_), None) => Err(Refusal::new(
            Reason::NoLicence,
            format!("the holder holds no current licence of type {ty}"),
        )),
        (Need::Look(_), Some(c)) if c.verdict.valid && c.servable => Ok(c.consent),
        (Need::Look(_), Some(c)) => Err(match c.verdict.reason() {
            Some(reason) => Refusal::new(
                reason,
                format!("{} does not verify: {}", c.id.urn(), reason.as_str()),
            ),
            None => Refusal::new(
                Reason::IntegrityFailure,
                format!("{} cannot be served", c.id.urn()),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Check, CheckName};

    fn t(s: &str) -> DateTime<Utc> {
        crate::proof::parse_time(s).unwrap()
    }

    fn id(serial: &str, version: u16) -> LicenceId {
        let v1: LicenceId = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
            .parse()
            .unwrap();
        LicenceId::new(&v1.type_code(), &v1.issuer(), serial, version).unwrap()
    }

    fn consent() -> Consent {
        Consent {
            id: "cst_1".into(),
            requester: "r".into(),
            matter: "m".into(),
            purpose: "p".into(),
            types: Vec::new(),
            licences: vec![id("2430599", 1)],
            created_at: t("2025-01-01T00:00:00Z"),
            expires_at: t("2025-02-01T00:00:00Z"),
            max_uses: Some(2),
            uses: 0,
            withdrawn_at: None,
            history: Vec::new(),
            request: None,
        }
    }

    fn matter(types: Vec<TypeCode>) -> Matter {
        serde_json::from_value(serde_json::json!({
            "code": "m", "name": "M", "types": types
        }))
        .unwrap()
    }

    #[test]
    fn consent_state_prefers_withdrawn_then_expired_then_exhausted() {
        let now = t("2025-01-15T00:00:00Z");
        let mut c = consent();
        assert_eq!(
            (c.state(now), c.remaining_uses()),
            (ConsentState::Active, Some(2))
        );
        c.uses = 2;
        assert_eq!(
            (c.state(now), c.remaining_uses()),
            (ConsentState::Exhausted, Some(0))
        );
        assert_eq!(c.state(c.expires_at), ConsentState::Expired);
        c.withdrawn_at = Some(now);
        assert_eq!(c.state(c.expires_at), ConsentState::Withdrawn);
        assert_eq!(ConsentState::Active.reason(), None);
    }

    #[test]
    fn terms_narrow_and_never_widen() {
        let now = t("2025-01-15T00:00:00Z");
        let c = consent();
        let terms = c.terms();
        let n = |n: Narrowing, used: u32| narrow(&terms, &n, used, now).map_err(|e| e.field);
        // Unchanged when nothing is asked; each member narrows on its own.
        assert_eq!(n(Narrowing::default(), 0), Ok(terms.clone()));
        let earlier = t("2025-01-20T00:00:00Z");
        let narrowed = n(
            Narrowing {
                expires_at: Some(earlier),
                max_uses: Some(1),
                ..Narrowing::default()
            },
            0,
        )
        .unwrap();
        assert_eq!((narrowed.expires_at, narrowed.max_uses), (earlier, Some(1)));
        // Not below what was used, not above the limit, not later, not into the past.
        let uses = |m| Narrowing {
            max_uses: Some(m),
            ..Narrowing::default()
        };
        assert_eq!(n(uses(1), 2), Err("$.maxUses".to_owned()));
        assert_eq!(n(uses(3), 0), Err("$.maxUses".to_owned()));
        let at = |t| Narrowing {
            expires_at: Some(t),
            ..Narrowing::default()
        };
        assert_eq!(
            n(at(t("2025-03-01T00:00:00Z")), 0),
            Err("$.expiresAt".to_owned())
        );
        assert_eq!(n(at(now), 0), Err("$.expiresAt".to_owned()));
        // A consent by licence narrows its licences, not types it never named.
        let types = Narrowing {
            types: Some(vec![c.licences[0].type_code()]),
            ..Narrowing::default()
        };
        assert_eq!(n(types, 0), Err("$.types".to_owned()));
        let other = Narrowing {
            licences: Some(vec![id("2430600", 1)]),
            ..Narrowing::default()
        };
        assert_eq!(n(other, 0), Err("$.licences[0]".to_owned()));
    }

    #[test]
    fn a_consent_by_id_covers_later_versions_of_the_same_licence_only() {
        let c = consent();
        let v1 = &c.licences[0];
        assert!(c.covers(&v1.type_code()));
        assert!(c.admits(&v1.with_version(2).unwrap()));
        assert!(!c.admits(&id("2430600", 1)));
    }

    #[test]
    fn needs_refuse_from_the_consents_alone() {
        let now = t("2025-01-15T00:00:00Z");
        let ty = id("2430599", 1).type_code();
        let other: TypeCode = "11100000000019713D001".parse().unwrap();
        let m = matter(vec![ty.clone()]);
        let refused = |n: &Need| match n {
            Need::Refused(r) => Some(r.reason),
            Need::Look(_) => None,
        };
        // Not needed by the matter; no consent at all.
        let n = needs(&[other, ty.clone()], &m, &[], now);
        assert_eq!(
            n.iter().map(refused).collect::<Vec<_>>(),
            [Some(Reason::MatterNotAllowed), Some(Reason::NoConsent)]
        );
        // The newest covering consent says why.
        let mut old = consent();
        old.uses = 2;
        let mut new = consent();
        new.id = "cst_2".into();
        new.created_at = t("2025-01-02T00:00:00Z");
        new.withdrawn_at = Some(now);
        let n = needs(
            std::slice::from_ref(&ty),
            &m,
            &[old.clone(), new.clone()],
            now,
        );
        assert_eq!(refused(&n[0]), Some(Reason::ConsentWithdrawn));
        // An active one is looked with.
        let n = needs(std::slice::from_ref(&ty), &m, &[new, consent()], now);
        assert_eq!(n, [Need::Look(vec![1])]);
    }

    #[test]
    fn a_licence_is_charged_to_a_limited_consent_first_and_only_if_admitted() {
        let mut unlimited = consent();
        unlimited.max_uses = None;
        let limited = consent();
        let consents = [unlimited, limited];
        assert_eq!(charge(&[0, 1], &consents, &id("2430599", 2)), Some(1));
        assert_eq!(charge(&[0], &consents, &id("2430599", 1)), Some(0));
        assert_eq!(charge(&[0, 1], &consents, &id("2430600", 1)), None);
    }

    #[test]
    fn a_candidate_is_provided_only_when_valid_and_servable() {
        let now = t("2025-01-15T00:00:00Z");
        let lic = id("2430599", 1);
        let ty = lic.type_code();
        let valid = Verdict::new(vec![Check::pass(CheckName::Signature)], now);
        let revoked = Verdict::new(
            vec![
                Check::pass(CheckName::Signature),
                Check::fail(CheckName::Status, Reason::Revoked, "revoked"),
            ],
            now,
        );
        let look = Need::Look(vec![0]);
        let c = |verdict, servable| Candidate {
            id: &lic,
            verdict,
            servable,
            consent: 0,
        };
        assert_eq!(decide(&ty, &look, Some(c(&valid, true))), Ok(0));
        assert_eq!(
            decide(&ty, &look, Some(c(&valid, false))).map_err(|r| r.reason),
            Err(Reason::IntegrityFailure)
        );
        assert_eq!(
            decide(&ty, &look, Some(c(&revoked, true))).map_err(|r| r.reason),
            Err(Reason::Revoked)
        );
        assert_eq!(
            decide(&ty, &look, None).map_err(|r| r.reason),
            Err(Reason::NoLicence)
        );
        let refused = Need::Refused(Refusal::new(Reason::NoConsent, "no"));
        assert_eq!(
            decide(&ty, &refused, Some(c(&valid, true))).map_err(|r| r.reason),
            Err(Reason::NoConsent)
        );
    }
}
