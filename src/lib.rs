//! licence-vault: an electronic licence (电子证照) vault.
//!
//! Issuing agencies deposit licences signed with `eddsa-jcs-2022`; holders authorise reuse;
//! approval systems pull what a matter needs and every extraction is verified afresh.
//! See ARCHITECTURE.md for the map of this crate.

pub mod auth;
pub mod cli;
pub mod codes;
pub mod demo;
pub mod http;
pub mod jcs;
pub mod keys;
pub mod licence;
pub mod lifecycle;
pub mod metrics;
pub mod proof;
pub mod registry;
pub mod reuse;
pub mod store;
pub mod vault;
pub mod verdict;
pub mod verify;

/// Logs to stderr; `RUST_LOG` overrides the default level (info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
