//! Correction requests (SPEC §17): a holder asks the issuing agency to correct a licence; the
//! agency answers — corrected by a renewal it deposited, or refused with a reason — or the holder
//! withdraws. Every change is made under the holder's door (the agency's answer too: it changes
//! the holder's state), so no two nodes both decide. The rules are `reuse::correction`.
//!
//! A licence's open correction is kept apart (`licenceid_opencorrection`): one lookup tells a
//! new request that one is open already, and every verification of the licence that the holder
//! disputes it ([`Vault::disputed`], read with the licence).

use chrono::{DateTime, Utc};

use super::layout::{self, HolderDigest, OpenCorrection, StoredCorrection};
use super::page;
use super::{At, Vault, VaultError};
use crate::codes::{LicenceId, Uscc};
use crate::reuse::correction::{
    self as rules, Correction, CorrectionAnswer, CorrectionEvent, CorrectionEventKind,
    CorrectionState, NewCorrection,
};
use crate::reuse::delegation::Acting;
use crate::store::{StoreError, Table};
use crate::verdict::{Disputed, Reason};

/// How a caller may see a correction: the holder (within a delegate's scope) or its issuer.
pub enum Reader<'a> {
    Holder(&'a Acting),
    Issuer(&'a Uscc),
}

/// A page of corrections, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionPage {
    pub corrections: Vec<Correction>,
    /// The id of the last correction of the page, when more follow.
    pub next: Option<String>,
}

/// The agency's answer as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Corrected { renewal: LicenceId },
    Refused { reason: String },
}

fn not_found(id: &str) -> VaultError {
    VaultError::new(Reason::NotFound, "id", format!("no correction {id}"))
}

fn no_licence(id: &LicenceId) -> VaultError {
    VaultError::new(
        Reason::NotFound,
        "$.licence",
        format!("no licence {}", id.urn()),
    )
}

/// How many versions a renewal may be ahead of the licence it corrects.
const MAX_RENEWAL_STEPS: usize = 16;

impl Vault {
    /// The dispute an open correction (as stored) carries.
    pub(super) fn disputed(correction: Option<Vec<u8>>) -> Result<Option<Disputed>, StoreError> {
        Ok(correction
            .map(|v| layout::decode::<OpenCorrection>(Table::LicenceCorrection, &v))
            .transpose()?
            .and_then(|o| o.disputed))
    }

    /// Asks the issuer of `licence` (one of the holder's, within a delegate's scope: else `404`,
    /// as for a licence that does not exist) to correct it, due the configured working days later.
    /// Refused for a superseded licence
    /// (`422 superseded`: ask about the version in force) and while another correction of it is
    /// open (`409 correction_open`).
    pub fn request_correction(
        &self,
        acting: &Acting,
        licence: &LicenceId,
        new: NewCorrection,
        at: impl Into<At>,
    ) -> Result<Correction, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let reg = self.registries();
        if !acting.allows_type(&reg, &licence.type_code()) || !self.holds(&digest, licence)? {
            return Err(no_licence(licence));
        }
        let ty = reg
            .types
            .get(&licence.type_code())
            .ok_or_else(|| no_licence(licence))?;
        rules::check_new(&new, ty)?;
        let issuer = licence.issuer();
        let issuer_name = reg
            .agencies
            .get(&issuer)
            .map_or_else(|| issuer.to_string(), |a| a.name.clone());
        let by = acting.acted_by().map(ToString::to_string);
        self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let meta = self.meta(licence)?.ok_or_else(|| no_licence(licence))?;
            if let Some(next) = &meta.superseded_by {
                return Err(VaultError::new(
                    Reason::Superseded,
                    "$.licence",
                    format!(
                        "superseded by {}: ask for a correction of the version in force",
                        next.urn()
                    ),
                ));
            }
            let open_key = layout::licence(licence).to_vec();
            if let Some(v) = self.store.get(Table::LicenceCorrection, &open_key)? {
                let open: OpenCorrection = layout::decode(Table::LicenceCorrection, &v)?;
                return Err(VaultError::new(
                    Reason::CorrectionOpen,
                    "$.licence",
                    format!(
                        "correction {} of this licence is open: withdraw it or wait for its answer",
                        open.correction
                    ),
                ));
            }
            let id = super::ids::correction(now);
            let mut history = vec![CorrectionEvent {
                event: CorrectionEventKind::Opened,
                at: now,
                by: by.clone(),
            }];
            if new.disputed {
                history.push(CorrectionEvent {
                    event: CorrectionEventKind::Disputed,
                    at: now,
                    by: by.clone(),
                });
            }
            let c = Correction {
                id: id.clone(),
                licence: licence.urn(),
                type_code: ty.type_code.as_str().to_owned(),
                type_name: ty.name.clone(),
                issuer: issuer.to_string(),
                issuer_name: issuer_name.clone(),
                fields: new.fields.clone(),
                problem: new.problem.trim().to_owned(),
                claimed: new.claimed.clone(),
                evidence: new.evidence.clone(),
                state: CorrectionState::Open,
                disputed: new.disputed,
                created_at: now,
                due_at: rules::due_after(now, self.correction_working_days),
                answer: None,
                history,
            };
            let change = tx.change();
            change.put(
                Table::HolderCorrection,
                layout::holder_correction(&digest, &id),
                Vec::new(),
            );
            change.put(
                Table::IssuerCorrection,
                layout::issuer_correction(&issuer, &id),
                Vec::new(),
            );
            self.put_correction(change, &digest, &c)?;
            Ok(c)
        })
    }

    /// Writes a correction and its licence's open-correction entry (removed once it is closed).
    fn put_correction(
        &self,
        change: &mut crate::store::Change,
        digest: &HolderDigest,
        c: &Correction,
    ) -> Result<(), StoreError> {
        let licence = LicenceId::from_urn_or_bare(&c.licence)
            .map_err(|_| layout::corrupt(Table::Correction, "bad licence"))?;
        let open_key = layout::licence(&licence).to_vec();
        if c.state == CorrectionState::Open {
            let since = c
                .history
                .iter()
                .rev()
                .find(|e| e.event == CorrectionEventKind::Disputed)
                .map_or(c.created_at, |e| e.at);
            let open = OpenCorrection {
                correction: c.id.clone(),
                disputed: c.disputed.then(|| Disputed {
                    correction: c.id.clone(),
                    since,
                    fields: c.fields.clone(),
                }),
            };
            change.put(Table::LicenceCorrection, open_key, layout::encode(&open));
        } else {
            change.delete(Table::LicenceCorrection, open_key);
        }
        change.put(
            Table::Correction,
            layout::correction(&c.id).to_vec(),
            layout::encode(&StoredCorrection {
                holder_digest: hex::encode(digest),
                correction: c.clone(),
            }),
        );
        Ok(())
    }

    /// Every correction of the holder of `digest`, oldest first (one holder's are few).
    pub(super) fn holder_corrections(
        &self,
        digest: &HolderDigest,
    ) -> Result<Vec<Correction>, StoreError> {
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderCorrection, digest, false, usize::MAX)?
        {
            let id = layout::index_id(Table::HolderCorrection, &k, digest.len())?;
            out.extend(self.stored_correction(id)?.map(|s| s.correction));
        }
        Ok(out)
    }

    fn stored_correction(&self, id: &str) -> Result<Option<StoredCorrection>, StoreError> {
        self.store
            .get(Table::Correction, layout::correction(id))?
            .map(|v| layout::decode::<StoredCorrection>(Table::Correction, &v))
            .transpose()
    }

    /// Correction `id` as `reader` may see it: the holder's own (within a delegate's scope) or
    /// one sent to the issuer; any other answers `404`, as for an id that never was.
    pub fn correction(&self, reader: Reader<'_>, id: &str) -> Result<Correction, VaultError> {
        let stored = self.stored_correction(id)?.ok_or_else(|| not_found(id))?;
        if !self.may_read(&reader, &stored)? {
            return Err(not_found(id));
        }
        Ok(stored.correction)
    }

    fn may_read(&self, reader: &Reader<'_>, s: &StoredCorrection) -> Result<bool, StoreError> {
        Ok(match reader {
            Reader::Issuer(u) => s.correction.issuer == u.to_string(),
            Reader::Holder(acting) => {
                let reg = self.registries();
                s.holder_digest == hex::encode(self.holder_digest(&acting.holder))
                    && s.correction
                        .type_code
                        .parse()
                        .is_ok_and(|t| acting.allows_type(&reg, &t))
            }
        })
    }

    /// A page of the corrections `reader` may see — the holder's (a delegate's: of its scope) or
    /// those sent to the issuer, only open ones when `open_only` — newest first, after the
    /// correction `cursor`. `next` is set only when a later shown one exists.
    pub fn corrections_page(
        &self,
        reader: Reader<'_>,
        cursor: Option<&str>,
        limit: usize,
        open_only: bool,
    ) -> Result<CorrectionPage, VaultError> {
        let limit = page::CORRECTIONS.clamp(limit);
        let (table, prefix, after) = match &reader {
            Reader::Holder(a) => {
                let digest = self.holder_digest(&a.holder);
                let at = cursor.map(|id| layout::holder_correction(&digest, id));
                (Table::HolderCorrection, digest.to_vec(), at)
            }
            Reader::Issuer(u) => {
                let at = cursor.map(|id| layout::issuer_correction(u, id));
                (Table::IssuerCorrection, layout::issuer(u), at)
            }
        };
        let (corrections, more) = self.index_page(table, &prefix, after, limit, |id| {
            let Some(s) = self.stored_correction(id)? else {
                return Ok(None);
            };
            let keep = (!open_only || s.correction.state == CorrectionState::Open)
                && self.may_read(&reader, &s)?;
            Ok(keep.then_some(s.correction))
        })?;
        let next = corrections.last().filter(|_| more).map(|c| c.id.clone());
        Ok(CorrectionPage { corrections, next })
    }

    /// The holder's change to one of its open corrections, under its door: `f` changes it and
    /// says what happened.
    fn change_correction(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
        f: impl Fn(&mut Correction, DateTime<Utc>) -> Result<Option<CorrectionEventKind>, VaultError>,
    ) -> Result<Correction, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let by = acting.acted_by().map(ToString::to_string);
        self.as_holder(acting, at, |tx| {
            let stored = self.stored_correction(id)?.ok_or_else(|| not_found(id))?;
            if !self.may_read(&Reader::Holder(acting), &stored)? {
                return Err(not_found(id));
            }
            let mut c = stored.correction;
            c.must_be_open()?;
            let now = tx.now();
            if let Some(event) = f(&mut c, now)? {
                c.history.push(CorrectionEvent {
                    event,
                    at: now,
                    by: by.clone(),
                });
                self.put_correction(tx.change(), &digest, &c)?;
            }
            Ok(c)
        })
    }

    /// Withdraws an open correction (the holder): it is closed, and the dispute with it.
    pub fn withdraw_correction(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Correction, VaultError> {
        self.change_correction(acting, id, at, |c, _| {
            c.state = CorrectionState::Withdrawn;
            c.disputed = false;
            Ok(Some(CorrectionEventKind::Withdrawn))
        })
    }

    /// Marks the licence of an open correction disputed, or no longer (the holder). The same
    /// mark again changes nothing.
    pub fn dispute_correction(
        &self,
        acting: &Acting,
        id: &str,
        disputed: bool,
        at: impl Into<At>,
    ) -> Result<Correction, VaultError> {
        self.change_correction(acting, id, at, |c, _| {
            if c.disputed == disputed {
                return Ok(None);
            }
            c.disputed = disputed;
            Ok(Some(if disputed {
                CorrectionEventKind::Disputed
            } else {
                CorrectionEventKind::Undisputed
            }))
        })
    }

    /// The issuer's answer to an open correction sent to it (another's: `404`): corrected by
    /// `renewal` — a licence deposited since that supersedes the corrected one, directly or
    /// through later versions (else `400` at `$.renewal`) — or refused with a reason. Final:
    /// answering again, or after a withdrawal, is `409 correction_closed`.
    pub fn answer_correction(
        &self,
        issuer: &Uscc,
        id: &str,
        outcome: Outcome,
        at: impl Into<At>,
    ) -> Result<Correction, VaultError> {
        let stored = self.stored_correction(id)?.ok_or_else(|| not_found(id))?;
        if !self.may_read(&Reader::Issuer(issuer), &stored)? {
            return Err(not_found(id));
        }
        let digest = layout::holder_digest_from_hex(Table::Correction, &stored.holder_digest)?;
        if let Outcome::Corrected { renewal } = &outcome {
            let licence = LicenceId::from_urn_or_bare(&stored.correction.licence)
                .map_err(|_| layout::corrupt(Table::Correction, "bad licence"))?;
            if !self.supersedes(renewal, &licence)? {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$.renewal",
                    format!(
                        "{} does not supersede {}: deposit the corrected licence as its renewal first",
                        renewal.urn(),
                        licence.urn()
                    ),
                ));
            }
        }
        self.for_holder(&digest, at, |tx| {
            let mut c = self
                .stored_correction(id)?
                .ok_or_else(|| not_found(id))?
                .correction;
            c.must_be_open()?;
            let now = tx.now();
            let (state, answer) = match &outcome {
                Outcome::Corrected { renewal } => (
                    CorrectionState::Corrected,
                    CorrectionAnswer {
                        outcome: CorrectionState::Corrected,
                        at: now,
                        reason: None,
                        renewal: Some(renewal.urn()),
                    },
                ),
                Outcome::Refused { reason } => (
                    CorrectionState::Refused,
                    CorrectionAnswer {
                        outcome: CorrectionState::Refused,
                        at: now,
                        reason: Some(reason.clone()),
                        renewal: None,
                    },
                ),
            };
            c.state = state;
            c.disputed = false;
            c.answer = Some(answer);
            c.history.push(CorrectionEvent {
                event: if state == CorrectionState::Corrected {
                    CorrectionEventKind::Corrected
                } else {
                    CorrectionEventKind::Refused
                },
                at: now,
                by: Some(issuer.to_string()),
            });
            self.put_correction(tx.change(), &digest, &c)?;
            Ok(c)
        })
    }

    /// Whether `renewal` is a later version of `licence`: reached by following `supersededBy`.
    fn supersedes(&self, renewal: &LicenceId, licence: &LicenceId) -> Result<bool, StoreError> {
        let mut at = licence.clone();
        for _ in 0..MAX_RENEWAL_STEPS {
            match self.meta(&at)?.and_then(|m| m.superseded_by) {
                Some(next) if &next == renewal => return Ok(true),
                Some(next) => at = next,
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

/// What `GET /v1/issuer/corrections` filters by.
pub fn open_only(state: Option<&str>) -> Result<bool, VaultError> {
    match state {
        None | Some("open") => Ok(true),
        Some("all") => Ok(false),
        Some(_) => Err(VaultError::new(
            Reason::InvalidRequest,
            "state",
            "open or all",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_filter_is_open_by_default() {
        assert!(open_only(None).is_ok_and(|o| o));
        assert!(open_only(Some("all")).is_ok_and(|o| !o));
        assert!(open_only(Some("closed")).is_err());
    }
}
