//! Deposits: checking a batch on all cores, then deciding it behind the write door (duplicates,
//! renewals, status-list positions, the notices of superseded predecessors) as one durable change.

use crate::codes::{LicenceId, Uscc};
use crate::jcs;
use crate::lifecycle::{self, Status};
use crate::metrics::Counter;
use crate::proof;
use crate::registry::Registries;
use crate::store::{self, Change, Read, Table};
use crate::verdict::{Check, CheckName, Reason, Rejection};
use crate::verify::{self, Evidence, RecordFacts, SigningError};
use chrono::{DateTime, Utc};

use super::layout::{self};

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

use super::registries::Attempt;
use super::{Checked, Deposited, LicenceMeta, Tx, Vault, VaultError};

/// One item's outcome in [`Vault::store_checked`]: `(created, receipt if signed)` or why not.
pub(super) type StoredItem = Result<(bool, Option<Value>), VaultError>;

/// What a batch of deposits will write, built item by item under the write lock: later items see
/// earlier ones (a duplicate, a renewal of a licence in the same batch, the next status index).
#[derive(Default)]
pub(super) struct DepositPlan {
    change: Change,
    /// Licences of this batch: digest and receipt.
    in_batch: HashMap<LicenceId, (String, Option<Value>)>,
    /// Predecessors superseded by this batch, with their new metadata.
    successors: HashMap<LicenceId, LicenceMeta>,
    /// Each issuer's next status index after this batch.
    next_index: HashMap<Uscc, u64>,
    /// Each issuer's status-index counter as read with the batch's licences, until used.
    counters: HashMap<Uscc, Option<Vec<u8>>>,
}

impl DepositPlan {
    /// The batch's one durable change.
    pub(super) fn into_change(self) -> Change {
        let mut change = self.change;
        change.durable = true;
        for (pred, meta) in self.successors {
            change.put(
                Table::LicenceMeta,
                layout::licence(&pred),
                layout::encode(&meta),
            );
        }
        for (issuer, next) in self.next_index {
            change.put(
                Table::Meta,
                layout::status_index(&issuer),
                layout::encode_count(next),
            );
        }
        change
    }
}

/// The deposit refusal of a failed check: its reason, and the member it is about (the check's own
/// JSON path, or the member that check is about).
pub(super) fn check_rejection(
    c: &Check,
    p: &Result<proof::Prepared, proof::ProofError>,
) -> Rejection {
    let reason = c.code.unwrap_or(Reason::InvalidRequest);
    let field = c.field.clone().unwrap_or_else(|| {
        match c.check {
            CheckName::Signature => p.as_ref().err().map_or("$.proof.proofValue", |e| e.field()),
            CheckName::IssuerKey => "$.proof.verificationMethod",
            CheckName::Issuer => "$.issuer.id",
            CheckName::Validity => "$.validUntil",
            _ => "$",
        }
        .to_owned()
    });
    Rejection::new(reason, field, c.detail.clone().unwrap_or_default())
}

/// The item itself if `issuer` (when given) may deposit it.
pub(super) fn deposited_by(issuer: Option<&Uscc>, c: Checked) -> Result<Checked, VaultError> {
    match issuer {
        Some(u) if u != &c.licence.id.issuer() => Err(VaultError::new(
            Reason::Forbidden,
            "$.issuer.id",
            format!("this token may deposit only licences issued by {u}"),
        )),
        _ => Ok(c),
    }
}

/// The metadata of a predecessor that a new version may supersede: in the vault, and renewable
/// by [`lifecycle::check_renewal`].
pub(super) fn renewable(
    pred: &LicenceId,
    meta: Option<LicenceMeta>,
) -> Result<LicenceMeta, VaultError> {
    let m = meta.ok_or_else(|| {
        VaultError::new(
            Reason::InvalidIdentifier,
            "$.credentialSubject.licence.predecessor",
            format!("{} is not in the vault", pred.urn()),
        )
    })?;
    let status = m.status.as_ref().map_or(Status::Active, |s| s.status);
    lifecycle::check_renewal(pred, m.superseded_by.is_some(), status)?;
    Ok(m)
}

impl Vault {
    /// Deposits one signed licence on behalf of `issuer`.
    pub fn deposit(
        &self,
        issuer: &Uscc,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> Result<Deposited, VaultError> {
        // deposit_batch returns exactly one result per document.
        self.deposit_batch(Some(issuer), std::slice::from_ref(doc), now)?
            .pop()
            .unwrap_or_else(|| unreachable!("one document, one result"))
    }

    /// Deposits many licences: all signatures in one batch verification, all accepted items in one
    /// durable write. One result per item, in order; valid items land even if others fail.
    /// `issuer` restricts the batch to one agency's licences (`None`: any, for offline import).
    pub fn deposit_batch(
        &self,
        issuer: Option<&Uscc>,
        docs: &[Value],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<Deposited, VaultError>>, VaultError> {
        // Checked against the registries as loaded; the store's flight says whether they are
        // still current (on a store other processes write), and if not, checked again.
        let stored = self.with_current_registries(|reg| {
            let checked = self.check_for_deposit(reg, docs, now);
            Ok(
                match self.store_checked(issuer, checked, now, true, Some(reg))? {
                    Some(stored) => Attempt::Done(stored),
                    None => Attempt::Stale,
                },
            )
        })?;
        Ok(stored
            .into_iter()
            .map(|r| match r? {
                (created, Some(receipt)) if created => Ok(Deposited::Created(receipt)),
                (_, Some(receipt)) => Ok(Deposited::Existing(receipt)),
                (_, None) => Err(SigningError::new("deposit receipt", "not signed").into()),
            })
            .collect())
    }

    /// Bulk import (offline) of items checked with [`Vault::check_for_deposit`] (so an import can
    /// check one batch while storing another): like [`Vault::deposit_batch`] for any issuer, but
    /// receipts are signed when first read instead of now. `Ok(true)`: created, `Ok(false)`:
    /// already present.
    pub fn import_checked(
        &self,
        checked: Vec<Result<Checked, Rejection>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<bool, VaultError>>, VaultError> {
        let stored = self.store_checked(None, checked, now, false, None)?;
        Ok(stored
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.map(|(created, _)| created))
            .collect())
    }

    /// Stores checked items in one durable write (idempotency, version chains and status-list
    /// positions decided under the vault's write lock). Each accepted item gives
    /// `(created, receipt if signed)`. With `checked_with`, the registries the items were checked
    /// against: when they are no longer current, nothing is stored (`None`), to check the items
    /// again.
    pub(super) fn store_checked(
        &self,
        issuer: Option<&Uscc>,
        checked: Vec<Result<Checked, Rejection>>,
        now: DateTime<Utc>,
        sign_receipts: bool,
        checked_with: Option<&Arc<Registries>>,
    ) -> Result<Option<Vec<StoredItem>>, VaultError> {
        let mut results: Vec<Option<StoredItem>> = Vec::with_capacity(checked.len());
        let mut accepted = Vec::new();
        for (i, c) in checked.into_iter().enumerate() {
            match c
                .map_err(VaultError::from)
                .and_then(|c| deposited_by(issuer, c))
            {
                Ok(c) => {
                    results.push(None);
                    accepted.push((i, c));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }

        // Decided under the write lock (this process) on the condition that what was read is
        // unchanged (other processes): each new licence id still absent, each issuer's
        // status-list counter (so that no two deposits get one index), the predecessors renewed,
        // and the holders notified. (The counter alone would not keep a licence id absent: its
        // metadata is read before the counter, so a deposit committed between the two reads
        // would be missed and then written over.)
        let decided = self.exclusively(now, |tx| {
            // One flight: the idempotency check of the whole batch, and the status-index
            // counter of each of its issuers.
            let keys: Vec<&[u8]> = accepted
                .iter()
                .map(|(_, c)| layout::licence(&c.licence.id))
                .collect();
            let mut issuers: Vec<Uscc> = accepted
                .iter()
                .map(|(_, c)| c.licence.id.issuer())
                .collect();
            issuers.sort_unstable();
            issuers.dedup();
            let counter_keys: Vec<Vec<u8>> = issuers.iter().map(layout::status_index).collect();
            let registry = checked_with.and(self.registry_read());
            let reads: Vec<Read<'_>> = registry
                .into_iter()
                .chain(keys.iter().map(|k| Read::Get(Table::LicenceMeta, k)))
                .chain(counter_keys.iter().map(|k| Read::Get(Table::Meta, k)))
                .collect();
            let mut read = self.store.read_all(&reads)?.into_iter().map(store::value);
            if let Some(reg) = checked_with {
                let current = self.registries_at(registry.map(|_| read.next().flatten()));
                if !Arc::ptr_eq(&current, reg) {
                    return Ok(None);
                }
            }
            let stored: Vec<Option<Vec<u8>>> = read.by_ref().take(keys.len()).collect();
            let mut plan = DepositPlan {
                counters: issuers.into_iter().zip(read).collect(),
                ..DepositPlan::default()
            };
            let mut decided = Vec::with_capacity(accepted.len());
            for ((i, c), stored) in accepted.iter().zip(stored) {
                let stored = stored
                    .map(|v| layout::decode::<LicenceMeta>(Table::LicenceMeta, &v))
                    .transpose()?;
                decided.push((
                    *i,
                    self.plan_deposit(&mut plan, c.clone(), stored, now, sign_receipts)?,
                ));
            }
            self.notify_superseded(tx, &mut plan, now)?;
            *tx.change() = plan.into_change();
            Ok::<_, VaultError>(Some(decided))
        })?;
        let Some(decided) = decided else {
            return Ok(None);
        };
        for (i, item) in decided {
            results[i] = Some(item);
        }

        let results: Vec<StoredItem> = results
            .into_iter()
            // Every slot was filled: refused items before the write, accepted ones while building it.
            .map(|r| r.unwrap_or_else(|| unreachable!("every item has a result")))
            .collect();
        self.count_deposits(&results);
        Ok(Some(results))
    }

    /// Adds one checked licence to `plan`, or says why it is not stored: a duplicate (the same
    /// bytes: not created; other bytes: a conflict), or a renewal of a predecessor that cannot be
    /// renewed. Store and signing errors fail the whole batch.
    pub(super) fn plan_deposit(
        &self,
        plan: &mut DepositPlan,
        checked: Checked,
        stored: Option<LicenceMeta>,
        now: DateTime<Utc>,
        sign_receipts: bool,
    ) -> Result<StoredItem, VaultError> {
        let Checked {
            licence: lic,
            bytes,
            sha256,
            holder_key,
            leaf,
            representative_key,
        } = checked;
        let existing = match (plan.in_batch.get(&lic.id), stored) {
            (Some((s, r)), _) => Some((s.clone(), r.clone())),
            (None, Some(m)) if sign_receipts => {
                let receipt = self.receipt_of(&lic.id, &m)?;
                Some((m.sha256, Some(receipt)))
            }
            (None, Some(m)) => Some((m.sha256, None)),
            (None, None) => None,
        };
        if let Some((prev_sha, receipt)) = existing {
            return Ok(if prev_sha == sha256 {
                Ok((false, receipt))
            } else {
                Err(VaultError::new(
                    Reason::Conflict,
                    "$.id",
                    format!("{} was deposited before with other content", lic.id.urn()),
                ))
            });
        }
        if let Some(pred) = &lic.predecessor {
            let meta = match plan.successors.get(pred) {
                Some(m) => Some(m.clone()),
                None => {
                    let key = layout::licence(pred);
                    let read = self.store.get(Table::LicenceMeta, key)?;
                    plan.change.expect(Table::LicenceMeta, key, read.clone());
                    read.map(|v| layout::decode(Table::LicenceMeta, &v))
                        .transpose()?
                }
            };
            match renewable(pred, meta) {
                Ok(mut m) => {
                    m.superseded_by = Some(lic.id.clone());
                    plan.successors.insert(pred.clone(), m);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        let issuer = lic.id.issuer();
        let status_index = match (plan.next_index.get(&issuer), plan.counters.remove(&issuer)) {
            (Some(i), _) => *i,
            (None, Some(read)) => {
                super::lifecycle::status_index_from(&issuer, read, &mut plan.change)?
            }
            (None, None) => self.next_status_index(&issuer, &mut plan.change)?,
        };
        plan.change.put(
            Table::IssuerDeposit,
            layout::issuer_deposit(&issuer, status_index),
            lic.id.to_string().into_bytes(),
        );
        plan.next_index.insert(issuer, status_index + 1);
        let receipt = if sign_receipts {
            Some(self.receipt(&lic.id, &sha256, status_index, now)?)
        } else {
            None
        };
        let meta = LicenceMeta {
            sha256: sha256.clone(),
            deposited_at: now,
            receipt: receipt.clone(),
            superseded_by: None,
            status_index: Some(status_index),
            status: None,
        };
        super::logs::append_deposit(&mut plan.change, now, leaf, &sha256);
        let key = layout::licence(&lic.id);
        plan.change
            .expect(Table::LicenceMeta, key, None)
            .put(Table::LicenceDocument, key, bytes)
            .put(Table::LicenceMeta, key, layout::encode(&meta))
            .put(Table::HolderLicence, holder_key, Vec::new());
        if let Some(k) = representative_key {
            plan.change.put(Table::CompanyRepresentative, k, Vec::new());
        }
        plan.in_batch.insert(lic.id, (sha256, receipt.clone()));
        Ok(Ok((true, receipt)))
    }

    /// Adds to the batch the notices of the predecessors it supersedes, with their holders
    /// locked until the batch is committed (see `vault/notices`).
    pub(super) fn notify_superseded(
        &self,
        tx: &mut Tx<'_>,
        plan: &mut DepositPlan,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        let mut holders = Vec::new();
        for (pred, meta) in &plan.successors {
            if let Some(h) = self.holder_of_licence(pred)? {
                holders.push((pred.clone(), meta.clone(), h));
            }
        }
        if holders.is_empty() {
            return Ok(());
        }
        tx.lock_holders(holders.iter().map(|(_, _, (_, d))| d))?;
        let mut seq = self.next_notice_seq(&mut plan.change)?;
        for (pred, meta, (holder, _)) in &holders {
            let Some(next) = &meta.superseded_by else {
                continue;
            };
            let cause = plan
                .in_batch
                .get(next)
                .map_or_else(String::new, |(sha, _)| sha.clone());
            let recipients = self.provided_to(holder, pred, now)?;
            let reason = format!("superseded by {}", next.urn());
            self.add_notices(
                &mut plan.change,
                &verify::notice::StatusChange {
                    licence: pred,
                    previous: meta.status.as_ref().map_or(Status::Active, |s| s.status),
                    status: Status::Superseded,
                    reason: &reason,
                    effective_at: now,
                    received_at: now,
                    cause: &cause,
                    superseded_by: Some(next),
                },
                &recipients,
                &mut seq,
            )?;
        }
        Ok(())
    }

    pub(super) fn count_deposits(&self, results: &[StoredItem]) {
        let mut outcomes: HashMap<&str, u64> = HashMap::new();
        for r in results {
            let outcome = match r {
                Ok((true, _)) => "created",
                Ok((false, _)) => "existing",
                Err(VaultError::Rejected(rej)) => rej.reason.as_str(),
                Err(VaultError::Store(_) | VaultError::Signing(_)) => "internal",
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
        for (outcome, n) in outcomes {
            self.metrics.add(Counter::Deposits { outcome }, n);
        }
    }

    /// Verifies documents for deposit, signatures in batches on all cores. A licence is accepted
    /// only when every check passes.
    pub fn check_for_deposit(
        &self,
        reg: &Registries,
        docs: &[Value],
        now: DateTime<Utc>,
    ) -> Vec<Result<Checked, Rejection>> {
        use rayon::prelude::*;
        const CHUNK: usize = 64;
        if docs.len() > CHUNK {
            return docs
                .par_chunks(CHUNK)
                .flat_map_iter(|c| self.check_for_deposit(reg, c, now))
                .collect();
        }
        // Canonicalised once: the bytes to store, and (proof cut out) the signed document.
        let mut canonical: Vec<Vec<u8>> = docs.iter().map(jcs::canonicalize).collect();
        let prepared: Vec<_> = docs
            .iter()
            .zip(&canonical)
            .map(|(d, c)| proof::prepare_canonical(d, c))
            .collect();
        let ok: Vec<&proof::Prepared> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
        let mut batch = proof::verify_batch(&ok).into_iter();
        let facts = RecordFacts {
            deposited_at: now,
            integrity: Ok(()),
            status: None,
            superseded_by: None,
        };
        docs.iter()
            .zip(&prepared)
            .zip(canonical.iter_mut())
            .map(|((doc, p), canonical)| {
                let signature = if p.is_ok() { batch.next() } else { Some(false) };
                let ev = Evidence {
                    registries: Some(reg),
                    record: Some(&facts),
                    now,
                    signature,
                };
                let (verdict, lic) = verify::licence_prepared(doc, p, ev);
                let failure = verdict.checks.iter().find(|c| c.ok == Some(false));
                match (failure, lic) {
                    // The storage form is computed here too, on all cores, not under the lock.
                    (None, Some(licence)) => {
                        let bytes = std::mem::take(canonical);
                        let sha256 = hex::encode(Sha256::digest(&bytes));
                        let holder_digest = self.holder_digest(&licence.holder);
                        let holder_key = layout::holder_licence(&holder_digest, &licence.id);
                        let representative_key = self.representative_of(reg, &licence).map(|rep| {
                            layout::company_representative_licence(
                                &holder_digest,
                                &self.holder_digest(&rep),
                                &licence.id,
                            )
                        });
                        let leaf = jcs::canonicalize(&crate::tlog::leaves::deposit(
                            now,
                            &sha256,
                            licence.issuer.as_str(),
                            licence.type_code.as_str(),
                            licence.id.version(),
                            doc["proof"]["verificationMethod"]
                                .as_str()
                                .unwrap_or_default(),
                        ));
                        Ok(Checked {
                            leaf,
                            licence,
                            bytes,
                            sha256,
                            holder_key,
                            representative_key,
                        })
                    }
                    (Some(c), _) => Err(check_rejection(c, p)),
                    (None, None) => Err(Rejection::new(
                        Reason::SchemaViolation,
                        "$",
                        "not a licence",
                    )),
                }
            })
            .collect()
    }

    /// The deposit receipt of a stored licence: the one signed at deposit, or signed now from the
    /// recorded facts (identical bytes: Ed25519 is deterministic and `created` is the deposit time).
    pub fn receipt_of(&self, id: &LicenceId, meta: &LicenceMeta) -> Result<Value, SigningError> {
        match &meta.receipt {
            Some(r) => Ok(r.clone()),
            None => self.receipt(
                id,
                &meta.sha256,
                meta.status_index.unwrap_or(0),
                meta.deposited_at,
            ),
        }
    }

    pub(super) fn receipt(
        &self,
        id: &LicenceId,
        sha: &str,
        status_index: u64,
        at: DateTime<Utc>,
    ) -> Result<Value, SigningError> {
        verify::receipt::issue(
            &*self.signing_key(at)?,
            &self.public_url,
            id,
            sha,
            status_index,
            at,
        )
    }
}
