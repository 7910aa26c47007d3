//! Licence lifecycle (SPEC §6): signed status statements, the transitions they may make, and the
//! W3C Bitstring Status List encoding used for offline verifiers.
//!
//! **Invariant:** pure; the vault decides which statements to accept and stores them.

use std::io::{Read as _, Write as _};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::codes::{LicenceId, LICENCE_URN_PREFIX};
use crate::proof::parse_time;
use crate::verdict::{CheckName, Reason, Rejection, Verdict};

/// A licence's lifecycle status as set by its issuer's statements (SPEC §6). `expired` and
/// `superseded` are derived, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
    Revoked,
    Cancelled,
    Expired,
    Superseded,
}

impl Status {
    /// The status a fresh verdict shows (a statement's status first, then expiry).
    pub fn of(v: &Verdict) -> Status {
        let code = |name| v.check(name).and_then(|c| c.code);
        match (code(CheckName::Status), code(CheckName::Validity)) {
            (Some(Reason::Suspended), _) => Status::Suspended,
            (Some(Reason::Revoked), _) => Status::Revoked,
            (Some(Reason::Cancelled), _) => Status::Cancelled,
            (Some(Reason::Superseded), _) => Status::Superseded,
            (_, Some(Reason::Expired)) => Status::Expired,
            _ => Status::Active,
        }
    }

    pub fn reason(self) -> Option<Reason> {
        match self {
            Self::Active => None,
            Self::Suspended => Some(Reason::Suspended),
            Self::Revoked => Some(Reason::Revoked),
            Self::Cancelled => Some(Reason::Cancelled),
            Self::Expired => Some(Reason::Expired),
            Self::Superseded => Some(Reason::Superseded),
        }
    }
}

/// Entries per status list: the W3C minimum (16 KiB), which keeps each list small enough to fetch.
pub const LIST_SIZE: u32 = 131_072;

/// The list number and the index within it of a licence's status index.
pub fn list_position(status_index: u64) -> (u64, u32) {
    (
        status_index / u64::from(LIST_SIZE),
        (status_index % u64::from(LIST_SIZE)) as u32,
    )
}

/// A status statement as deposited by the issuing agency (the proof is checked by the vault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub licence: LicenceId,
    pub status: Status,
    pub reason: String,
    pub effective_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStatement {
    #[serde(rename = "@context")]
    context: Vec<String>,
    licence: String,
    status: Status,
    reason: String,
    effective_at: String,
    #[serde(default)]
    #[expect(dead_code, reason = "checked by crate::proof; only allowed here")]
    proof: Option<Value>,
}

impl Statement {
    pub fn parse(doc: &Value) -> Result<Self, Rejection> {
        let raw: RawStatement = crate::jcs::deserialize(doc)
            .map_err(|e| Rejection::new(Reason::InvalidRequest, e.path, e.message))?;
        if raw.context.first().map(String::as_str) != Some(crate::licence::VC_CONTEXT) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.@context",
                format!("must start with {}", crate::licence::VC_CONTEXT),
            ));
        }
        let licence = raw
            .licence
            .strip_prefix(LICENCE_URN_PREFIX)
            .ok_or(crate::codes::CodeError::Format(
                "must start with urn:gbt36904:",
            ))
            .and_then(str::parse::<LicenceId>)
            .map_err(|e| Rejection::new(Reason::InvalidIdentifier, "$.licence", e.to_string()))?;
        if matches!(raw.status, Status::Expired | Status::Superseded) {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.status",
                "expired and superseded are derived by the vault; a statement may set active, suspended, revoked or cancelled",
            ));
        }
        if raw.reason.trim().is_empty() {
            return Err(Rejection::new(
                Reason::InvalidRequest,
                "$.reason",
                "a status change needs a reason",
            ));
        }
        let effective_at = parse_time(&raw.effective_at).ok_or_else(|| {
            Rejection::new(
                Reason::InvalidRequest,
                "$.effectiveAt",
                "must be an RFC 3339 date-time",
            )
        })?;
        Ok(Self {
            licence,
            status: raw.status,
            reason: raw.reason,
            effective_at,
        })
    }
}

/// Whether a licence in `from` may move to `to`. Revoked and cancelled are final; a status
/// cannot be set to itself.
pub fn check_transition(from: Status, to: Status) -> Result<(), Rejection> {
    let ok = match from {
        Status::Revoked | Status::Cancelled => false,
        Status::Active => matches!(to, Status::Suspended | Status::Revoked | Status::Cancelled),
        Status::Suspended => matches!(to, Status::Active | Status::Revoked | Status::Cancelled),
        // Derived states never stand as the stored status.
        Status::Expired | Status::Superseded => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Rejection::new(
            Reason::InvalidTransition,
            "$.status",
            format!(
                "a licence that is {} cannot become {}",
                status_name(from),
                status_name(to)
            ),
        ))
    }
}

/// A status statement takes effect in order: not before the `effectiveAt` of the status it
/// replaces (`previous`).
pub fn check_order(
    previous: Option<DateTime<Utc>>,
    effective_at: DateTime<Utc>,
) -> Result<(), Rejection> {
    match previous {
        Some(prev) if effective_at < prev => Err(Rejection::new(
            Reason::InvalidRequest,
            "$.effectiveAt",
            format!(
                "must not precede the previous statement's effectiveAt {}",
                crate::proof::format_time(prev)
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a new version may supersede the licence `pred`: not superseded already, and in force
/// (a suspended, revoked or cancelled licence must be reinstated first, or stays ended).
pub fn check_renewal(pred: &LicenceId, superseded: bool, status: Status) -> Result<(), Rejection> {
    const FIELD: &str = "$.credentialSubject.licence.predecessor";
    if superseded {
        return Err(Rejection::new(
            Reason::Conflict,
            FIELD,
            format!("{} is already superseded", pred.urn()),
        ));
    }
    if status != Status::Active {
        return Err(Rejection::new(
            Reason::InvalidTransition,
            FIELD,
            format!(
                "{} is {} and cannot be renewed",
                pred.urn(),
                status_name(status)
            ),
        ));
    }
    Ok(())
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Suspended => "suspended",
        Status::Revoked => "revoked",
        Status::Cancelled => "cancelled",
        Status::Expired => "expired",
        Status::Superseded => "superseded",
    }
}

/// The two purposes the vault publishes lists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Revocation,
    Suspension,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revocation => "revocation",
            Self::Suspension => "suspension",
        }
    }
    /// The bit a licence in `status` has in this purpose's list.
    pub fn bit(self, status: Status) -> bool {
        match self {
            Self::Revocation => matches!(status, Status::Revoked | Status::Cancelled),
            Self::Suspension => status == Status::Suspended,
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "revocation" => Ok(Self::Revocation),
            "suspension" => Ok(Self::Suspension),
            _ => Err(()),
        }
    }
}

/// Sets bit `index` (0 = the most significant bit of the first byte, as the W3C spec orders them).
pub fn set_bit(bits: &mut [u8], index: u32, value: bool) {
    let (byte, mask) = ((index / 8) as usize, 0x80u8 >> (index % 8));
    if let Some(b) = bits.get_mut(byte) {
        if value {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }
}

pub fn get_bit(bits: &[u8], index: u32) -> Option<bool> {
    bits.get((index / 8) as usize)
        .map(|b| b & (0x80u8 >> (index % 8)) != 0)
}

/// `encodedList`: multibase base64url (`u`) of the GZIP-compressed bitstring.
pub fn encode_list(bits: &[u8]) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(bits);
    let compressed = gz.finish().unwrap_or_default();
    format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
}

/// Decodes an `encodedList`; `None` if it is not multibase base64url of GZIP data.
pub fn decode_list(encoded: &str) -> Option<Vec<u8>> {
    let compressed = URL_SAFE_NO_PAD.decode(encoded.strip_prefix('u')?).ok()?;
    let mut bits = Vec::new();
    // Bound the output: a list is at most a few MiB even for huge agencies.
    flate2::read::GzDecoder::new(&compressed[..])
        .take(64 << 20)
        .read_to_end(&mut bits)
        .ok()?;
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_spec_6() {
        use Status::*;
        let legal = [
            (Active, Suspended),
            (Active, Revoked),
            (Active, Cancelled),
            (Suspended, Active),
            (Suspended, Revoked),
            (Suspended, Cancelled),
        ];
        for from in [Active, Suspended, Revoked, Cancelled] {
            for to in [Active, Suspended, Revoked, Cancelled] {
                let r = check_transition(from, to);
                assert_eq!(r.is_ok(), legal.contains(&(from, to)), "{from:?} -> {to:?}");
                if let Err(e) = r {
                    assert_eq!(
                        (e.reason, e.field.as_str()),
                        (Reason::InvalidTransition, "$.status")
                    );
                }
            }
        }
    }

    #[test]
    fn bitstrings_round_trip_msb_first() {
        let mut bits = vec![0u8; (LIST_SIZE / 8) as usize];
        set_bit(&mut bits, 0, true);
        set_bit(&mut bits, 9, true);
        set_bit(&mut bits, LIST_SIZE - 1, true);
        assert_eq!(bits[0], 0x80);
        assert_eq!(bits[1], 0x40);
        let encoded = encode_list(&bits);
        assert!(
            encoded.starts_with("uH4sI"),
            "gzip magic in base64url: {encoded:.12}"
        );
        let decoded = decode_list(&encoded).unwrap();
        assert_eq!(decoded, bits);
        assert_eq!(get_bit(&decoded, 9), Some(true));
        assert_eq!(get_bit(&decoded, 10), Some(false));
        assert_eq!(get_bit(&decoded, LIST_SIZE), None);
        set_bit(&mut bits, 9, false);
        assert_eq!(get_bit(&bits, 9), Some(false));
        assert_eq!(decode_list("zabc"), None);
    }
}
