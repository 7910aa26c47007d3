//! Bitstring Status Lists (W3C, SPEC §6): the lists the vault signs per agency and purpose, the
//! entries that point into them from receipts, and the check of an entry against a list.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::envelope::Envelope;
use super::SigningError;
use super::VaultKeys;
use crate::codes::Uscc;
use crate::keys::Sign;
use crate::lifecycle::{self, Purpose};
use crate::proof::{self};
use crate::verdict::{Check, CheckName, Reason};

/// How long a served status list may be cached by verifiers.
pub const LIST_VALIDITY: Duration = Duration::hours(24);

/// The stable URL of one of an agency's status lists under the vault's `public_url`.
pub fn url(public_url: &str, issuer: &Uscc, purpose: Purpose, list: u64) -> String {
    format!(
        "{public_url}/v1/status-lists/{issuer}/{}/{list}",
        purpose.as_str()
    )
}

/// A `BitstringStatusListEntry`: where one licence's bit of one purpose is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub purpose: Purpose,
    pub index: u32,
    pub list_url: String,
}

/// The entry of the licence at `status_index` in its issuer's lists.
pub fn entry(public_url: &str, issuer: &Uscc, purpose: Purpose, status_index: u64) -> Entry {
    let (list, index) = lifecycle::list_position(status_index);
    Entry {
        purpose,
        index,
        list_url: url(public_url, issuer, purpose, list),
    }
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({
            "type": "BitstringStatusListEntry",
            "statusPurpose": self.purpose.as_str(),
            "statusListIndex": self.index.to_string(),
            "statusListCredential": self.list_url,
        })
    }

    /// The `credentialStatus` entries of a credential (a receipt), or the one that is malformed.
    pub fn all_of(credential: &Value) -> Result<Vec<Self>, String> {
        credential["credentialStatus"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let purpose = e["statusPurpose"].as_str().and_then(|p| p.parse().ok());
                let index = e["statusListIndex"].as_str().and_then(|i| i.parse().ok());
                match (purpose, index, e["statusListCredential"].as_str()) {
                    (Some(purpose), Some(index), Some(url)) => Ok(Self {
                        purpose,
                        index,
                        list_url: url.to_owned(),
                    }),
                    _ => Err(format!("malformed credentialStatus entry: {e}")),
                }
            })
            .collect()
    }
}

/// Signs the status list credential at `url` of `purpose` holding `bits`, valid from `now` for
/// [`LIST_VALIDITY`].
pub fn issue(
    signer: &dyn Sign,
    url: &str,
    purpose: Purpose,
    bits: &[u8],
    now: DateTime<Utc>,
) -> Result<Value, SigningError> {
    let unsigned = Envelope {
        id: Some(url),
        types: &["BitstringStatusListCredential"],
        valid_from: now,
        valid_until: Some(now + LIST_VALIDITY),
    }
    .around(
        signer,
        json!({
            "id": format!("{url}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": purpose.as_str(),
            "encodedList": lifecycle::encode_list(bits),
        }),
    );
    proof::sign(unsigned, signer, now).map_err(|e| SigningError::proof("status list", e))
}

/// The status check of a licence from its entries and the lists found for them (`None`: no list
/// at hand for that entry). Each list must be signed by one of the vault's `keys` and valid at
/// `now`. `Err` says why a list cannot be read at all (wrong purpose, undecodable, too short).
pub fn check(
    found: &[(Entry, Option<Value>)],
    keys: &VaultKeys,
    now: DateTime<Utc>,
) -> Result<Check, String> {
    let mut read = Vec::new();
    for (entry, list) in found {
        let Some(list) = list else { continue };
        let url = &entry.list_url;
        let lv = super::document(list, Some(keys), now);
        if !lv.valid {
            let why = lv.reason().map_or("invalid", Reason::as_str);
            return Ok(Check::fail(
                CheckName::Status,
                lv.reason().unwrap_or(Reason::BadSignature),
                format!("status list {url} does not verify: {why}"),
            ));
        }
        if list["credentialSubject"]["statusPurpose"] != entry.purpose.as_str() {
            return Err(format!(
                "status list {url} is not a {} list",
                entry.purpose.as_str()
            ));
        }
        let bits = list["credentialSubject"]["encodedList"]
            .as_str()
            .and_then(lifecycle::decode_list)
            .ok_or_else(|| format!("status list {url} has no decodable encodedList"))?;
        let bit = lifecycle::get_bit(&bits, entry.index)
            .ok_or_else(|| format!("index {} is beyond status list {url}", entry.index))?;
        read.push((entry.purpose, bit, list["validFrom"].as_str().unwrap_or("")));
    }
    if read.is_empty() {
        return Ok(Check::not_checked(
            CheckName::Status,
            "no status list for the receipt's entries was given",
        ));
    }
    for (purpose, bit, at) in &read {
        if *bit {
            let (code, what) = match purpose {
                Purpose::Revocation => (Reason::Revoked, "revoked or cancelled"),
                Purpose::Suspension => (Reason::Suspended, "suspended"),
            };
            return Ok(Check::fail(
                CheckName::Status,
                code,
                format!("{what} according to the status list of {at}"),
            ));
        }
    }
    let checked: Vec<&str> = read.iter().map(|(p, _, _)| p.as_str()).collect();
    Ok(Check::pass_with(
        CheckName::Status,
        format!("not set in the {} status list(s)", checked.join(" and ")),
    ))
}
