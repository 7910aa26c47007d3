//! Existence oracles, by instruction counts (callgrind), not wall time: the work the vault does
//! for another holder's licence id and for an id nobody holds is the same, so timing tells a
//! holder nothing of others' licences. The test runs this test binary under valgrind twice, once
//! per ignored probe below, counting only [`probe`]: reads through `Vault::read_licence`, the path
//! of `GET /v1/licences/{id}`. Before reads were decided from the holder index first, the other
//! holder's id cost 27 times the absent one's (179.6 M against 6.5 M instructions, 100 reads).

use std::process::Command;

use licence_vault::auth::Principal;
use licence_vault::codes::{HolderCode, LicenceId};
use licence_vault::vault::Vault;

use crate::support::*;

const READS: usize = 50;

#[inline(never)]
fn probe(vault: &Vault, reader: &Principal, id: &LicenceId) -> usize {
    let now = chrono::Utc::now();
    (0..READS)
        .filter(|_| vault.read_licence(reader, id, now).unwrap().is_some())
        .count()
}

/// A vault with 林志强's ID card; 陈雅婷 reads his card (`other`) or an id nobody holds.
fn run_probe(other: bool) {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(dir.path());
    seed_registries(&vault);
    let card = read_json("fixtures/licences/01-sfz-linzhiqiang.json");
    vault
        .deposit(&uscc(POLICE), &card, chrono::Utc::now())
        .unwrap();
    let held = LicenceId::from_urn_or_bare(card["id"].as_str().unwrap()).unwrap();
    let absent = held.with_version(2).unwrap();
    let holder = |doc: &serde_json::Value| {
        let h = &doc["credentialSubject"]["holder"];
        Principal::Holder(
            format!(
                "{}:{}",
                h["codeType"].as_str().unwrap(),
                h["code"].as_str().unwrap()
            )
            .parse::<HolderCode>()
            .unwrap(),
        )
    };
    let owner = holder(&card);
    let reader = holder(&read_json("fixtures/licences/06-sfz-chenyating.json"));
    let now = chrono::Utc::now();
    assert!(vault.read_licence(&owner, &held, now).unwrap().is_some());
    for warm in [&held, &absent] {
        assert!(vault.read_licence(&reader, warm, now).unwrap().is_none());
    }
    let id = if other { &held } else { &absent };
    assert_eq!(probe(&vault, &reader, id), 0);
}

#[test]
#[ignore = "a probe: run under callgrind by another_holders_licence_id_costs_what_an_absent_one_costs"]
fn probe_other() {
    run_probe(true);
}

#[test]
#[ignore = "a probe: run under callgrind by another_holders_licence_id_costs_what_an_absent_one_costs"]
fn probe_absent() {
    run_probe(false);
}

/// The instructions callgrind counts in [`probe`] when this binary runs the probe test `name`.
fn instructions(name: &str) -> u64 {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=it::oracle::probe",
            &format!("--callgrind-out-file={}", out_file.path().display()),
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("oracle::{name}"),
            "--ignored",
            "--test-threads=1",
        ])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("valgrind (scripts/install-deps.sh installs it): {e}"));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(out_file.path()).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals: ")
                .or_else(|| l.strip_prefix("summary: "))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no totals in callgrind's output"))
}

#[test]
fn another_holders_licence_id_costs_what_an_absent_one_costs() {
    let (other, absent) = std::thread::scope(|s| {
        let other = s.spawn(|| instructions("probe_other"));
        let absent = s.spawn(|| instructions("probe_absent"));
        (other.join().unwrap(), absent.join().unwrap())
    });
    // Some work was counted: the probe ran and callgrind found it.
    assert!(absent > 1_000_000, "{absent}");
    let diff = other.abs_diff(absent) as f64 / absent as f64;
    assert!(
        diff < 0.01,
        "other {other} vs absent {absent} instructions: {:.1} %",
        diff * 100.0
    );
}
