//! Reuse statistics: counts by matter and by agency, type, matter and outcome, kept in the store
//! with each pull and mirrored in the metrics.

use super::layout::{self, StatKey};
use super::Vault;
use crate::metrics::Counter;
use crate::store::{StoreError, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The agency label of outcomes for which no licence was looked at.
pub(super) const NO_AGENCY: &str = "none";

/// Pulls per matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PullCount {
    pub matter: String,
    pub pulls: u64,
}

/// Licences provided or not (by reason) per issuing agency, type and matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LicenceCount {
    /// The issuing agency's USCC, or `none` when no licence was looked at.
    pub agency: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub matter: String,
    /// `provided` or the reason code.
    pub outcome: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsTotals {
    pub pulls: u64,
    pub provided: u64,
    pub not_provided: BTreeMap<String, u64>,
}

/// Reuse statistics since the vault was created (persistent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReuseStats {
    pub totals: StatsTotals,
    pub pulls: Vec<PullCount>,
    pub licences: Vec<LicenceCount>,
}

pub(super) fn add_to_metrics(vault: &Vault, key: &StatKey, n: u64) {
    let counter = match key {
        StatKey::Pulls { matter } => Counter::ReusePulls { matter },
        StatKey::Licences {
            agency,
            type_code,
            matter,
            outcome,
        } => Counter::ReuseLicences {
            agency,
            type_code,
            matter,
            outcome,
        },
    };
    vault.metrics.add(counter, n);
}

impl Vault {
    /// Seeds the reuse counters in `/metrics` from the persistent statistics (at open).
    pub(super) fn load_reuse_stats(&self) -> Result<(), StoreError> {
        for (k, v) in self.store.scan(Table::ReuseStats, b"", false, usize::MAX)? {
            let n = layout::decode_count(Table::ReuseStats, &v)?;
            add_to_metrics(self, &StatKey::decode(&k)?, n);
        }
        Ok(())
    }

    /// The persistent reuse statistics.
    pub fn reuse_stats(&self) -> Result<ReuseStats, StoreError> {
        let mut stats = ReuseStats::default();
        for (k, v) in self.store.scan(Table::ReuseStats, b"", false, usize::MAX)? {
            let n = layout::decode_count(Table::ReuseStats, &v)?;
            match StatKey::decode(&k)? {
                StatKey::Pulls { matter } => {
                    stats.totals.pulls += n;
                    stats.pulls.push(PullCount { matter, pulls: n });
                }
                StatKey::Licences {
                    agency,
                    type_code,
                    matter,
                    outcome,
                } => {
                    if outcome == "provided" {
                        stats.totals.provided += n;
                    } else {
                        *stats
                            .totals
                            .not_provided
                            .entry(outcome.clone())
                            .or_default() += n;
                    }
                    stats.licences.push(LicenceCount {
                        agency,
                        type_code,
                        matter,
                        outcome,
                        count: n,
                    });
                }
            }
        }
        Ok(stats)
    }
}
