//! Revocation notices in the vault (SPEC §11): when a licence is suspended, revoked, cancelled or
//! superseded, every requester that was provided it in the last [`NOTICE_WINDOW_DAYS`] days gets
//! one notice signed by the vault, written in the same durable change as the statement or the
//! renewal, so a crash leaves both or neither. Each requester reads its notices as a cursor feed
//! (`GET /v1/notices`), oldest first, at least once.
//!
//! Whom to notify is read from the holder's access log under the holder's lock, which pulls hold
//! from their decision to their record: a pull is either in the log that is read here, or it
//! decided after the change and saw the new status.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::layout::{self, HolderDigest};
use super::page;
use super::{Vault, VaultError};
use crate::codes::{HolderCode, LicenceId};
use crate::licence::Licence;
use crate::reuse::Outcome;
use crate::store::{Change, StoreError, Table};
use crate::verify::notice::{self, NoticeFacts, StatusChange};

/// How far back a provision makes a requester a recipient of a notice.
pub const NOTICE_WINDOW_DAYS: i64 = 90;

/// A notice as the feed gives it: its place in the vault's sequence and the signed document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredNotice {
    /// The position in the feed; pass the last one seen as `after` to resume.
    pub seq: u64,
    /// The signed `LicenceStatusNotice`.
    #[schema(value_type = Object)]
    pub notice: Value,
}

/// A page of a requester's notices, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticePage {
    pub notices: Vec<StoredNotice>,
    /// The cursor of the next page, when there is more.
    pub next_cursor: Option<String>,
}

impl Vault {
    /// The holder a stored licence names (read from its stored bytes), with their digest.
    pub(super) fn holder_of_licence(
        &self,
        id: &LicenceId,
    ) -> Result<Option<(HolderCode, HolderDigest)>, StoreError> {
        let Some(bytes) = self
            .store
            .get(Table::LicenceDocument, layout::licence(id))?
        else {
            return Ok(None);
        };
        Ok(crate::jcs::parse(&bytes)
            .ok()
            .and_then(|doc| Licence::parse(&doc).ok())
            .map(|l| {
                let digest = self.holder_digest(&l.holder);
                (l.holder, digest)
            }))
    }

    /// Per requester, the access records under which `id` was provided (a pull released it or a
    /// check answered on it) within the notice window before `now`. Call under the holder's lock.
    pub(super) fn provided_to(
        &self,
        holder: &HolderCode,
        id: &LicenceId,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, Vec<String>>, VaultError> {
        let since = now - Duration::days(NOTICE_WINDOW_DAYS);
        let reg = self.registries();
        let urn = id.urn();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        'pages: loop {
            let page = self.access_log(holder, page::ACCESS_LOG.max, cursor.as_deref())?;
            for r in page.records {
                if r.at < since {
                    break 'pages;
                }
                let provided = r.outcomes.iter().any(|o| {
                    o.outcome == Outcome::Provided && o.licence.as_deref() == Some(urn.as_str())
                });
                // Only approval systems are notified: a wallet's copy went to no requester (a
                // wallet reads the status list the licence names), and an outside verifier's
                // answer went to a client id the vault has no channel to.
                if provided && reg.requesters.contains_key(&r.requester) {
                    out.entry(r.requester).or_default().push(r.id);
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        for ids in out.values_mut() {
            ids.reverse(); // oldest first
        }
        Ok(out)
    }

    /// Signs one notice per requester in `recipients` and adds them to `change`, numbered from
    /// the vault's notice sequence. Call under the vault's write lock (which orders the sequence).
    /// Returns how many were added.
    pub(super) fn add_notices(
        &self,
        change: &mut Change,
        what: &StatusChange<'_>,
        recipients: &BTreeMap<String, Vec<String>>,
        next_seq: &mut u64,
    ) -> Result<usize, VaultError> {
        let reg = self.registries();
        for (requester, records) in recipients {
            let name = reg
                .requesters
                .get(requester)
                .map_or(requester.as_str(), |r| r.name.as_str());
            let doc = notice::issue(
                &*self.signing_key(what.received_at)?,
                &NoticeFacts {
                    change: what,
                    requester: (requester, name),
                    access_records: records,
                },
            )?;
            let seq = *next_seq;
            *next_seq += 1;
            change.put(
                Table::RequesterNotice,
                layout::notice(requester, seq),
                layout::encode(&StoredNotice { seq, notice: doc }),
            );
            change.put(
                Table::IssuerNotice,
                layout::issuer_notice(&what.licence.issuer(), seq),
                requester.as_bytes().to_vec(),
            );
        }
        if !recipients.is_empty() {
            change.put(
                Table::Meta,
                layout::NOTICE_SEQ.to_vec(),
                layout::encode_count(*next_seq),
            );
        }
        Ok(recipients.len())
    }

    /// The next number of the notice sequence, read for `change`: which applies only if no
    /// other change took a number since.
    pub(super) fn next_notice_seq(&self, change: &mut Change) -> Result<u64, StoreError> {
        let read = self.store.get(Table::Meta, layout::NOTICE_SEQ)?;
        let next = match &read {
            None => 1,
            Some(v) => layout::decode_count(Table::Meta, v)?,
        };
        change.expect(Table::Meta, layout::NOTICE_SEQ, read);
        Ok(next)
    }

    /// A requester's notices after `cursor` (none: from the start), oldest first. A notice's
    /// `seq` is a cursor too: the feed resumes after the last notice handled.
    pub fn notices(
        &self,
        requester: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<NoticePage, VaultError> {
        let limit = page::NOTICES.clamp(limit);
        let after = page::position(cursor)?;
        let prefix = layout::notices(requester);
        let entries = match after {
            None => self
                .store
                .scan(Table::RequesterNotice, &prefix, false, limit + 1)?,
            Some(seq) => self.store.scan_after(
                Table::RequesterNotice,
                &prefix,
                &layout::notice(requester, seq),
                false,
                limit + 1,
            )?,
        };
        let more = entries.len() > limit;
        let notices = entries
            .into_iter()
            .take(limit)
            .map(|(_, v)| layout::decode::<StoredNotice>(Table::RequesterNotice, &v))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = page::cursor_at(notices.last().map(|n| n.seq).filter(|_| more));
        Ok(NoticePage {
            notices,
            next_cursor,
        })
    }
}
