//! What the vault's logs hold (SPEC §14), in one place: the leaves the vault writes (canonical
//! JSON, built here) and the replay of the public log that a monitor runs over them, which
//! reports every deposit or status statement under a key the log never showed registered.
//!
//! **Invariant:** a public leaf names no person: digests, agency codes, type codes, key ids and
//! registry entries (agencies, types, matters, requesters) only. An access leaf is a time and a
//! salted digest.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// The leaf of a deposit: the digest (hex SHA-256) of the stored signed licence, its issuer,
/// type and version, and the verification method that signed it.
pub fn deposit(
    at: DateTime<Utc>,
    sha256: &str,
    issuer: &str,
    type_code: &str,
    version: u16,
    key: &str,
) -> Value {
    json!({"event": "deposit", "at": at, "licence": sha256, "issuer": issuer,
        "type": type_code, "version": version, "key": key})
}

/// The leaf of a status statement on the licence whose digest is `licence`.
pub fn status(
    at: DateTime<Utc>,
    licence: &str,
    status: &str,
    statement_sha256: &str,
    key: &str,
) -> Value {
    json!({"event": "status", "at": at, "licence": licence, "status": status,
        "statement": statement_sha256, "key": key})
}

/// Entries larger than this are logged by their digest (a leaf must stay under 64 KiB).
const MAX_ENTRY: usize = 16_384;

/// The leaf of a registry edit: the entry as it now stands. `baseline` marks the entries a log
/// begins with (the registries as they were when it began).
pub fn registry(
    at: DateTime<Utc>,
    registry: &str,
    id: &str,
    entry: &Value,
    baseline: bool,
) -> Value {
    let bytes = crate::jcs::canonicalize(entry);
    let entry = if bytes.len() > MAX_ENTRY {
        json!({"sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))})
    } else {
        entry.clone()
    };
    let mut v =
        json!({"event": "registry", "at": at, "registry": registry, "id": id, "entry": entry});
    if baseline {
        v["baseline"] = json!(true);
    }
    v
}

/// The leaf of a change of the vault's key history: the history as it now stands.
pub fn vault_keys(at: DateTime<Utc>, history: &Value) -> Value {
    json!({"event": "vault_keys", "at": at, "keys": history})
}

/// The first leaf of a log: what the store held when the log began.
pub fn genesis(
    log: &str,
    at: DateTime<Utc>,
    licences: u64,
    licence_digests: &str,
    access_records: u64,
    vault_keys: &Value,
) -> Value {
    json!({"event": "genesis", "log": log, "at": at, "licences": licences,
        "licenceDigests": licence_digests, "accessRecords": access_records,
        "vaultKeys": vault_keys})
}

/// The leaf of a release: when, and the salted digest of its access record.
pub fn access(at: DateTime<Utc>, record_digest: &str) -> Value {
    json!({"at": at, "record": record_digest})
}

/// Something the replay of a public log found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub index: u64,
    pub problem: String,
}

/// An agency key as the log showed it: since when the log knew it, and its entry's dates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KnownKey {
    logged_at: DateTime<Utc>,
    compromised_at: Option<DateTime<Utc>>,
}

/// The state a replay of the public log builds: which agency keys the log showed when, which
/// licences it saw deposited, and the vault key history.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// USCC → verification method (or did:key) → what the log said of it.
    keys: BTreeMap<String, BTreeMap<String, KnownKey>>,
    deposited: BTreeSet<String>,
    /// Whether the log began on a store that already held licences (their deposits are not in it).
    began_with_licences: bool,
    pub vault_keys: Value,
    pub leaves: u64,
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The did:key a verification method names (`did:key:X#X` → `did:key:X`).
fn did_of(vm: &str) -> &str {
    vm.split('#').next().unwrap_or(vm)
}

impl Replay {
    /// Applies leaf `index`; what it found wrong.
    pub fn apply(&mut self, index: u64, leaf: &[u8]) -> Vec<Problem> {
        self.leaves += 1;
        let problem = |p: String| vec![Problem { index, problem: p }];
        let Ok(v) = serde_json::from_slice::<Value>(leaf) else {
            return problem("a leaf that is not JSON".into());
        };
        let Some(at) = time(&v["at"]) else {
            return problem("a leaf without its time".into());
        };
        match v["event"].as_str() {
            Some("genesis") => {
                self.began_with_licences = v["licences"].as_u64().unwrap_or(0) > 0;
                self.vault_keys = v["vaultKeys"].clone();
                Vec::new()
            }
            Some("vault_keys") => {
                self.vault_keys = v["keys"].clone();
                Vec::new()
            }
            Some("registry") if v["registry"] == "agency" => {
                let uscc = v["id"].as_str().unwrap_or_default().to_owned();
                let known = self.keys.entry(uscc).or_default();
                for k in v["entry"]["keys"].as_array().into_iter().flatten() {
                    let did = k["didKey"].as_str().unwrap_or_default().to_owned();
                    let logged_at = known.get(&did).map_or(at, |p| p.logged_at);
                    known.insert(
                        did,
                        KnownKey {
                            logged_at,
                            compromised_at: time(&k["compromisedAt"]),
                        },
                    );
                }
                Vec::new()
            }
            Some("registry") => Vec::new(),
            Some(e @ ("deposit" | "status")) => {
                let issuer = v["issuer"].as_str().map(str::to_owned);
                let licence = v["licence"].as_str().unwrap_or_default().to_owned();
                let key = did_of(v["key"].as_str().unwrap_or_default()).to_owned();
                let mut out = Vec::new();
                let known = match &issuer {
                    Some(u) => self.keys.get(u).and_then(|k| k.get(&key)),
                    // A statement names its licence, whose issuer signed the deposit: any
                    // agency's key the log knew.
                    None => self.keys.values().find_map(|k| k.get(&key)),
                };
                match known {
                    None => out.push(Problem {
                        index,
                        problem: format!(
                            "a {e} under {key}, a key the log never showed registered"
                        ),
                    }),
                    Some(k) if k.logged_at > at => out.push(Problem {
                        index,
                        problem: format!("a {e} under {key} before the log showed it registered"),
                    }),
                    Some(k) if k.compromised_at.is_some_and(|c| c <= at) => out.push(Problem {
                        index,
                        problem: format!("a {e} under {key} after its compromise"),
                    }),
                    Some(_) => {}
                }
                if e == "deposit" {
                    self.deposited.insert(licence);
                } else if !self.began_with_licences && !self.deposited.contains(&licence) {
                    out.push(Problem {
                        index,
                        problem: "a status statement on a licence the log never saw deposited"
                            .into(),
                    });
                }
                out
            }
            _ => problem("a leaf of no known event".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(v: &Value) -> Vec<u8> {
        crate::jcs::canonicalize(v)
    }

    #[test]
    fn the_replay_reports_deposits_under_keys_the_log_never_showed() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut r = Replay::default();
        let k = "did:key:z6MkA";
        assert!(r
            .apply(
                0,
                &leaf(&genesis(
                    "public",
                    t("2026-01-01T00:00:00Z"),
                    0,
                    "",
                    0,
                    &json!([])
                ))
            )
            .is_empty());
        let agency =
            json!({"uscc": "U", "keys": [{"didKey": k, "activeFrom": "2020-01-01T00:00:00Z"}]});
        // A deposit before the key was logged: the key's own `activeFrom` does not count.
        let early = r.apply(
            1,
            &leaf(&deposit(
                t("2026-01-02T00:00:00Z"),
                "aa",
                "U",
                "T",
                1,
                &format!("{k}#z6MkA"),
            )),
        );
        assert_eq!(early.len(), 1, "{early:?}");
        assert!(r
            .apply(
                2,
                &leaf(&registry(
                    t("2026-01-03T00:00:00Z"),
                    "agency",
                    "U",
                    &agency,
                    false
                ))
            )
            .is_empty());
        assert!(r
            .apply(
                3,
                &leaf(&deposit(t("2026-01-04T00:00:00Z"), "bb", "U", "T", 1, k))
            )
            .is_empty());
        let other = r.apply(
            4,
            &leaf(&deposit(
                t("2026-01-04T00:00:00Z"),
                "cc",
                "U",
                "T",
                1,
                "did:key:z6MkB",
            )),
        );
        assert!(
            other[0].problem.contains("never showed registered"),
            "{other:?}"
        );
        assert!(r
            .apply(
                5,
                &leaf(&status(t("2026-01-05T00:00:00Z"), "bb", "revoked", "s", k))
            )
            .is_empty());
        let orphan = r.apply(
            6,
            &leaf(&status(t("2026-01-05T00:00:00Z"), "zz", "revoked", "s", k)),
        );
        assert!(
            orphan[0].problem.contains("never saw deposited"),
            "{orphan:?}"
        );
        let compromised = json!({"uscc": "U", "keys": [{"didKey": k, "activeFrom": "2020-01-01T00:00:00Z", "compromisedAt": "2026-01-06T00:00:00Z"}]});
        assert!(r
            .apply(
                7,
                &leaf(&registry(
                    t("2026-01-06T00:00:00Z"),
                    "agency",
                    "U",
                    &compromised,
                    false
                ))
            )
            .is_empty());
        let late = r.apply(
            8,
            &leaf(&deposit(t("2026-01-07T00:00:00Z"), "dd", "U", "T", 1, k)),
        );
        assert!(late[0].problem.contains("after its compromise"), "{late:?}");
        assert_eq!(r.apply(9, b"{").len(), 1);
    }
}
