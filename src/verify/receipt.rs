//! Deposit receipts (SPEC §5): the vault's signed statement that it received a licence's exact
//! bytes at a time, with the licence's two status-list entries.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::envelope::Envelope;
use super::VaultKeys;
use super::{status_list, SigningError};
use crate::codes::LicenceId;
use crate::keys::Sign;
use crate::lifecycle::Purpose;
use crate::proof::{self, format_time};
use crate::verdict::{Check, CheckName, Reason};

/// Signs the receipt of `id` with content digest `sha256`, deposited at `at`, whose status sits at
/// `status_index` in its issuer's lists under `public_url`. Ed25519 is deterministic and `created`
/// is the deposit time, so the same facts always give the same bytes.
pub fn issue(
    signer: &dyn Sign,
    public_url: &str,
    id: &LicenceId,
    sha256: &str,
    status_index: u64,
    at: DateTime<Utc>,
) -> Result<Value, SigningError> {
    let entry = |purpose: Purpose| {
        status_list::entry(public_url, &id.issuer(), purpose, status_index).to_json()
    };
    let mut unsigned = Envelope {
        id: None,
        types: &["DepositReceipt"],
        valid_from: at,
        valid_until: None,
    }
    .around(
        signer,
        json!({"licence": id.urn(), "sha256": sha256, "depositedAt": format_time(at)}),
    );
    unsigned["credentialStatus"] = json!([entry(Purpose::Revocation), entry(Purpose::Suspension)]);
    proof::sign(unsigned, signer, at).map_err(|e| SigningError::proof("deposit receipt", e))
}

/// The deposit time a receipt signed by one of the vault's `keys` proves for `doc`, or the failing
/// integrity check: the receipt must verify, name the licence and carry the SHA-256 of its JCS
/// bytes.
pub fn deposit_time(
    receipt: &Value,
    doc: &Value,
    keys: &VaultKeys,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Check> {
    let rv = super::document(receipt, Some(keys), now);
    if rv.check(CheckName::Signature).and_then(|c| c.ok) != Some(true)
        || rv.check(CheckName::IssuerKey).and_then(|c| c.ok) != Some(true)
    {
        return Err(Check::fail(
            CheckName::Integrity,
            Reason::BadSignature,
            "the receipt is not signed by the vault",
        ));
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        crate::jcs::canonicalize(doc),
    ));
    let subject = &receipt["credentialSubject"];
    if subject["licence"] != doc["id"] || subject["sha256"] != sha.as_str() {
        return Err(Check::fail(
            CheckName::Integrity,
            Reason::IntegrityFailure,
            "the receipt is for another licence or other content",
        ));
    }
    subject["depositedAt"]
        .as_str()
        .and_then(proof::parse_time)
        .ok_or_else(|| {
            Check::fail(
                CheckName::Integrity,
                Reason::IntegrityFailure,
                "the receipt has no depositedAt",
            )
        })
}
