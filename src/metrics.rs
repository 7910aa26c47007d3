//! Counters in the Prometheus text exposition format. Labels are fixed, low-cardinality values
//! (reason codes, outcomes, routes); never identifiers of people or licences.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Every metric the vault exports, with its help text.
const HELP: &[(&str, &str)] = &[
    (
        "licence_vault_deposits_total",
        "Licence deposits by outcome (created, existing, rejected reason).",
    ),
    (
        "licence_vault_extractions_total",
        "Licences read out of the vault, by verdict (valid or first failing reason).",
    ),
    (
        "licence_vault_integrity_failures_total",
        "Stored licences whose bytes no longer verify.",
    ),
    (
        "licence_vault_verifications_total",
        "POST /v1/verify requests, by verdict.",
    ),
    (
        "licence_vault_reuse_pulls_total",
        "Reuse pulls by matter, since the vault was created.",
    ),
    (
        "licence_vault_reuse_licences_total",
        "Licences a pull asked for, by issuing agency (none if no licence was looked at), type, matter and outcome (provided or the reason not).",
    ),
    (
        "licence_vault_http_requests_total",
        "HTTP requests by method, route and status.",
    ),
];

#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Metrics {
    /// Adds `n` to a counter. `labels` is the Prometheus label list without braces (`outcome="created"`).
    pub fn add(&self, name: &'static str, labels: String, n: u64) {
        // A poisoned lock only means another thread panicked mid-increment; the map is still usable.
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((name, labels)).or_default() += n;
    }

    pub fn inc(&self, name: &'static str, labels: String) {
        self.add(name, labels, 1);
    }

    pub fn get(&self, name: &'static str, labels: &str) -> u64 {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&(name, labels.to_owned())).copied().unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let mut any = false;
            for ((n, labels), v) in c.iter().filter(|((n, _), _)| n == name) {
                any = true;
                if labels.is_empty() {
                    let _ = writeln!(out, "{n} {v}");
                } else {
                    let _ = writeln!(out, "{n}{{{labels}}} {v}");
                }
            }
            if !any {
                let _ = writeln!(out, "{name} 0");
            }
        }
        out
    }
}

/// Escapes a label value for the text format.
pub fn label(v: &str) -> String {
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
        m.inc("licence_vault_deposits_total", "outcome=\"created\"".into());
        m.add(
            "licence_vault_deposits_total",
            "outcome=\"created\"".into(),
            2,
        );
        let text = m.render();
        assert!(text.contains("# TYPE licence_vault_deposits_total counter\nlicence_vault_deposits_total{outcome=\"created\"} 3\n"));
        assert!(text.contains("licence_vault_integrity_failures_total 0\n"));
        assert_eq!(label("a\"b"), "a\\\"b");
    }
}
