//! The operator's commands (SPEC §18, docs/OPERATIONS.md): `backup` (of a serving vault, through
//! the vault that holds the database; of a stopped one, directly), `backup verify` (offline),
//! `restore` (into an empty data directory, only from a backup that checks), and `key`
//! (the vault key's history: list, rotate, declare compromised).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::serve::{
    open_vault_with, StoreSpec, DEFAULT_PG_SCHEMA, INDEX_KEY_FILE, KEY_DIR, SERVE_URL_FILE,
};
use super::DEFAULT_DATA;
use crate::keys::DidKey;
use crate::store::rocks::RocksConfig;
use crate::store::RocksStore;
use crate::vault::backup::{self, BackupError, Manifest, Restored};
use crate::vault::{IndexKey, KeyRing, Vault, VaultOptions};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupCmd {
    #[command(subcommand)]
    pub verify: Option<BackupSub>,
    #[command(flatten)]
    pub make: BackupOpt,
}

#[derive(Debug, Subcommand)]
pub enum BackupSub {
    /// Check a backup offline: the manifest's signature, every file's SHA-256, the key files,
    /// and every stored licence's signature. Exit 0 sound, 1 not.
    Verify {
        /// The backup directory.
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BackupOpt {
    /// The vault's data directory (serving or stopped).
    #[arg(long, env = "LICENCE_VAULT_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// The new backup directory (must not exist).
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// The vault's first key file, as for `serve --vault-key` (stopped vault only).
    #[arg(long, env = "LICENCE_VAULT_KEY")]
    pub vault_key: Option<PathBuf>,
    /// An admin token file, to ask a serving vault for the backup (default DATA/admin-token).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreOpt {
    /// The backup directory (RocksDB), or for PostgreSQL the label of the base backup that was
    /// restored with PostgreSQL's tools (scripts/pg-backup.sh).
    #[arg(long)]
    pub from: PathBuf,
    /// PostgreSQL only: the database already restored with PostgreSQL's own tools; this records
    /// in it that it was restored, and from a backup made at --backup-made.
    #[arg(long)]
    pub store: Option<String>,
    #[arg(long, env = "LICENCE_VAULT_PG_SCHEMA", default_value = DEFAULT_PG_SCHEMA)]
    pub pg_schema: String,
    /// PostgreSQL only: when the base backup was made (RFC 3339).
    #[arg(long, requires = "store")]
    pub backup_made: Option<DateTime<Utc>>,
    /// PostgreSQL only, after a point-in-time recovery: the time of the last transaction the
    /// archived WAL replayed (`pg_last_xact_replay_timestamp()`).
    #[arg(long, requires = "store")]
    pub recovered_to: Option<DateTime<Utc>>,
    /// The data directory to restore into: new or empty.
    #[arg(long, env = "LICENCE_VAULT_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// The key the restored vault will sign with, when it is not in the backup: a key file, or
    /// a PKCS#11 URI (the token must hold a key of the backup's history); refused otherwise.
    #[arg(long)]
    pub vault_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Print the vault's key history (what `GET /v1/vault/keys` serves).
    List(KeyOpt),
    /// Make a new vault key and sign with it from now on; the current key is retired after a
    /// short overlap. With --prepare, only make the key file (copy it to every node, then
    /// `key rotate --to DID`).
    Rotate {
        #[command(flatten)]
        opt: KeyOpt,
        /// Only make the new key, in DATA/vault-keys/, and print its did:key.
        #[arg(long, conflicts_with = "to")]
        prepare: bool,
        /// Sign with this prepared key from now on.
        #[arg(long)]
        to: Option<DidKey>,
    },
    /// Declare a vault key compromised since a time: documents it signed at or after that time
    /// are refused from now on.
    Compromised {
        #[command(flatten)]
        opt: KeyOpt,
        #[arg(long)]
        did: DidKey,
        /// RFC 3339.
        #[arg(long)]
        since: DateTime<Utc>,
    },
}

#[derive(Debug, Args)]
pub struct KeyOpt {
    /// Data directory (a stopped vault's, for RocksDB).
    #[arg(long, env = "LICENCE_VAULT_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    #[arg(long, env = "LICENCE_VAULT_KEY")]
    pub vault_key: Option<PathBuf>,
    /// `rocksdb` or a PostgreSQL URL, as for `serve --store` (nodes may serve meanwhile).
    #[arg(long, env = "LICENCE_VAULT_STORE", default_value = "rocksdb")]
    pub store: String,
    #[arg(long, env = "LICENCE_VAULT_PG_SCHEMA", default_value = DEFAULT_PG_SCHEMA)]
    pub pg_schema: String,
}

/// `render`: a kept copy or print as a sealed PDF, from a stopped vault's data.
#[derive(Debug, Args)]
pub struct RenderOpt {
    #[command(flatten)]
    pub vault: KeyOpt,
    /// The print's id: a stamped or minimised copy's (`urn:uuid:…`, as in the pull's answer), or
    /// a holder's print's (as its QR code gives it).
    #[arg(long)]
    pub print: String,
    /// Where to write the PDF (refused if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// The CJK font, as for `serve --font`.
    #[arg(long, env = "LICENCE_VAULT_FONT")]
    pub font: Option<PathBuf>,
    /// The rendering keys, as for `serve --render-keys`.
    #[arg(long, env = "LICENCE_VAULT_RENDER_KEYS")]
    pub render_keys: Option<PathBuf>,
    /// The vault's address, which the QR code leads to.
    #[arg(long, env = "LICENCE_VAULT_PUBLIC_URL", default_value = crate::vault::DEFAULT_PUBLIC_URL)]
    pub public_url: String,
}

pub fn render(opt: RenderOpt) -> anyhow::Result<i32> {
    crate::init_tracing();
    let printing = super::serve::printing(
        opt.font.as_deref(),
        opt.render_keys.as_deref(),
        opt.vault.vault_key.as_deref(),
        &opt.vault.data,
        &opt.public_url,
    )?
    .ok_or_else(|| anyhow::anyhow!("no CJK font is installed: give --font"))?;
    let vault = open_with(
        &opt.vault,
        VaultOptions {
            printing: Some(printing),
            public_url: opt.public_url.clone(),
            ..VaultOptions::default()
        },
    )?;
    let Some(pdf) = vault.print_pdf(&opt.print, Utc::now())? else {
        eprintln!("no print {} in this vault", opt.print);
        return Ok(1);
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&opt.out)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &pdf))
        .with_context(|| format!("writing {}", opt.out.display()))?;
    eprintln!("wrote {} ({} bytes)", opt.out.display(), pdf.len());
    Ok(0)
}

fn open(opt: &KeyOpt) -> anyhow::Result<Arc<Vault>> {
    open_with(opt, VaultOptions::default())
}

fn open_with(opt: &KeyOpt, options: VaultOptions) -> anyhow::Result<Arc<Vault>> {
    let spec = StoreSpec::parse(&opt.store, &opt.pg_schema, RocksConfig::default())?;
    // A mistyped --data must not become a new, empty vault with keys of its own.
    if matches!(spec, StoreSpec::Rocks(_)) && !opt.data.join("db").is_dir() {
        bail!("{} holds no vault (no db/)", opt.data.display());
    }
    open_vault_with(&opt.data, opt.vault_key.as_deref(), None, options, &spec)
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn key(cmd: KeyCmd) -> anyhow::Result<i32> {
    match cmd {
        KeyCmd::List(opt) => print_json(&open(&opt)?.key_history()?)?,
        KeyCmd::Rotate {
            opt, prepare: true, ..
        } => {
            let dir = opt.data.join(KEY_DIR);
            let keys = crate::vault::FileKeys {
                first: opt.data.join("vault.key"),
                dir: dir.clone(),
            };
            let made = crate::vault::KeySource::create(&keys).map_err(anyhow::Error::msg)?;
            eprintln!(
                "made a new vault key in {}/: copy that directory to every node, then run \
                 `licence-vault key rotate --to {}`",
                dir.display(),
                made.did_key()
            );
            println!("{}", made.did_key());
        }
        KeyCmd::Rotate { opt, to, .. } => {
            let vault = open(&opt)?;
            let key = vault.rotate_key_to(to.as_ref())?;
            eprintln!("the vault now signs with {}", key.did_key);
            print_json(&key)?;
        }
        KeyCmd::Compromised { opt, did, since } => {
            print_json(&open(&opt)?.declare_key_compromised(&did, since)?)?;
        }
    }
    Ok(0)
}

pub fn backup(cmd: BackupCmd) -> anyhow::Result<i32> {
    if let Some(BackupSub::Verify { path }) = cmd.verify {
        return match verify(&path) {
            Ok(report) => {
                print_json(&report)?;
                Ok(0)
            }
            Err(e) => {
                eprintln!("the backup does not check: {e}");
                Ok(1)
            }
        };
    }
    let opt = cmd.make;
    let to = opt
        .to
        .clone()
        .context("--to: the new backup directory is required")?;
    let to = std::path::absolute(&to).with_context(|| format!("{}", to.display()))?;
    if !opt.data.join("db").is_dir() {
        bail!(
            "{} holds no RocksDB database (db/): a vault on PostgreSQL is backed up with \
             PostgreSQL's tools and its key files (scripts/pg-backup.sh, docs/OPERATIONS.md)",
            opt.data.display()
        );
    }
    let opened = open_vault_with(
        &opt.data,
        opt.vault_key.as_deref(),
        None,
        VaultOptions::default(),
        &StoreSpec::Rocks(RocksConfig::default()),
    );
    let manifest: Manifest = match opened {
        Ok(vault) => vault.backup(&to)?,
        // The database is held by a serving vault: it makes the backup.
        Err(e) if e.to_string().contains("lock") => through_server(&opt, &to)?,
        Err(e) => return Err(e),
    };
    eprintln!(
        "backed up {} licences and {} access records into {} (made {})",
        manifest.counts.get("licenceid_meta").copied().unwrap_or(0),
        manifest
            .counts
            .get("accesstime_record")
            .copied()
            .unwrap_or(0),
        to.display(),
        crate::proof::format_time(manifest.created_at)
    );
    Ok(0)
}

fn through_server(opt: &BackupOpt, to: &Path) -> anyhow::Result<Manifest> {
    let url_file = opt.data.join(SERVE_URL_FILE);
    let url = std::fs::read_to_string(&url_file).with_context(|| {
        format!(
            "the database in {} is in use, and {} does not say where its vault serves",
            opt.data.display(),
            url_file.display()
        )
    })?;
    let token_file = opt
        .token_file
        .clone()
        .unwrap_or_else(|| opt.data.join("admin-token"));
    let token = zeroize::Zeroizing::new(
        std::fs::read_to_string(&token_file)
            .with_context(|| format!("reading the admin token {}", token_file.display()))?,
    );
    eprintln!("the vault serving {} makes the backup", opt.data.display());
    // Made in the vault's backup directory under a name of ours, then moved where we were told.
    let name = format!(
        "cli-{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u32>()
    );
    let resp = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()?
        .post(format!(
            "{}/v1/admin/backups",
            url.trim().trim_end_matches('/')
        ))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "name": name }))
        .send()
        .context("asking the serving vault for a backup")?;
    let status = resp.status();
    let body = resp.text()?;
    if !status.is_success() {
        bail!("the serving vault answered {status}: {body}");
    }
    #[derive(serde::Deserialize)]
    struct Made {
        path: PathBuf,
        manifest: Manifest,
    }
    let made: Made = serde_json::from_str(&body).context("the backup's manifest")?;
    if std::fs::rename(&made.path, to).is_err() {
        // Another file system: copy, then remove the vault's copy.
        copy_tree(&made.path, to)?;
        std::fs::remove_dir_all(&made.path)
            .with_context(|| format!("removing {}", made.path.display()))?;
    }
    Ok(made.manifest)
}

/// What `backup verify` found.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub sound: bool,
    pub created_at: DateTime<Utc>,
    pub files: usize,
    pub licences: u64,
    pub newest_access_record: Option<backup::NewestAccess>,
}

/// Checks a backup offline; `Err` says why it must not be restored.
pub fn verify(dir: &Path) -> anyhow::Result<VerifyReport> {
    let manifest = backup::check_files(dir)?;
    let keys = dir.join(backup::KEYS_DIR);
    let index = IndexKey::read(&keys.join("index.key")).map_err(anyhow::Error::msg)?;
    if hex::encode(index.check_value()) != manifest.index_key_check {
        return Err(BackupError::Corrupt("keys/index.key is not this vault's".into()).into());
    }
    for f in std::fs::read_dir(&keys)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .chain(
            std::fs::read_dir(keys.join("vault-keys"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        )
        .filter(|p| p.extension().is_some_and(|x| x == "key") && !p.ends_with("index.key"))
    {
        let did = super::read_signer(&f)?.did_key().clone();
        if manifest.vault_keys.get(&did).is_none() {
            return Err(BackupError::Corrupt(format!(
                "{} holds {did}, not a key of this vault",
                f.display()
            ))
            .into());
        }
    }
    let store = Arc::new(RocksStore::open_with(
        &dir.join(backup::DB_DIR),
        &RocksConfig {
            read_only: true,
            ..RocksConfig::default()
        },
    )?);
    let vault = Vault::open_with(store, KeyRing::verify_only(index), VaultOptions::default())?;
    let total = manifest.counts.get("licenceid_meta").copied().unwrap_or(0);
    let audit = vault.audit_licences(100_000, |n| {
        eprintln!("checked {n} of {total} licences");
    })?;
    if !audit.failed.is_empty() {
        return Err(BackupError::Corrupt(format!(
            "{} stored licences do not verify, e.g. {}",
            audit.failed.len(),
            audit.failed[0]
        ))
        .into());
    }
    if audit.licences != total {
        return Err(BackupError::Corrupt(format!(
            "the manifest counts {total} licences, the store holds {}",
            audit.licences
        ))
        .into());
    }
    Ok(VerifyReport {
        sound: true,
        created_at: manifest.created_at,
        files: manifest.files.len(),
        licences: audit.licences,
        newest_access_record: manifest.newest_access_record,
    })
}

pub fn restore(opt: RestoreOpt) -> anyhow::Result<i32> {
    if let Some(url) = &opt.store {
        return mark_pg_restored(&opt, url);
    }
    let data = &opt.data;
    if data.join("db").exists() {
        // A serving vault holds the database's lock: say so rather than "not empty".
        if let Err(e) = RocksStore::open(&data.join("db")) {
            if e.to_string().to_lowercase().contains("lock") {
                bail!(
                    "a vault is serving from {}: stop it, and restore into an empty directory",
                    data.display()
                );
            }
        }
    }
    if std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: restore into a new or empty directory",
            data.display()
        );
    }
    eprintln!("checking the backup {}", opt.from.display());
    let report = verify(&opt.from).context("refusing to restore")?;
    let manifest = backup::check_files(&opt.from)?;
    let keys = opt.from.join(backup::KEYS_DIR);
    let hsm = opt
        .vault_key
        .as_deref()
        .and_then(super::serve::pkcs11_uri)
        .transpose()?;
    if let Some(k) = &opt.vault_key {
        let did = match hsm.clone() {
            // A key in a module: the token must hold a key of this vault.
            Some(uri) => {
                let pin = uri
                    .pin(std::env::var(super::serve::PIN_VAR).ok().as_deref())
                    .map_err(anyhow::Error::msg)?;
                let keys = crate::vault::pkcs11::Pkcs11Keys::open(uri, pin, false)
                    .map_err(anyhow::Error::msg)?;
                let held = crate::vault::KeySource::held(&keys).map_err(anyhow::Error::msg)?;
                held.iter()
                    .map(|k| k.did_key().clone())
                    .find(|d| manifest.vault_keys.get(d).is_some())
                    .or_else(|| held.first().map(|k| k.did_key().clone()))
                    .context("the token holds no key")?
            }
            None => super::read_signer(k)?.did_key().clone(),
        };
        if manifest.vault_keys.get(&did).is_none() {
            bail!("{did} is not a key of the vault this backup is of: refusing to restore");
        }
    } else if !keys.join("vault.key").exists() {
        bail!("the backup holds no vault key file (its keys were in a hardware module): give --vault-key");
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    copy_tree(&opt.from.join(backup::DB_DIR), &data.join("db"))?;
    copy_tree(&keys, data)?;
    if let (Some(k), None) = (&opt.vault_key, &hsm) {
        std::fs::remove_file(data.join("vault.key")).ok();
        std::fs::copy(k, data.join("vault.key"))?;
    }
    debug_assert!(data.join(INDEX_KEY_FILE).exists());
    let manifest_sha256 = backup::sha256_file(&opt.from.join(backup::MANIFEST))?.0;
    let store = RocksStore::open(&data.join("db"))?;
    backup::mark_restored(
        &store,
        &Restored {
            restored_at: Utc::now(),
            backup_created_at: manifest.created_at,
            manifest_sha256,
            recovered_to: None,
        },
    )?;
    drop(store);
    eprintln!(
        "restored {} licences into {} from the backup made {}; start the vault with --data {}",
        report.licences,
        data.display(),
        crate::proof::format_time(report.created_at),
        data.display()
    );
    Ok(0)
}

/// Records in a PostgreSQL database restored with PostgreSQL's tools that it was restored.
fn mark_pg_restored(opt: &RestoreOpt, url: &str) -> anyhow::Result<i32> {
    let made = opt
        .backup_made
        .context("--backup-made: when the base backup was made")?;
    let store = crate::store::PgStore::open(url, &opt.pg_schema, 1)
        .map_err(|e| anyhow::anyhow!("opening PostgreSQL (schema {}): {e}", opt.pg_schema))?;
    let label = opt.from.display().to_string();
    backup::mark_restored(
        &store,
        &Restored {
            restored_at: Utc::now(),
            backup_created_at: made,
            manifest_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(label.as_bytes())),
            recovered_to: opt.recovered_to,
        },
    )?;
    eprintln!(
        "recorded that the database was restored from {label} (made {})",
        crate::proof::format_time(made)
    );
    Ok(0)
}

/// Copies a directory tree (files keep their permissions).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let p = e.path();
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&p, &dest)?;
        } else {
            std::fs::copy(&p, &dest)
                .with_context(|| format!("copying {} to {}", p.display(), dest.display()))?;
        }
    }
    Ok(())
}
