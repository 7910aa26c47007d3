//! `licence-vault serve`: open the store, seed the demo if asked, serve until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::{
    read_signer, write_secret, DEFAULT_DATA, DEFAULT_FIXTURES, DEFAULT_KEYS, DEFAULT_LISTEN,
};
use crate::http::limits::RateLimits;
use crate::keys::{DidKey, Signer};
use crate::store::rocks::RocksConfig;
use crate::store::{PgStore, RocksStore, Store};
use crate::vault::keyring::{self, IndexKeyState};
use crate::vault::pkcs11::{Pkcs11Keys, Pkcs11Uri};
use crate::vault::{FileKeys, IndexKey, KeyRing, KeySource, PendingLimits, Vault, VaultOptions};

#[derive(Debug, Args)]
pub struct ServeOpt {
    /// Data directory (RocksDB and the vault key).
    #[arg(long, env = "LICENCE_VAULT_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "LICENCE_VAULT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Seed demo registries, licences and tokens on first start (from --fixtures and --keys).
    #[arg(long, env = "LICENCE_VAULT_DEMO", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    pub demo: bool,
    /// The vault's secret key file; default DATA/vault.key, created on first start
    /// (with --demo: a copy of KEYS/vault.key). Or a key in a hardware module, by its RFC 7512
    /// URI: `pkcs11:token=LABEL;object=LABEL?module-path=…&pin-source=file:…` (PIN otherwise
    /// from LICENCE_VAULT_PKCS11_PIN); the vault then signs through the module.
    #[arg(long, env = "LICENCE_VAULT_KEY")]
    pub vault_key: Option<PathBuf>,
    /// did:key of an identity provider trusted to sign holder tokens (JWS, EdDSA); repeatable.
    #[arg(
        long = "idp-key",
        env = "LICENCE_VAULT_IDP_KEYS",
        value_delimiter = ','
    )]
    pub idp_keys: Vec<DidKey>,
    /// The base URL clients reach this vault at; status list URLs in receipts start with it.
    /// Default: http://LISTEN.
    #[arg(long, env = "LICENCE_VAULT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A witness of the transparency logs, as `URL,KEY`: its submission prefix and its C2SP
    /// cosigner key (name+id+base64(0x04 ‖ key)). Repeat for each. With witnesses, a log's
    /// checkpoint is served once a quorum of them cosigned it.
    /// In the environment, `;` separates witnesses.
    #[arg(long = "witness", env = "LICENCE_VAULT_WITNESSES", value_delimiter = ';', value_parser = parse_witness)]
    pub witnesses: Vec<crate::vault::witness::Witness>,
    /// How many witnesses must cosign a checkpoint before it is served (default 1 when there are
    /// witnesses).
    #[arg(long, env = "LICENCE_VAULT_WITNESS_QUORUM")]
    pub witness_quorum: Option<usize>,
    /// Consent requests one approval system may have waiting for one holder; more answer `429
    /// too_many_pending_requests` until the holder answers or they expire.
    #[arg(long, env = "LICENCE_VAULT_MAX_PENDING_PER_REQUESTER", default_value_t = PendingLimits::DEFAULT.per_requester as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_pending_per_requester: u64,
    /// Consent requests one holder may have waiting, from all approval systems.
    #[arg(long, env = "LICENCE_VAULT_MAX_PENDING_PER_HOLDER", default_value_t = PendingLimits::DEFAULT.per_holder as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_pending_per_holder: u64,
    /// Working days (Monday to Friday, China Standard Time) an issuing agency has to answer a
    /// holder's correction request; holidays are not known, so count them in.
    #[arg(long, env = "LICENCE_VAULT_CORRECTION_WORKING_DAYS", default_value_t = crate::reuse::correction::DEFAULT_WORKING_DAYS, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub correction_working_days: u32,
    /// Requests per second each client address may make, whatever it asks (bursts of twice).
    #[arg(long, env = "LICENCE_VAULT_RATE_PER_ADDRESS", default_value_t = RateLimits::default().per_address, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_address: u32,
    /// Requests per second each credential may make of the cheap endpoints (bursts of twice).
    #[arg(long, env = "LICENCE_VAULT_RATE_CHEAP", default_value_t = RateLimits::default().cheap, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_cheap: u32,
    /// Requests per second each credential may make of the expensive endpoints (pulls, checks,
    /// previews, lists of licences, the verifiers, batch deposits; bursts of twice).
    #[arg(long, env = "LICENCE_VAULT_RATE_EXPENSIVE", default_value_t = RateLimits::default().expensive, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_expensive: u32,
    /// The SHA-256 (hex) of a bearer token no rate limit counts: the benchmarks' own tokens,
    /// named explicitly. Repeat, or `,`-separate in the environment.
    #[arg(long = "rate-limit-exempt", env = "LICENCE_VAULT_RATE_LIMIT_EXEMPT", value_delimiter = ',', value_parser = parse_digest)]
    pub rate_limit_exempt: Vec<[u8; 32]>,
    /// Serve without any rate limit (a test rig behind its own limits; never in production).
    #[arg(long, env = "LICENCE_VAULT_NO_RATE_LIMITS", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    pub no_rate_limits: bool,
    /// Let the vault, as a holder's wallet, reach OpenID4VP verifiers over plain http and at
    /// loopback, private and link-local addresses (tests, closed networks). Off: https to public
    /// addresses only.
    #[arg(long, env = "LICENCE_VAULT_ALLOW_PRIVATE_VERIFIERS", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    pub allow_private_verifiers: bool,
    /// The CJK font printable copies are set in (a TrueType `.ttf` or `.ttc`). Default: the first
    /// of Debian's fonts-wqy-microhei and fonts-wqy-zenhei installed; without one the vault
    /// serves no PDFs (and says so at start).
    #[arg(long, env = "LICENCE_VAULT_FONT")]
    pub font: Option<PathBuf>,
    /// Where the rendering CA and key that seal printable copies are kept (made on first start).
    /// Default: `render-keys/` beside the vault key file (DATA/render-keys with a key in a
    /// module), so that nodes sharing a key file share these too.
    #[arg(long, env = "LICENCE_VAULT_RENDER_KEYS")]
    pub render_keys: Option<PathBuf>,
    /// Demo fixtures directory.
    #[arg(long, env = "LICENCE_VAULT_FIXTURES", default_value = DEFAULT_FIXTURES)]
    pub fixtures: PathBuf,
    /// Demo keys directory.
    #[arg(long, env = "LICENCE_VAULT_KEYS", default_value = DEFAULT_KEYS)]
    pub keys: PathBuf,
    /// Where the licences are kept: `rocksdb` (embedded, in DATA/db) or a PostgreSQL connection
    /// URL (`postgres://…`; several hosts with `target_session_attrs=read-write` follow a
    /// failover). The vault key stays in DATA either way. Any number of vault processes may
    /// serve one database (give them the same vault key); see docs/SCALING.md.
    #[arg(long, env = "LICENCE_VAULT_STORE", default_value = "rocksdb")]
    pub store: String,
    /// Where the serving vault makes the backups asked of it (`licence-vault backup --data` of a
    /// serving vault, `POST /v1/admin/backups`); default DATA/backups.
    #[arg(long, env = "LICENCE_VAULT_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// The PostgreSQL schema the vault creates its tables in.
    #[arg(long, env = "LICENCE_VAULT_PG_SCHEMA", default_value = DEFAULT_PG_SCHEMA)]
    pub pg_schema: String,
}

/// The schema a PostgreSQL store uses unless told otherwise.
pub const DEFAULT_PG_SCHEMA: &str = "licence_vault";
/// Connections each vault process keeps to PostgreSQL at most.
pub const PG_POOL_SIZE: u32 = 16;

/// Which engine keeps the licences.
#[derive(Debug, Clone)]
pub enum StoreSpec {
    /// RocksDB in `DATA/db`.
    Rocks(RocksConfig),
    /// PostgreSQL at this URL, in this schema.
    Postgres { url: String, schema: String },
}

impl StoreSpec {
    /// `rocksdb`, or a `postgres://` / `postgresql://` URL (or a libpq `host=…` string).
    pub fn parse(store: &str, schema: &str, rocks: RocksConfig) -> anyhow::Result<Self> {
        let s = store.trim();
        if s.is_empty() || s == "rocksdb" {
            Ok(Self::Rocks(rocks))
        } else if s.starts_with("postgres://")
            || s.starts_with("postgresql://")
            || s.contains("host=")
        {
            Ok(Self::Postgres {
                url: s.to_owned(),
                schema: schema.to_owned(),
            })
        } else {
            anyhow::bail!("--store must be rocksdb or a postgres:// URL")
        }
    }
}

/// The vault's first key file (`--vault-key`, else DATA/vault.key, created on first start).
pub fn vault_key_path(
    data: &Path,
    explicit: Option<&Path>,
    demo_keys: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        read_signer(p)?;
        return Ok(p.to_owned());
    }
    let path = data.join("vault.key");
    if !path.exists() {
        let signer = match demo_keys {
            Some(keys) => read_signer(&keys.join("vault.key"))?,
            None => Signer::generate(),
        };
        write_secret(&path, &signer)?;
        tracing::info!(path = %path.display(), did = %signer.did_key(), "created the vault key");
    }
    Ok(path)
}

/// Opens the data directory: RocksDB, the vault key, and a check that the key belongs to the data.
pub fn open_vault(
    data: &Path,
    vault_key: Option<&Path>,
    demo_keys: Option<&Path>,
    idp: Vec<DidKey>,
) -> anyhow::Result<Arc<Vault>> {
    open_vault_with(
        data,
        vault_key,
        demo_keys,
        VaultOptions {
            idp_keys: idp,
            ..VaultOptions::default()
        },
        &StoreSpec::Rocks(RocksConfig::default()),
    )
}

/// [`open_vault`] with all options.
pub fn open_vault_with(
    data: &Path,
    vault_key: Option<&Path>,
    demo_keys: Option<&Path>,
    options: VaultOptions,
    spec: &StoreSpec,
) -> anyhow::Result<Arc<Vault>> {
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let hsm = vault_key.and_then(pkcs11_uri).transpose()?;
    let first = match hsm {
        Some(_) => None,
        None => Some(vault_key_path(data, vault_key, demo_keys)?),
    };
    let store: Arc<dyn Store> = match spec {
        StoreSpec::Rocks(rocks) => {
            Arc::new(RocksStore::open_with(&data.join("db"), rocks).map_err(|e| {
                let e = e.to_string();
                let hint = if e.contains("lock") {
                    " (is another licence-vault using this directory?)"
                } else {
                    ""
                };
                anyhow::anyhow!("opening RocksDB in {}: {e}{hint}", data.display())
            })?)
        }
        // The URL may hold a password: the error names the schema, not the URL.
        StoreSpec::Postgres { url, schema } => Arc::new(
            PgStore::open(url, schema, PG_POOL_SIZE)
                .map_err(|e| anyhow::anyhow!("opening PostgreSQL (schema {schema}): {e}"))?,
        ),
    };
    let index = index_key(data, first.as_deref(), &*store)?;
    let source: Box<dyn KeySource> = match (hsm, first) {
        (Some(uri), _) => {
            let pin = uri
                .pin(std::env::var(PIN_VAR).ok().as_deref())
                .map_err(anyhow::Error::msg)?;
            let keys = Pkcs11Keys::open(uri, pin, false).map_err(anyhow::Error::msg)?;
            Box::new(keys)
        }
        (None, first) => Box::new(FileKeys {
            first: first.unwrap_or_else(|| data.join("vault.key")),
            dir: data.join(KEY_DIR),
        }),
    };
    let ring = KeyRing::new(source, index)
        .map_err(anyhow::Error::msg)?
        .with_index_file(data.join(INDEX_KEY_FILE));
    Ok(Arc::new(Vault::open_with(store, ring, options)?))
}

/// The environment variable that gives the PKCS#11 user PIN when the URI has no `pin-source`.
pub const PIN_VAR: &str = "LICENCE_VAULT_PKCS11_PIN";

/// The PKCS#11 URI `--vault-key` gives, if it gives one rather than a key file.
pub fn pkcs11_uri(arg: &Path) -> Option<anyhow::Result<Pkcs11Uri>> {
    let s = arg.to_str()?;
    s.starts_with("pkcs11:").then(|| {
        s.parse()
            .map_err(|e: String| anyhow::anyhow!("--vault-key: {e}"))
    })
}

/// The font and rendering keys of printable copies: an explicit `--font` that cannot be read is
/// an error; no font found otherwise only turns printing off. The keys are in `render_keys`, else
/// `render-keys/` beside the vault key file, else in DATA.
pub fn printing(
    font: Option<&Path>,
    render_keys: Option<&Path>,
    vault_key: Option<&Path>,
    data: &Path,
    public_url: &str,
) -> anyhow::Result<Option<Arc<crate::vault::prints::Printing>>> {
    let dir = match (render_keys, vault_key) {
        (Some(d), _) => d.to_owned(),
        (None, Some(k)) if pkcs11_uri(k).is_none() => k
            .parent()
            .map_or_else(|| PathBuf::from("render-keys"), |p| p.join("render-keys")),
        _ => data.join("render-keys"),
    };
    let name = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .trim_end_matches('/');
    match crate::vault::prints::Printing::open(font, &dir, name) {
        Ok(p) => {
            tracing::info!(font = %p.font.path().display(), render_keys = %dir.display(), "printable copies on");
            Ok(Some(Arc::new(p)))
        }
        Err(e) if font.is_none() && e.starts_with("no CJK font") => {
            tracing::warn!(error = %e, "printable copies are off");
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!("printable copies: {e}")),
    }
}

/// Where a serving vault says it can be reached, in its data directory (for `backup`).
pub const SERVE_URL_FILE: &str = "serve.url";
/// Where a rotation puts the vault's new key files, under DATA.
pub const KEY_DIR: &str = "vault-keys";
/// The holder index secret, under DATA (64 hex digits, mode 0600).
pub const INDEX_KEY_FILE: &str = "index.key";

/// The holder index key: DATA/index.key, made on first start. A store written before the index
/// key was a secret of its own keeps the key it was indexed with (derived from its first vault
/// key), now written to the file, so that rotations leave the index alone.
fn index_key(data: &Path, first: Option<&Path>, store: &dyn Store) -> anyhow::Result<IndexKey> {
    let path = data.join(INDEX_KEY_FILE);
    if path.exists() {
        return IndexKey::read(&path).map_err(anyhow::Error::msg);
    }
    let key = match keyring::index_key_state(store)? {
        IndexKeyState::Bound => anyhow::bail!(
            "{} is missing: this store's holder index needs it (restore it with the vault's key \
             material, docs/OPERATIONS.md)",
            path.display()
        ),
        IndexKeyState::Legacy => {
            tracing::info!(
                "moving the holder index key out of the vault key into {}",
                path.display()
            );
            let first = first.context(
                "this store's holder index was keyed from its vault key file: open it once with \
                 that file before moving the key into a hardware module",
            )?;
            IndexKey::legacy(&read_signer(first)?)
        }
        IndexKeyState::New => IndexKey::generate(),
    };
    key.write(&path).map_err(anyhow::Error::msg)?;
    Ok(key)
}

fn parse_digest(s: &str) -> Result<[u8; 32], String> {
    hex::decode(s.trim())
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| "64 hex digits: the SHA-256 of a bearer token".to_owned())
}

impl ServeOpt {
    fn rate_limits(&self) -> RateLimits {
        RateLimits {
            per_address: self.rate_per_address,
            cheap: self.rate_cheap,
            expensive: self.rate_expensive,
            exempt: self.rate_limit_exempt.iter().copied().collect(),
        }
    }
}

pub fn run(opt: ServeOpt) -> anyhow::Result<()> {
    crate::init_tracing();
    let demo_keys = opt.demo.then_some(opt.keys.as_path());
    if let Some(q) = opt.witness_quorum {
        anyhow::ensure!(
            q <= opt.witnesses.len() && (q > 0 || opt.witnesses.is_empty()),
            "--witness-quorum {q} with {} witnesses: it must be between 1 and their number",
            opt.witnesses.len()
        );
    }
    let options = VaultOptions {
        backup_dir: Some(
            opt.backup_dir
                .clone()
                .unwrap_or_else(|| opt.data.join("backups")),
        ),
        idp_keys: opt.idp_keys.clone(),
        witnesses: crate::vault::witness::WitnessPolicy {
            witnesses: opt.witnesses.clone(),
            quorum: opt
                .witness_quorum
                .unwrap_or(usize::from(!opt.witnesses.is_empty())),
        },
        public_url: opt
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", opt.listen)),
        pending: PendingLimits {
            per_requester: usize::try_from(opt.max_pending_per_requester)?,
            per_holder: usize::try_from(opt.max_pending_per_holder)?,
        },
        correction_working_days: opt.correction_working_days,
        allow_private_verifiers: opt.allow_private_verifiers,
        printing: None,
    };
    let mut options = options;
    options.printing = printing(
        opt.font.as_deref(),
        opt.render_keys.as_deref(),
        opt.vault_key.as_deref(),
        &opt.data,
        &options.public_url,
    )?;
    let spec = StoreSpec::parse(&opt.store, &opt.pg_schema, RocksConfig::default())?;
    let vault = open_vault_with(
        &opt.data,
        opt.vault_key.as_deref(),
        demo_keys,
        options,
        &spec,
    )?;
    if opt.demo {
        crate::demo::seed(&vault, &opt.fixtures, &opt.data).context("seeding the demo")?;
    } else {
        crate::demo::bootstrap_admin(&vault, &opt.data)?;
    }
    crate::vault::logs::spawn_integrator(&vault);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work is bounded by http::blocking's permits; without a cap, threads finishing
        // as new work arrived made the pool grow to ~150 threads (and their memory) under load.
        .max_blocking_threads(2 * crate::http::blocking_permits())
        .build()
        .context("starting tokio")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(opt.listen)
            .await
            .with_context(|| format!("listening on {}", opt.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, did = %vault.did_key(), "licence-vault serving");
        match vault.restored()? {
            Some(r) if r.recovered_to.is_some() => tracing::warn!(
                restored_at = %r.restored_at,
                backup_made = %r.backup_created_at,
                recovered_to = %r.recovered_to.unwrap_or(r.backup_created_at),
                "this vault was restored from a backup and its log replayed: writes after the last one replayed are not here"
            ),
            Some(r) => tracing::warn!(
                restored_at = %r.restored_at,
                backup_made = %r.backup_created_at,
                "this vault was restored from a backup: writes after the backup was made are not here"
            ),
            None => {}
        }
        // Where `licence-vault backup --data DATA` finds this vault while it holds the database.
        std::fs::write(
            opt.data.join(SERVE_URL_FILE),
            format!("http://{addr}\n"),
        )
        .context("writing DATA/serve.url")?;
        if opt.demo {
            crate::demo::print_walkthrough(addr, &opt.data);
        }
        let pages = crate::http::pages::Pages {
            demo: if opt.demo {
                crate::demo::sign_in_choices(&vault, &opt.data)?
            } else {
                Vec::new()
            },
        };
        let limits = (!opt.no_rate_limits).then(|| opt.rate_limits());
        let app = crate::http::app(vault.clone(), pages, limits.as_ref());
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
            .await?;
        anyhow::Ok(())
    })?;
    let _ = std::fs::remove_file(opt.data.join(SERVE_URL_FILE));
    tracing::info!("shutting down: flushing the store");
    vault.store().flush().context("flushing the store")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("signal received, finishing in-flight requests");
}

fn parse_witness(s: &str) -> Result<crate::vault::witness::Witness, String> {
    crate::vault::witness::Witness::parse(s)
}
