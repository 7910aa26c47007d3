//! Objections to a use (SPEC §17): a holder objects to one record of their access log; the
//! approval system that made the use answers once with its legal basis (and, when asked, attests
//! deletion: the vault signs that attestation and keeps it in the answer); the supervisor reads
//! every objection. Every change is made under the holder's door. The rules are
//! `reuse::objection`.

use super::layout::{self, StoredObjection};
use super::page;
use super::{At, Vault, VaultError};
use crate::reuse::correction::due_after;
use crate::reuse::delegation::Acting;
use crate::reuse::objection::{
    self as rules, Objection, ObjectionAnswer, ObjectionEvent, ObjectionEventKind, ObjectionState,
};
use crate::store::{StoreError, Table};
use crate::verdict::Reason;
use crate::verify::deletion::{self, DeletionFacts};

/// Who reads objections: the holder (a delegate: of its matters), the approval system whose
/// uses they are about, or the supervisor (all of them).
pub enum Reader<'a> {
    Holder(&'a Acting),
    Requester(&'a str),
    Supervisor,
}

/// A page of objections, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionPage {
    pub objections: Vec<Objection>,
    pub next: Option<String>,
}

fn not_found(id: &str) -> VaultError {
    VaultError::new(Reason::NotFound, "id", format!("no objection {id}"))
}

impl Vault {
    /// Objects to the holder's access record `record` (one of theirs, within a delegate's
    /// matters: else `404`, as for a record that never was). A record of the holder's own export
    /// released nothing to anyone: `400`. One objection per use at a time (`409 conflict`; a
    /// withdrawal frees it). Due in the configured working days.
    pub fn object(
        &self,
        acting: &Acting,
        record: &str,
        reason: &str,
        ask_deletion: bool,
        at: impl Into<At>,
    ) -> Result<Objection, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let r = self
            .holder_access_record(&digest, record)?
            .filter(|r| acting.allows_matter(&r.matter))
            .ok_or_else(|| {
                VaultError::new(
                    Reason::NotFound,
                    "$.accessRecord",
                    format!("no access record {record}"),
                )
            })?;
        if r.requester.is_empty() {
            return Err(VaultError::new(
                Reason::InvalidRequest,
                "$.accessRecord",
                "an export was made for the holder: nothing went to an approval system",
            ));
        }
        let reason = rules::check_reason(reason)?;
        let by = acting.acted_by().map(ToString::to_string);
        self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let once = layout::access_objection(&r.id);
            if let Some(v) = self.store.get(Table::AccessObjection, once)? {
                return Err(VaultError::new(
                    Reason::Conflict,
                    "$.accessRecord",
                    format!(
                        "objection {} to this use exists already",
                        layout::id_of_value(Table::AccessObjection, &v)?
                    ),
                ));
            }
            let o = Objection {
                id: super::ids::objection(now),
                access_record: r.id.clone(),
                requester: r.requester.clone(),
                requester_name: r.requester_name.clone(),
                matter: r.matter.clone(),
                matter_name: r.matter_name.clone(),
                used_at: r.at,
                licences: r.licences.clone(),
                reason: reason.clone(),
                ask_deletion,
                state: ObjectionState::Open,
                created_at: now,
                due_at: due_after(now, self.correction_working_days),
                answer: None,
                history: vec![ObjectionEvent {
                    event: ObjectionEventKind::Opened,
                    at: now,
                    by: by.clone(),
                }],
            };
            let change = tx.change();
            change.put(
                Table::HolderObjection,
                layout::holder_objection(&digest, &o.id),
                Vec::new(),
            );
            change.put(
                Table::RequesterObjection,
                layout::requester_objection(&o.requester, &o.id),
                Vec::new(),
            );
            change.put(
                Table::AccessObjection,
                once.to_vec(),
                layout::id_value(&o.id),
            );
            put(change, &hex::encode(digest), &o);
            Ok(o)
        })
    }

    fn stored_objection(&self, id: &str) -> Result<Option<StoredObjection>, StoreError> {
        self.store
            .get(Table::Objection, layout::objection(id))?
            .map(|v| layout::decode::<StoredObjection>(Table::Objection, &v))
            .transpose()
    }

    fn may_read_objection(&self, reader: &Reader<'_>, s: &StoredObjection) -> bool {
        match reader {
            Reader::Supervisor => true,
            Reader::Requester(r) => s.objection.requester == *r,
            Reader::Holder(acting) => {
                s.holder_digest == hex::encode(self.holder_digest(&acting.holder))
                    && acting.allows_matter(&s.objection.matter)
            }
        }
    }

    /// Objection `id` as `reader` may see it; any other answers `404`, as for one that never was.
    pub fn objection(&self, reader: Reader<'_>, id: &str) -> Result<Objection, VaultError> {
        self.stored_objection(id)?
            .filter(|s| self.may_read_objection(&reader, s))
            .map(|s| s.objection)
            .ok_or_else(|| not_found(id))
    }

    /// Every objection of the holder of `digest`, oldest first (one holder's are few).
    pub(super) fn holder_objections(
        &self,
        digest: &layout::HolderDigest,
    ) -> Result<Vec<Objection>, StoreError> {
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderObjection, digest, false, usize::MAX)?
        {
            let id = layout::index_id(Table::HolderObjection, &k, digest.len())?;
            out.extend(self.stored_objection(id)?.map(|s| s.objection));
        }
        Ok(out)
    }

    /// A page of the objections `reader` may see, only open ones when `open_only`, newest first,
    /// after the objection `cursor`.
    pub fn objections_page(
        &self,
        reader: Reader<'_>,
        cursor: Option<&str>,
        limit: usize,
        open_only: bool,
    ) -> Result<ObjectionPage, VaultError> {
        let limit = page::CORRECTIONS.clamp(limit);
        let (table, prefix, after) = match &reader {
            Reader::Holder(a) => {
                let d = self.holder_digest(&a.holder);
                let at = cursor.map(|id| layout::holder_objection(&d, id));
                (Table::HolderObjection, d.to_vec(), at)
            }
            Reader::Requester(r) => {
                let at = cursor.map(|id| layout::requester_objection(r, id));
                (
                    Table::RequesterObjection,
                    layout::requester_objections(r),
                    at,
                )
            }
            Reader::Supervisor => (
                Table::Objection,
                Vec::new(),
                cursor.map(|id| layout::objection(id).to_vec()),
            ),
        };
        let (objections, more) = self.index_page(table, &prefix, after, limit, |id| {
            Ok(self.stored_objection(id)?.and_then(|s| {
                ((!open_only || s.objection.state == ObjectionState::Open)
                    && self.may_read_objection(&reader, &s))
                .then_some(s.objection)
            }))
        })?;
        let next = objections.last().filter(|_| more).map(|o| o.id.clone());
        Ok(ObjectionPage { objections, next })
    }

    /// Withdraws an open objection (the holder).
    pub fn withdraw_objection(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Objection, VaultError> {
        let by = acting.acted_by().map(ToString::to_string);
        self.as_holder(acting, at, |tx| {
            let s = self
                .stored_objection(id)?
                .filter(|s| self.may_read_objection(&Reader::Holder(acting), s))
                .ok_or_else(|| not_found(id))?;
            let mut o = s.objection;
            o.must_be_open()?;
            o.state = ObjectionState::Withdrawn;
            o.history.push(ObjectionEvent {
                event: ObjectionEventKind::Withdrawn,
                at: tx.now(),
                by: by.clone(),
            });
            // The use may be objected to again.
            tx.change().delete(
                Table::AccessObjection,
                layout::access_objection(&o.access_record).to_vec(),
            );
            put(tx.change(), &s.holder_digest, &o);
            Ok(o)
        })
    }

    /// The approval system's answer to an objection to one of its uses (another's: `404`):
    /// the legal basis it relied on and, when the holder asked, its attestation that it deleted
    /// what the use released, which the vault signs and keeps in the answer. Final: `409
    /// objection_closed` after an answer or a withdrawal.
    pub fn answer_objection(
        &self,
        requester: &str,
        id: &str,
        legal_basis: &str,
        deleted: Option<bool>,
        at: impl Into<At>,
    ) -> Result<Objection, VaultError> {
        let reader = Reader::Requester(requester);
        let s = self
            .stored_objection(id)?
            .filter(|s| self.may_read_objection(&reader, s))
            .ok_or_else(|| not_found(id))?;
        let basis = rules::check_answer(&s.objection, legal_basis, deleted)?;
        let digest = layout::holder_digest_from_hex(Table::Objection, &s.holder_digest)?;
        self.for_holder(&digest, at, |tx| {
            let mut o = self
                .stored_objection(id)?
                .ok_or_else(|| not_found(id))?
                .objection;
            o.must_be_open()?;
            let now = tx.now();
            let deletion = match deleted {
                Some(true) => Some(deletion::issue(
                    &*self.signing_key(now)?,
                    &DeletionFacts {
                        objection: &o.id,
                        access_record: &o.access_record,
                        requester: (&o.requester, &o.requester_name),
                        licences: &o.licences,
                        at: now,
                    },
                )?),
                _ => None,
            };
            o.state = ObjectionState::Answered;
            o.answer = Some(ObjectionAnswer {
                at: now,
                legal_basis: basis.clone(),
                deletion,
            });
            o.history.push(ObjectionEvent {
                event: ObjectionEventKind::Answered,
                at: now,
                by: Some(requester.to_owned()),
            });
            put(tx.change(), &s.holder_digest, &o);
            Ok(o)
        })
    }
}

fn put(change: &mut crate::store::Change, holder_digest: &str, o: &Objection) {
    change.put(
        Table::Objection,
        layout::objection(&o.id).to_vec(),
        layout::encode(&StoredObjection {
            holder_digest: holder_digest.to_owned(),
            objection: o.clone(),
        }),
    );
}
