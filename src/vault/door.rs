//! The doors of every decision that changes the vault's state (STYLE "Doors").
//!
//! A decision is a closure behind a door: [`Vault::for_holder`] (one holder's decision: a pull, a
//! withdrawal, an answer, a code, a delegation, a read mark), [`Vault::as_holder`] (the same, taken
//! by someone acting for the holder, whose authorisation is checked again under the lock), and
//! [`Vault::exclusively`] (deposits, status statements and registry edits, under the vault's
//! write lock, which may then lock the holders they notify). The door alone retries a lost race,
//! takes the locks, reads the clock, seals the holders' versions and commits; the closure only
//! reads, decides and fills the [`Tx`]'s change.
//!
//! **Invariants:** nothing outside this module takes a holder's lock, seals a version or reads
//! the time of a holder decision (`tests/it/layers.rs` holds the first two). The time is read
//! under the lock, so the times in the store follow the order the lock gives: no pull is dated
//! after the withdrawal it was ordered before, no act of a delegate after its revocation, no
//! redemption after a cancellation, no read mark ahead of what it marks.

use std::collections::BTreeSet;
use std::sync::MutexGuard;

use chrono::{DateTime, Utc};
use rand::RngCore as _;

use super::layout::{self, HolderDigest};
use super::{Vault, VaultError};
use crate::reuse::delegation::{Acting, Basis};
use crate::store::{self, Change, Entry, Read, StoreError, Table};
use crate::verdict::Reason;

/// When a change happens. `Now` is read by the door, under the lock that orders the change. A
/// fixed time is for tests and replays, and for decisions whose time was already used to judge
/// what they carry (a deposit's and a status statement's key checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Now,
    Fixed(DateTime<Utc>),
}

impl At {
    pub(super) fn resolve(self) -> DateTime<Utc> {
        match self {
            Self::Now => Utc::now(),
            Self::Fixed(t) => t,
        }
    }
}

impl From<DateTime<Utc>> for At {
    fn from(t: DateTime<Utc>) -> Self {
        Self::Fixed(t)
    }
}

/// Stripes of the holders' locks: with 64 concurrent pulls, two land on one stripe in about
/// 12 % of the cases (birthday bound), and then only wait for one pull.
pub(super) const HOLDER_STRIPES: usize = 16_384;

/// How many times a decision is made before its lost races are reported (`503`).
const ATTEMPTS: u32 = 24;

/// Whether an error means another change came first, so the decision should be made again.
fn lost_race(e: &VaultError) -> bool {
    matches!(e, VaultError::Store(StoreError::Conflict(_)))
}

/// One attempt of a decision behind a door: the locks it holds, the time it was taken at, and
/// the one change it will commit. The holders' versions were read under their stripes (which
/// order the decisions of this process); the commit bumps each and applies only if none moved
/// since (which orders them across processes), so what the decision read of these holders is
/// still true when it lands.
pub(crate) struct Tx<'v> {
    vault: &'v Vault,
    now: DateTime<Utc>,
    change: Change,
    write: Option<MutexGuard<'v, ()>>,
    stripes: Vec<MutexGuard<'v, ()>>,
    versions: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Tx<'_> {
    /// The decision's time, read under its lock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The one durable change the door commits, if the decision wrote anything.
    pub(crate) fn change(&mut self) -> &mut Change {
        &mut self.change
    }

    /// Logs `leaf` in `log` with this change (`vault/logs`): durable exactly when it is.
    pub(crate) fn log(
        &mut self,
        log: super::logs::LogName,
        leaf: &serde_json::Value,
    ) -> super::logs::LogReceipt {
        super::logs::append(&mut self.change, log, self.now, leaf)
    }

    /// Locks the holders a decision under the write lock turns out to touch (the holders of the
    /// licences a deposit supersedes or a statement changes), each stripe once and in order.
    /// Only the write lock's holder takes more than one stripe, so two such sets never wait on
    /// each other; it may lock holders once.
    pub(crate) fn lock_holders<'d>(
        &mut self,
        digests: impl IntoIterator<Item = &'d HolderDigest>,
    ) -> Result<(), StoreError> {
        debug_assert!(self.write.is_some() && self.stripes.is_empty());
        let digests: BTreeSet<&HolderDigest> = digests.into_iter().collect();
        if digests.is_empty() {
            return Ok(());
        }
        let stripes: BTreeSet<usize> = digests.iter().map(|d| self.vault.stripe(d)).collect();
        self.stripes = stripes
            .into_iter()
            .map(|i| {
                self.vault.holders[i]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            })
            .collect();
        let keys: Vec<Vec<u8>> = digests.iter().map(|d| layout::holder_version(d)).collect();
        let read = self.vault.store.multi_get(Table::HolderVersion, &keys)?;
        self.versions = keys.into_iter().zip(read).collect();
        Ok(())
    }

    /// Commits the change, if any, conditioned on and bumping each locked holder's version.
    fn commit(mut self) -> Result<(), StoreError> {
        if self.change.is_empty() {
            return Ok(());
        }
        for (key, read) in &self.versions {
            let n = match read {
                Some(v) => layout::decode_count(Table::HolderVersion, v)?,
                None => 0,
            };
            self.change
                .expect(Table::HolderVersion, key.clone(), read.clone());
            self.change.put(
                Table::HolderVersion,
                key.clone(),
                layout::encode_count(n + 1),
            );
        }
        let change = std::mem::take(&mut self.change);
        self.vault.store.commit(change)
    }
}

impl Vault {
    /// The door of one holder's decision: under the holder's lock, with the time read there,
    /// `decide` reads and fills the transaction's change; the door seals and commits it, and
    /// makes the decision again while another node's change beat it.
    pub(crate) fn for_holder<T>(
        &self,
        digest: &HolderDigest,
        at: impl Into<At>,
        mut decide: impl FnMut(&mut Tx<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        self.for_holder_reading(digest, at, &[], |tx, _| decide(tx))
    }

    /// [`Vault::for_holder`] for a decision that reads `reads` first: they are read in one
    /// flight with the holder's version, after it (one round trip on a database server), and
    /// `decide` gets their entries.
    pub(crate) fn for_holder_reading<T>(
        &self,
        digest: &HolderDigest,
        at: impl Into<At>,
        reads: &[Read<'_>],
        mut decide: impl FnMut(&mut Tx<'_>, Vec<Vec<Entry>>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let at = at.into();
        let key = layout::holder_version(digest);
        let all: Vec<Read<'_>> = std::iter::once(Read::Get(Table::HolderVersion, &key))
            .chain(reads.iter().copied())
            .collect();
        self.retrying(|| {
            let i = self.stripe(digest);
            let stripe = self.holders[i].lock().unwrap_or_else(|p| p.into_inner());
            let mut got = self.store.read_all(&all)?;
            let read = store::value(got.remove(0));
            let mut tx = self.tx(None, at);
            tx.stripes.push(stripe);
            tx.versions.push((key.clone(), read));
            let answer = decide(&mut tx, got)?;
            tx.commit()?;
            Ok(answer)
        })
    }

    /// [`Vault::for_holder`] for a decision taken by `acting`: when the actor acts on an
    /// authorisation (a delegation or guardianship), one still in force at the decision's time
    /// must let it, read under the holder's lock — so no act of a delegate lands after its
    /// revocation, which takes the same lock.
    pub(crate) fn as_holder<T>(
        &self,
        acting: &Acting,
        at: impl Into<At>,
        mut decide: impl FnMut(&mut Tx<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        self.for_holder(&digest, at, |tx| {
            if let Basis::Authorised(_) = &acting.basis {
                let actor = self.holder_digest(&acting.actor);
                let now = tx.now();
                let stands = self
                    .received_from(&actor, &digest)?
                    .iter()
                    .any(|d| d.in_force(now));
                if !stands {
                    return Err(VaultError::new(
                        Reason::Forbidden,
                        "Acting-For",
                        "the authorisation to act for this holder is no longer in force",
                    ));
                }
            }
            decide(tx)
        })
    }

    /// The door of a decision under the vault's write lock (deposits, status statements, registry
    /// edits): it may lock the holders it touches ([`Tx::lock_holders`]).
    pub(crate) fn exclusively<T>(
        &self,
        at: impl Into<At>,
        mut decide: impl FnMut(&mut Tx<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let at = at.into();
        self.retrying(|| {
            let write = self.write.lock().unwrap_or_else(|p| p.into_inner());
            let mut tx = self.tx(Some(write), at);
            let answer = decide(&mut tx)?;
            tx.commit()?;
            Ok(answer)
        })
    }

    /// A transaction whose time is read now: after the locks taken so far.
    fn tx<'v>(&'v self, write: Option<MutexGuard<'v, ()>>, at: At) -> Tx<'v> {
        Tx {
            vault: self,
            now: at.resolve(),
            change: Change::durable(),
            write,
            stripes: Vec::new(),
            versions: Vec::new(),
        }
    }

    fn stripe(&self, digest: &HolderDigest) -> usize {
        usize::from(u16::from_be_bytes([digest[0], digest[1]])) % self.holders.len()
    }

    /// Runs `decide` again while another change (on another node) beat it to what it read, at
    /// most [`ATTEMPTS`] times, after a short random pause that grows with each attempt.
    fn retrying<T>(
        &self,
        mut decide: impl FnMut() -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut attempt = 1;
        loop {
            match decide() {
                Err(e) if lost_race(&e) && attempt < ATTEMPTS => {
                    self.metrics.inc(crate::metrics::Counter::StoreRetries);
                    let cap = 1u64 << attempt.min(6);
                    let micros = rand::rngs::OsRng.next_u64() % (cap * 1000);
                    std::thread::sleep(std::time::Duration::from_micros(micros));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
