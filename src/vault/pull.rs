//! Pulls and checks (核验) by approval systems (SPEC §7): decided behind the holder's door, their
//! access record written before anything leaves, then the purpose-stamped copies. What a consent
//! allows is decided by the rules in [`crate::reuse`]; this module reads what they need and writes
//! what they decided.
//!
//! **Invariants:** no licence is read for a type the requester holds no usable consent for; the
//! access record, the consent use counters and the statistics of a pull are one durable
//! [`Change`], committed before anything is returned; consent counters are checked and incremented
//! behind the holder's door ([`Vault::for_holder`]), so concurrent pulls never exceed `maxUses`;
//! holder codes appear in store keys and records only as the keyed holder digest.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::access_log::count_access_in;
use super::access_log::{access_record, put_access_record, AccessKind, AccessRecord, Decision};
use super::layout::{self, HolderDigest, StatKey};
use super::logs::LogReceipt;
use super::registries::Attempt;
use super::statistics::{add_to_metrics, NO_AGENCY};
use super::{At, Extracted, Tx, Vault, VaultError};
use crate::codes::{LicenceId, TypeCode};
use crate::jcs;
use crate::registry::Registries;
use crate::reuse::{self, Ask, Candidate, ClaimCheck, Consent, Need, Outcome, PullRequest};
use crate::store::{self, Change, Entry, Read, StoreError, Table};
use crate::verdict::{Reason, Verdict};
use crate::verify::copy::{self, CopyFacts, COPY_VALIDITY_DAYS};

/// What a pull answered for one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeResult {
    pub type_code: TypeCode,
    pub type_name: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    /// The licence considered (provided, or refused for its own state); absent otherwise.
    pub licence_id: Option<LicenceId>,
    /// The signed licence, as stored: only when provided, and never for a matter that declares
    /// the fields it needs of the type (the stamped copy then discloses only those).
    pub licence: Option<jcs::Canonical>,
    /// The face fields released, when the matter declares them for the type.
    pub disclosed: Option<Vec<String>>,
    /// Its fresh verdict: when a licence was considered.
    pub verdict: Option<Verdict>,
    /// The vault-signed purpose-stamped copy, canonical: only when provided.
    pub stamped_copy: Option<jcs::Canonical>,
    /// The consent charged: only when provided.
    pub consent: Option<String>,
}

/// The answer to a pull, released only after its access record is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub access_record: String,
    /// The access record's leaf in the access log.
    pub log: super::logs::LogReceipt,
    pub pulled_at: DateTime<Utc>,
    pub matter: String,
    pub purpose: String,
    pub results: Vec<TypeResult>,
}

/// The answer to a check (`POST /v1/reuse:check`), released only after its access record is
/// durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    pub access_record: String,
    pub log: super::logs::LogReceipt,
    pub checked_at: DateTime<Utc>,
    pub matter: String,
    pub type_code: TypeCode,
    /// `provided`: the claims were compared; otherwise why not.
    pub outcome: Outcome,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    pub claims: Option<BTreeMap<String, bool>>,
}

/// The best candidate found for one looked-for type, and the consent it would be charged to.
pub(super) struct Found {
    pub(super) extracted: Extracted,
    pub(super) consent: usize,
}

impl Vault {
    /// Pulls the licences a matter needs for `requester`, with the holder's consent. Every pull —
    /// whatever it provides — is recorded before the answer exists; if the record cannot be
    /// written, the pull fails and no consent use is counted.
    pub fn reuse(
        &self,
        requester: &str,
        req: PullRequest,
        at: impl Into<At>,
    ) -> Result<Pull, VaultError> {
        let at = at.into();
        self.with_current_registries(|reg| {
            let ask = match Ask::new(reg, requester, req.clone()) {
                Ok(ask) => ask,
                Err(e) => return Ok(Attempt::Refused(e.into())),
            };
            let Some((consents, decisions, record, log)) =
                self.decide_and_record(reg, &ask, AccessKind::Pull, |_, _| {}, at)?
            else {
                return Ok(Attempt::Stale);
            };
            let now = record.at;
            self.release(reg, &ask, &consents, decisions, (&record, log), now)
                .map(Attempt::Done)
        })
    }

    /// Checks claimed face values of one of the holder's licences for `requester` (核验): under the
    /// same consent rules and the same audit-before-release as a pull, and nothing but whether
    /// each claim matches leaves.
    pub fn check_claims(
        &self,
        requester: &str,
        check: ClaimCheck,
        at: impl Into<At>,
    ) -> Result<ClaimAnswer, VaultError> {
        let at = at.into();
        self.with_current_registries(|reg| self.check_claims_with(reg, requester, &check, at))
    }

    /// One attempt of [`Vault::check_claims`] with `reg`.
    fn check_claims_with(
        &self,
        reg: &Arc<Registries>,
        requester: &str,
        check: &ClaimCheck,
        at: At,
    ) -> Result<Attempt<ClaimAnswer>, VaultError> {
        let asked = Ask::new(
            reg,
            requester,
            PullRequest {
                holder: check.holder.clone(),
                matter: check.matter.clone(),
                purpose: check.purpose.clone(),
                types: Some(vec![check.type_code.clone()]),
            },
        )
        .and_then(|ask| reuse::check_claims(reg, ask.matter, check).map(|()| ask));
        let ask = match asked {
            Ok(ask) => ask,
            Err(e) => return Ok(Attempt::Refused(e.into())),
        };
        let Some((_, decisions, record, log)) = self.decide_and_record(
            reg,
            &ask,
            AccessKind::Check,
            |record, decisions| {
                for (o, d) in record.outcomes.iter_mut().zip(decisions) {
                    if let (Ok(_), Some(lic)) = (
                        &d.outcome,
                        d.extracted.as_ref().and_then(|e| e.licence.as_ref()),
                    ) {
                        o.claims = Some(reuse::matches(&lic.fields, &check.claims));
                    }
                }
            },
            at,
        )?
        else {
            return Ok(Attempt::Stale);
        };
        let d = decisions.into_iter().next();
        let outcome = record.outcomes.first();
        Ok(Attempt::Done(ClaimAnswer {
            access_record: record.id.clone(),
            log,
            checked_at: record.at,
            matter: ask.matter.code.clone(),
            type_code: check.type_code.clone(),
            outcome: d.as_ref().map_or(Outcome::NotProvided, Decision::outcome),
            reason: d.as_ref().and_then(Decision::reason),
            message: d.and_then(|d| d.outcome.err().map(|r| r.message)),
            claims: outcome.and_then(|o| o.claims.clone()),
        }))
    }

    /// Decides a pull or a check under the holder's lock and commits its access record (filled
    /// in by `fill`), consent uses and statistics before anything is released. `reg` are the
    /// registries `ask` was made with: when the door's flight finds others current, nothing is
    /// decided or recorded (`None`).
    #[allow(clippy::type_complexity)]
    pub(super) fn decide_and_record(
        &self,
        reg: &Arc<Registries>,
        ask: &Ask<'_>,
        kind: AccessKind,
        fill: impl Fn(&mut AccessRecord, &[Decision]),
        at: At,
    ) -> Result<Option<(Vec<Consent>, Vec<Decision>, AccessRecord, LogReceipt)>, VaultError> {
        let digest = self.holder_digest(&ask.holder);
        let (chain, built) = (
            layout::holder_chain(&digest),
            layout::holder_summary_built(&digest),
        );
        let summary = layout::holder_summary(&digest, &ask.matter.code);
        // Everything of the holder the decision reads before the licences, in one flight.
        let [consents, uses] = super::consents::consent_reads(&digest, false);
        let reads = [
            consents,
            uses,
            Read::Scan {
                table: Table::HolderLicence,
                prefix: &digest,
                reverse: false,
                limit: usize::MAX,
            },
            Read::Get(Table::HolderChain, &chain),
            Read::Get(Table::HolderSummary, &built),
            Read::Get(Table::HolderSummary, &summary),
        ];
        // And whether the registries the ask was made with are still current.
        let reads: Vec<Read<'_>> = reads.into_iter().chain(self.registry_read()).collect();
        let decided = self
            .for_holder_reading(&digest, at, &reads, |tx, read| {
                self.decide(tx, reg, ask, kind, &digest, &fill, read)
            })
            .inspect_err(|e| {
                if let VaultError::Store(e) = e {
                    tracing::error!(error = %e, requester = %ask.requester.id, matter = %ask.matter.code, holder = %ask.holder, "access record not written; pull refused");
                }
            })?;
        let Some((consents, decisions, record, stats, log)) = decided else {
            return Ok(None);
        };
        for (key, n) in &stats {
            add_to_metrics(self, key, *n);
        }
        let provided = decisions.iter().filter(|d| d.outcome.is_ok()).count();
        tracing::info!(access_record = %record.id, kind = ?kind, requester = %ask.requester.id, matter = %ask.matter.code, holder = %ask.holder, provided, not_provided = decisions.len() - provided, "reuse pull recorded");
        Ok(Some((consents, decisions, record, log)))
    }

    /// One attempt of [`Vault::decide_and_record`], behind the holder's door: a concurrent pull
    /// or withdrawal for the same holder sees all of this pull or none of it, pulls for other
    /// holders run alongside and share WAL syncs, and the log's order is the order decided here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decide(
        &self,
        tx: &mut Tx<'_>,
        reg: &Arc<Registries>,
        ask: &Ask<'_>,
        kind: AccessKind,
        digest: &HolderDigest,
        fill: &impl Fn(&mut AccessRecord, &[Decision]),
        read: Vec<Vec<Entry>>,
    ) -> Result<Option<PullDecided>, VaultError> {
        let now = tx.now();
        let mut read = read.into_iter();
        let mut next = || read.next().unwrap_or_default();
        let (scanned, uses, index, chain) = (next(), next(), next(), store::value(next()));
        let summary = vec![next(), next()];
        let generation = self.registry_read().map(|_| store::value(next()));
        if !Arc::ptr_eq(&self.registries_at(generation), reg) {
            return Ok(None);
        }
        let (keys, consents): (Vec<Vec<u8>>, Vec<Consent>) = self
            .consents_from(scanned, uses, |c| {
                c.requester == ask.requester.id && c.matter == ask.matter.code
            })?
            .into_iter()
            .unzip();
        let needs = reuse::needs(&ask.types, ask.matter, &consents, now);
        // Read and verify only what a usable consent admits.
        let found = self.find_licences(index, &ask.types, &needs, &consents, now)?;
        let mut decisions = decide_all(&ask.types, &needs, found);
        let mut record = access_record(ask, kind, digest, &consents, &mut decisions, now);
        // A copy will be signed: the key must be there before anything is recorded.
        if decisions.iter().any(|d| d.copy_id.is_some()) {
            self.can_sign(now)?;
        }
        fill(&mut record, &decisions);
        self.sign_copies(tx.change(), ask, &mut decisions, &record.id, now)?;
        let record_digest = self.chain_access_after(chain, digest, &mut record)?;
        count_access_in(tx.change(), digest, &record, summary)?;
        let (stats, log) = write_pull(
            tx.change(),
            ask,
            digest,
            (&keys, &consents),
            &decisions,
            (&record, record_digest),
        );
        Ok(Some((consents, decisions, record, stats, log)))
    }
}

/// What a pull decided: the consents read, a decision per type, its access record, the
/// statistics it counts and the record's leaf.
pub(super) type PullDecided = (
    Vec<Consent>,
    Vec<Decision>,
    AccessRecord,
    BTreeMap<StatKey, u64>,
    LogReceipt,
);

/// Writes a pull's access record (with its digest), its consent uses and its statistics into its
/// change, and returns the statistics (counted in the metrics once the change is committed) and
/// the record's leaf.
pub(super) fn write_pull(
    change: &mut Change,
    ask: &Ask<'_>,
    digest: &HolderDigest,
    (keys, consents): (&[Vec<u8>], &[Consent]),
    decisions: &[Decision],
    (record, record_digest): (&AccessRecord, String),
) -> (BTreeMap<StatKey, u64>, LogReceipt) {
    let mut stats: BTreeMap<StatKey, u64> = BTreeMap::new();
    *stats
        .entry(StatKey::Pulls {
            matter: ask.matter.code.clone(),
        })
        .or_default() += 1;
    for d in decisions {
        let key = StatKey::Licences {
            agency: d
                .extracted
                .as_ref()
                .map_or_else(|| NO_AGENCY.to_owned(), |e| e.id.issuer().to_string()),
            type_code: d.type_code.to_string(),
            matter: ask.matter.code.clone(),
            outcome: d.reason().map_or("provided", Reason::as_str).to_owned(),
        };
        *stats.entry(key).or_default() += 1;
    }

    let log = put_access_record(change, digest, record, record_digest);
    // The count is read and written under the holder's lock, so a plain put is exact (a
    // merge operand per pull would leave every later read folding them until a compaction).
    let used: std::collections::BTreeSet<usize> = decisions
        .iter()
        .filter_map(|d| d.outcome.clone().ok())
        .collect();
    for i in used {
        let uses = u64::from(consents[i].uses) + 1;
        change.put(
            Table::ConsentUses,
            keys[i].clone(),
            layout::encode_count(uses),
        );
    }
    for (k, n) in &stats {
        change.add(Table::ReuseStats, k.encode(), *n);
    }
    (stats, log)
}

impl Vault {
    /// Signs the stamped (or minimised) copy of each provided licence and keeps it, with what its
    /// printed page shows, in the pull's change (SPEC §16): a copy is kept exactly when its
    /// access record is.
    fn sign_copies(
        &self,
        change: &mut crate::store::Change,
        ask: &Ask<'_>,
        decisions: &mut [Decision],
        record: &str,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        if decisions.iter().all(|d| d.copy_id.is_none()) {
            return Ok(());
        }
        let expires = now + Duration::days(COPY_VALIDITY_DAYS);
        // One key for the pull's copies: the one in force at its time.
        let signer = self.signing_key(now)?;
        let vault_key = signer.did_key().to_string();
        for d in decisions.iter_mut() {
            let (Some(copy_id), Some(e)) = (&d.copy_id, &d.extracted) else {
                continue;
            };
            let licence = e.document.as_ref().ok_or_else(|| {
                crate::verify::SigningError::new("stamped copy", "licence not servable")
            })?;
            let facts = CopyFacts {
                id: copy_id,
                licence: &e.id,
                sha256: &e.meta.sha256,
                requester: &ask.requester.id,
                matter: &ask.matter.code,
                purpose: &ask.purpose,
                access_record: record,
                issued: now,
                expires,
                disputed: e.verdict.disputed.as_ref(),
            };
            let copy = match (ask.matter.fields_of(&d.type_code), &e.licence) {
                (None, _) => copy::issue(&*signer, &facts, licence)?,
                (Some(names), Some(lic)) => {
                    copy::issue_minimised(&*signer, &facts, lic.face(names))?
                }
                (Some(_), None) => {
                    return Err(crate::verify::SigningError::new(
                        "stamped copy",
                        "licence not parsed",
                    )
                    .into())
                }
            };
            let print = Self::copy_facts(e, &ask.requester.name, &ask.matter.name, &vault_key, now);
            Self::keep_copy(change, copy_id, &ask.requester.id, copy.as_bytes(), print);
            d.copy = Some(copy);
        }
        Ok(())
    }

    /// The answer to a recorded pull: each provided licence as stored, with its stamped copy.
    pub(super) fn release(
        &self,
        reg: &Registries,
        ask: &Ask<'_>,
        consents: &[Consent],
        decisions: Vec<Decision>,
        (record, log): (&AccessRecord, LogReceipt),
        now: DateTime<Utc>,
    ) -> Result<Pull, VaultError> {
        let mut results = Vec::with_capacity(decisions.len());
        for d in decisions {
            let outcome = d.outcome();
            let type_name = reg.types.get(&d.type_code).map(|t| t.name.clone());
            let (reason, message, consent) = match &d.outcome {
                Ok(i) => (None, None, Some(consents[*i].id.clone())),
                Err(r) => (Some(r.reason), Some(r.message.clone()), None),
            };
            let fields = ask.matter.fields_of(&d.type_code);
            let stamped_copy = d.copy;
            // A full copy comes with the licence as stored; a minimised one instead of it.
            let licence = match (&stamped_copy, fields, &d.extracted) {
                (Some(_), None, Some(e)) => e.document.clone(),
                _ => None,
            };
            let disclosed = stamped_copy.as_ref().and(fields).map(<[String]>::to_vec);
            results.push(TypeResult {
                type_code: d.type_code,
                type_name,
                outcome,
                reason,
                message,
                licence_id: d.extracted.as_ref().map(|e| e.id.clone()),
                licence,
                disclosed,
                verdict: d.extracted.map(|e| e.verdict),
                stamped_copy,
                consent,
            });
        }
        Ok(Pull {
            access_record: record.id.clone(),
            log,
            pulled_at: now,
            matter: ask.matter.code.clone(),
            purpose: ask.purpose.clone(),
            results,
        })
    }

    /// For each looked-for type, the holder's best licence of that type that one of its consents
    /// admits (not superseded, verified afresh), and the consent it would be charged to. No
    /// licence is read when no type is looked for.
    pub(super) fn find_licences(
        &self,
        index: Vec<Entry>,
        types: &[TypeCode],
        needs: &[Need],
        consents: &[Consent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Found>>, StoreError> {
        let look = |i: usize| match &needs[i] {
            Need::Look(l) => Some(l.as_slice()),
            Need::Refused(_) => None,
        };
        let mut best: Vec<Option<Found>> = types.iter().map(|_| None).collect();
        if (0..types.len()).all(|i| look(i).is_none()) {
            return Ok(best);
        }
        // Candidates: of a looked-for type, admitted by one of its consents, and (below) not
        // superseded.
        let mut admitted: Vec<(usize, LicenceId, usize)> = Vec::new();
        for (k, _) in index {
            let text = layout::holder_licence_text(&k)?;
            // Only identifiers of a looked-for type are parsed (check characters and all).
            let ty = LicenceId::type_field(text);
            let Some(i) =
                (0..types.len()).find(|&i| look(i).is_some() && Some(types[i].as_str()) == ty)
            else {
                continue;
            };
            let id = layout::holder_licence_id(&k)?;
            if let Some(c) = look(i).and_then(|l| reuse::charge(l, consents, &id)) {
                admitted.push((i, id, c));
            }
        }
        // What verifying them reads, in one flight.
        let ids: Vec<&LicenceId> = admitted.iter().map(|(_, id, _)| id).collect();
        let (stored, reg) = self.read_stored(&ids)?;
        // Each candidate is verified with verify_strict, as every extraction is: a batch (which
        // may accept a mixed-order R that verify_strict refuses, docs/DECISIONS.md) is for
        // deposits only, and with two or three signatures per pull it saves little.
        for ((i, id, consent), stored) in admitted.into_iter().zip(stored) {
            let Some(stored) = stored.filter(|s| s.meta.superseded_by.is_none()) else {
                continue;
            };
            let e = self.verify_stored(&reg, &id, stored, now)?;
            let rank =
                |e: &Extracted| reuse::preference(e.verdict.valid, &e.id, e.meta.deposited_at);
            if best[i]
                .as_ref()
                .is_none_or(|cur| rank(&e) > rank(&cur.extracted))
            {
                best[i] = Some(Found {
                    extracted: e,
                    consent,
                });
            }
        }
        Ok(best)
    }
}

/// Each type's decision by the rules, with the licence considered.
pub(super) fn decide_all(
    types: &[TypeCode],
    needs: &[Need],
    found: Vec<Option<Found>>,
) -> Vec<Decision> {
    types
        .iter()
        .zip(needs)
        .zip(found)
        .map(|((ty, need), found)| {
            let candidate = found.as_ref().map(|f| Candidate {
                id: &f.extracted.id,
                verdict: &f.extracted.verdict,
                servable: f.extracted.document.is_some(),
                consent: f.consent,
            });
            Decision {
                type_code: ty.clone(),
                outcome: reuse::decide(ty, need, candidate),
                extracted: found.map(|f| f.extracted),
                copy_id: None,
                copy: None,
            }
        })
        .collect()
}
