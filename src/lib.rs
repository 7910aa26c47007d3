//! licence-vault: an electronic licence (电子证照) vault.
//!
//! Issuing agencies deposit licences signed with `eddsa-jcs-2022`; holders authorise reuse;
//! approval systems pull what a matter needs and every extraction is verified afresh.
//! See ARCHITECTURE.md for the map of this crate. Without the default `server` feature it is the
//! document model alone: no store, no HTTP, no CLI (what the fuzz targets in `fuzz/` build).

pub mod auth;
#[cfg(feature = "server")]
pub mod cli;
pub mod codes;
#[cfg(feature = "server")]
pub mod demo;
#[cfg(feature = "server")]
pub mod http;
pub mod jcs;
pub mod keys;
pub mod licence;
pub mod lifecycle;
pub mod metrics;
#[cfg(feature = "server")]
pub mod print;
pub mod proof;
pub mod registry;
pub mod reuse;
#[cfg(feature = "server")]
pub mod store;
pub mod tlog;
#[cfg(feature = "server")]
pub mod vault;
pub mod verdict;
pub mod verify;

#[cfg(feature = "server")]
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
