//! The page convention of every feed on the wire (`vault::page`): `limit` and an opaque `cursor`
//! in, `nextCursor` out. Two feeds still accept their older names for a release (`before` on an
//! agency's feeds, `after` on a requester's notices), marked deprecated in the OpenAPI.

use super::error::ApiError;
use crate::vault::page::PageSize;
use crate::verdict::Reason;

/// `limit` within the feed's size (its default when absent), or `400` naming `limit`.
pub fn limit(limit: Option<usize>, size: PageSize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(size.default);
    if (1..=size.max).contains(&limit) {
        Ok(limit)
    } else {
        Err(
            ApiError::new(Reason::InvalidRequest, format!("must be 1 to {}", size.max))
                .field("limit"),
        )
    }
}

/// The cursor of a request: `cursor`, or the deprecated numeric parameter `legacy` named `name`
/// (a number is the text of a numbered feed's cursor); never both.
pub fn cursor(
    cursor: Option<String>,
    legacy: Option<u64>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match (cursor, legacy) {
        (Some(_), Some(_)) => Err(ApiError::new(
            Reason::InvalidRequest,
            format!("give cursor or {name} (deprecated), not both"),
        )
        .field(name)),
        (Some(c), None) => Ok(Some(c)),
        // Documented as a signed 64-bit integer: nothing beyond it is a position of a feed.
        (None, Some(n)) if i64::try_from(n).is_err() => Err(ApiError::new(
            Reason::InvalidRequest,
            format!("{name} is beyond any position of this feed"),
        )
        .field(name)),
        (None, legacy) => Ok(legacy.map(|n| n.to_string())),
    }
}
