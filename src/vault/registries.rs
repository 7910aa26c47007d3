//! The registries (catalogue, matters, agencies and their keys, requesters): the snapshot every
//! node reads at the current registry generation, and the admin's edits behind the write door.

use crate::codes::Uscc;
use crate::keys::DidKey;
use crate::registry::{Agency, AgencyKey, LicenceType, Matter, Registries, Requester};
use crate::store::{Read, Store, StoreError, Table};
use crate::verdict::Reason;
use chrono::{DateTime, Utc};

use super::layout::{self};
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::sync::Arc;

use super::{At, Vault, VaultError};

/// An edit of one agency key.
#[derive(Debug, Clone)]
pub enum KeyEdit {
    Add(AgencyKey),
    Retire(DidKey, DateTime<Utc>),
    Compromise(DidKey, DateTime<Utc>),
}

pub(super) fn check_keys_unique(
    reg: &Registries,
    keys: &[AgencyKey],
    field: &str,
) -> Result<(), VaultError> {
    for (i, k) in keys.iter().enumerate() {
        if reg.key(&k.did_key).is_some() || keys[..i].iter().any(|o| o.did_key == k.did_key) {
            return Err(VaultError::new(
                Reason::Conflict,
                field,
                format!("{} is already registered", k.did_key),
            ));
        }
    }
    Ok(())
}

/// Matter codes and requester ids become store keys and URL segments: keep them plain.
pub(super) fn check_code(field: &str, code: &str) -> Result<(), VaultError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(VaultError::new(
            Reason::InvalidRequest,
            field,
            "must be 1–64 characters of A-Z a-z 0-9 - _ .",
        ))
    }
}

/// How often a decision is made again because the registries changed meanwhile.
const STALE_ATTEMPTS: usize = 8;

/// One attempt of a decision (a deposit, a pull, a check) with the registries as loaded ([`Vault::with_current_registries`]).
pub(super) enum Attempt<T> {
    Done(T),
    /// The registries were no longer current: nothing was decided or recorded.
    Stale,
    /// Refused by these registries before anything was decided.
    Refused(VaultError),
}

impl Vault {
    /// Runs `run` with the registries as this process loaded them (no read); when they refuse
    /// the request, or the decision's flight finds them no longer current (a deposit's
    /// [`Vault::store_checked`], a pull's [`Vault::decide_and_record`] read their generation on a
    /// store other processes write; nothing was stored or recorded),
    /// again with the current ones. A requester or matter added on another node a moment ago is
    /// found, and one removed is refused, as if the registries had been read first.
    pub(super) fn with_current_registries<T>(
        &self,
        mut run: impl FnMut(&Arc<Registries>) -> Result<Attempt<T>, VaultError>,
    ) -> Result<T, VaultError> {
        let mut reg = self.loaded_registries().1;
        for _ in 0..STALE_ATTEMPTS {
            match run(&reg)? {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Stale => reg = self.loaded_registries().1,
                Attempt::Refused(e) => {
                    let current = self.registries();
                    if Arc::ptr_eq(&current, &reg) {
                        return Err(e);
                    }
                    reg = current;
                }
            }
        }
        Err(
            StoreError::Conflict("the registries kept changing while this was decided".into())
                .into(),
        )
    }

    /// The registries. On a store other processes write too, they are read again first when
    /// another node edited them since (one point read of the registry generation); if that read
    /// fails, the registries as last read.
    pub fn registries(&self) -> Arc<Registries> {
        if self.store.shared() {
            match self.current_registries() {
                Ok((_, reg)) => return reg,
                Err(e) => {
                    tracing::warn!(error = %e, "registry generation not read; registries as last read")
                }
            }
        }
        self.loaded_registries().1
    }

    /// The read of the registry generation that a flight of reads carries on a shared store, so
    /// that the registries its reader uses are as current as the rest of what it read; `None`
    /// where this process's registries are always current.
    pub(super) fn registry_read(&self) -> Option<Read<'static>> {
        self.store
            .shared()
            .then_some(Read::Get(Table::Meta, layout::REGISTRY_GENERATION))
    }

    /// The registries at `generation`, as read in a flight with [`Vault::registry_read`] (`None`:
    /// not read, as on an unshared store); read again if they were read at another. If that
    /// fails, the registries as last read.
    pub(super) fn registries_at(&self, generation: Option<Option<Vec<u8>>>) -> Arc<Registries> {
        let (loaded, reg) = self.loaded_registries();
        match generation {
            Some(g) if g != loaded => match self.reload_registries() {
                Ok(()) => self.loaded_registries().1,
                Err(e) => {
                    tracing::warn!(error = %e, "registries not read again; registries as last read");
                    reg
                }
            },
            _ => reg,
        }
    }

    pub(super) fn loaded_registries(&self) -> (Option<Vec<u8>>, Arc<Registries>) {
        self.registries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The registry generation in the store and the registries at it (read again if they were
    /// read at another).
    pub(super) fn current_registries(
        &self,
    ) -> Result<(Option<Vec<u8>>, Arc<Registries>), StoreError> {
        let generation = self.store.get(Table::Meta, layout::REGISTRY_GENERATION)?;
        let (loaded, reg) = self.loaded_registries();
        if loaded == generation {
            return Ok((generation, reg));
        }
        self.reload_registries()?;
        Ok(self.loaded_registries())
    }

    /// Reads the registries (and the generation before them: an edit after that read is seen at
    /// the next).
    pub(super) fn reload_registries(&self) -> Result<(), StoreError> {
        let generation = self.store.get(Table::Meta, layout::REGISTRY_GENERATION)?;
        fn all<T: DeserializeOwned>(store: &dyn Store, table: Table) -> Result<Vec<T>, StoreError> {
            store
                .scan(table, b"", false, usize::MAX)?
                .into_iter()
                .map(|(_, v)| layout::decode(table, &v))
                .collect()
        }
        let s = &*self.store;
        let reg = Registries::new(
            all::<LicenceType>(s, Table::TypeCodeType)?,
            all::<Matter>(s, Table::MatterCodeMatter)?,
            all::<Agency>(s, Table::UsccAgency)?,
            all::<Requester>(s, Table::RequesterIdRequester)?,
        );
        *self.registries.write().unwrap_or_else(|p| p.into_inner()) = (generation, Arc::new(reg));
        Ok(())
    }

    /// Applies one registry edit: `decide` gets the registries as they are in the store now
    /// and says what to write (table, code, entry) and what to answer. The edit applies on the
    /// condition that no other edit (on any node) came after that read, and moves the registry
    /// generation, so that every node reads the registries again.
    pub(super) fn edit_registry<T, E: Serialize>(
        &self,
        decide: impl Fn(&Registries) -> Result<(Table, String, E, T), VaultError>,
    ) -> Result<T, VaultError> {
        let answer = self.exclusively(At::Now, |tx| {
            let (generation, reg) = self.current_registries()?;
            let (table, code, entry, answer) = decide(&reg)?;
            let next = match &generation {
                Some(v) => layout::decode_count(Table::Meta, v)? + 1,
                None => 1,
            };
            tx.change()
                .expect(Table::Meta, layout::REGISTRY_GENERATION, generation)
                .put(
                    Table::Meta,
                    layout::REGISTRY_GENERATION,
                    layout::encode_count(next),
                )
                .put(table, layout::registry(&code), layout::encode(&entry));
            let leaf = crate::tlog::leaves::registry(
                tx.now(),
                registry_name(table),
                &code,
                &serde_json::to_value(&entry).unwrap_or_default(),
                false,
            );
            tx.log(super::logs::LogName::Public, &leaf);
            Ok(answer)
        })?;
        self.reload_registries()?;
        Ok(answer)
    }

    /// Registers a new agency with its keys. Returns a conflict if the agency or a key exists.
    pub fn create_agency(&self, agency: Agency) -> Result<(), VaultError> {
        self.edit_registry(|reg| {
            if reg.agencies.contains_key(&agency.uscc) {
                return Err(VaultError::new(
                    Reason::Conflict,
                    "$.uscc",
                    format!("agency {} exists", agency.uscc),
                ));
            }
            check_keys_unique(reg, &agency.keys, "$.keys")?;
            Ok((
                Table::UsccAgency,
                agency.uscc.to_string(),
                agency.clone(),
                (),
            ))
        })
    }

    /// Applies `edit` to one key of an agency (`None` = add `new_key`).
    pub fn edit_agency_key(&self, uscc: &Uscc, edit: KeyEdit) -> Result<Agency, VaultError> {
        self.edit_registry(|reg| {
            let mut agency = reg.agencies.get(uscc).cloned().ok_or_else(|| {
                VaultError::new(Reason::NotFound, "uscc", format!("no agency {uscc}"))
            })?;
            match edit.clone() {
                KeyEdit::Add(key) => {
                    check_keys_unique(reg, std::slice::from_ref(&key), "$.didKey")?;
                    agency.keys.push(key);
                }
                KeyEdit::Retire(did, at) | KeyEdit::Compromise(did, at)
                    if !agency.keys.iter().any(|k| k.did_key == did) =>
                {
                    let _ = at;
                    return Err(VaultError::new(
                        Reason::NotFound,
                        "didKey",
                        format!("{did} is not a key of {uscc}"),
                    ));
                }
                KeyEdit::Retire(did, at) => {
                    for k in agency.keys.iter_mut().filter(|k| k.did_key == did) {
                        k.retired_at = Some(at);
                    }
                }
                KeyEdit::Compromise(did, at) => {
                    for k in agency.keys.iter_mut().filter(|k| k.did_key == did) {
                        k.compromised_at = Some(at);
                    }
                }
            }
            Ok((Table::UsccAgency, uscc.to_string(), agency.clone(), agency))
        })
    }

    /// Registers or replaces a licence type. Its issuers must be registered agencies.
    /// Returns whether it was new.
    pub fn put_type(&self, ty: LicenceType) -> Result<bool, VaultError> {
        self.edit_registry(|reg| {
            for (i, u) in ty.issuers.iter().enumerate() {
                if !reg.agencies.contains_key(u) {
                    return Err(VaultError::new(
                        Reason::InvalidAgencyCode,
                        &format!("$.issuers[{i}]"),
                        format!("agency {u} is not registered"),
                    ));
                }
            }
            for (i, f) in ty.fields.iter().enumerate() {
                if f.field_type == crate::registry::FieldType::Enum && f.values.is_empty() {
                    return Err(VaultError::new(
                        Reason::InvalidRequest,
                        &format!("$.fields[{i}].values"),
                        "an enum field needs values",
                    ));
                }
                if ty.fields[..i].iter().any(|g| g.name == f.name) {
                    return Err(VaultError::new(
                        Reason::InvalidRequest,
                        &format!("$.fields[{i}].name"),
                        "duplicate field name",
                    ));
                }
            }
            let new = !reg.types.contains_key(&ty.type_code);
            Ok((
                Table::TypeCodeType,
                ty.type_code.to_string(),
                ty.clone(),
                new,
            ))
        })
    }

    /// Registers or replaces a matter. Its types must be catalogued. Returns whether it was new.
    pub fn put_matter(&self, matter: Matter) -> Result<bool, VaultError> {
        self.edit_registry(|reg| {
            check_code("$.code", &matter.code)?;
            for (i, t) in matter.types.iter().enumerate() {
                if !reg.types.contains_key(t) {
                    return Err(VaultError::new(
                        Reason::UnknownType,
                        &format!("$.types[{i}]"),
                        format!("type {t} is not catalogued"),
                    ));
                }
            }
            matter
                .check_fields(&reg.types)
                .map_err(|v| VaultError::new(Reason::InvalidRequest, &v.field, v.message))?;
            let new = !reg.matters.contains_key(&matter.code);
            Ok((
                Table::MatterCodeMatter,
                matter.code.clone(),
                matter.clone(),
                new,
            ))
        })
    }

    /// Registers or replaces a requester. Its matters must be registered. Returns whether it was new.
    pub fn put_requester(&self, requester: Requester) -> Result<bool, VaultError> {
        self.edit_registry(|reg| {
            check_code("$.id", &requester.id)?;
            for (i, m) in requester.matters.iter().enumerate() {
                if !reg.matters.contains_key(m) {
                    return Err(VaultError::new(
                        Reason::NotFound,
                        &format!("$.matters[{i}]"),
                        format!("matter {m} is not registered"),
                    ));
                }
            }
            let new = !reg.requesters.contains_key(&requester.id);
            Ok((
                Table::RequesterIdRequester,
                requester.id.clone(),
                requester.clone(),
                new,
            ))
        })
    }
}

/// How the public log names a registry.
fn registry_name(table: Table) -> &'static str {
    match table {
        Table::UsccAgency => "agency",
        Table::TypeCodeType => "type",
        Table::MatterCodeMatter => "matter",
        Table::RequesterIdRequester => "requester",
        other => other.name(),
    }
}
