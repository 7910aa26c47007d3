//! Every id the vault makes: the kind's prefix, the time in microseconds as 16 hex digits (so a
//! holder's records sort by time, and a page cursor can start from one), then random hex.

use chrono::{DateTime, Utc};
use rand::RngCore as _;

use super::layout;

fn make(prefix: &str, now: DateTime<Utc>, random_bytes: usize) -> String {
    format!(
        "{prefix}_{:016x}{}",
        layout::micros(now),
        random_hex(random_bytes)
    )
}

/// An access record (`acc_`): a pull, a check or a presentation redeemed.
pub(super) fn access_record(now: DateTime<Utc>) -> String {
    make("acc", now, 8)
}

/// A consent (`cst_`).
pub(super) fn consent(now: DateTime<Utc>) -> String {
    make("cst", now, 6)
}

/// A consent request (`creq_`): 128 random bits, since the requester may read it by id.
pub(super) fn request(now: DateTime<Utc>) -> String {
    make("creq", now, 16)
}

/// A presentation code's record (`prs_`; the code itself is made by `reuse::presentation`).
pub(super) fn presentation(now: DateTime<Utc>) -> String {
    make("prs", now, 8)
}

/// A wallet offer's record (`wof_`; its codes are made by `vault/wallet`).
pub(super) fn wallet_offer(now: DateTime<Utc>) -> String {
    make("wof", now, 8)
}

/// A presentation transaction (`vpt_`): 128 random bits, since its id is its response URI's.
pub(super) fn vp_transaction(now: DateTime<Utc>) -> String {
    make("vpt", now, 16)
}

/// A verifier's request resolved for a holder (`wvp_`).
pub(super) fn wallet_vp(now: DateTime<Utc>) -> String {
    make("wvp", now, 8)
}

/// A delegation (`dlg_`).
pub(super) fn delegation(now: DateTime<Utc>) -> String {
    make("dlg", now, 8)
}

/// An export (`exp_`).
pub(super) fn export(now: DateTime<Utc>) -> String {
    make("exp", now, 16)
}

/// A correction request (`cor_`).
pub(super) fn correction(now: DateTime<Utc>) -> String {
    make("cor", now, 8)
}

/// An objection (`obj_`).
pub(super) fn objection(now: DateTime<Utc>) -> String {
    make("obj", now, 8)
}

/// The time an id starts with (after its prefix), to the microsecond.
pub(super) fn time_of(id: &str) -> Option<DateTime<Utc>> {
    let (_, rest) = id.split_once('_')?;
    let micros = i64::from_str_radix(rest.get(..16)?, 16).ok()?;
    DateTime::from_timestamp_micros(micros)
}

/// A guardianship (`gdn_`).
pub(super) fn guardianship(now: DateTime<Utc>) -> String {
    make("gdn", now, 8)
}

/// A fresh `urn:uuid:` (version 4): the id of a document the vault signs.
pub(super) fn uuid_urn() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    crate::verify::uuid_urn(b, 4)
}

/// `n` random bytes as hex.
pub(super) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_urn();
        assert_eq!(u.len(), "urn:uuid:".len() + 36);
        assert_eq!(&u[23..24], "4");
    }
}
