//! One integration-test binary (fast to link), one module per area. Tests drive the real router
//! over a real RocksDB in a temp dir, the real CLI binary, and a real socket.

#![expect(
    clippy::unwrap_used,
    reason = "outside #[test] functions too, a test helper that cannot unwrap should fail loudly"
)]

mod support;

mod api;
mod bad_input;
mod cli;
mod corrections;
mod delegations;
mod disk_full;
mod door;
mod exports;
mod faults;
mod fixtures;
mod flood;
mod hsm;
mod integrity;
mod layers;
mod lifecycle;
mod logs;
mod nodes;
mod notices;
mod notifications;
mod objections;
mod oid4vp;
mod operations;
mod oracle;
mod pages;
mod presentations;
mod prints;
mod requests;
mod reuse;
mod routes;
mod socket;
mod store;
mod tlog;
mod vcapi;
mod wallet;
