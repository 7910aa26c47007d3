//! The `licence-vault` command line (SPEC §8). The service, key and connection flags can also be
//! set by the `LICENCE_VAULT_*` environment variables named in their help. Errors are reported with
//! `anyhow` context here, at the edge.

mod gen;
mod import;
mod monitor;
mod ops;
mod serve;
mod verify;

pub use serve::{open_vault, open_vault_with, StoreSpec, DEFAULT_PG_SCHEMA};
pub use verify::{RegistryFile, VerifyOpt};

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::codes::{LicenceId, TypeCode, Uscc};
use crate::keys::Signer;

pub const DEFAULT_DATA: &str = "./data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_FIXTURES: &str = "fixtures";
pub const DEFAULT_KEYS: &str = "keys";

#[derive(Debug, Parser)]
#[command(
    name = "licence-vault",
    version,
    about = "Electronic licence (电子证照) vault: deposit signed licences once, reuse them with consent, verify on every extraction."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service on embedded RocksDB.
    Serve(serve::ServeOpt),
    /// Create a new Ed25519 key: PATH.key (privateKeyMultibase, mode 0600) and PATH.pub (did:key).
    Keygen(KeygenOpt),
    /// Add an eddsa-jcs-2022 proof to a JSON document; the signed document goes to stdout.
    Sign(SignOpt),
    /// Verify any eddsa-jcs-2022-signed document; the verdict goes to stdout.
    /// Exit 0 valid, 1 invalid, 2 unusable input.
    Verify(verify::VerifyOpt),
    /// Validate or build GB/T 36904 licence identifiers.
    #[command(subcommand)]
    Id(IdCommand),
    /// Bulk-deposit signed licences (JSON Lines) into a stopped vault's data directory.
    ///
    /// Writes without the write-ahead log and flushes at the end; if interrupted, run it again:
    /// licences already stored count as already present.
    Import(import::ImportOpt),
    /// Write synthetic, validly signed licences (JSON Lines) for benchmarks and load tests.
    Gen(gen::GenOpt),
    /// Back up a vault (serving or stopped) into a new directory: its store, key material and a
    /// signed manifest; `backup verify PATH` checks one offline.
    Backup(ops::BackupCmd),
    /// Restore a backup into a new or empty data directory, after checking it.
    Restore(ops::RestoreOpt),
    /// The vault key: list its history, rotate it, declare one compromised.
    #[command(subcommand)]
    Key(ops::KeyCmd),
    /// The transparency logs: `log verify` checks one as an outside monitor.
    #[command(subcommand)]
    Log(monitor::LogCmd),
    /// Write a kept copy (or a holder's print) as a sealed one-page PDF, from a stopped vault's
    /// data; a serving vault gives the same at `GET /v1/copies/{id}.pdf`.
    Render(ops::RenderOpt),
}

#[derive(Debug, Args)]
pub struct KeygenOpt {
    /// Path prefix: writes PATH.key and PATH.pub. Or a PKCS#11 URI (`pkcs11:token=…;object=…`):
    /// the key is made inside the token (PIN from pin-source or LICENCE_VAULT_PKCS11_PIN).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignOpt {
    /// The secret key file (one line: privateKeyMultibase).
    #[arg(long, env = "LICENCE_VAULT_SIGN_KEY")]
    pub key: PathBuf,
    /// The unsigned JSON document ('-' for stdin).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// The proof's `created` time (RFC 3339); default now.
    #[arg(long)]
    pub created: Option<String>,
    /// When the proof expires (RFC 3339); default never.
    #[arg(long)]
    pub expires: Option<String>,
    /// Sign any JSON object, not only a VC 2.0 credential or a status statement (by default a
    /// document that breaks the data model's rules is refused).
    #[arg(long)]
    pub plain_json: bool,
    /// Sign a verifiable presentation as its holder (proof purpose `authentication`), for
    /// `POST /presentations/verify`.
    #[arg(long, conflicts_with_all = ["plain_json", "expires"])]
    pub presentation: bool,
    /// The verifier's challenge the presentation's proof answers (from `POST /challenges`).
    #[arg(long, requires = "presentation")]
    pub challenge: Option<String>,
    /// The verifier's domain the presentation's proof is for.
    #[arg(long, requires = "presentation")]
    pub domain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IdCommand {
    /// Check an identifier (bare or urn:gbt36904:) and print its fields as JSON. Exit 1 if invalid.
    Check { id: String },
    /// Build an identifier, computing its check character.
    New {
        /// 21-character licence type code.
        #[arg(long = "type")]
        type_code: String,
        /// Issuing agency's unified social credit code.
        #[arg(long)]
        issuer: String,
        /// 1–32 characters of 0-9A-Z.
        #[arg(long)]
        serial: String,
        /// 1–999.
        #[arg(long, default_value_t = 1)]
        version: u16,
    },
}

/// Runs the CLI; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(opt) => serve::run(opt).map(|()| 0),
        Command::Keygen(opt) => keygen(&opt).map(|()| 0),
        Command::Sign(opt) => sign(&opt).map(|()| 0),
        Command::Verify(opt) => Ok(verify::run(&opt)),
        Command::Id(cmd) => id(cmd),
        Command::Import(opt) => import::run(opt),
        Command::Gen(opt) => gen::run(opt),
        Command::Backup(cmd) => ops::backup(cmd),
        Command::Restore(opt) => ops::restore(opt),
        Command::Key(cmd) => ops::key(cmd),
        Command::Log(cmd) => monitor::run(cmd),
        Command::Render(opt) => ops::render(opt),
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Reads a secret key file (one line: privateKeyMultibase).
pub fn read_signer(path: &Path) -> anyhow::Result<Signer> {
    crate::vault::FileKeys::read(path).map_err(anyhow::Error::msg)
}

/// Writes a secret key file with mode 0600 (created that way, never widened; never overwritten).
pub fn write_secret(path: &Path, signer: &Signer) -> anyhow::Result<()> {
    crate::vault::FileKeys::write(path, signer).map_err(anyhow::Error::msg)
}

fn keygen(opt: &KeygenOpt) -> anyhow::Result<()> {
    if let Some(uri) = serve::pkcs11_uri(&opt.out).transpose()? {
        // Made inside the token, never extractable: only its did:key comes out.
        let pin = uri
            .pin(std::env::var(serve::PIN_VAR).ok().as_deref())
            .map_err(anyhow::Error::msg)?;
        let what = uri.describe();
        let keys =
            crate::vault::pkcs11::Pkcs11Keys::open(uri, pin, true).map_err(anyhow::Error::msg)?;
        let held = crate::vault::KeySource::held(&keys).map_err(anyhow::Error::msg)?;
        let did = held
            .first()
            .context("no key in the token")?
            .did_key()
            .clone();
        eprintln!("{what} holds the key");
        println!("{did}");
        return Ok(());
    }
    let signer = Signer::generate();
    // Append, never replace: `--out agency.v2` writes agency.v2.key and agency.v2.pub.
    let key = PathBuf::from(format!("{}.key", opt.out.display()));
    let public = PathBuf::from(format!("{}.pub", opt.out.display()));
    if public.exists() {
        bail!("{} exists; refusing to overwrite", public.display());
    }
    write_secret(&key, &signer)?;
    std::fs::write(&public, format!("{}\n", signer.did_key()))
        .with_context(|| format!("writing {}", public.display()))?;
    eprintln!(
        "wrote {} (secret, mode 0600) and {}",
        key.display(),
        public.display()
    );
    println!("{}", signer.did_key());
    Ok(())
}

fn sign(opt: &SignOpt) -> anyhow::Result<()> {
    let signer = read_signer(&opt.key)?;
    let doc = crate::jcs::parse(&read_input(&opt.input)?).context("the input is not I-JSON")?;
    let created = match &opt.created {
        Some(t) => crate::proof::parse_time(t)
            .with_context(|| format!("--created {t:?} is not an RFC 3339 time"))?,
        None => chrono::Utc::now(),
    };
    // A did:key named as issuer or holder must be the signer's own: the verifiers' check, made
    // before signing.
    let signs_for = |party| -> anyhow::Result<()> {
        let c = crate::verify::controls(&doc, signer.did_key(), party);
        match (c.ok, &c.detail) {
            (Some(false), Some(why)) => anyhow::bail!("{why}"),
            _ => Ok(()),
        }
    };
    if opt.presentation {
        crate::verify::data_model::presentation(&doc).map_err(|r| {
            anyhow::anyhow!("not a VC 2.0 presentation ({}: {})", r.field, r.message)
        })?;
        signs_for(crate::verify::Party::Holder)?;
        let binding = crate::proof::Binding {
            challenge: opt.challenge.as_deref(),
            domain: opt.domain.as_deref(),
        };
        let signed = crate::proof::sign_presentation(doc, &signer, created, binding)?;
        println!("{}", serde_json::to_string_pretty(&signed)?);
        return Ok(());
    }
    // A status statement (SPEC §6) is the one document of this system that is not a credential.
    let statement = crate::lifecycle::Statement::parse(&doc).is_ok();
    if !opt.plain_json && !statement {
        crate::verify::data_model::credential(&doc).map_err(|r| {
            anyhow::anyhow!(
                "not a VC 2.0 credential ({}: {}); pass --plain-json to sign it anyway",
                r.field,
                r.message
            )
        })?;
        signs_for(crate::verify::Party::Issuer)?;
    }
    let expires = match &opt.expires {
        Some(t) => Some(
            crate::proof::parse_time(t)
                .with_context(|| format!("--expires {t:?} is not an RFC 3339 time"))?,
        ),
        None => None,
    };
    let signed = crate::proof::sign_until(doc, &signer, Some(created), expires)?;
    println!("{}", serde_json::to_string_pretty(&signed)?);
    Ok(())
}

fn id(cmd: IdCommand) -> anyhow::Result<i32> {
    match cmd {
        IdCommand::Check { id } => match LicenceId::from_urn_or_bare(&id) {
            Ok(id) => {
                let v = serde_json::json!({
                    "valid": true, "id": id.as_str(), "urn": id.urn(), "typeCode": id.type_code(),
                    "issuerCode": id.issuer(), "serial": id.serial(), "version": format!("{:03}", id.version()),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(0)
            }
            Err(e) => {
                let v = serde_json::json!({"valid": false, "code": "invalid_identifier", "message": e.to_string()});
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(1)
            }
        },
        IdCommand::New {
            type_code,
            issuer,
            serial,
            version,
        } => {
            let t: TypeCode = type_code
                .parse()
                .with_context(|| format!("--type {type_code}"))?;
            let i: Uscc = issuer
                .parse()
                .with_context(|| format!("--issuer {issuer}"))?;
            let id =
                LicenceId::new(&t, &i, &serial, version).with_context(|| "--serial/--version")?;
            println!("{id}");
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
