//! Wallet offers in the vault (OpenID4VCI 1.0, pre-authorized code; SPEC §15): a holder hands one
//! of their licences, exactly as the agency signed it, to a wallet of their choice. The rules are
//! `reuse::wallet_offer`; the protocol's wire is `http/oid4vci`.
//!
//! The vault keeps only digests: the pre-authorized code's SHA-256 is the key of
//! `codedigest_walletoffer`, the transaction code is kept as SHA-256(code ‖ tx code) (useless
//! without the code), the access token as its SHA-256. An access token names its offer by the
//! code's digest, so the credential endpoint finds the offer with one read. Every step moves the
//! offer under its holder's lock; the release is an access record of kind `wallet`, durable in
//! the same change as the offer's last step, before the licence leaves.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::access_log::{put_access_record, wallet_record};
use super::ids;
use super::layout::{self, HolderDigest};
use super::logs::LogReceipt;
use super::{At, Vault, VaultError};
use crate::codes::{HolderCode, LicenceId};
use crate::jcs::Canonical;
use crate::keys::same_bytes;
use crate::reuse::delegation::Acting;
use crate::reuse::wallet_offer::{self as rules, OfferState, SECRET_BYTES};
use crate::store::Table;
use crate::verdict::{Reason, Rejection, Verdict};

/// How long an ended offer is kept before the holder's next offer drops it.
pub const KEEP_ENDED_HOURS: i64 = 24;

/// What an access token starts with.
const TOKEN_PREFIX: &str = "vat_";

/// A wallet offer as the vault keeps it (the codes themselves are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletOffer {
    pub id: String,
    /// The licence offered (URN).
    pub licence: String,
    /// The credential configuration of the issuer metadata: the licence's type code.
    pub configuration: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// As stored (see [`WalletOffer::state_at`]).
    pub state: OfferState,
    /// Wrong transaction codes it may still survive.
    pub attempts_left: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub redeemed_at: Option<DateTime<Utc>>,
    /// The access record of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Who made the offer for the holder (a delegate or guardian); absent: the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_by: Option<String>,
}

impl WalletOffer {
    pub fn state_at(&self, now: DateTime<Utc>) -> OfferState {
        rules::state_at(self.state, self.expires_at, now)
    }
}

/// An offer with its holder and the digests that unlock it, as `codedigest_walletoffer` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredOffer {
    holder_digest: String,
    /// Hex SHA-256 of the pre-authorized code ‖ the transaction code.
    tx_digest: String,
    /// Hex SHA-256 of the access token, once issued, and until when it may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    offer: WalletOffer,
}

/// A new offer: the only time its codes exist outside the holder's and the wallet's hands.
#[derive(Debug, Clone)]
pub struct NewOffer {
    pub offer: WalletOffer,
    /// The pre-authorized code (base64url of 256 random bits).
    pub code: String,
    /// The transaction code the holder types into the wallet.
    pub tx_code: String,
}

/// An access token given for a pre-authorized code.
#[derive(Debug, Clone)]
pub struct WalletToken {
    pub token: String,
    pub expires_in: i64,
}

/// What the credential endpoint gives: the stored licence when it verifies, and the record.
#[derive(Debug, Clone)]
pub struct WalletRelease {
    pub access_record: String,
    pub log: LogReceipt,
    pub verdict: Verdict,
    /// The licence exactly as stored; `None` when it no longer verifies (nothing was released).
    pub document: Option<Canonical>,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn tx_digest(code: &str, tx_code: &str) -> String {
    hex::encode(Sha256::digest(format!("{code}\n{tx_code}").as_bytes()))
}

fn secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unknown(field: &str) -> VaultError {
    VaultError::new(Reason::NotFound, field, "no such offer")
}

/// The offer key an access token names, and the token's own digest.
fn token_parts(token: &str) -> Option<(Vec<u8>, [u8; 32])> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (key, _) = rest.split_once('.')?;
    let key = hex::decode(key).ok().filter(|k| k.len() == 32)?;
    Some((key, digest(token)))
}

impl Vault {
    /// Makes an offer of one of the holder's licences to a wallet, valid for
    /// [`rules::OFFER_TTL_SECONDS`]. Only a licence that verifies now is offered.
    pub fn create_wallet_offer(
        &self,
        acting: &Acting,
        licence: &LicenceId,
        at: impl Into<At>,
    ) -> Result<NewOffer, VaultError> {
        let digest_h = self.holder_digest(&acting.holder);
        let made = self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let e = self.extract_own(&digest_h, licence, now)?;
            self.prune_wallet_offers(tx.change(), &digest_h, now)?;
            if !e.verdict.valid {
                let reason = e.verdict.reason().unwrap_or(Reason::IntegrityFailure);
                return Err(VaultError::new(
                    reason,
                    "$.licence",
                    format!("the licence does not verify now ({reason}); a wallet would refuse it"),
                ));
            }
            let code = secret();
            let mut n = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut n);
            let tx_code = rules::format_tx_code(u64::from_le_bytes(n));
            let offer = WalletOffer {
                id: ids::wallet_offer(now),
                licence: licence.urn(),
                configuration: licence.type_code().to_string(),
                created_at: now,
                expires_at: now + Duration::seconds(rules::OFFER_TTL_SECONDS),
                state: OfferState::Offered,
                attempts_left: rules::MAX_TX_ATTEMPTS,
                redeemed_at: None,
                access_record: None,
                cancelled_at: None,
                acted_by: acting.acted_by().map(HolderCode::key),
            };
            let stored = StoredOffer {
                holder_digest: hex::encode(digest_h),
                tx_digest: tx_digest(&code, &tx_code),
                token_digest: None,
                token_expires_at: None,
                offer: offer.clone(),
            };
            let key = digest(&code);
            tx.change()
                .put(Table::WalletOffer, key.to_vec(), layout::encode(&stored))
                .put(
                    Table::HolderWalletOffer,
                    layout::holder_wallet_offer(&digest_h, &offer.id),
                    key.to_vec(),
                );
            Ok(NewOffer {
                offer,
                code,
                tx_code,
            })
        })?;
        tracing::info!(offer = %made.offer.id, licence = %licence, holder = %acting.holder, "wallet offer made");
        Ok(made)
    }

    /// Cancels one of the holder's offers that no wallet has received yet.
    pub fn cancel_wallet_offer(
        &self,
        acting: &Acting,
        id: &str,
        at: impl Into<At>,
    ) -> Result<WalletOffer, VaultError> {
        let digest_h = self.holder_digest(&acting.holder);
        self.as_holder(acting, at, |tx| {
            let now = tx.now();
            let key = self
                .store
                .get(
                    Table::HolderWalletOffer,
                    &layout::holder_wallet_offer(&digest_h, id),
                )?
                .ok_or_else(|| unknown("id"))?;
            let mut stored = self.stored_offer(&key)?.ok_or_else(|| unknown("id"))?;
            let o = &mut stored.offer;
            rules::cancellable(o.state, o.expires_at, now)?;
            o.state = OfferState::Cancelled;
            o.cancelled_at = Some(now);
            tx.change()
                .put(Table::WalletOffer, key, layout::encode(&stored));
            Ok(stored.offer)
        })
    }

    /// The offer a pre-authorized code opens, while a wallet may still take it up (the credential
    /// offer a wallet fetches by reference). Any other code is `not_found`.
    pub fn wallet_offer(&self, code: &str, now: DateTime<Utc>) -> Result<WalletOffer, VaultError> {
        let stored = self
            .stored_offer(&digest(code))?
            .ok_or_else(|| unknown("pre-authorized_code"))?;
        rules::exchangeable(stored.offer.state, stored.offer.expires_at, now)
            .map_err(|_| unknown("pre-authorized_code"))?;
        Ok(stored.offer)
    }

    /// Exchanges a pre-authorized code and the transaction code for an access token, once. A
    /// wrong transaction code is counted (durably) and refused; the last allowed one cancels the
    /// offer.
    pub fn wallet_token(
        &self,
        code: &str,
        tx_code: &str,
        at: impl Into<At>,
    ) -> Result<WalletToken, VaultError> {
        let key = digest(code);
        let holder = self.offer_holder(&key, "pre-authorized_code")?;
        let outcome = self.for_holder(&holder, at, |tx| {
            let now = tx.now();
            let mut stored = self
                .stored_offer(&key)?
                .ok_or_else(|| unknown("pre-authorized_code"))?;
            rules::exchangeable(stored.offer.state, stored.offer.expires_at, now)?;
            let typed = tx_digest(code, tx_code);
            if !rules::well_formed_tx_code(tx_code)
                || !same_bytes(typed.as_bytes(), stored.tx_digest.as_bytes())
            {
                let o = &mut stored.offer;
                o.attempts_left = o.attempts_left.saturating_sub(1);
                if o.attempts_left == 0 {
                    o.state = OfferState::Cancelled;
                    o.cancelled_at = Some(now);
                }
                let left = o.attempts_left;
                tx.change()
                    .put(Table::WalletOffer, key.to_vec(), layout::encode(&stored));
                // Committed: the count stands even though the answer is a refusal.
                return Ok(Err(Rejection::new(
                    Reason::TxCodeMismatch,
                    "tx_code",
                    if left == 0 {
                        "wrong transaction code; the offer is cancelled".to_owned()
                    } else {
                        format!("wrong transaction code; {left} more tries")
                    },
                )));
            }
            let token = format!("{TOKEN_PREFIX}{}.{}", hex::encode(key), secret());
            let expires_at =
                (now + Duration::seconds(rules::TOKEN_TTL_SECONDS)).min(stored.offer.expires_at);
            stored.offer.state = OfferState::TokenIssued;
            stored.token_digest = Some(hex::encode(digest(&token)));
            stored.token_expires_at = Some(expires_at);
            tx.change()
                .put(Table::WalletOffer, key.to_vec(), layout::encode(&stored));
            Ok(Ok(WalletToken {
                token,
                expires_in: (expires_at - now).num_seconds().max(1),
            }))
        })?;
        Ok(outcome?)
    }

    /// Releases the offered licence to the wallet holding `token`, once: verified afresh, the
    /// access record (kind `wallet`) durable in the same change that closes the offer. A licence
    /// that no longer verifies is recorded as not provided and not released.
    pub fn wallet_credential(
        &self,
        token: &str,
        configuration: &str,
        at: impl Into<At>,
    ) -> Result<WalletRelease, VaultError> {
        let (key, token_digest) = token_parts(token).ok_or_else(|| unknown("access_token"))?;
        let holder = self.offer_holder(&key, "access_token")?;
        let release = self.for_holder(&holder, at, |tx| {
            let now = tx.now();
            let mut stored = self
                .stored_offer(&key)?
                .ok_or_else(|| unknown("access_token"))?;
            let known = stored
                .token_digest
                .as_deref()
                .is_some_and(|d| same_bytes(d.as_bytes(), hex::encode(token_digest).as_bytes()));
            if !known {
                return Err(unknown("access_token"));
            }
            let token_end = stored.token_expires_at.unwrap_or(stored.offer.expires_at);
            rules::redeemable(stored.offer.state, stored.offer.expires_at, token_end, now)?;
            if configuration != stored.offer.configuration {
                return Err(VaultError::new(
                    Reason::InvalidRequest,
                    "credential_configuration_id",
                    format!(
                        "this token is for credential configuration {}",
                        stored.offer.configuration
                    ),
                ));
            }
            let licence = LicenceId::from_urn_or_bare(&stored.offer.licence)
                .map_err(|_| layout::corrupt(Table::WalletOffer, "bad licence id"))?;
            // Still the holder's: one that changed hands since the offer is not released.
            let e = self
                .extract_own(&holder, &licence, now)
                .map_err(|_| unknown("access_token"))?;
            let released = e.verdict.valid && e.document.is_some();
            let o = &stored.offer;
            let mut record = wallet_record(
                &holder,
                (&o.id, &o.licence, o.acted_by.clone()),
                &e,
                released,
                now,
            );
            let record_digest = self.chain_access(&holder, &mut record)?;
            let o = &mut stored.offer;
            o.state = OfferState::Redeemed;
            o.redeemed_at = Some(now);
            o.access_record = Some(record.id.clone());
            tx.change()
                .put(Table::WalletOffer, key.clone(), layout::encode(&stored));
            let log = put_access_record(tx.change(), &holder, &record, record_digest);
            Ok(WalletRelease {
                access_record: record.id.clone(),
                log,
                verdict: e.verdict,
                document: e.document.filter(|_| released),
            })
        })?;
        tracing::info!(access_record = %release.access_record, released = release.document.is_some(), "licence handed to a wallet");
        Ok(release)
    }

    /// Drops the holder's offers that ended more than [`KEEP_ENDED_HOURS`] ago (their releases
    /// stay in the access log), so that a holder's offers do not pile up.
    fn prune_wallet_offers(
        &self,
        change: &mut crate::store::Change,
        holder: &HolderDigest,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        let horizon = now - Duration::hours(KEEP_ENDED_HOURS);
        for (index_key, key) in self
            .store
            .scan(Table::HolderWalletOffer, holder, false, 256)?
        {
            let ended = self
                .stored_offer(&key)?
                .is_none_or(|s| s.offer.expires_at < horizon);
            if ended {
                change
                    .delete(Table::HolderWalletOffer, index_key)
                    .delete(Table::WalletOffer, key);
            }
        }
        Ok(())
    }

    fn stored_offer(&self, key: &[u8]) -> Result<Option<StoredOffer>, VaultError> {
        Ok(self
            .store
            .get(Table::WalletOffer, key)?
            .map(|v| layout::decode(Table::WalletOffer, &v))
            .transpose()?)
    }

    /// Whose offer it is (read before the holder's door, which is then taken for that holder).
    fn offer_holder(&self, key: &[u8], field: &str) -> Result<HolderDigest, VaultError> {
        let stored = self.stored_offer(key)?.ok_or_else(|| unknown(field))?;
        Ok(layout::holder_digest_from_hex(
            Table::WalletOffer,
            &stored.holder_digest,
        )?)
    }
}
