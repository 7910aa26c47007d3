//! Licence lifecycle in the vault: signed status statements kept in order forever, the version
//! chain, and the per-agency Bitstring Status Lists that offline verifiers fetch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{layout, LicenceMeta, Tx, Vault, VaultError};
use crate::codes::{LicenceId, Uscc};
use crate::lifecycle::{self, Purpose, LIST_SIZE};
use crate::store::{Change, StoreError, Table};
use crate::verdict::{Reason, Rejection};
use crate::verify::notice::StatusChange;
use crate::verify::{self, status_list, Status};

/// The status in force, as set by the latest accepted statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusRecord {
    pub status: Status,
    #[schema(value_type = String, format = DateTime)]
    pub effective_at: DateTime<Utc>,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
}

/// A statement as the vault keeps it: the signed document and when the vault received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredStatement {
    #[schema(value_type = Object)]
    pub statement: Value,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    pub sha256: String,
}

/// Whether a change to `status` sends notices to the requesters provided the licence.
fn notifies(status: Status) -> bool {
    matches!(
        status,
        Status::Suspended | Status::Revoked | Status::Cancelled | Status::Superseded
    )
}

fn reject(reason: Reason, field: &str, message: impl Into<String>) -> VaultError {
    VaultError::Rejected(Rejection::new(reason, field, message))
}

/// The issuer's next status-list index from its counter as read (`read`), for `change`: which
/// applies only if no other deposit of the issuer's took an index since.
pub(super) fn status_index_from(
    issuer: &Uscc,
    read: Option<Vec<u8>>,
    change: &mut Change,
) -> Result<u64, StoreError> {
    let next = match &read {
        None => 0,
        Some(v) => layout::decode_count(Table::Meta, v)?,
    };
    change.expect(Table::Meta, layout::status_index(issuer), read);
    Ok(next)
}

impl Vault {
    /// The issuer's next status-list index, read for `change`: which applies only if no other
    /// deposit of the issuer's took an index since.
    pub(super) fn next_status_index(
        &self,
        issuer: &Uscc,
        change: &mut Change,
    ) -> Result<u64, StoreError> {
        let read = self.store.get(Table::Meta, &layout::status_index(issuer))?;
        status_index_from(issuer, read, change)
    }

    /// The stable URL of one of an agency's status lists.
    pub fn status_list_url(&self, issuer: &Uscc, purpose: Purpose, list: u64) -> String {
        status_list::url(&self.public_url, issuer, purpose, list)
    }

    /// Every statement about a licence, in the order the vault accepted them.
    pub fn statements(&self, id: &LicenceId) -> Result<Vec<StoredStatement>, StoreError> {
        self.store
            .scan(
                Table::LicenceStatement,
                &layout::statements(id),
                false,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, v)| layout::decode(Table::LicenceStatement, &v))
            .collect()
    }

    /// Accepts a status statement signed by the licence's issuing agency. Returns whether it was
    /// new (`false`: the same statement was accepted before) and the statement history.
    pub fn post_status(
        &self,
        issuer: &Uscc,
        id: &LicenceId,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> Result<(bool, Vec<StoredStatement>), VaultError> {
        if &id.issuer() != issuer {
            return Err(reject(
                Reason::Forbidden,
                "id",
                "only the issuing agency may change a licence's status",
            ));
        }
        let verify::statement::Checked {
            statement: st,
            sha256: sha,
        } = verify::statement::check(doc, &self.registries(), issuer, id, now)?;

        // Decided on the condition that the licence's record, its status lists, the notice
        // sequence and its holder are as read (another node may change them too).
        let (new, history, notified) = self.exclusively(now, |tx| {
            let (mut meta, history) = self.status_of_record(tx.change(), id)?;
            if history.last().is_some_and(|last| last.sha256 == sha) {
                return Ok((false, history, 0));
            }
            let previous = meta.status.as_ref().map_or(Status::Active, |s| s.status);
            lifecycle::check_transition(previous, st.status)?;
            lifecycle::check_order(
                meta.status.as_ref().map(|p| p.effective_at),
                st.effective_at,
            )?;
            let stored = StoredStatement {
                statement: doc.clone(),
                received_at: now,
                sha256: sha.clone(),
            };
            meta.status = Some(StatusRecord {
                status: st.status,
                effective_at: st.effective_at,
                reason: st.reason.clone(),
                received_at: now,
            });
            write_statement(tx.change(), id, history.len(), &stored, &meta);
            let leaf = crate::tlog::leaves::status(
                now,
                &meta.sha256,
                lifecycle::status_name(st.status),
                &sha,
                doc["proof"]["verificationMethod"]
                    .as_str()
                    .unwrap_or_default(),
            );
            super::logs::append(tx.change(), super::logs::LogName::Public, now, &leaf);
            self.flip_status_bits(tx.change(), issuer, &meta, st.status)?;
            let change = StatusChange {
                licence: id,
                previous,
                status: st.status,
                reason: &st.reason,
                effective_at: st.effective_at,
                received_at: now,
                cause: &stored.sha256,
                superseded_by: None,
            };
            let notified = self.notify_status(tx, &change)?;
            let mut history = history;
            history.push(stored);
            Ok((true, history, notified))
        })?;
        if new {
            tracing::info!(licence = %id, status = lifecycle::status_name(st.status), notices = notified, "status statement accepted");
        }
        Ok((new, history))
    }

    /// A licence's record and its statements, with the change conditioned on the record as read.
    fn status_of_record(
        &self,
        change: &mut Change,
        id: &LicenceId,
    ) -> Result<(LicenceMeta, Vec<StoredStatement>), VaultError> {
        let key = layout::licence(id);
        let read = self.store.get(Table::LicenceMeta, key)?;
        change.expect(Table::LicenceMeta, key, read.clone());
        let meta = read
            .map(|v| layout::decode(Table::LicenceMeta, &v))
            .transpose()?
            .ok_or_else(|| reject(Reason::NotFound, "id", format!("no licence {}", id.urn())))?;
        Ok((meta, self.statements(id)?))
    }

    /// Sets the licence's bit in both purposes' lists to what `status` says, conditioned on each
    /// list as read.
    fn flip_status_bits(
        &self,
        change: &mut Change,
        issuer: &Uscc,
        meta: &LicenceMeta,
        status: Status,
    ) -> Result<(), VaultError> {
        let Some(index) = meta.status_index else {
            return Ok(());
        };
        let (list, bit) = lifecycle::list_position(index);
        for purpose in [Purpose::Revocation, Purpose::Suspension] {
            let key = layout::status_bits(issuer, purpose, list);
            let read = self.store.get(Table::Meta, &key)?;
            change.expect(Table::Meta, key.clone(), read.clone());
            let mut bits = read.unwrap_or_else(|| vec![0; (LIST_SIZE / 8) as usize]);
            lifecycle::set_bit(&mut bits, bit, purpose.bit(status));
            change.put(Table::Meta, key, bits);
        }
        Ok(())
    }

    /// Adds the notices of a status change to the transaction, with the licence's holder locked
    /// so that no pull provides the licence between the access log read here and the commit.
    /// Returns how many were sent.
    fn notify_status(
        &self,
        tx: &mut Tx<'_>,
        change: &StatusChange<'_>,
    ) -> Result<usize, VaultError> {
        let holder = self.holder_of_licence(change.licence)?;
        tx.lock_holders(holder.as_ref().map(|(_, d)| d))?;
        let (Some((holder, _)), true) = (&holder, notifies(change.status)) else {
            return Ok(0);
        };
        let recipients = self.provided_to(holder, change.licence, change.received_at)?;
        let mut seq = self.next_notice_seq(tx.change())?;
        self.add_notices(tx.change(), change, &recipients, &mut seq)
    }
}

/// Writes an accepted statement as the licence's `seq`th and its new status in its record.
fn write_statement(
    change: &mut Change,
    id: &LicenceId,
    seq: usize,
    stored: &StoredStatement,
    meta: &LicenceMeta,
) {
    let seq = u32::try_from(seq).unwrap_or(u32::MAX);
    change.put(
        Table::LicenceStatement,
        layout::statement(id, seq),
        layout::encode(stored),
    );
    change.put(
        Table::LicenceMeta,
        layout::licence(id),
        layout::encode(meta),
    );
}

impl Vault {
    /// A signed Bitstring Status List credential for one of an agency's lists, or `None` if the
    /// agency is unknown or has no licences in that list.
    pub fn status_list(
        &self,
        issuer: &Uscc,
        purpose: Purpose,
        list: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, VaultError> {
        if !self.registries().agencies.contains_key(issuer) {
            return Ok(None);
        }
        let assigned = self.next_status_index(issuer, &mut Change::default())?;
        // A list starts at list × LIST_SIZE; one beyond u64 holds nothing (2^47 and up).
        let start = list.checked_mul(u64::from(LIST_SIZE));
        if list > 0 && start.is_none_or(|start| start >= assigned) {
            return Ok(None);
        }
        let bits = self
            .store
            .get(Table::Meta, &layout::status_bits(issuer, purpose, list))?
            .unwrap_or_else(|| vec![0; (LIST_SIZE / 8) as usize]);
        let url = self.status_list_url(issuer, purpose, list);
        Ok(Some(status_list::issue(
            &*self.signing_key(now)?,
            &url,
            purpose,
            &bits,
            now,
        )?))
    }

    /// Every version of a licence that the vault holds, oldest first.
    pub fn versions(&self, id: &LicenceId) -> Result<Vec<LicenceId>, StoreError> {
        let candidates = version_candidates(id);
        let keys: Vec<Vec<u8>> = candidates
            .iter()
            .map(|c| layout::licence(c).to_vec())
            .collect();
        let found = self.store.multi_get(Table::LicenceMeta, &keys)?;
        self.versions_after(id, candidates, found)
    }

    /// [`Vault::versions`] from the metadata of [`version_candidates`] as read: versions chain
    /// by predecessor, so they are consecutive from 001, and beyond `id` they end at the first
    /// one missing (read one at a time after the first, a rare walk).
    pub(super) fn versions_after(
        &self,
        id: &LicenceId,
        candidates: Vec<LicenceId>,
        found: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<LicenceId>, StoreError> {
        let mut out = Vec::new();
        for (c, f) in candidates.into_iter().zip(found) {
            if f.is_some() {
                out.push(c);
            } else if c.version() > id.version() {
                return Ok(out);
            }
        }
        let mut v = id.version().saturating_add(2);
        while let Ok(candidate) = id.with_version(v) {
            if self.meta(&candidate)?.is_none() {
                break;
            }
            out.push(candidate);
            v = v.saturating_add(1);
        }
        Ok(out)
    }
}

/// The versions of `id` whose metadata [`Vault::versions`] reads at once: 001 to the one after
/// `id`'s.
pub(super) fn version_candidates(id: &LicenceId) -> Vec<LicenceId> {
    (1..=id.version().saturating_add(1))
        .map_while(|v| id.with_version(v).ok())
        .collect()
}
