//! Counters in the Prometheus text exposition format. Labels are fixed, low-cardinality values
//! (reason codes, outcomes, routes); never identifiers of people or licences.
//!
//! **Invariant:** a counter is a [`Counter`] value, with its labels as typed fields; each
//! [`Kind`] has its name, help text and label names in one exhaustive match, and every kind
//! counted is exported.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// One increment's counter and its label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter<'a> {
    /// A deposit's outcome: `created`, `existing`, the reason refused or `internal`.
    Deposits {
        outcome: &'a str,
    },
    /// A licence read out of the vault: `valid` or the first failing reason.
    Extractions {
        verdict: &'a str,
    },
    IntegrityFailures,
    /// A `POST /v1/verify`: `valid` or the first failing reason.
    Verifications {
        verdict: &'a str,
    },
    ReusePulls {
        matter: &'a str,
    },
    ReuseLicences {
        agency: &'a str,
        type_code: &'a str,
        matter: &'a str,
        outcome: &'a str,
    },
    HttpRequests {
        method: &'a str,
        route: &'a str,
        status: u16,
    },
    /// A decision made again because another change (another node's) came first.
    StoreRetries,
}

/// The counters the vault exports, each rendered (at 0 when never counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Deposits,
    Extractions,
    IntegrityFailures,
    Verifications,
    ReusePulls,
    ReuseLicences,
    HttpRequests,
    StoreRetries,
}

impl Kind {
    /// Every kind, rendered at 0 before it is first counted.
    pub const ALL: [Kind; 8] = [
        Kind::Deposits,
        Kind::Extractions,
        Kind::IntegrityFailures,
        Kind::Verifications,
        Kind::ReusePulls,
        Kind::ReuseLicences,
        Kind::HttpRequests,
        Kind::StoreRetries,
    ];

    /// The metric name, its help text and its label names.
    pub fn describe(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Kind::Deposits => (
                "licence_vault_deposits_total",
                "Licence deposits by outcome (created, existing, rejected reason).",
                &["outcome"],
            ),
            Kind::Extractions => (
                "licence_vault_extractions_total",
                "Licences read out of the vault, by verdict (valid or first failing reason).",
                &["verdict"],
            ),
            Kind::IntegrityFailures => (
                "licence_vault_integrity_failures_total",
                "Stored licences whose bytes no longer verify.",
                &[],
            ),
            Kind::Verifications => (
                "licence_vault_verifications_total",
                "POST /v1/verify requests, by verdict.",
                &["verdict"],
            ),
            Kind::ReusePulls => (
                "licence_vault_reuse_pulls_total",
                "Reuse pulls by matter, since the vault was created.",
                &["matter"],
            ),
            Kind::ReuseLicences => (
                "licence_vault_reuse_licences_total",
                "Licences a pull asked for, by issuing agency (none if no licence was looked at), type, matter and outcome (provided or the reason not).",
                &["agency", "type", "matter", "outcome"],
            ),
            Kind::HttpRequests => (
                "licence_vault_http_requests_total",
                "HTTP requests by method, route and status.",
                &["method", "route", "status"],
            ),
            Kind::StoreRetries => (
                "licence_vault_store_retries_total",
                "Decisions made again because a concurrent change (on another node) came first.",
                &[],
            ),
        }
    }

    pub fn name(self) -> &'static str {
        self.describe().0
    }
}

impl Counter<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Counter::Deposits { .. } => Kind::Deposits,
            Counter::Extractions { .. } => Kind::Extractions,
            Counter::IntegrityFailures => Kind::IntegrityFailures,
            Counter::Verifications { .. } => Kind::Verifications,
            Counter::ReusePulls { .. } => Kind::ReusePulls,
            Counter::ReuseLicences { .. } => Kind::ReuseLicences,
            Counter::HttpRequests { .. } => Kind::HttpRequests,
            Counter::StoreRetries => Kind::StoreRetries,
        }
    }

    /// The label values, in the order of the kind's label names.
    fn values(&self) -> Vec<String> {
        match *self {
            Counter::Deposits { outcome } => vec![outcome.to_owned()],
            Counter::Extractions { verdict } | Counter::Verifications { verdict } => {
                vec![verdict.to_owned()]
            }
            Counter::IntegrityFailures | Counter::StoreRetries => Vec::new(),
            Counter::ReusePulls { matter } => vec![matter.to_owned()],
            Counter::ReuseLicences {
                agency,
                type_code,
                matter,
                outcome,
            } => vec![
                agency.to_owned(),
                type_code.to_owned(),
                matter.to_owned(),
                outcome.to_owned(),
            ],
            Counter::HttpRequests {
                method,
                route,
                status,
            } => vec![method.to_owned(), route.to_owned(), status.to_string()],
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(Kind, Vec<String>), u64>>,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(&self, counter: Counter<'_>, n: u64) {
        // A poisoned lock only means another thread panicked mid-increment; the map is still usable.
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((counter.kind(), counter.values())).or_default() += n;
    }

    pub fn inc(&self, counter: Counter<'_>) {
        self.add(counter, 1);
    }

    pub fn get(&self, counter: Counter<'_>) -> u64 {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&(counter.kind(), counter.values()))
            .copied()
            .unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Every kind, counted or not: a kind missing from `ALL` is still exported once counted.
        let mut kinds: std::collections::BTreeSet<Kind> = Kind::ALL.into();
        kinds.extend(c.keys().map(|(k, _)| *k));
        for kind in kinds {
            let (name, help, labels) = kind.describe();
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let mut any = false;
            for ((_, values), v) in c.iter().filter(|((k, _), _)| *k == kind) {
                any = true;
                if values.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                    continue;
                }
                let pairs: Vec<String> = labels
                    .iter()
                    .zip(values)
                    .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
                    .collect();
                let _ = writeln!(out, "{name}{{{}}} {v}", pairs.join(","));
            }
            if !any {
                let _ = writeln!(out, "{name} 0");
            }
        }
        out
    }
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc(Counter::Deposits { outcome: "created" });
        m.add(Counter::Deposits { outcome: "created" }, 2);
        m.inc(Counter::ReuseLicences {
            agency: "none",
            type_code: "t",
            matter: "m\"1",
            outcome: "no_consent",
        });
        let text = m.render();
        assert!(text.contains("# TYPE licence_vault_deposits_total counter\nlicence_vault_deposits_total{outcome=\"created\"} 3\n"));
        assert!(text.contains("licence_vault_reuse_licences_total{agency=\"none\",type=\"t\",matter=\"m\\\"1\",outcome=\"no_consent\"} 1\n"));
        assert!(text.contains("licence_vault_integrity_failures_total 0\n"));
        assert_eq!(m.get(Counter::Deposits { outcome: "created" }), 3);
        assert_eq!(
            m.get(Counter::Deposits {
                outcome: "existing"
            }),
            0
        );
    }

    /// Every kind is listed once in `ALL`, and so every counter is rendered with its help.
    #[test]
    fn every_counter_is_exported() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "Kind::ALL is in declaration order");
        }
        assert_eq!(Kind::ALL.len(), Kind::StoreRetries as usize + 1);
        let text = Metrics::default().render();
        let exported: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" counter"))
            .collect();
        assert_eq!(
            exported,
            [
                "licence_vault_deposits_total",
                "licence_vault_extractions_total",
                "licence_vault_integrity_failures_total",
                "licence_vault_verifications_total",
                "licence_vault_reuse_pulls_total",
                "licence_vault_reuse_licences_total",
                "licence_vault_http_requests_total",
                "licence_vault_store_retries_total",
            ]
        );
        for kind in Kind::ALL {
            assert!(text.contains(&format!("# HELP {} ", kind.name())));
        }
    }
}
