//! Wallet offers (OpenID4VCI 1.0, pre-authorized code; SPEC §15): a holder hands one of their
//! licences, exactly as stored, to a wallet of their choice. Pure: the vault stores the digests
//! and moves an offer along under the holder's lock.
//!
//! The holder's page shows a credential offer (a QR code) and, beside it, a transaction code of
//! [`TX_CODE_DIGITS`] digits that the holder types into the wallet. The offer's pre-authorized
//! code (256 random bits) buys one access token, and only with the right transaction code; after
//! [`MAX_TX_ATTEMPTS`] wrong ones the offer is cancelled. The token buys the licence once. An
//! offer lives [`OFFER_TTL_SECONDS`]; a token [`TOKEN_TTL_SECONDS`], never past its offer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::verdict::{Reason, Rejection};

/// How long an offer may be taken up (seconds).
pub const OFFER_TTL_SECONDS: i64 = 10 * 60;
/// How long an access token may be used (seconds), at most until its offer expires.
pub const TOKEN_TTL_SECONDS: i64 = 5 * 60;
/// Digits in a transaction code.
pub const TX_CODE_DIGITS: usize = 6;
/// Wrong transaction codes an offer survives: the next wrong one cancels it.
pub const MAX_TX_ATTEMPTS: u8 = 5;
/// Random bytes in a pre-authorized code and in an access token.
pub const SECRET_BYTES: usize = 32;

/// Where an offer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    /// Made; no wallet has taken it up.
    Offered,
    /// A wallet exchanged the pre-authorized code (and the transaction code) for a token.
    TokenIssued,
    /// The wallet received the licence.
    Redeemed,
    /// The holder cancelled it, or too many wrong transaction codes were tried.
    Cancelled,
    /// Past its expiry before a wallet received the licence.
    Expired,
}

/// The state now: an offer not yet redeemed is `Expired` once past `expires_at`.
pub fn state_at(stored: OfferState, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> OfferState {
    match stored {
        OfferState::Offered | OfferState::TokenIssued if now >= expires_at => OfferState::Expired,
        s => s,
    }
}

/// Why an offer in state `s` cannot be taken a step further, for a wallet.
fn refusal(s: OfferState, field: &str) -> Rejection {
    let (reason, message) = match s {
        OfferState::Offered | OfferState::TokenIssued | OfferState::Redeemed => (
            Reason::OfferUsed,
            "this offer was taken up already; ask the holder for a new one",
        ),
        OfferState::Cancelled => (Reason::OfferCancelled, "this offer was cancelled"),
        OfferState::Expired => (
            Reason::OfferExpired,
            "this offer has expired; ask the holder for a new one",
        ),
    };
    Rejection::new(reason, field, message)
}

/// Whether the pre-authorized code of an offer may be exchanged for a token now.
pub fn exchangeable(
    stored: OfferState,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    match state_at(stored, expires_at, now) {
        OfferState::Offered => Ok(()),
        s => Err(refusal(s, "pre-authorized_code")),
    }
}

/// Whether the token of an offer may buy the licence now (`token_expires_at`: the token's own end).
pub fn redeemable(
    stored: OfferState,
    expires_at: DateTime<Utc>,
    token_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    match state_at(stored, expires_at.min(token_expires_at), now) {
        OfferState::TokenIssued => Ok(()),
        s => Err(refusal(s, "access_token")),
    }
}

/// Whether a holder may still cancel the offer (one a wallet received stays so).
pub fn cancellable(
    stored: OfferState,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    match state_at(stored, expires_at, now) {
        OfferState::Offered | OfferState::TokenIssued => Ok(()),
        OfferState::Redeemed => Err(Rejection::new(
            Reason::OfferUsed,
            "id",
            "a wallet received this licence already",
        )),
        s => Err(refusal(s, "id")),
    }
}

/// A transaction code from random bytes: [`TX_CODE_DIGITS`] decimal digits.
pub fn format_tx_code(random: u64) -> String {
    let modulus = 10u64.pow(TX_CODE_DIGITS as u32);
    format!("{:0width$}", random % modulus, width = TX_CODE_DIGITS)
}

/// What a typed transaction code must look like before it is compared.
pub fn well_formed_tx_code(typed: &str) -> bool {
    typed.len() == TX_CODE_DIGITS && typed.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        "2026-12-07T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_offer_moves_once_through_each_step() {
        let end = t0() + Duration::seconds(OFFER_TTL_SECONDS);
        assert!(exchangeable(OfferState::Offered, end, t0()).is_ok());
        let used = exchangeable(OfferState::TokenIssued, end, t0()).unwrap_err();
        assert_eq!(
            (used.reason, used.field.as_str()),
            (Reason::OfferUsed, "pre-authorized_code")
        );
        let token_end = t0() + Duration::seconds(TOKEN_TTL_SECONDS);
        assert!(redeemable(OfferState::TokenIssued, end, token_end, t0()).is_ok());
        let again = redeemable(OfferState::Redeemed, end, token_end, t0()).unwrap_err();
        assert_eq!(
            (again.reason, again.field.as_str()),
            (Reason::OfferUsed, "access_token")
        );
        assert_eq!(
            redeemable(OfferState::Offered, end, token_end, t0())
                .unwrap_err()
                .reason,
            Reason::OfferUsed
        );
    }

    #[test]
    fn time_ends_an_offer_and_its_token() {
        let end = t0() + Duration::seconds(OFFER_TTL_SECONDS);
        assert_eq!(
            exchangeable(OfferState::Offered, end, end)
                .unwrap_err()
                .reason,
            Reason::OfferExpired
        );
        // A token ends with its own time, or its offer's, whichever comes first.
        let token_end = t0() + Duration::seconds(TOKEN_TTL_SECONDS);
        assert_eq!(
            redeemable(OfferState::TokenIssued, end, token_end, token_end)
                .unwrap_err()
                .reason,
            Reason::OfferExpired
        );
        let late_token = end + Duration::seconds(60);
        assert_eq!(
            redeemable(OfferState::TokenIssued, end, late_token, end)
                .unwrap_err()
                .reason,
            Reason::OfferExpired
        );
        // A redeemed offer stays redeemed.
        assert_eq!(
            state_at(OfferState::Redeemed, end, end + Duration::days(1)),
            OfferState::Redeemed
        );
    }

    #[test]
    fn cancelled_and_redeemed_offers_cannot_be_cancelled() {
        let end = t0() + Duration::seconds(OFFER_TTL_SECONDS);
        assert!(cancellable(OfferState::TokenIssued, end, t0()).is_ok());
        assert_eq!(
            cancellable(OfferState::Redeemed, end, t0())
                .unwrap_err()
                .reason,
            Reason::OfferUsed
        );
        assert_eq!(
            cancellable(OfferState::Cancelled, end, t0())
                .unwrap_err()
                .reason,
            Reason::OfferCancelled
        );
        assert_eq!(
            exchangeable(OfferState::Cancelled, end, t0())
                .unwrap_err()
                .reason,
            Reason::OfferCancelled
        );
    }

    #[test]
    fn transaction_codes_are_six_digits() {
        assert_eq!(format_tx_code(0), "000000");
        assert_eq!(format_tx_code(1_234_567), "234567");
        assert_eq!(format_tx_code(u64::MAX).len(), TX_CODE_DIGITS);
        assert!(well_formed_tx_code("012345"));
        for bad in ["12345", "1234567", "12345a", "１２３４５６", ""] {
            assert!(!well_formed_tx_code(bad), "{bad}");
        }
    }
}
