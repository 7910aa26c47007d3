//! Acting for others in the vault (SPEC §11): who the company's legal representative is (read
//! from its 营业执照 in force, verified afresh), the delegations it grants and revokes, the
//! guardianships the admin registers, and per request whether a caller may act for a holder
//! ([`Vault::acting`]).
//!
//! A delegation is kept under the holder (`holderdigest_delegation`), found from the delegate
//! (`delegatedigest_delegation`) and by id (`delegationid_holder`). It names the representative
//! who granted it and ends — without any write — as soon as the company's 营业执照 in force names
//! someone else: a renewal with a new representative stops the old one's delegations at once.

use chrono::{DateTime, Duration, Utc};

use super::ids;
use super::layout::{self, HolderDigest};
use super::{At, Vault, VaultError};
use crate::codes::{mask, HolderCode, CODE_TYPE_CITIZEN, CODE_TYPE_USCC};
use crate::licence::Licence;
use crate::registry::{FieldRole, HolderCategory, Registries};
use crate::reuse::delegation::{
    self, coming_of_age, Acting, Basis, Delegation, NewDelegation, Relation, Scope,
};
use crate::store::{Change, StoreError, Table};
use crate::verdict::Reason;

/// The longest term of an adult guardianship (about five years); a minor's ends at 18.
pub const MAX_ADULT_GUARDIANSHIP_DAYS: i64 = 1_826;

/// The grantor of a guardianship.
pub const ADMIN_GRANTOR: &str = "admin";

fn no_authorisation(holder: &HolderCode) -> VaultError {
    VaultError::new(
        Reason::Forbidden,
        "Acting-For",
        format!(
            "no delegation in force lets you act for {}",
            mask(holder.code())
        ),
    )
}

fn not_found() -> VaultError {
    VaultError::new(Reason::NotFound, "id", "no such delegation")
}

impl Vault {
    /// The company's legal representative: the citizen its 营业执照 in force names — of the
    /// company's licences whose type is for legal persons and marks a `legal_representative_id`
    /// field, the latest issued (then deposited) that verifies now and is not superseded. `None`
    /// if none names one.
    pub fn legal_representative(
        &self,
        company: &HolderCode,
        now: DateTime<Utc>,
    ) -> Result<Option<HolderCode>, StoreError> {
        if company.code_type() != CODE_TYPE_USCC {
            return Ok(None);
        }
        let reg = self.registries();
        let digest = self.holder_digest(company);
        let mut found = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderLicence, &digest, false, usize::MAX)?
        {
            let id = layout::holder_licence_id(&k)?;
            let Some(ty) = reg.types.get(&id.type_code()) else {
                continue;
            };
            let names_one = ty.holder_category == HolderCategory::LegalPerson
                && ty
                    .fields
                    .iter()
                    .any(|f| f.role == Some(FieldRole::LegalRepresentativeId));
            if !names_one {
                continue;
            }
            let Some(e) = self.extract(&id, now)? else {
                continue;
            };
            let Some(lic) = e.licence.as_ref().filter(|_| e.verdict.valid) else {
                continue;
            };
            if let Some(rep) = ty.legal_representative(&lic.fields) {
                found.push(((lic.issue_date, e.meta.deposited_at), rep));
            }
        }
        Ok(found
            .into_iter()
            .max_by_key(|(order, _)| *order)
            .and_then(|(_, rep)| HolderCode::new(CODE_TYPE_CITIZEN, rep.as_str()).ok()))
    }

    /// The citizen a licence of a legal-person type names as the legal representative, if it
    /// names one.
    pub(super) fn representative_of(&self, reg: &Registries, lic: &Licence) -> Option<HolderCode> {
        let ty = reg.types.get(&lic.type_code)?;
        if ty.holder_category != HolderCategory::LegalPerson {
            return None;
        }
        let rep = ty.legal_representative(&lic.fields)?;
        HolderCode::new(CODE_TYPE_CITIZEN, rep.as_str()).ok()
    }

    /// Whether any licence of the company names `actor` as its legal representative (one
    /// lookup: the same work for every company, whatever it holds).
    fn ever_named(&self, company: &HolderDigest, actor: &HolderDigest) -> Result<bool, StoreError> {
        Ok(!self
            .store
            .scan(
                Table::CompanyRepresentative,
                &layout::company_representative(company, actor),
                false,
                1,
            )?
            .is_empty())
    }

    /// Puts the representatives named by the licences of a store written before the
    /// representative index into it, once (at open, in chunks of the holder index).
    pub(super) fn index_representatives(&self) -> Result<(), StoreError> {
        let reg = self.registries();
        self.backfill_once(
            layout::REPRESENTATIVES_INDEXED,
            Table::HolderLicence,
            |(k, _), change| {
                let id = layout::holder_licence_id(k)?;
                let legal = reg
                    .types
                    .get(&id.type_code())
                    .is_some_and(|t| t.holder_category == HolderCategory::LegalPerson);
                if !legal {
                    return Ok(false);
                }
                let Some(doc) = self
                    .store
                    .get(Table::LicenceDocument, layout::licence(&id))?
                else {
                    return Ok(false);
                };
                // Parsed only: who it names is a candidate, verified when it is relied on.
                let Some(rep) = crate::jcs::parse(&doc)
                    .ok()
                    .and_then(|v| Licence::parse(&v).ok())
                    .and_then(|lic| self.representative_of(&reg, &lic))
                else {
                    return Ok(false);
                };
                let company = layout::holder_licence_digest(k)?;
                change.put(
                    Table::CompanyRepresentative,
                    layout::company_representative_licence(
                        &company,
                        &self.holder_digest(&rep),
                        &id,
                    ),
                    Vec::new(),
                );
                Ok(true)
            },
        )?;
        Ok(())
    }

    /// Whether `actor` may act for `holder` now, and within what: the holder itself, the
    /// company's legal representative, or a delegate or guardian with an authorisation in force.
    /// A caller who is neither named by any of the company's licences nor given an authorisation
    /// is refused after two lookups, the same work whatever the company holds: the refusal tells
    /// nothing of its licences (whether a 营业执照 is in force).
    pub fn acting(
        &self,
        actor: &HolderCode,
        holder: &HolderCode,
        now: DateTime<Utc>,
    ) -> Result<Acting, VaultError> {
        if actor == holder {
            return Ok(Acting::own(holder.clone()));
        }
        let (actor_digest, holder_digest) = (self.holder_digest(actor), self.holder_digest(holder));
        let received = self.received_from(&actor_digest, &holder_digest)?;
        if received.is_empty() && !self.ever_named(&holder_digest, &actor_digest)? {
            return Err(no_authorisation(holder));
        }
        let rep = self.legal_representative(holder, now)?;
        if rep.as_ref() == Some(actor) {
            return Ok(Acting {
                holder: holder.clone(),
                actor: actor.clone(),
                scope: Scope::ALL,
                basis: Basis::Representative,
            });
        }
        let mut found: Option<(String, Scope)> = None;
        for d in received {
            if !d.lets_act(rep.as_ref(), now) {
                continue;
            }
            found = Some(match found {
                None => (d.id, d.scope),
                Some((id, Scope::Matters(mut a))) => match d.scope {
                    Scope::Matters(b) => {
                        a.extend(b.into_iter().filter(|m| !a.contains(m)).collect::<Vec<_>>());
                        (id, Scope::Matters(a))
                    }
                    all => (id, all),
                },
                Some(all) => all,
            });
        }
        match found {
            Some((id, scope)) => Ok(Acting {
                holder: holder.clone(),
                actor: actor.clone(),
                scope,
                basis: Basis::Authorised(id),
            }),
            None => Err(no_authorisation(holder)),
        }
    }

    /// Whether an authorisation lets its delegate act now: not revoked or expired and, for a
    /// delegation, granted by the company's legal representative in office.
    pub fn in_force(&self, d: &Delegation, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.in_force_among(d, now, &mut std::collections::HashMap::new())
    }

    /// [`Vault::in_force`] for one of many, with the representatives already found (by company)
    /// in `reps`: a list asks each company once.
    pub fn in_force_among(
        &self,
        d: &Delegation,
        now: DateTime<Utc>,
        reps: &mut std::collections::HashMap<String, Option<HolderCode>>,
    ) -> Result<bool, StoreError> {
        if !d.in_force(now) {
            return Ok(false);
        }
        let rep = match (d.relation, d.holder.parse::<HolderCode>()) {
            (Relation::Delegation, Ok(holder)) => match reps.get(&d.holder) {
                Some(rep) => rep.clone(),
                None => {
                    let rep = self.legal_representative(&holder, now)?;
                    reps.insert(d.holder.clone(), rep.clone());
                    rep
                }
            },
            _ => None,
        };
        Ok(d.lets_act(rep.as_ref(), now))
    }

    /// The authorisations `actor_digest` received from `holder_digest`.
    pub(super) fn received_from(
        &self,
        actor_digest: &HolderDigest,
        holder_digest: &HolderDigest,
    ) -> Result<Vec<Delegation>, StoreError> {
        let prefix = layout::delegate_index(actor_digest, holder_digest, "");
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::DelegateDelegation, &prefix, false, usize::MAX)?
        {
            let (_, id) = layout::delegate_index_parts(&k)?;
            if let Some(d) = self.delegation_at(holder_digest, id)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    fn delegation_at(
        &self,
        holder_digest: &HolderDigest,
        id: &str,
    ) -> Result<Option<Delegation>, StoreError> {
        self.store
            .get(
                Table::HolderDelegation,
                &layout::holder_delegation(holder_digest, id),
            )?
            .map(|v| layout::decode::<Delegation>(Table::HolderDelegation, &v))
            .transpose()
    }

    fn put_delegation(&self, change: &mut Change, d: &Delegation) -> Result<(), VaultError> {
        let holder: HolderCode = d
            .holder
            .parse()
            .map_err(|_| layout::corrupt(Table::HolderDelegation, "bad holder"))?;
        let delegate: HolderCode = d
            .delegate
            .parse()
            .map_err(|_| layout::corrupt(Table::HolderDelegation, "bad delegate"))?;
        let (hd, dd) = (self.holder_digest(&holder), self.holder_digest(&delegate));
        change.put(
            Table::HolderDelegation,
            layout::holder_delegation(&hd, &d.id),
            layout::encode(d),
        );
        change.put(
            Table::DelegateDelegation,
            layout::delegate_index(&dd, &hd, &d.id),
            Vec::new(),
        );
        change.put(
            Table::DelegationHolder,
            layout::delegation_id(&d.id),
            hd.to_vec(),
        );
        Ok(())
    }

    /// Grants a delegation for the company `acting` speaks for; only the company itself or its
    /// legal representative may, and the grant names the representative in office.
    pub fn create_delegation(
        &self,
        acting: &Acting,
        new: NewDelegation,
        at: impl Into<At>,
    ) -> Result<Delegation, VaultError> {
        if !acting.may_delegate() {
            return Err(VaultError::new(
                Reason::Forbidden,
                "Acting-For",
                "a delegate cannot delegate further",
            ));
        }
        let company = &acting.holder;
        let d = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let new = new.clone();
            let rep = self.legal_representative(company, now)?.ok_or_else(|| {
                VaultError::new(
                    Reason::Forbidden,
                    "Acting-For",
                    "no 营业执照 in force in the vault names this company's legal representative",
                )
            })?;
            delegation::check_new_delegation(&self.registries(), company, &rep, &new, now)?;
            let d = Delegation {
                id: ids::delegation(now),
                relation: Relation::Delegation,
                holder: company.key(),
                delegate: new.delegate.key(),
                delegate_name: new.delegate_name,
                scope: new.scope,
                created_at: now,
                expires_at: new.expires_at,
                granted_by: rep.key(),
                revoked_at: None,
            };
            self.put_delegation(tx.change(), &d)?;
            Ok(d)
        })?;
        tracing::info!(delegation = %d.id, company = %company, delegate = %d.delegate, "delegation granted");
        Ok(d)
    }

    /// Up to `limit` of the authorisations given for `holder` (its delegations, or guardianships
    /// over it), newest first, after the one `cursor` names.
    pub fn delegations_given(
        &self,
        holder: &HolderCode,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delegation>, StoreError> {
        let digest = self.holder_digest(holder);
        let entries = match cursor {
            None => self
                .store
                .scan(Table::HolderDelegation, &digest, true, limit)?,
            Some(id) => self.store.scan_after(
                Table::HolderDelegation,
                &digest,
                &layout::holder_delegation(&digest, id),
                true,
                limit,
            )?,
        };
        entries
            .into_iter()
            .map(|(_, v)| layout::decode::<Delegation>(Table::HolderDelegation, &v))
            .collect()
    }

    /// Up to `limit` of the authorisations `delegate` received, from anyone — grouped by who
    /// gave them, newest first within each — after the one `cursor` names; `None` for a cursor
    /// that names no authorisation.
    pub fn delegations_received(
        &self,
        delegate: &HolderCode,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Option<Vec<Delegation>>, StoreError> {
        let digest = self.holder_digest(delegate);
        let entries = match cursor {
            None => self
                .store
                .scan(Table::DelegateDelegation, &digest, true, limit)?,
            Some(id) => {
                let Some(holder) = self
                    .store
                    .get(Table::DelegationHolder, &layout::delegation_id(id))?
                    .and_then(|v| HolderDigest::try_from(v).ok())
                else {
                    return Ok(None);
                };
                // Only an authorisation this delegate received is a cursor of its feed.
                let at = layout::delegate_index(&digest, &holder, id);
                if self.store.get(Table::DelegateDelegation, &at)?.is_none() {
                    return Ok(None);
                }
                self.store
                    .scan_after(Table::DelegateDelegation, &digest, &at, true, limit)?
            }
        };
        let mut out = Vec::new();
        for (k, _) in entries {
            let (holder_digest, id) = layout::delegate_index_parts(&k)?;
            if let Some(d) = self.delegation_at(&holder_digest, id)? {
                out.push(d);
            }
        }
        Ok(Some(out))
    }

    /// Revokes a delegation of the company `acting` speaks for: refused at once from the next
    /// request on. Revoking it again changes nothing.
    pub fn revoke_delegation(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Delegation, VaultError> {
        if !acting.may_delegate() {
            return Err(VaultError::new(
                Reason::Forbidden,
                "Acting-For",
                "a delegate cannot revoke delegations",
            ));
        }
        let digest = self.holder_digest(&acting.holder);
        self.revoke_at(&digest, id, Relation::Delegation, at.into())
    }

    fn revoke_at(
        &self,
        digest: &HolderDigest,
        id: &str,
        relation: Relation,
        at: At,
    ) -> Result<Delegation, VaultError> {
        let (d, revoked) = self.for_holder(digest, at, |tx| {
            let mut d = self
                .delegation_at(digest, id)?
                .filter(|d| d.relation == relation)
                .ok_or_else(not_found)?;
            if d.revoked_at.is_some() {
                return Ok((d, false));
            }
            d.revoked_at = Some(tx.now());
            self.put_delegation(tx.change(), &d)?;
            Ok((d, true))
        })?;
        if revoked {
            tracing::info!(delegation = %d.id, "authorisation revoked");
        }
        Ok(d)
    }

    /// Registers `guardian` to act for `ward` (admin). For a minor, until the ward's 18th
    /// birthday (read from the number) or an earlier `expires_at`, never later. For an adult
    /// (`adult`, said explicitly: a court's or an agreed guardianship), until `expires_at`, at
    /// most [`MAX_ADULT_GUARDIANSHIP_DAYS`] ahead; it is registered again when renewed.
    pub fn register_guardianship(
        &self,
        guardian: &HolderCode,
        ward: &HolderCode,
        expires_at: Option<DateTime<Utc>>,
        adult: bool,
        at: impl Into<At>,
    ) -> Result<Delegation, VaultError> {
        let bad = |field: &str, message: &str| {
            VaultError::new(Reason::InvalidRequest, field, message.to_owned())
        };
        for (code, field) in [(guardian, "$.guardian"), (ward, "$.ward")] {
            if code.code_type() != CODE_TYPE_CITIZEN {
                return Err(VaultError::new(
                    Reason::InvalidHolderCode,
                    field,
                    "a guardian and a ward are citizens (111:…)",
                ));
            }
        }
        if guardian == ward {
            return Err(bad("$.guardian", "a ward is not their own guardian"));
        }
        let of_age = coming_of_age(ward);
        let d = self.for_holder(&self.holder_digest(ward), at, |tx| {
            let now = tx.now();
            let expires_at = match (adult, of_age) {
                (false, None) => {
                    return Err(bad(
                        "$.ward",
                        "the ward's birth date cannot be read from the number: a minor's guardianship ends at 18; register an adult guardianship (adult: true) with expiresAt",
                    ))
                }
                (false, Some(age)) if age <= now => {
                    return Err(bad(
                        "$.ward",
                        "the ward is of age: register an adult guardianship (adult: true) with expiresAt",
                    ))
                }
                (false, Some(age)) => match expires_at {
                    Some(e) if e > age => {
                        return Err(bad(
                            "$.expiresAt",
                            "a minor's guardianship ends at the latest on the ward's 18th birthday",
                        ))
                    }
                    e => e.unwrap_or(age),
                },
                (true, Some(age)) if age > now => {
                    return Err(bad(
                        "$.adult",
                        "the ward is a minor: their guardianship ends at 18 (leave adult out)",
                    ))
                }
                (true, _) => {
                    let e = expires_at.ok_or_else(|| {
                        bad("$.expiresAt", "an adult guardianship needs expiresAt")
                    })?;
                    if e > now + Duration::days(MAX_ADULT_GUARDIANSHIP_DAYS) {
                        return Err(bad(
                            "$.expiresAt",
                            &format!("an adult guardianship lasts at most {MAX_ADULT_GUARDIANSHIP_DAYS} days; register it again to renew it"),
                        ));
                    }
                    e
                }
            };
            if expires_at <= now {
                return Err(bad("$.expiresAt", "must be in the future"));
            }
            let d = Delegation {
                id: ids::guardianship(now),
                relation: Relation::Guardianship,
                holder: ward.key(),
                delegate: guardian.key(),
                delegate_name: None,
                scope: Scope::ALL,
                created_at: now,
                expires_at,
                granted_by: ADMIN_GRANTOR.to_owned(),
                revoked_at: None,
            };
            self.put_delegation(tx.change(), &d)?;
            Ok(d)
        })?;
        tracing::info!(guardianship = %d.id, ward = %ward, guardian = %guardian, "guardianship registered");
        Ok(d)
    }

    /// Ends a guardianship (admin).
    pub fn revoke_guardianship(
        &self,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Delegation, VaultError> {
        let digest: HolderDigest = self
            .store
            .get(Table::DelegationHolder, &layout::delegation_id(id))?
            .and_then(|v| v.try_into().ok())
            .ok_or_else(not_found)?;
        self.revoke_at(&digest, id, Relation::Guardianship, at.into())
    }
}
