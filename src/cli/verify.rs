//! `licence-vault verify`: the verdict for any eddsa-jcs-2022-signed document.
//!
//! Registries come from a file (`--registry`, fully offline) or from a running vault's public
//! endpoints (`--vault URL`). Status comes from the deposit receipt (`--receipt`) and the agency's
//! Bitstring Status Lists: saved files (`--status`, offline) or fetched from the URLs the receipt
//! names. With `--vault URL --token T` the vault itself verifies (`POST /v1/verify`).
//! Checks that cannot be made are reported as not checked, never as passed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value;

use super::read_input;
use crate::licence::Licence;
use crate::registry::{Agency, LicenceType, Matter, Registries, Requester};
use crate::verdict::{Check, CheckName, Verdict};
use crate::verify::{self, copy, receipt, status_list, Evidence, RecordFacts, VaultKeys};

#[derive(Debug, Args)]
pub struct VerifyOpt {
    /// The signed JSON document ('-' for stdin).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// A registry file: {"types": [...], "matters": [...], "agencies": [...], "vaultKeys": [...]}.
    #[arg(long, conflicts_with = "vault", env = "LICENCE_VAULT_REGISTRY")]
    pub registry: Option<PathBuf>,
    /// A running vault whose public registries, keys and status lists to use, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "LICENCE_VAULT_URL")]
    pub vault: Option<String>,
    /// With --vault: let the vault verify (POST /v1/verify) with this requester, holder or admin token.
    #[arg(
        long,
        requires = "vault",
        env = "LICENCE_VAULT_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The vault's deposit receipt for the licence: it names the licence's status list entries.
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// A saved status list credential (revocation or suspension); repeatable.
    #[arg(long = "status")]
    pub status: Vec<PathBuf>,
    /// Use no network: registries, receipt and status lists come from files only.
    #[arg(long, conflicts_with = "vault")]
    pub offline: bool,
}

/// A registry file for offline verification: the shapes of the registry endpoints, in one file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryFile {
    #[serde(default)]
    pub types: Vec<LicenceType>,
    #[serde(default)]
    pub matters: Vec<Matter>,
    #[serde(default)]
    pub agencies: Vec<Agency>,
    #[serde(default)]
    pub requesters: Vec<Requester>,
    /// The vault's key history (`GET /v1/vault/keys`'s `keys`), or bare did:keys trusted at any
    /// time, for vault-signed documents (receipts, copies, status lists, notices).
    #[serde(default)]
    pub vault_keys: VaultKeys,
}

impl RegistryFile {
    fn registries(&self) -> Registries {
        Registries::new(
            self.types.clone(),
            self.matters.clone(),
            self.agencies.clone(),
            self.requesters.clone(),
        )
    }
}

fn parse_file<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    from_json(&bytes)
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> anyhow::Result<T> {
    crate::jcs::deserialize(&crate::jcs::parse(bytes)?)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.path, e.message))
}

fn unusable(message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    2
}

/// Runs the command; the exit code is 0 valid, 1 invalid, 2 unusable input.
pub fn run(opt: &VerifyOpt) -> i32 {
    let bytes = match read_input(&opt.input) {
        Ok(b) => b,
        Err(e) => return unusable(format!("{e:#}")),
    };
    if is_tar(&bytes) {
        return match verify_export(opt, &bytes) {
            Ok(v) => report(&serde_json::to_value(v).unwrap_or_default()),
            Err(e) => unusable(format!("{e:#}")),
        };
    }
    let doc = match crate::jcs::parse(&bytes) {
        Ok(d) => d,
        Err(e) => return unusable(format!("not I-JSON (malformed_json): {e}")),
    };
    if let Err(e @ (crate::proof::ProofError::Missing | crate::proof::ProofError::NotAnObject)) =
        crate::proof::prepare(&doc)
    {
        return unusable(e);
    }
    let verdict = match (&opt.vault, &opt.token) {
        (Some(url), Some(token)) => verify_remote(url, token, &bytes),
        _ => verify_local(opt, &doc).map(|v| serde_json::to_value(v).unwrap_or_default()),
    };
    let verdict = match verdict {
        Ok(v) => v,
        Err(e) => return unusable(format!("{e:#}")),
    };
    report(&verdict)
}

/// Prints a verdict; the exit code is 0 when it is valid, else 1.
fn report(verdict: &Value) -> i32 {
    println!(
        "{}",
        serde_json::to_string_pretty(verdict).unwrap_or_default()
    );
    if verdict.get("valid") == Some(&Value::Bool(true)) {
        0
    } else {
        1
    }
}

/// Whether the input is a tar archive (ustar or GNU magic at offset 257): an export.
fn is_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar")
}

/// Verifies a holder's export (SPEC §17): its manifest against the vault's keys (from
/// `--registry` or `--vault`) and every file against the manifest.
fn verify_export(opt: &VerifyOpt, bytes: &[u8]) -> anyhow::Result<Verdict> {
    let mut files = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(bytes).entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive holds something other than files");
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content)?;
        if files.insert(path.clone(), content).is_some() {
            bail!("the archive holds {path} twice");
        }
    }
    let manifest_path = verify::export_manifest::MANIFEST_PATH;
    let manifest = files
        .get(manifest_path)
        .map(|m| crate::jcs::parse(m))
        .transpose()
        .with_context(|| format!("{manifest_path} is not I-JSON"))?
        .with_context(|| format!("not an export: no {manifest_path}"))?;
    let keys = match (&opt.registry, &opt.vault) {
        (Some(p), _) => Some(
            parse_file::<RegistryFile>(p)
                .with_context(|| format!("registry {}", p.display()))?
                .vault_keys,
        ),
        (None, Some(url)) => Some(Client::new(url).registries(&manifest)?.1),
        (None, None) => None,
    };
    verify::export_manifest::check_archive(&files, keys.as_ref(), Utc::now())
        .with_context(|| format!("{manifest_path} is not I-JSON"))
}

/// Where registries and status lists come from.
enum Source {
    None,
    File(RegistryFile),
    Vault(Client),
}

fn verify_local(opt: &VerifyOpt, doc: &Value) -> anyhow::Result<Verdict> {
    let now = Utc::now();
    let source = match (&opt.registry, &opt.vault) {
        (Some(p), _) => {
            Source::File(parse_file(p).with_context(|| format!("registry {}", p.display()))?)
        }
        (None, Some(url)) => Source::Vault(Client::new(url)),
        (None, None) => Source::None,
    };
    let (registries, vault_keys) = match &source {
        Source::None => (None, None),
        Source::File(f) => (Some(f.registries()), Some(f.vault_keys.clone())),
        Source::Vault(c) => {
            let (reg, keys) = c.registries(doc)?;
            (Some(reg), Some(keys))
        }
    };
    if let Some(v) = verify::vault_signed(doc, vault_keys.as_ref(), now) {
        return Ok(v);
    }
    if copy::is_stamped_copy(doc) {
        // The copy's signature against the vault keys, its binding, and the embedded licence
        // judged as a presented licence would be here.
        let judged = copy::check(doc, vault_keys.as_ref(), now, |lic| {
            let ev = Evidence::new(registries.as_ref(), now);
            Ok::<_, std::convert::Infallible>(verify::licence(lic, ev).0)
        });
        return Ok(judged.unwrap_or_else(|never| match never {}));
    }
    if !Licence::is_licence(doc) {
        return Ok(verify::document(doc, vault_keys.as_ref(), now));
    }
    let receipt: Option<Value> = match &opt.receipt {
        Some(p) => Some(parse_file(p).with_context(|| format!("receipt {}", p.display()))?),
        None => None,
    };
    // A receipt the vault signed for exactly these bytes proves when the vault received them: the
    // evidence that judges a key's later retirement or compromise (SPEC §5).
    let deposit = match (&receipt, vault_keys.as_ref()) {
        (Some(r), Some(keys)) => Some(receipt::deposit_time(r, doc, keys, now)),
        _ => None,
    };
    let facts = match &deposit {
        Some(Ok(at)) => Some(RecordFacts {
            deposited_at: *at,
            integrity: Ok(()),
            status: None,
            superseded_by: None,
        }),
        _ => None,
    };
    let ev = Evidence {
        registries: registries.as_ref(),
        record: facts.as_ref(),
        now,
        signature: None,
    };
    let (verdict, lic) = verify::licence(doc, ev);
    let (Some(_), Some(receipt), Some(deposit)) = (lic, receipt, deposit) else {
        return Ok(verdict);
    };
    let at = match deposit {
        Ok(at) => at,
        Err(check) => return Ok(verdict.replacing(check)),
    };
    let integrity = Check::pass_with(
        CheckName::Integrity,
        format!(
            "sha256 matches the vault's receipt of {}",
            crate::proof::format_time(at)
        ),
    );
    let status = status_from_lists(
        &receipt,
        &vault_keys.clone().unwrap_or_default(),
        &opt.status,
        &source,
        now,
    )?;
    Ok(verdict.replacing(integrity).replacing(status))
}

/// The status check from a verified receipt's status list entries and the lists themselves:
/// saved files first, else (with `--vault`) fetched from the URLs the entries name.
fn status_from_lists(
    receipt: &Value,
    keys: &VaultKeys,
    saved: &[PathBuf],
    source: &Source,
    now: DateTime<Utc>,
) -> anyhow::Result<Check> {
    let saved: Vec<Value> = saved
        .iter()
        .map(|p| parse_file(p).with_context(|| format!("status list {}", p.display())))
        .collect::<anyhow::Result<_>>()?;
    let entries = status_list::Entry::all_of(receipt)
        .map_err(|e| anyhow::anyhow!("the receipt has a {e}"))?;
    let mut found = Vec::with_capacity(entries.len());
    for entry in entries {
        let list = match saved.iter().find(|l| l["id"] == entry.list_url.as_str()) {
            Some(l) => Some(l.clone()),
            None => match source {
                Source::Vault(c) => Some(c.get_url(&entry.list_url)?),
                _ => None,
            },
        };
        found.push((entry, list));
    }
    // Judged at the time they are read: a list fetched just now was signed after `now`.
    status_list::check(&found, keys, Utc::now().max(now)).map_err(anyhow::Error::msg)
}

fn verify_remote(url: &str, token: &str, body: &[u8]) -> anyhow::Result<Value> {
    let endpoint = format!("{}/v1/verify", url.trim_end_matches('/'));
    let resp = reqwest::blocking::Client::new()
        .post(&endpoint)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .with_context(|| format!("POST {endpoint}"))?;
    let status = resp.status();
    let value: Value = resp
        .json()
        .with_context(|| format!("reading the answer of {endpoint}"))?;
    if !status.is_success() {
        bail!("{endpoint} answered {status}: {value}");
    }
    Ok(value)
}

/// Reads a running vault's public endpoints (no token needed).
struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::blocking::Client::new(),
        }
    }

    fn get_url(&self, url: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let bytes = resp.bytes().with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            bail!(
                "GET {url} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        crate::jcs::parse(&bytes).with_context(|| format!("{url} did not answer I-JSON"))
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.get_url(&format!("{}{path}", self.base))
    }

    /// The catalogue, matters, the issuing agency named by the document, and the vault's key.
    fn registries(&self, doc: &Value) -> anyhow::Result<(Registries, VaultKeys)> {
        let vault_keys: VaultKeys =
            serde_json::from_value(self.get("/v1/vault/keys")?["keys"].clone())
                .context("/v1/vault/keys")?;
        let mut types = Vec::new();
        for mut entry in self.get("/v1/catalogue")?["types"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            // The catalogue adds the derived `matters` to each type.
            if let Some(o) = entry.as_object_mut() {
                o.remove("matters");
            }
            types.push(
                crate::jcs::deserialize::<LicenceType>(&entry)
                    .map_err(|e| anyhow::anyhow!("catalogue: {}", e.message))?,
            );
        }
        let matters: Vec<Matter> =
            serde_json::from_value(self.get("/v1/matters")?["matters"].clone())
                .context("/v1/matters")?;
        let mut agencies = Vec::new();
        // A stamped copy's licence is embedded: its issuing agency is the one to fetch.
        let licence = match doc.pointer("/credentialSubject/document") {
            Some(embedded) if copy::is_stamped_copy(doc) => embedded,
            _ => doc,
        };
        if let Ok(lic) = Licence::parse(licence) {
            agencies.push(
                crate::jcs::deserialize::<Agency>(
                    &self.get(&format!("/v1/agencies/{}", lic.issuer))?,
                )
                .map_err(|e| anyhow::anyhow!("agency: {}", e.message))?,
            );
        }
        Ok((
            Registries::new(types, matters, agencies, Vec::new()),
            vault_keys,
        ))
    }
}
