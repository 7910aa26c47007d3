//! What an issuing agency sees of its own work (SPEC §12, the agency page): its recent deposits
//! and the revocation notices its licences caused. Both are indexes written in the same change as
//! the deposit (`uscc_deposit`) and the notices (`uscc_notice`), newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::layout;
use super::lifecycle::StatusRecord;
use super::page;
use super::{StoredNotice, Vault, VaultError};
use crate::codes::{LicenceId, Uscc};
use crate::store::Table;

/// One of an issuer's deposits as it stands now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerDeposit {
    /// The position in the issuer's deposits (its status-list index).
    pub index: u64,
    /// `urn:licence:…`.
    pub id: String,
    pub type_code: String,
    #[schema(value_type = String, format = DateTime)]
    pub deposited_at: DateTime<Utc>,
    /// The latest accepted status statement; absent: active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusRecord>,
    /// The newer version that renewed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// A status change of one of the issuer's licences and how many approval systems its revocation
/// notices reached. Not which: that the statement reached the requesters it had to is what the
/// agency needs to know; who pulled a holder's licence is the holder's to see (docs/DECISIONS.md).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerNotice {
    /// The position of the statement's last notice in the issuer's notices.
    pub seq: u64,
    /// `urn:gbt36904:…` of the licence.
    pub licence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    pub status: String,
    /// When the vault accepted the statement (the notices went out in the same change).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub received_at: Option<Value>,
    /// How many approval systems were sent a notice.
    pub requesters: usize,
}

/// A newest-first page and the cursor of the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Entries of an issuer index (number, value) and the position after which the next page starts.
type IndexPage = (Vec<(u64, Vec<u8>)>, Option<u64>);

impl Vault {
    /// Entries of an issuer index after `cursor` (none: from the newest), newest first.
    fn issuer_index(
        &self,
        table: Table,
        issuer: &Uscc,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<IndexPage, VaultError> {
        let limit = page::ISSUER.clamp(limit);
        let before = page::position(cursor)?;
        let prefix = layout::issuer(issuer);
        let entries = match before {
            None => self.store.scan(table, &prefix, true, limit + 1)?,
            Some(n) => self.store.scan_after(
                table,
                &prefix,
                &layout::issuer_deposit(issuer, n),
                true,
                limit + 1,
            )?,
        };
        let more = entries.len() > limit;
        let items = entries
            .into_iter()
            .take(limit)
            .map(|(k, v)| Ok((layout::issuer_key_number(table, &k)?, v)))
            .collect::<Result<Vec<_>, VaultError>>()?;
        let next = if more {
            items.last().map(|(n, _)| *n)
        } else {
            None
        };
        Ok((items, next))
    }

    /// An issuer's deposits, newest first, each with its status now.
    pub fn issuer_deposits(
        &self,
        issuer: &Uscc,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<IssuerPage<IssuerDeposit>, VaultError> {
        let (entries, next) = self.issuer_index(Table::IssuerDeposit, issuer, cursor, limit)?;
        let mut items = Vec::with_capacity(entries.len());
        for (index, v) in entries {
            let id: LicenceId = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| layout::corrupt(Table::IssuerDeposit, "bad licence id"))?;
            let meta = self.meta(&id)?.ok_or_else(|| {
                layout::corrupt(Table::IssuerDeposit, "deposit without its licence")
            })?;
            items.push(IssuerDeposit {
                index,
                id: id.urn(),
                type_code: id.type_code().to_string(),
                deposited_at: meta.deposited_at,
                status: meta.status,
                superseded_by: meta.superseded_by.map(|s| s.urn()),
            });
        }
        Ok(IssuerPage {
            items,
            next_cursor: page::cursor_at(next),
        })
    }

    /// The status changes of the issuer's licences that caused revocation notices, newest first,
    /// each with how many approval systems it reached; at most `limit` of them after `cursor`.
    /// A statement's notices are consecutive in the index: a page reads on until the last one
    /// it shows is complete.
    pub fn issuer_notices(
        &self,
        issuer: &Uscc,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<IssuerPage<IssuerNotice>, VaultError> {
        let limit = page::ISSUER.clamp(limit);
        let mut items: Vec<IssuerNotice> = Vec::new();
        let mut position = cursor.map(str::to_owned);
        let mut more = false;
        'read: loop {
            let (entries, next) =
                self.issuer_index(Table::IssuerNotice, issuer, position.as_deref(), limit)?;
            for (seq, v) in entries {
                let requester = String::from_utf8(v)
                    .map_err(|_| layout::corrupt(Table::IssuerNotice, "bad requester id"))?;
                let stored = self
                    .store
                    .get(Table::RequesterNotice, &layout::notice(&requester, seq))?
                    .ok_or_else(|| {
                        layout::corrupt(Table::IssuerNotice, "index without its notice")
                    })?;
                let StoredNotice { notice, .. } = layout::decode(Table::RequesterNotice, &stored)?;
                let s = &notice["credentialSubject"];
                let text = |k: &str| s[k].as_str().map(str::to_owned);
                let (licence, status) = (
                    text("licence").unwrap_or_default(),
                    text("status").unwrap_or_default(),
                );
                let received_at = s.get("receivedAt").cloned();
                let full = items.len() == limit;
                match items.last_mut() {
                    Some(last)
                        if last.licence == licence
                            && last.status == status
                            && last.received_at == received_at =>
                    {
                        last.requesters += 1;
                        last.seq = seq;
                    }
                    _ if full => {
                        more = true;
                        break 'read;
                    }
                    _ => items.push(IssuerNotice {
                        seq,
                        licence,
                        previous_status: text("previousStatus"),
                        status,
                        received_at,
                        requesters: 1,
                    }),
                }
            }
            match next {
                Some(n) => position = Some(n.to_string()),
                None => break,
            }
        }
        Ok(IssuerPage {
            next_cursor: page::cursor_at(items.last().filter(|_| more).map(|n| n.seq)),
            items,
        })
    }
}
