//! Presentation codes in the vault (亮证, SPEC §11): the holder makes a one-time code for one of
//! their licences (or some of its face fields); a requester redeems it once, gets the licence
//! verified afresh, and the holder's access log records an in-person showing.
//!
//! The vault keeps only the code's SHA-256 (`presentation_code`), like a token; the holder's index
//! (`holderdigest_presentation`) lists and cancels by id. A redemption reads, decides and commits
//! under the holder's lock, so two redemptions of one code cannot both succeed, and the access
//! record is durable before anything is answered.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::access_log::{in_person_record, put_access_record};
use super::ids;
use super::layout::{self, HolderDigest};
use super::Extracted;
use super::{At, Vault, VaultError};
use crate::codes::{HolderCode, LicenceId, TypeCode};
use crate::jcs::Canonical;
use crate::reuse::delegation::Acting;
use crate::reuse::presentation::{self as rules, PresentationState, CODE_BYTES};
use crate::store::{StoreError, Table};
use crate::verdict::{Reason, Rejection, Verdict};

/// A presentation code as the vault keeps it (the code itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Presentation {
    pub id: String,
    /// The licence shown (URN).
    pub licence: String,
    /// The face fields shown; absent: the whole licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// As stored: `pending`, `redeemed` or `cancelled` (see [`Presentation::state_at`]).
    pub state: PresentationState,
    /// The requester that redeemed it, when, and the access record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub redeemed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Who made the code for the holder (a delegate or guardian); absent: the holder itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_by: Option<String>,
}

/// A presentation with its holder (as the digest), as `codedigest_presentation` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredPresentation {
    /// The holder's digest (hex): their lock and their log, found from the code.
    pub holder_digest: String,
    #[serde(flatten)]
    pub presentation: Presentation,
}

impl Presentation {
    /// The state now: a pending code past its expiry is `expired`.
    pub fn state_at(&self, now: DateTime<Utc>) -> PresentationState {
        rules::state_at(self.state, self.expires_at, now)
    }
}

/// A new code: the only time the code itself exists outside the holder's hands.
#[derive(Debug, Clone)]
pub struct NewPresentation {
    pub presentation: Presentation,
    /// `ABCD-EFGH-…`, 160 random bits.
    pub code: String,
}

/// What a redemption gives the requester.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub presentation: String,
    pub access_record: String,
    pub log: super::logs::LogReceipt,
    pub redeemed_at: DateTime<Utc>,
    pub licence: LicenceId,
    pub type_code: TypeCode,
    pub type_name: String,
    pub verdict: Verdict,
    /// The stored licence, when the whole licence was shown and it verifies.
    pub document: Option<Canonical>,
    /// Only the named face fields, when fields were named and the licence verifies.
    pub fields: Option<Map<String, Value>>,
}

fn code_digest(normalised: &str) -> [u8; 32] {
    Sha256::digest(normalised.as_bytes()).into()
}

fn not_found() -> VaultError {
    VaultError::new(Reason::NotFound, "$.code", "no such presentation code")
}

impl Vault {
    /// Makes a one-time code for one of the holder's licences, valid for `valid_for` seconds.
    pub fn create_presentation(
        &self,
        acting: &Acting,
        licence: &LicenceId,
        fields: Option<Vec<String>>,
        valid_for: Option<u64>,
        at: impl Into<At>,
    ) -> Result<NewPresentation, VaultError> {
        let seconds = rules::valid_for(valid_for)?;
        let digest = self.holder_digest(&acting.holder);
        let made = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let shown = self.extract_own(&digest, licence, now)?;
            if let (Some(f), Some(lic)) = (&fields, &shown.licence) {
                let face: Vec<&str> = lic.fields.keys().map(String::as_str).collect();
                rules::check_fields(f, &face)?;
            }
            let mut bytes = [0u8; CODE_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let code = rules::format_code(&bytes);
            let normalised = rules::normalise_code(&code).unwrap_or_default();
            let p = Presentation {
                id: ids::presentation(now),
                licence: licence.urn(),
                fields: fields.clone(),
                created_at: now,
                expires_at: now + Duration::seconds(i64::try_from(seconds).unwrap_or(300)),
                state: PresentationState::Pending,
                redeemed_by: None,
                redeemed_at: None,
                access_record: None,
                cancelled_at: None,
                acted_by: acting.acted_by().map(HolderCode::key),
            };
            let stored = StoredPresentation {
                holder_digest: hex::encode(digest),
                presentation: p.clone(),
            };
            let key = code_digest(&normalised);
            tx.change()
                .put(
                    Table::PresentationCode,
                    key.to_vec(),
                    layout::encode(&stored),
                )
                .put(
                    Table::HolderPresentation,
                    layout::holder_presentation(&digest, &p.id),
                    key.to_vec(),
                );
            Ok(NewPresentation {
                presentation: p,
                code,
            })
        })?;
        tracing::info!(presentation = %made.presentation.id, licence = %licence, holder = %acting.holder, "presentation code made");
        Ok(made)
    }

    /// The holder's presentation codes, newest first.
    pub fn presentations(&self, holder: &HolderCode) -> Result<Vec<Presentation>, StoreError> {
        Ok(self.presentation_page(holder, None, usize::MAX - 1)?.0)
    }

    /// A page of the holder's presentation codes, newest first, after the code `cursor` (an id a
    /// page gave): at most `limit`, and the id to continue after when more follow.
    pub fn presentation_page(
        &self,
        holder: &HolderCode,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Presentation>, Option<String>), StoreError> {
        let digest = self.holder_digest(holder);
        let mut index = match cursor {
            None => self
                .store
                .scan(Table::HolderPresentation, &digest, true, limit + 1)?,
            Some(id) => self.store.scan_after(
                Table::HolderPresentation,
                &digest,
                &layout::holder_presentation(&digest, id),
                true,
                limit + 1,
            )?,
        };
        let more = index.len() > limit;
        index.truncate(limit);
        let keys: Vec<Vec<u8>> = index.into_iter().map(|(_, v)| v).collect();
        let page: Vec<Presentation> = self
            .store
            .multi_get(Table::PresentationCode, &keys)?
            .into_iter()
            .flatten()
            .map(|v| {
                layout::decode::<StoredPresentation>(Table::PresentationCode, &v)
                    .map(|s| s.presentation)
            })
            .collect::<Result<_, _>>()?;
        let next = page.last().filter(|_| more).map(|p| p.id.clone());
        Ok((page, next))
    }

    /// Cancels one of the holder's pending codes; a code already redeemed or expired stays so.
    pub fn cancel_presentation(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<Presentation, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let key = self
                .store
                .get(
                    Table::HolderPresentation,
                    &layout::holder_presentation(&digest, id),
                )?
                .ok_or_else(|| VaultError::new(Reason::NotFound, "id", "no such presentation"))?;
            let mut stored = self
                .stored_presentation(&key)?
                .ok_or_else(|| VaultError::new(Reason::NotFound, "id", "no such presentation"))?;
            let p = &mut stored.presentation;
            if let Err(r) = rules::redeemable(p.state, p.expires_at, now) {
                return Err(VaultError::Rejected(Rejection {
                    field: "id".into(),
                    ..r
                }));
            }
            p.state = PresentationState::Cancelled;
            p.cancelled_at = Some(now);
            tx.change()
                .put(Table::PresentationCode, key, layout::encode(&stored));
            Ok(stored.presentation)
        })
    }

    /// Redeems a code for `requester`: once, before it expires, unless cancelled. The licence is
    /// verified afresh; the access record (kind `in_person`) is durable before the answer exists.
    /// An unknown code, and every refusal, reveals nothing of the licence.
    pub fn redeem_presentation(
        &self,
        requester: &str,
        typed_code: &str,
        at: impl Into<At>,
    ) -> Result<Redeemed, VaultError> {
        let normalised = rules::normalise_code(typed_code).ok_or_else(not_found)?;
        let key = code_digest(&normalised);
        let digest = self.presentation_holder(&key)?;
        let (redeemed, shown) = self.for_holder(&digest, at, |tx| {
            let mut stored = self.stored_presentation(&key)?.ok_or_else(not_found)?;
            let p = &mut stored.presentation;
            rules::redeemable(p.state, p.expires_at, tx.now())?;
            let licence = LicenceId::from_urn_or_bare(&p.licence)
                .map_err(|_| layout::corrupt(Table::PresentationCode, "bad licence id"))?;
            let e = self.extract(&licence, tx.now())?.ok_or_else(not_found)?;
            // Shown only when it verifies, and decided once: the record and the answer say the same.
            let shown = e.verdict.valid && e.document.is_some();
            let reg = self.registries();
            let type_name = reg
                .types
                .get(&licence.type_code())
                .map_or_else(String::new, |t| t.name.clone());
            let mut record = in_person_record(&reg, requester, &digest, p, &e, shown, tx.now());
            let record_digest = self.chain_access(&digest, &mut record)?;
            p.state = PresentationState::Redeemed;
            p.redeemed_by = Some(requester.to_owned());
            p.redeemed_at = Some(tx.now());
            p.access_record = Some(record.id.clone());
            tx.change().put(
                Table::PresentationCode,
                key.to_vec(),
                layout::encode(&stored),
            );
            let log = put_access_record(tx.change(), &digest, &record, record_digest);
            let answer = shown_part(
                stored.presentation,
                (record.id.clone(), log),
                e,
                shown,
                type_name,
                tx.now(),
            );
            Ok((answer, shown))
        })?;
        tracing::info!(presentation = %redeemed.presentation, access_record = %redeemed.access_record, requester, shown, "presentation code redeemed");
        Ok(redeemed)
    }

    /// The stored record of a code, by its digest.
    fn stored_presentation(&self, key: &[u8]) -> Result<Option<StoredPresentation>, VaultError> {
        Ok(self
            .store
            .get(Table::PresentationCode, key)?
            .map(|v| layout::decode(Table::PresentationCode, &v))
            .transpose()?)
    }

    /// Whose code it is (read before the holder's door, which is then taken for that holder).
    fn presentation_holder(&self, key: &[u8]) -> Result<HolderDigest, VaultError> {
        let stored = self.stored_presentation(key)?.ok_or_else(not_found)?;
        Ok(layout::holder_digest_from_hex(
            Table::PresentationCode,
            &stored.holder_digest,
        )?)
    }
}

/// What a redemption answers: the whole stored licence, or only the named face fields, and only
/// when the licence was shown (it verifies).
fn shown_part(
    p: Presentation,
    (access_record, log): (String, super::logs::LogReceipt),
    e: Extracted,
    shown: bool,
    type_name: String,
    now: DateTime<Utc>,
) -> Redeemed {
    let (document, fields) = match (&p.fields, shown) {
        (_, false) => (None, None),
        (None, true) => (e.document, None),
        (Some(names), true) => (None, e.licence.as_ref().map(|l| l.face(names))),
    };
    Redeemed {
        presentation: p.id,
        access_record,
        log,
        redeemed_at: now,
        licence: e.id.clone(),
        type_code: e.id.type_code(),
        type_name,
        verdict: e.verdict,
        document,
        fields,
    }
}
