//! One page convention for every feed (the access log, notifications, a requester's notices, an
//! agency's deposits and notices): `limit`, an opaque `cursor`, and `nextCursor` (absent on the
//! last page). The sizes of every feed are here.

use super::VaultError;
use crate::verdict::Reason;

/// How many entries a page of one feed holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    /// When the caller names no `limit`.
    pub default: usize,
    /// The most a caller may ask for.
    pub max: usize,
}

impl PageSize {
    /// `limit` within `1..=max`.
    pub fn clamp(self, limit: usize) -> usize {
        limit.clamp(1, self.max)
    }
}

/// A holder's access log, newest first.
pub const ACCESS_LOG: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// A holder's notifications, newest first.
pub const NOTIFICATIONS: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// The authorisations given for a holder, and those a person received: a page of each.
pub const DELEGATIONS: PageSize = PageSize {
    default: 200,
    max: 200,
};
/// A holder's presentation codes, newest first.
pub const PRESENTATIONS: PageSize = PageSize {
    default: 100,
    max: 200,
};
/// A holder's consents, newest first.
pub const CONSENTS: PageSize = PageSize {
    default: 100,
    max: 200,
};
/// A holder's licences, in identifier order, each verified afresh.
pub const LICENCES: PageSize = PageSize {
    default: 100,
    max: 200,
};
/// A holder's pending consent requests, newest first, each with its preview (which verifies
/// licences): smaller pages.
pub const CONSENT_REQUESTS: PageSize = PageSize {
    default: 20,
    max: 50,
};
/// A holder's corrections or an agency's, newest first.
pub const CORRECTIONS: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// A requester's revocation notices, oldest first.
pub const NOTICES: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// An agency's deposits or the notices they caused, newest first.
pub const ISSUER: PageSize = PageSize {
    default: 50,
    max: 200,
};

/// The position a numbered feed's cursor stands for (its text is the number; clients treat it as
/// opaque).
pub fn position(cursor: Option<&str>) -> Result<Option<u64>, VaultError> {
    cursor
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                VaultError::new(
                    Reason::InvalidRequest,
                    "cursor",
                    "not a cursor this feed gave",
                )
            })
        })
        .transpose()
}

/// The cursor of a numbered feed's next page.
pub fn cursor_at(position: Option<u64>) -> Option<String> {
    position.map(|n| n.to_string())
}

impl super::Vault {
    /// A page of an index whose keys are `prefix` ‖ id (ids start with their time): up to
    /// `limit` items, newest first, strictly before the key `after` when given. Each id is loaded
    /// by `load`, which keeps it or not (a delegate's scope, a state filter); the index is read a
    /// chunk at a time until the page is full. The page, and whether a later kept item exists.
    pub(super) fn index_page<T>(
        &self,
        table: crate::store::Table,
        prefix: &[u8],
        mut after: Option<Vec<u8>>,
        limit: usize,
        mut load: impl FnMut(&str) -> Result<Option<T>, VaultError>,
    ) -> Result<(Vec<T>, bool), VaultError> {
        let chunk = limit + 1;
        let mut out = Vec::new();
        loop {
            let entries = match &after {
                None => self.store.scan(table, prefix, true, chunk)?,
                Some(a) => self.store.scan_after(table, prefix, a, true, chunk)?,
            };
            let full = entries.len() == chunk;
            after = entries.last().map(|(k, _)| k.clone());
            for (k, _) in &entries {
                let id = super::layout::index_id(table, k, prefix.len())?;
                out.extend(load(id)?);
            }
            if out.len() > limit || !full {
                let more = out.len() > limit;
                out.truncate(limit);
                return Ok((out, more));
            }
        }
    }
}
