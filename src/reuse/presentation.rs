//! Presentation codes (亮证, SPEC §11): a holder shows a licence in person through a one-time
//! code. Pure: the vault stores the code's digest and redeems it under the holder's lock.
//!
//! A code carries 160 random bits, written as 32 characters of RFC 4648 base32 in groups of four
//! (`ABCD-EFGH-…`); it is typed or scanned, so case, spaces and dashes do not matter. It lives at
//! most [`MAX_VALID_FOR`] seconds, is redeemed at most once, and may be cancelled before that.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::verdict::{Reason, Rejection};

/// The longest a code lives (seconds).
pub const MAX_VALID_FOR: u64 = 5 * 60;
/// How long a code lives unless the holder says (seconds).
pub const DEFAULT_VALID_FOR: u64 = 2 * 60;
/// Random bytes in a code (160 bits).
pub const CODE_BYTES: usize = 20;
/// Most face fields a code may name.
pub const MAX_FIELDS: usize = 64;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Where a code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresentationState {
    Pending,
    Redeemed,
    Cancelled,
    Expired,
}

/// The code as it is shown: base32 of `bytes`, in groups of four.
pub fn format_code(bytes: &[u8; CODE_BYTES]) -> String {
    let mut out = String::with_capacity(40);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut n = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            if n > 0 && n % 4 == 0 {
                out.push('-');
            }
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
            n += 1;
        }
    }
    out
}

/// The canonical form of a typed or scanned code (upper case, no separators), or `None` if it
/// cannot be a code.
pub fn normalise_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_BYTES * 8 / 5 && code.bytes().all(|b| BASE32.contains(&b))).then_some(code)
}

/// The lifetime asked for, checked: 1 to [`MAX_VALID_FOR`] seconds.
pub fn valid_for(asked: Option<u64>) -> Result<u64, Rejection> {
    match asked.unwrap_or(DEFAULT_VALID_FOR) {
        s @ 1..=MAX_VALID_FOR => Ok(s),
        _ => Err(Rejection::new(
            Reason::InvalidRequest,
            "$.validFor",
            format!("must be 1 to {MAX_VALID_FOR} seconds"),
        )),
    }
}

/// The fields asked for, checked against the licence's face: named once each, and present.
pub fn check_fields(fields: &[String], face: &[&str]) -> Result<(), Rejection> {
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return Err(Rejection::new(
            Reason::InvalidRequest,
            "$.fields",
            format!("name 1 to {MAX_FIELDS} face fields, or leave it out for the whole licence"),
        ));
    }
    for (i, f) in fields.iter().enumerate() {
        if fields[..i].contains(f) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                format!("$.fields[{i}]"),
                format!("{f} is named twice"),
            ));
        }
        if !face.contains(&f.as_str()) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                format!("$.fields[{i}]"),
                format!("the licence has no face field {f}"),
            ));
        }
    }
    Ok(())
}

/// The state of a code now: `Expired` once past `expires_at` while still pending.
pub fn state_at(
    stored: PresentationState,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> PresentationState {
    match stored {
        PresentationState::Pending if now >= expires_at => PresentationState::Expired,
        s => s,
    }
}

/// Whether a code may be redeemed now, else the reason it may not.
pub fn redeemable(
    stored: PresentationState,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let (reason, message) = match state_at(stored, expires_at, now) {
        PresentationState::Pending => return Ok(()),
        PresentationState::Redeemed => (
            Reason::PresentationUsed,
            "this code was redeemed already; ask the holder for a new one",
        ),
        PresentationState::Cancelled => (
            Reason::PresentationCancelled,
            "the holder cancelled this code",
        ),
        PresentationState::Expired => (
            Reason::PresentationExpired,
            "this code has expired; ask the holder for a new one",
        ),
    };
    Err(Rejection::new(reason, "$.code", message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn codes_print_in_groups_and_read_back_however_typed() {
        let code = format_code(&[0xff; CODE_BYTES]);
        assert_eq!(code, "7777-7777-7777-7777-7777-7777-7777-7777");
        let code = format_code(&[0; CODE_BYTES]);
        assert_eq!(code.len(), 39);
        let typed = "abcd efgh-ijkl mnop-qrst-uvwx-yz23-4567";
        assert_eq!(
            normalise_code(typed).as_deref(),
            Some("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        );
        assert_eq!(normalise_code("ABCD"), None, "too short");
        assert_eq!(normalise_code(&"1".repeat(32)), None, "not base32");
        assert_eq!(
            normalise_code(&format_code(&[7; CODE_BYTES])).map(|c| c.len()),
            Some(32)
        );
    }

    #[test]
    fn lifetimes_fields_and_states_at_their_boundaries() {
        assert_eq!(valid_for(None), Ok(DEFAULT_VALID_FOR));
        assert_eq!(valid_for(Some(300)), Ok(300));
        assert_eq!(valid_for(Some(301)).unwrap_err().field, "$.validFor");
        assert_eq!(valid_for(Some(0)).unwrap_err().field, "$.validFor");

        let face = ["名称", "法定代表人"];
        assert_eq!(check_fields(&["名称".into()], &face), Ok(()));
        assert_eq!(check_fields(&[], &face).unwrap_err().field, "$.fields");
        let twice = ["名称".to_owned(), "名称".to_owned()];
        assert_eq!(
            check_fields(&twice, &face).unwrap_err().field,
            "$.fields[1]"
        );
        let absent = ["住所".to_owned()];
        assert_eq!(
            check_fields(&absent, &face).unwrap_err().field,
            "$.fields[0]"
        );

        let t = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let just_before = t - Duration::milliseconds(1);
        assert_eq!(
            redeemable(PresentationState::Pending, t, just_before),
            Ok(())
        );
        let reason = |s, now| redeemable(s, t, now).unwrap_err().reason;
        assert_eq!(
            reason(PresentationState::Pending, t),
            Reason::PresentationExpired
        );
        assert_eq!(
            reason(PresentationState::Redeemed, just_before),
            Reason::PresentationUsed
        );
        assert_eq!(
            reason(PresentationState::Cancelled, just_before),
            Reason::PresentationCancelled
        );
        assert_eq!(
            state_at(PresentationState::Redeemed, t, t),
            PresentationState::Redeemed,
            "a redeemed code stays redeemed"
        );
    }
}
