//! The vault's own keys over time (SPEC §18): each `did:key` with the period in which it signs,
//! and the compromise time if one was declared. Every document the vault signs (receipts, copies,
//! consent receipts, notices, status lists) is judged against this history, online and offline,
//! so that rotating the key never invalidates what was signed before.
//!
//! **Invariant:** a document verifies only if its `proof.created` falls in its key's period and
//! before the key's compromise; the history only grows (a key is retired or declared
//! compromised, never removed).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::keys::DidKey;
use crate::proof::format_time;
use crate::verdict::{Check, CheckName, Reason};

/// How long a retired vault key's signatures stay valid after the rotation that retired it: a
/// node that decided with the previous key just before it saw the rotation signs inside it.
pub const ROTATION_OVERLAP_SECS: i64 = 10;

/// One vault key and when it may sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultKey {
    #[schema(value_type = String)]
    pub did_key: DidKey,
    /// Signatures made before this time are not this key's.
    pub valid_from: DateTime<Utc>,
    /// Set when the key was retired by a rotation: no signature at or after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// Set when the key was declared compromised: signatures created at or after it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compromised_at: Option<DateTime<Utc>>,
}

impl VaultKey {
    /// Whether the key may sign at `at`.
    pub fn signs_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at
            && self.valid_until.is_none_or(|u| at < u)
            && self.compromised_at.is_none_or(|c| at < c)
    }
}

/// The history of the vault's keys, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultKeys {
    keys: Vec<VaultKey>,
}

/// Why a rotation or a compromise declaration cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HistoryError(pub String);

impl VaultKeys {
    pub fn new(keys: Vec<VaultKey>) -> Self {
        Self { keys }
    }

    /// Keys trusted at any time: a plain list of `did:key`s, as older registry files give.
    pub fn trusting(dids: impl IntoIterator<Item = DidKey>) -> Self {
        Self::new(
            dids.into_iter()
                .map(|did_key| VaultKey {
                    did_key,
                    valid_from: DateTime::<Utc>::MIN_UTC,
                    valid_until: None,
                    compromised_at: None,
                })
                .collect(),
        )
    }

    /// The history of a vault that has had one key since `from`.
    pub fn first(did_key: DidKey, from: DateTime<Utc>) -> Self {
        Self::new(vec![VaultKey {
            did_key,
            valid_from: from,
            valid_until: None,
            compromised_at: None,
        }])
    }

    pub fn keys(&self) -> &[VaultKey] {
        &self.keys
    }

    pub fn get(&self, did: &DidKey) -> Option<&VaultKey> {
        self.keys.iter().find(|k| &k.did_key == did)
    }

    /// The key that signs new documents at `at`: the newest one in force.
    pub fn signing_at(&self, at: DateTime<Utc>) -> Option<&VaultKey> {
        self.keys.iter().rev().find(|k| k.signs_at(at))
    }

    /// The key a rotation would retire: the newest key that is neither retired nor compromised.
    pub fn current(&self) -> Option<&VaultKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.valid_until.is_none() && k.compromised_at.is_none())
    }

    /// The history after a rotation at `at` to `new`: the current key is retired
    /// [`ROTATION_OVERLAP_SECS`] later, the new one signs from `at`.
    pub fn rotated(&self, new: DidKey, at: DateTime<Utc>) -> Result<Self, HistoryError> {
        if self.get(&new).is_some() {
            return Err(HistoryError(format!(
                "{new} is already in the vault's key history: a key is used once"
            )));
        }
        let mut keys = self.keys.clone();
        if let Some(cur) = keys
            .iter_mut()
            .rev()
            .find(|k| k.valid_until.is_none() && k.compromised_at.is_none())
        {
            cur.valid_until = Some(at + Duration::seconds(ROTATION_OVERLAP_SECS));
        }
        keys.push(VaultKey {
            did_key: new,
            valid_from: at,
            valid_until: None,
            compromised_at: None,
        });
        Ok(Self::new(keys))
    }

    /// The history after declaring `did` compromised since `since`. A compromised key that is
    /// still current must be replaced by a rotation: until then the vault cannot sign.
    pub fn compromised(&self, did: &DidKey, since: DateTime<Utc>) -> Result<Self, HistoryError> {
        let mut keys = self.keys.clone();
        let key = keys
            .iter_mut()
            .find(|k| &k.did_key == did)
            .ok_or_else(|| HistoryError(format!("{did} is not a key of this vault")))?;
        if let Some(c) = key.compromised_at {
            if c <= since {
                return Err(HistoryError(format!(
                    "{did} was already declared compromised since {}",
                    format_time(c)
                )));
            }
        }
        key.compromised_at = Some(since);
        Ok(Self::new(keys))
    }

    /// The `issuer_key` check of a document the vault signed with `key` at `created`.
    pub fn check(&self, key: &DidKey, created: Option<DateTime<Utc>>) -> Check {
        let Some(k) = self.get(key) else {
            return Check::fail(
                CheckName::IssuerKey,
                Reason::UnknownKey,
                format!("{key} is not a key of this vault"),
            );
        };
        let Some(at) = created else {
            return if k.valid_until.is_none() && k.compromised_at.is_none() {
                Check::pass_with(CheckName::IssuerKey, format!("signed by {key}"))
            } else {
                Check::not_checked(
                    CheckName::IssuerKey,
                    format!("{key} has a limited period and the proof has no created time"),
                )
            };
        };
        if let Some(c) = k.compromised_at.filter(|c| *c <= at) {
            return Check::fail(
                CheckName::IssuerKey,
                Reason::VaultKeyCompromised,
                format!(
                    "signed {} by {key}, declared compromised since {}",
                    format_time(at),
                    format_time(c)
                ),
            );
        }
        if let Some(u) = k.valid_until.filter(|u| *u <= at) {
            return Check::fail(
                CheckName::IssuerKey,
                Reason::VaultKeyRetired,
                format!(
                    "signed {} by {key}, retired at {}",
                    format_time(at),
                    format_time(u)
                ),
            );
        }
        if at < k.valid_from {
            return Check::fail(
                CheckName::IssuerKey,
                Reason::KeyNotActive,
                format!(
                    "signed {} by {key}, which signs from {}",
                    format_time(at),
                    format_time(k.valid_from)
                ),
            );
        }
        Check::pass_with(
            CheckName::IssuerKey,
            format!("signed by {key}, a vault key in force at proof.created"),
        )
    }
}

impl Serialize for VaultKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.keys.serialize(s)
    }
}

/// A history entry, or (as older registry files and `/v1/vault` give) a bare `did:key`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Did(DidKey),
    Key(VaultKey),
}

impl<'de> Deserialize<'de> for VaultKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        Ok(Self::new(
            entries
                .into_iter()
                .map(|e| match e {
                    Entry::Key(k) => k,
                    Entry::Did(did_key) => VaultKey {
                        did_key,
                        valid_from: DateTime::<Utc>::MIN_UTC,
                        valid_until: None,
                        compromised_at: None,
                    },
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer;

    fn t(s: &str) -> DateTime<Utc> {
        crate::proof::parse_time(s).unwrap()
    }

    #[test]
    fn a_rotation_keeps_earlier_signatures_and_bounds_the_old_key() {
        let a = Signer::generate().did_key().clone();
        let b = Signer::generate().did_key().clone();
        let h = VaultKeys::first(a.clone(), t("2026-01-01T00:00:00Z"))
            .rotated(b.clone(), t("2026-06-01T00:00:00Z"))
            .unwrap();
        assert_eq!(h.keys()[0].valid_until, Some(t("2026-06-01T00:00:10Z")));
        assert_eq!(h.current().unwrap().did_key, b);
        assert_eq!(h.signing_at(t("2026-06-01T00:00:05Z")).unwrap().did_key, b);
        assert_eq!(h.check(&a, Some(t("2026-05-31T23:00:00Z"))).ok, Some(true));
        assert_eq!(h.check(&a, Some(t("2026-06-01T00:00:09Z"))).ok, Some(true));
        let late = h.check(&a, Some(t("2026-06-01T00:00:10Z")));
        assert_eq!(late.code, Some(Reason::VaultKeyRetired));
        assert_eq!(
            h.check(&b, Some(t("2026-05-31T00:00:00Z"))).code,
            Some(Reason::KeyNotActive)
        );
        assert_eq!(h.check(&a, None).ok, None);
        assert_eq!(h.check(&b, None).ok, Some(true));
        let c = Signer::generate().did_key().clone();
        assert_eq!(h.check(&c, None).code, Some(Reason::UnknownKey));
        assert!(h.rotated(a, t("2026-07-01T00:00:00Z")).is_err());
    }

    #[test]
    fn a_compromise_refuses_signatures_from_its_time_on() {
        let a = Signer::generate().did_key().clone();
        let h = VaultKeys::first(a.clone(), t("2026-01-01T00:00:00Z"))
            .compromised(&a, t("2026-03-01T00:00:00Z"))
            .unwrap();
        assert_eq!(h.check(&a, Some(t("2026-02-28T23:59:59Z"))).ok, Some(true));
        assert_eq!(
            h.check(&a, Some(t("2026-03-01T00:00:00Z"))).code,
            Some(Reason::VaultKeyCompromised)
        );
        assert!(h.signing_at(t("2026-03-02T00:00:00Z")).is_none());
        assert!(h.current().is_none());
        // An earlier compromise time may be declared; a later one changes nothing.
        assert!(h.compromised(&a, t("2026-04-01T00:00:00Z")).is_err());
        assert!(h.compromised(&a, t("2026-02-01T00:00:00Z")).is_ok());
    }

    #[test]
    fn the_history_reads_bare_did_keys_and_entries() {
        let a = Signer::generate().did_key().clone();
        let json = serde_json::json!([a.as_str(), {"didKey": a.as_str(), "validFrom": "2026-01-01T00:00:00Z", "validUntil": "2026-02-01T00:00:00Z"}]);
        let h: VaultKeys = serde_json::from_value(json).unwrap();
        assert_eq!(h.keys().len(), 2);
        assert_eq!(h.keys()[0].valid_from, DateTime::<Utc>::MIN_UTC);
        assert_eq!(h.keys()[1].valid_until, Some(t("2026-02-01T00:00:00Z")));
        let back = serde_json::to_value(VaultKeys::new(h.keys()[1..].to_vec())).unwrap();
        assert_eq!(
            back,
            serde_json::json!([{"didKey": a.as_str(), "validFrom": "2026-01-01T00:00:00Z", "validUntil": "2026-02-01T00:00:00Z"}])
        );
    }
}
