//! Existence oracles, by instruction counts (callgrind), not wall time. The tests run this test
//! binary under valgrind, once per ignored probe below, counting only [`probe`] and
//! [`probe_acting`]:
//!
//! - reads through `Vault::read_licence` (the path of `GET /v1/licences/{id}`): another holder's
//!   licence id costs what an id nobody holds costs. Before reads were decided from the holder
//!   index first, the other holder's id cost 27 times the absent one's (179.6 M against 6.5 M
//!   instructions, 100 reads);
//! - `Acting-For` by a stranger (`Vault::acting`): a company with a 营业执照 in force costs what a
//!   company with none costs. Before the representative index, the first was read and verified:
//!   111.1 M against 9.2 M instructions (50 calls); now 6.8 M against 6.6 M.
//!
//! The same work differs only by where the store's lookups land among its keys (RocksDB's
//! memtable and blocks): a few thousand instructions, about a microsecond, per call. The bound,
//! 5 %, is far below what reading or verifying a single licence costs.

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

/// The instructions callgrind counts in the function `counted` when this binary runs the probe
/// test `name`.
fn instructions(name: &str, counted: &str) -> u64 {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            &format!("--toggle-collect={counted}"),
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

#[inline(never)]
fn probe_acting(vault: &Vault, stranger: &HolderCode, company: &HolderCode) -> usize {
    let now = chrono::Utc::now();
    (0..READS)
        .filter(|_| vault.acting(stranger, company, now).is_ok())
        .count()
}

/// A vault where one company has its 营业执照 in force; a stranger acts for it or for a company
/// with none.
fn run_acting_probe(with_licence: bool) {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(dir.path());
    seed_registries(&vault);
    let licence = sign(&business_licence("ORACLE01", COMPANY), "scjgj");
    vault
        .deposit(&uscc(MARKET), &licence, chrono::Utc::now())
        .unwrap();
    let stranger: HolderCode = format!("111:{}", citizen(9)).parse().unwrap();
    let company: HolderCode = format!("001:{}", if with_licence { COMPANY } else { OTHER_COMPANY })
        .parse()
        .unwrap();
    let representative: HolderCode = format!("111:{REPRESENTATIVE}").parse().unwrap();
    let now = chrono::Utc::now();
    let held: HolderCode = format!("001:{COMPANY}").parse().unwrap();
    assert!(vault.acting(&representative, &held, now).is_ok());
    assert!(vault.acting(&stranger, &company, now).is_err());
    assert_eq!(probe_acting(&vault, &stranger, &company), 0);
}

#[test]
#[ignore = "a probe: run under callgrind by a_companys_licences_do_not_show_in_a_strangers_acting_for"]
fn probe_acting_with_licence() {
    run_acting_probe(true);
}

#[test]
#[ignore = "a probe: run under callgrind by a_companys_licences_do_not_show_in_a_strangers_acting_for"]
fn probe_acting_without_licence() {
    run_acting_probe(false);
}

/// The instructions of two probes, run at once, and how far apart they are.
fn compare(a: &str, b: &str, counted: &str) -> (u64, u64, f64) {
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| instructions(a, counted));
        let y = s.spawn(|| instructions(b, counted));
        (x.join().unwrap(), y.join().unwrap())
    });
    // Some work was counted: the probe ran and callgrind found it.
    assert!(x > 100_000 && y > 100_000, "{x} {y}");
    (x, y, x.abs_diff(y) as f64 / y as f64)
}

#[test]
fn a_companys_licences_do_not_show_in_a_strangers_acting_for() {
    let (with, without, diff) = compare(
        "probe_acting_with_licence",
        "probe_acting_without_licence",
        "it::oracle::probe_acting",
    );
    assert!(
        diff < 0.05,
        "with a 营业执照 {with} vs without {without} instructions: {:.1} %",
        diff * 100.0
    );
}

#[test]
fn another_holders_licence_id_costs_what_an_absent_one_costs() {
    let (other, absent, diff) = compare("probe_other", "probe_absent", "it::oracle::probe");
    assert!(
        diff < 0.05,
        "other {other} vs absent {absent} instructions: {:.1} %",
        diff * 100.0
    );
}
