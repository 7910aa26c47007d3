//! Reading licences out: the stored bytes checked against their digest, verified afresh on every
//! read; and the verification of documents presented from outside.

use super::lifecycle::StoredStatement;
use crate::auth::Principal;
use crate::codes::{HolderCode, LicenceId};
use crate::jcs;
use crate::licence::Licence;
use crate::metrics::Counter;
use crate::proof;
use crate::registry::Registries;
use crate::store::{self, Entry, Read, StoreError, Table};
use crate::verdict::{Check, CheckName, Reason, Verdict};
use crate::verify::{self, Evidence, RecordFacts};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::layout::{self, HolderDigest};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The MAC purpose of challenges ([`Vault::mint_mac`]).
const CHALLENGE_PURPOSE: &str = "vc-api challenge";

use super::tokens::Caller;
use super::{Extracted, LicenceMeta, Vault, VaultError};

/// What the vault holds of one licence, as a verification of it reads it.
pub(super) struct Stored {
    pub(super) meta: LicenceMeta,
    pub(super) bytes: Option<Vec<u8>>,
    pub(super) disputed: Option<crate::verdict::Disputed>,
}

/// A stored licence's bytes checked against the digest recorded at deposit, parsed, and its
/// proof prepared: each done once per read.
pub(super) struct Loaded {
    bytes: Vec<u8>,
    doc: Value,
    prepared: Result<proof::Prepared, proof::ProofError>,
}

impl Loaded {
    /// Why the bytes cannot be judged at all, as the integrity check's detail.
    pub(super) fn new(bytes: Option<Vec<u8>>, meta: &LicenceMeta) -> Result<Self, String> {
        let b = bytes.ok_or_else(|| "document bytes are missing".to_owned())?;
        if hex::encode(Sha256::digest(&b)) != meta.sha256 {
            return Err("stored bytes do not match the digest recorded at deposit".to_owned());
        }
        let doc = jcs::parse(&b).map_err(|e| format!("stored bytes are not JSON: {e}"))?;
        // Stored bytes are canonical (that is how they were stored, and the digest says they
        // are unchanged): hash them without re-canonicalising.
        let prepared = proof::prepare_canonical(&doc, &b);
        Ok(Self {
            bytes: b,
            doc,
            prepared,
        })
    }
}

impl Vault {
    pub fn meta(&self, id: &LicenceId) -> Result<Option<LicenceMeta>, StoreError> {
        self.store
            .get(Table::LicenceMeta, layout::licence(id))?
            .map(|v| layout::decode(Table::LicenceMeta, &v))
            .transpose()
    }

    /// Reads a licence and verifies it afresh. `None` if the vault does not hold it.
    pub fn extract(
        &self,
        id: &LicenceId,
        now: DateTime<Utc>,
    ) -> Result<Option<Extracted>, StoreError> {
        let (mut found, reg) = self.read_stored(&[id])?;
        let Some(Some(stored)) = found.pop() else {
            return Ok(None);
        };
        Ok(Some(self.verify_stored(&reg, id, stored, now)?))
    }

    /// Stored licences, each with what a verification of it reads (its metadata, its bytes and
    /// its open correction), and the registries as they are now: one flight of reads (one round
    /// trip on a database server). `None` for a licence the vault does not hold.
    pub(super) fn read_stored(
        &self,
        ids: &[&LicenceId],
    ) -> Result<(Vec<Option<Stored>>, Arc<Registries>), StoreError> {
        let (stored, reg, _) = self.read_stored_with(ids, &[])?;
        Ok((stored, reg))
    }

    /// [`Vault::read_stored`] with more reads in the same flight, after its own: their entries.
    #[allow(clippy::type_complexity)]
    pub(super) fn read_stored_with(
        &self,
        ids: &[&LicenceId],
        more: &[Read<'_>],
    ) -> Result<(Vec<Option<Stored>>, Arc<Registries>, Vec<Vec<Entry>>), StoreError> {
        // Table by table (a database reads each table's keys in one statement).
        let tables = [
            Table::LicenceMeta,
            Table::LicenceDocument,
            Table::LicenceCorrection,
        ];
        let mut reads: Vec<Read<'_>> = tables
            .iter()
            .flat_map(|t| ids.iter().map(|id| Read::Get(*t, layout::licence(id))))
            .collect();
        let registry = self.registry_read();
        reads.extend(registry);
        reads.extend(more.iter().copied());
        let mut all = self.store.read_all(&reads)?;
        let rest = all.split_off(all.len() - more.len());
        let mut got = all.into_iter().map(store::value);
        let n = ids.len();
        let mut metas: Vec<Option<Vec<u8>>> = got.by_ref().take(n).collect();
        let mut docs: Vec<Option<Vec<u8>>> = got.by_ref().take(n).collect();
        let mut corrections: Vec<Option<Vec<u8>>> = got.by_ref().take(n).collect();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (meta, bytes, correction) =
                (metas[i].take(), docs[i].take(), corrections[i].take());
            let meta = meta
                .map(|m| layout::decode::<LicenceMeta>(Table::LicenceMeta, &m))
                .transpose()?;
            out.push(match meta {
                Some(meta) => Some(Stored {
                    meta,
                    bytes,
                    disputed: Self::disputed(correction)?,
                }),
                None => None,
            });
        }
        let reg = self.registries_at(registry.and(got.next()));
        Ok((out, reg, rest))
    }

    /// [`Vault::read_licence`] with the licence's status history and its versions, read in the
    /// flight of the licence itself; so is the caller's token when it is still to be read.
    /// `admit` decides from the caller's principal (none for an unknown credential) whom the
    /// licence is read for, or refuses; nothing is verified or answered before it has.
    #[allow(clippy::type_complexity)]
    pub fn read_licence_record<E: From<StoreError>>(
        &self,
        caller: &Caller,
        id: &LicenceId,
        now: DateTime<Utc>,
        admit: impl FnOnce(Option<Principal>) -> Result<Principal, E>,
    ) -> Result<Option<(Extracted, Vec<StoredStatement>, Vec<LicenceId>)>, E> {
        let statements = layout::statements(id);
        let candidates = super::lifecycle::version_candidates(id);
        let token = match caller {
            Caller::Bearer(bearer) => Some(self.token_to_read(bearer)),
            Caller::Resolved(_) => None,
        };
        let mut more = vec![Read::Scan {
            table: Table::LicenceStatement,
            prefix: &statements,
            reverse: false,
            limit: usize::MAX,
        }];
        more.extend(
            candidates
                .iter()
                .map(|c| Read::Get(Table::LicenceMeta, layout::licence(c))),
        );
        if let Some(key) = token.as_ref().and_then(|t| t.key.as_deref()) {
            more.push(Read::Get(Table::TokenDigestToken, key));
        }
        let (mut found, reg, mut rest) = self.read_stored_with(&[id], &more)?;
        let principal = match (caller, token) {
            (Caller::Resolved(p), _) => Some(p.clone()),
            (Caller::Bearer(_), Some(token)) => {
                let stored = match token.key {
                    Some(_) => rest.pop().and_then(store::value),
                    None => None,
                };
                self.resolve(token, stored, now)?
            }
            (Caller::Bearer(_), None) => None,
        };
        let principal = admit(principal)?;
        if !self.may_read_licence(&principal, id)? {
            return Ok(None);
        }
        let Some(Some(stored)) = found.pop() else {
            return Ok(None);
        };
        let mut rest = rest.into_iter();
        let history = rest
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| layout::decode(Table::LicenceStatement, &v))
            .collect::<Result<Vec<StoredStatement>, _>>()?;
        let versions = self.versions_after(id, candidates, rest.map(store::value).collect())?;
        let e = self.verify_stored(&reg, id, stored, now)?;
        Ok(Some((e, history, versions)))
    }

    /// Verifies a stored licence afresh: its digest, then every check with `verify_strict` for
    /// the signature, as of `now`, against `reg`; and says whether its holder disputes it.
    pub(super) fn verify_stored(
        &self,
        reg: &Registries,
        id: &LicenceId,
        Stored {
            meta,
            bytes,
            disputed,
        }: Stored,
        now: DateTime<Utc>,
    ) -> Result<Extracted, StoreError> {
        let loaded = Loaded::new(bytes, &meta);
        let mut facts = RecordFacts {
            deposited_at: meta.deposited_at,
            integrity: Ok(()),
            status: meta
                .status
                .as_ref()
                .map(|s| (s.status, s.effective_at, s.reason.clone())),
            superseded_by: meta.superseded_by.clone(),
        };
        let (verdict, licence, document) = match loaded {
            Err(detail) => {
                let v = Verdict::new(
                    vec![Check::fail(
                        CheckName::Integrity,
                        Reason::IntegrityFailure,
                        detail,
                    )],
                    now,
                );
                (v, None, None)
            }
            Ok(Loaded {
                bytes,
                doc,
                prepared,
            }) => {
                let ev = Evidence {
                    registries: Some(reg),
                    record: Some(&facts),
                    now,
                    signature: None,
                };
                let (mut v, lic) = verify::licence_prepared(&doc, &prepared, ev);
                if v.check(CheckName::Signature)
                    .is_some_and(|c| c.ok != Some(true))
                {
                    facts.integrity =
                        Err("stored bytes no longer verify against their signature".into());
                    let ev = Evidence {
                        registries: Some(reg),
                        record: Some(&facts),
                        now,
                        signature: Some(false),
                    };
                    v = verify::licence_prepared(&doc, &prepared, ev).0;
                }
                // Served as stored: the bytes just checked, not the parsed tree serialised again.
                let served = facts
                    .integrity
                    .is_ok()
                    .then_some(bytes)
                    .and_then(|b| jcs::Canonical::new(b).ok());
                (v, lic, served)
            }
        };
        if verdict.reason() == Some(Reason::IntegrityFailure) {
            tracing::error!(licence = %id, "INTEGRITY FAILURE: stored licence no longer verifies; it will not be served as valid");
            self.metrics.inc(Counter::IntegrityFailures);
        }
        let verdict_label = verdict.reason().map_or("valid", Reason::as_str);
        self.metrics.inc(Counter::Extractions {
            verdict: verdict_label,
        });
        let mut verdict = verdict;
        verdict.disputed = disputed;
        Ok(Extracted {
            id: id.clone(),
            document,
            licence,
            meta,
            verdict,
        })
    }

    /// One of the holder's own licences, verified afresh; another holder's licence is as absent
    /// as one never deposited (and is not even read).
    pub(super) fn extract_own(
        &self,
        digest: &HolderDigest,
        licence: &LicenceId,
        now: DateTime<Utc>,
    ) -> Result<Extracted, VaultError> {
        let found = if self.holds(digest, licence)? {
            self.extract(licence, now)?
        } else {
            None
        };
        found.ok_or_else(|| {
            VaultError::new(
                Reason::NotFound,
                "$.licence",
                format!("you hold no licence {}", licence.urn()),
            )
        })
    }

    /// All licences of a holder, each freshly verified, in identifier order.
    pub fn holder_licences(
        &self,
        holder: &HolderCode,
        now: DateTime<Utc>,
    ) -> Result<Vec<Extracted>, StoreError> {
        let digest = self.holder_digest(holder);
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan(Table::HolderLicence, &digest, false, usize::MAX)?
        {
            let id = layout::holder_licence_id(&k)?;
            if let Some(e) = self.extract(&id, now)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// A page of the holder's licences that `shown` lets through (a delegate's scope), in
    /// identifier order after the licence `after`, each freshly verified: at most `limit`, and
    /// the id to continue after when a later shown one exists. Only the page is read and
    /// verified; the rest of the index is stepped over by key.
    pub fn holder_licence_page(
        &self,
        holder: &HolderCode,
        after: Option<&LicenceId>,
        limit: usize,
        now: DateTime<Utc>,
        shown: impl Fn(&LicenceId) -> bool,
    ) -> Result<(Vec<Extracted>, Option<LicenceId>), StoreError> {
        let digest = self.holder_digest(holder);
        let mut ids = Vec::new();
        let mut from = after.map(|a| layout::holder_licence(&digest, a));
        'scan: loop {
            let chunk = match &from {
                None => self
                    .store
                    .scan(Table::HolderLicence, &digest, false, limit + 1)?,
                Some(k) => {
                    self.store
                        .scan_after(Table::HolderLicence, &digest, k, false, limit + 1)?
                }
            };
            let full = chunk.len() == limit + 1;
            from = chunk.last().map(|(k, _)| k.clone());
            for (k, _) in chunk {
                let id = layout::holder_licence_id(&k)?;
                if shown(&id) {
                    ids.push(id);
                    if ids.len() > limit {
                        break 'scan;
                    }
                }
            }
            if !full {
                break;
            }
        }
        let more = ids.len() > limit;
        ids.truncate(limit);
        let next = ids.last().filter(|_| more).cloned();
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(e) = self.extract(id, now)? {
                out.push(e);
            }
        }
        Ok((out, next))
    }

    /// The licence `id` with a fresh verdict, as `principal` may read it (its issuer, its
    /// holder); `None` for a licence that does not exist and for one that is not theirs alike.
    /// Which is decided first, by one index lookup that costs the same either way, before anything
    /// of the licence is read or verified: no answer and no timing tells the two apart.
    pub fn read_licence(
        &self,
        principal: &Principal,
        id: &LicenceId,
        now: DateTime<Utc>,
    ) -> Result<Option<Extracted>, StoreError> {
        if !self.may_read_licence(principal, id)? {
            return Ok(None);
        }
        self.extract(id, now)
    }

    /// Whether `principal` may read `id` (its issuer, its holder), by one index lookup that
    /// costs the same whether the licence exists or not.
    fn may_read_licence(&self, principal: &Principal, id: &LicenceId) -> Result<bool, StoreError> {
        Ok(match principal {
            Principal::Issuer(u) => &id.issuer() == u,
            Principal::Holder(h) => self.holds(&self.holder_digest(h), id)?,
            Principal::Admin | Principal::Requester(_) | Principal::Supervisor(_) => false,
        })
    }

    /// Whether the holder of `digest` holds `id`.
    pub(super) fn holds(&self, digest: &HolderDigest, id: &LicenceId) -> Result<bool, StoreError> {
        let key = layout::holder_licence(digest, id);
        Ok(self.store.get(Table::HolderLicence, &key)?.is_some())
    }

    /// Verifies a presented document: a licence (against the registries and, when the vault holds
    /// the same bytes, its deposit time and status) or a vault-signed document (receipt, copy).
    pub fn verify_presented(&self, doc: &Value, now: DateTime<Utc>) -> Result<Verdict, StoreError> {
        self.judge(doc, now, |d| self.presented_verdict(d, now))
    }

    /// The verdict of a document presented to the public VC-API verifier: judged from public data
    /// only (the registries and the vault's key), never from what the vault holds, so asking tells
    /// nothing about its records.
    pub fn verify_public(&self, doc: &Value, now: DateTime<Utc>) -> Verdict {
        let reg = self.registries();
        self.judge(doc, now, |d| {
            Ok::<_, std::convert::Infallible>(if Licence::is_licence(d) {
                verify::licence(d, Evidence::new(Some(&reg), now)).0
            } else {
                verify::document(d, None, now)
            })
        })
        .unwrap_or_else(|never| match never {})
    }

    /// Verifies a presentation (VC-API): the holder's proof and each credential it carries, the
    /// latter from public data only, as [`Vault::verify_public`] judges them. A challenge the
    /// vault gave ([`Vault::challenge`]) must be one it gave and still in time.
    pub fn verify_presentation(
        &self,
        vp: &Value,
        challenge: Option<&str>,
        domain: Option<&str>,
        now: DateTime<Utc>,
    ) -> verify::presentation::Judged {
        let refused = challenge.and_then(|c| {
            verify::presentation::challenge_refusal(c, now, |d| self.mint_mac(CHALLENGE_PURPOSE, d))
        });
        let expected = verify::presentation::Expected {
            challenge,
            domain,
            challenge_refused: refused,
        };
        verify::presentation::check(vp, expected, now, |c| self.verify_public(c, now))
    }

    /// A challenge for a holder's presentation (VC-API `POST /challenges`), recognised by every
    /// node of the vault without being stored ([`verify::presentation::mint_challenge`]).
    pub fn challenge(&self, now: DateTime<Utc>) -> String {
        use rand::RngCore as _;
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        verify::presentation::mint_challenge(now, nonce, |d| self.mint_mac(CHALLENGE_PURPOSE, d))
    }

    /// The one dispatch of both verifiers, counted in the metrics: a consent receipt or a stamped
    /// copy is checked against the vault's key (a copy's embedded licence judged by `judge`), any
    /// other document by `judge`.
    pub(super) fn judge<E>(
        &self,
        doc: &Value,
        now: DateTime<Utc>,
        judge: impl Fn(&Value) -> Result<Verdict, E>,
    ) -> Result<Verdict, E> {
        let keys = self.keys.history();
        let verdict = if let Some(v) = verify::vault_signed(doc, Some(&keys), now) {
            v
        } else if verify::copy::is_stamped_copy(doc) {
            verify::copy::check(doc, Some(&keys), now, &judge)?
        } else {
            judge(doc)?
        };
        self.metrics.inc(Counter::Verifications {
            verdict: verdict.reason().map_or("valid", Reason::as_str),
        });
        Ok(verdict)
    }

    /// The verdict of a presented licence or vault-signed document, not counted in the metrics.
    pub(super) fn presented_verdict(
        &self,
        doc: &Value,
        now: DateTime<Utc>,
    ) -> Result<Verdict, StoreError> {
        let reg = self.registries();
        let verdict = if Licence::is_licence(doc) {
            let stored = match doc
                .get("id")
                .and_then(Value::as_str)
                .map(LicenceId::from_urn_or_bare)
            {
                Some(Ok(id)) => self.meta(&id)?.map(|m| (id, m)),
                _ => None,
            };
            let sha = hex::encode(Sha256::digest(jcs::canonicalize(doc)));
            match stored {
                Some((id, meta)) if meta.sha256 == sha => match self.extract(&id, now)? {
                    Some(e) => e.verdict,
                    // Gone since its metadata was read: judged as one the vault does not hold.
                    None => verify::licence(doc, Evidence::new(Some(&reg), now)).0,
                },
                Some((_, meta)) => {
                    // The vault holds other content under this identifier. A forgery simply fails its
                    // signature; a validly signed second version of the same licence is a conflict.
                    let (v, _) = verify::licence(doc, Evidence::new(Some(&reg), now));
                    let signed = v.check(CheckName::Signature).and_then(|c| c.ok) == Some(true);
                    let status = if signed {
                        Check::fail(
                            CheckName::Status,
                            Reason::Conflict,
                            format!(
                                "the vault holds other content under this identifier (sha256 {})",
                                meta.sha256
                            ),
                        )
                    } else {
                        Check::not_checked(
                            CheckName::Status,
                            "the vault holds other content under this identifier",
                        )
                    };
                    v.replacing(status)
                }
                None => verify::licence(doc, Evidence::new(Some(&reg), now)).0,
            }
        } else {
            verify::document(doc, Some(&self.keys.history()), now)
        };
        Ok(verdict)
    }
}
