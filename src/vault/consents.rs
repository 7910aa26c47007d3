//! A holder's consents (SPEC §7): granted, narrowed and withdrawn behind the holder's door, with
//! their use counts and the consent receipts of their history.

use super::ids;
use super::layout::{self, HolderDigest};
use super::{At, Vault, VaultError};
use crate::codes::HolderCode;
use crate::reuse::delegation::Acting;
use crate::reuse::{
    self, Consent, ConsentEvent, ConsentEventKind, ConsentState, Narrowing, NewConsent,
};
use crate::store::{Entry, Read, StoreError, Table};
use crate::verdict::Reason;
use crate::verify::consent_receipt::{self, Event, ReceiptFacts};
use crate::verify::SigningError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

use serde_json::Value;

/// The reads of a holder's consents and of their use counts (a consent's count is kept under the
/// consent's own key, so both are scans of the holder's prefix): one flight.
pub(super) fn consent_reads(digest: &HolderDigest, reverse: bool) -> [Read<'_>; 2] {
    [Table::HolderConsent, Table::ConsentUses].map(|table| Read::Scan {
        table,
        prefix: digest,
        reverse,
        limit: usize::MAX,
    })
}

impl Vault {
    /// The holder's consents that `keep` keeps, with their store keys (newest first when
    /// `reverse`), each with its use count (`Table::ConsentUses`; the stored `uses` counted only
    /// before the count was kept apart).
    pub(super) fn holder_consents(
        &self,
        digest: &HolderDigest,
        reverse: bool,
        keep: impl Fn(&Consent) -> bool,
    ) -> Result<Vec<(Vec<u8>, Consent)>, StoreError> {
        let mut read = self
            .store
            .read_all(&consent_reads(digest, reverse))?
            .into_iter();
        let scanned = read.next().unwrap_or_default();
        self.consents_from(scanned, read.next().unwrap_or_default(), keep)
    }

    /// [`Vault::holder_consents`] from the holder's consents and their use counts as scanned
    /// ([`consent_reads`]).
    pub(super) fn consents_from(
        &self,
        scanned: Vec<Entry>,
        uses: Vec<Entry>,
        keep: impl Fn(&Consent) -> bool,
    ) -> Result<Vec<(Vec<u8>, Consent)>, StoreError> {
        let uses: HashMap<Vec<u8>, Vec<u8>> = uses.into_iter().collect();
        let mut consents = Vec::new();
        for (k, v) in scanned {
            let mut c: Consent = layout::decode(Table::HolderConsent, &v)?;
            if !keep(&c) {
                continue;
            }
            if let Some(n) = uses.get(&k) {
                let n = layout::decode_count(Table::ConsentUses, n)?;
                c.uses = u32::try_from(n).unwrap_or(u32::MAX);
            }
            consents.push((k, c));
        }
        Ok(consents)
    }

    /// Sets each consent's `uses` from its count, where it has one.
    pub(super) fn count_uses(&self, consents: &mut [(Vec<u8>, Consent)]) -> Result<(), StoreError> {
        if consents.is_empty() {
            return Ok(());
        }
        let keys: Vec<Vec<u8>> = consents.iter().map(|(k, _)| k.clone()).collect();
        let counts = self.store.multi_get(Table::ConsentUses, &keys)?;
        for ((_, c), n) in consents.iter_mut().zip(counts) {
            if let Some(n) = n {
                let n = layout::decode_count(Table::ConsentUses, &n)?;
                c.uses = u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
        Ok(())
    }

    /// One of the holder's consents, by id (one lookup), with its use count.
    pub fn consent_of(&self, holder: &HolderCode, id: &str) -> Result<Option<Consent>, StoreError> {
        let key = layout::consent(&self.holder_digest(holder), id);
        let Some(v) = self.store.get(Table::HolderConsent, &key)? else {
            return Ok(None);
        };
        let mut one = [(key, layout::decode::<Consent>(Table::HolderConsent, &v)?)];
        self.count_uses(&mut one)?;
        let [(_, c)] = one;
        Ok(Some(c))
    }

    /// A page of the holder's consents that `shown` lets through (a delegate's scope), newest
    /// first, after the consent `cursor`: at most `limit`, and the id to continue after when a
    /// later shown one exists.
    pub fn consent_page(
        &self,
        holder: &HolderCode,
        cursor: Option<&str>,
        limit: usize,
        shown: impl Fn(&Consent) -> bool,
    ) -> Result<(Vec<Consent>, Option<String>), StoreError> {
        let digest = self.holder_digest(holder);
        let mut from = cursor.map(|id| layout::consent(&digest, id));
        let mut page = Vec::new();
        'scan: loop {
            let chunk = match &from {
                None => self
                    .store
                    .scan(Table::HolderConsent, &digest, true, limit + 1)?,
                Some(k) => {
                    self.store
                        .scan_after(Table::HolderConsent, &digest, k, true, limit + 1)?
                }
            };
            let full = chunk.len() == limit + 1;
            from = chunk.last().map(|(k, _)| k.clone());
            for (k, v) in chunk {
                let c: Consent = layout::decode(Table::HolderConsent, &v)?;
                if shown(&c) {
                    page.push((k, c));
                    if page.len() > limit {
                        break 'scan;
                    }
                }
            }
            if !full {
                break;
            }
        }
        let more = page.len() > limit;
        page.truncate(limit);
        self.count_uses(&mut page)?;
        let next = page.last().filter(|_| more).map(|(_, c)| c.id.clone());
        Ok((page.into_iter().map(|(_, c)| c).collect(), next))
    }

    /// A holder's consents, newest first.
    pub fn consents(&self, holder: &HolderCode) -> Result<Vec<Consent>, StoreError> {
        Ok(self
            .holder_consents(&self.holder_digest(holder), true, |_| true)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Records a holder's consent, checked by [`reuse::check_new_consent`]: named licences must be
    /// the holder's own.
    pub fn create_consent(
        &self,
        acting: &Acting,
        new: NewConsent,
        at: impl Into<At>,
    ) -> Result<Consent, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let consent = self.as_holder(acting, at, |tx| {
            self.can_sign(tx.now())?;
            let consent =
                self.checked_consent(&digest, acting.acted_by(), new.clone(), None, tx.now())?;
            tx.change().put(
                Table::HolderConsent,
                layout::consent(&digest, &consent.id),
                layout::encode(&consent),
            );
            Ok(consent)
        })?;
        tracing::info!(holder = %acting.holder, consent = %consent.id, requester = %consent.requester, matter = %consent.matter, "consent granted");
        Ok(consent)
    }

    /// A new consent checked by [`reuse::check_new_consent`], not yet stored; `request` names the
    /// consent request it answers.
    pub(super) fn checked_consent(
        &self,
        digest: &HolderDigest,
        by: Option<&HolderCode>,
        new: NewConsent,
        request: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Consent, VaultError> {
        let reg = self.registries();
        let (requester, matter, purpose) = reuse::check_new_consent(&reg, &new, now, |id| {
            self.holds(digest, id).map_err(VaultError::from)
        })?;
        let mut licences = new.licences;
        licences.dedup();
        let mut types = new.types;
        types.dedup();
        let mut consent = Consent {
            // Time first, so a holder's consents sort by creation.
            id: ids::consent(now),
            requester: requester.id.clone(),
            matter: matter.code.clone(),
            purpose,
            types,
            licences,
            created_at: now,
            expires_at: new.expires_at,
            max_uses: new.max_uses,
            uses: 0,
            withdrawn_at: None,
            history: Vec::new(),
            request,
        };
        consent
            .history
            .push(ConsentEvent::new(ConsentEventKind::Created, now, Some(consent.terms())).by(by));
        Ok(consent)
    }

    /// A holder's consent under the holder's lock (which the caller holds), with its use count.
    pub(super) fn locked_consent(
        &self,
        digest: &HolderDigest,
        id: &str,
    ) -> Result<Option<(Vec<u8>, Consent)>, StoreError> {
        let key = layout::consent(digest, id);
        let Some(v) = self.store.get(Table::HolderConsent, &key)? else {
            return Ok(None);
        };
        let mut one = [(key, layout::decode(Table::HolderConsent, &v)?)];
        self.count_uses(&mut one)?;
        let [found] = one;
        Ok(Some(found))
    }

    /// Withdraws a holder's consent, effective for the next pull. `None` if the holder has no such
    /// consent; withdrawing twice changes nothing.
    pub fn withdraw_consent(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Option<Consent>, VaultError> {
        // Behind the holder's door: a pull's check-and-increment must not overwrite a withdrawal,
        // and the withdrawal's time is taken in the order the lock gives.
        let digest = self.holder_digest(&acting.holder);
        let (consent, withdrawn) = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            self.can_sign(now)?;
            let Some((key, mut consent)) = self.locked_consent(&digest, id)? else {
                return Ok((None, false));
            };
            if consent.withdrawn_at.is_some() {
                return Ok((Some(consent), false));
            }
            consent.withdrawn_at = Some(now);
            consent.history.push(
                ConsentEvent::new(ConsentEventKind::Withdrawn, now, None).by(acting.acted_by()),
            );
            tx.change()
                .put(Table::HolderConsent, key, layout::encode(&consent));
            Ok((Some(consent), true))
        })?;
        if let (Some(c), true) = (&consent, withdrawn) {
            tracing::info!(holder = %acting.holder, consent = %c.id, "consent withdrawn");
        }
        Ok(consent)
    }

    /// Narrows an active consent's terms ([`reuse::narrow`]), effective for the next pull. `None`
    /// if the holder has no such consent; `409 invalid_transition` if it is no longer active.
    pub fn narrow_consent(
        &self,
        acting: &Acting,
        id: &str,
        narrowing: &Narrowing,
        at: impl Into<At>,
    ) -> Result<Option<Consent>, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let consent = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            self.can_sign(now)?;
            let Some((key, mut consent)) = self.locked_consent(&digest, id)? else {
                return Ok(None);
            };
            let ended = match consent.state(now) {
                ConsentState::Active | ConsentState::Exhausted => None,
                ConsentState::Expired => Some("expired"),
                ConsentState::Withdrawn => Some("withdrawn"),
            };
            if let Some(ended) = ended {
                return Err(VaultError::new(
                    Reason::InvalidTransition,
                    "id",
                    format!("consent {id} is {ended}; only a consent in force can be narrowed"),
                ));
            }
            if narrowing.is_empty() {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "$",
                    "name what to narrow: types, licences, expiresAt or maxUses",
                ));
            }
            let terms = reuse::narrow(&consent.terms(), narrowing, consent.uses, now)?;
            consent.set_terms(terms.clone());
            consent.history.push(
                ConsentEvent::new(ConsentEventKind::Narrowed, now, Some(terms))
                    .by(acting.acted_by()),
            );
            tx.change()
                .put(Table::HolderConsent, key, layout::encode(&consent));
            Ok(Some(consent))
        })?;
        if let Some(c) = &consent {
            tracing::info!(holder = %acting.holder, consent = %c.id, "consent narrowed");
        }
        Ok(consent)
    }

    /// The consent receipts of a holder's consent, one per event of its history that has one
    /// (granted or approved, narrowed, withdrawn), oldest first. The same event always gives the
    /// same bytes.
    pub fn consent_receipts(
        &self,
        holder: &HolderCode,
        consent: &Consent,
    ) -> Result<Vec<Value>, SigningError> {
        self.receipts(holder, consent, usize::MAX)
    }

    /// The consent receipt of the consent's latest event that has one (what was just done); only
    /// that one is signed.
    pub fn latest_consent_receipt(
        &self,
        holder: &HolderCode,
        consent: &Consent,
    ) -> Result<Option<Value>, SigningError> {
        Ok(self.receipts(holder, consent, 1)?.pop())
    }

    /// The receipts of the consent's last `most` events that have one, oldest first.
    pub(super) fn receipts(
        &self,
        holder: &HolderCode,
        consent: &Consent,
        most: usize,
    ) -> Result<Vec<Value>, SigningError> {
        let reg = self.registries();
        let requester = reg
            .requesters
            .get(&consent.requester)
            .map_or(consent.requester.as_str(), |r| r.name.as_str());
        let matter = reg
            .matters
            .get(&consent.matter)
            .map_or(consent.matter.as_str(), |m| m.name.as_str());
        let events: Vec<_> = consent
            .events_with_terms()
            .into_iter()
            .filter_map(|(e, terms)| {
                let event = match e.event {
                    ConsentEventKind::Created if consent.request.is_some() => Event::Approved,
                    ConsentEventKind::Created => Event::Granted,
                    ConsentEventKind::Narrowed => Event::Narrowed,
                    ConsentEventKind::Withdrawn => Event::Withdrawn,
                    ConsentEventKind::Used => return None,
                };
                Some((e, event, terms))
            })
            .collect();
        let skip = events.len().saturating_sub(most);
        let mut out = Vec::new();
        for (e, event, terms) in events.into_iter().skip(skip) {
            out.push(consent_receipt::issue(
                &*self.signing_key(e.at)?,
                &ReceiptFacts {
                    event,
                    at: e.at,
                    holder,
                    consent: &consent.id,
                    request: consent.request.as_deref(),
                    requester: (&consent.requester, requester),
                    matter: (&consent.matter, matter),
                    purpose: &consent.purpose,
                    terms: &terms,
                    acted_by: e.acted_by.as_deref(),
                },
            )?);
        }
        Ok(out)
    }
}
