//! Exports (SPEC §17): a copy of everything the vault holds about a holder. Making one
//! (`POST /v1/me/exports`) is a use of the holder's data like any other, so it is an access
//! record of its own kind, chained and logged; the ticket it gives lets the same person download
//! the archive once, within [`EXPORT_TTL_MINUTES`]. What the archive holds is assembled by `http/exports`
//! from the API's own answers; the vault signs its manifest here.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::access_log::{export_record, put_access_record};
use super::ids;
use super::layout::{self, ExportEntry};
use super::logs::LogName;
use super::{At, Vault, VaultError};
use crate::reuse::delegation::Acting;
use crate::store::Table;
use crate::verdict::Reason;
use crate::verify::export_manifest::{self, FileEntry, ManifestFacts};

/// How long an export may be downloaded after it was made.
pub const EXPORT_TTL_MINUTES: i64 = 60;

/// An export that may be downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportTicket {
    pub id: String,
    /// The access record that logged it.
    pub access_record: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

fn not_found() -> VaultError {
    VaultError::new(Reason::NotFound, "id", "no such export")
}

impl Vault {
    /// Makes an export for the holder `acting` speaks for: its access record (kind `export`,
    /// naming the delegate who made it) and its ticket, in one change under the holder's door.
    /// Expired tickets of the holder are pruned in the same change.
    pub fn start_export(
        &self,
        acting: &Acting,
        at: impl Into<At>,
    ) -> Result<ExportTicket, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let actor = hex::encode(self.holder_digest(&acting.actor));
        self.as_holder(acting, at, |tx| {
            let now = tx.now();
            for (k, v) in self.store.scan(Table::HolderExport, &digest, false, 1000)? {
                let e: ExportEntry = layout::decode(Table::HolderExport, &v)?;
                if e.expires_at <= now {
                    tx.change().delete(Table::HolderExport, k);
                }
            }
            // Who made it, masked (a holder code's display): the delegation names them in full.
            let mut record = export_record(
                &digest,
                ids::access_record(now),
                acting.acted_by().map(ToString::to_string),
                now,
            );
            let record_digest = self.chain_access(&digest, &mut record)?;
            put_access_record(tx.change(), &digest, &record, record_digest);
            let ticket = ExportTicket {
                id: ids::export(now),
                access_record: record.id.clone(),
                created_at: now,
                expires_at: now + Duration::minutes(EXPORT_TTL_MINUTES),
            };
            tx.change().put(
                Table::HolderExport,
                layout::holder_export(&digest, &ticket.id),
                layout::encode(&ExportEntry {
                    actor: actor.clone(),
                    access_record: ticket.access_record.clone(),
                    created_at: ticket.created_at,
                    expires_at: ticket.expires_at,
                }),
            );
            Ok(ticket)
        })
    }

    /// Takes the export `id` of the holder `acting` speaks for, if the same person made it and
    /// it has not expired: a ticket is downloaded once (a broken download is asked again with a
    /// new export). Anything else is `404`, as for an id that never was.
    pub fn take_export(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<ExportTicket, VaultError> {
        let digest = self.holder_digest(&acting.holder);
        let actor = hex::encode(self.holder_digest(&acting.actor));
        self.as_holder(acting, at, |tx| {
            let key = layout::holder_export(&digest, id);
            let entry = self
                .store
                .get(Table::HolderExport, &key)?
                .map(|v| layout::decode::<ExportEntry>(Table::HolderExport, &v))
                .transpose()?
                .filter(|e| e.actor == actor && e.expires_at > tx.now())
                .ok_or_else(not_found)?;
            tx.change().delete(Table::HolderExport, key);
            Ok(ExportTicket {
                id: id.to_owned(),
                access_record: entry.access_record,
                created_at: entry.created_at,
                expires_at: entry.expires_at,
            })
        })
    }

    /// Signs the manifest of an export's `files`, made at `now`, with the public log's
    /// checkpoint served at that moment (none while witnesses have cosigned none yet).
    pub fn sign_export_manifest(
        &self,
        acting: &Acting,
        ticket: &ExportTicket,
        files: &[FileEntry],
        now: DateTime<Utc>,
    ) -> Result<Value, VaultError> {
        let checkpoint = self.served_checkpoint(LogName::Public)?;
        // Masked (a holder code's display), as the export's access record names them.
        let acted_by = acting.acted_by().map(ToString::to_string);
        let signer = self.signing_key(now)?;
        Ok(export_manifest::issue(
            &*signer,
            &ManifestFacts {
                export: &ticket.id,
                access_record: &ticket.access_record,
                holder: &acting.holder,
                acted_by: acted_by.as_deref(),
                made_at: now,
                files,
                checkpoint: checkpoint.as_deref(),
            },
        )?)
    }
}
