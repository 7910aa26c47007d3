//! Demo seeding for `serve --demo`: registries from `fixtures/`, sample licences, and one token per
//! demo principal written to `DATA/demo-tokens.json`. Also the admin bootstrap of a plain `serve`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, Context as _};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role};
use crate::registry::{Agency, LicenceType, Matter, Requester};
use crate::store::{Change, Table};
use crate::vault::{layout, Deposited, Vault, VaultError};

/// The tokens `serve --demo` writes (SPEC §8).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DemoTokens {
    pub admin: String,
    pub issuers: BTreeMap<String, String>,
    pub requesters: BTreeMap<String, String>,
    pub holders: BTreeMap<String, String>,
    /// The oversight body's token (objections, SPEC §17), by its name.
    #[serde(default)]
    pub supervisors: BTreeMap<String, String>,
}

/// The demo's supervisor: the city's data authority.
pub const DEMO_SUPERVISOR: &str = "fz-dsj";

#[derive(Deserialize)]
struct TypesFile {
    types: Vec<LicenceType>,
}
#[derive(Deserialize)]
struct MattersFile {
    matters: Vec<Matter>,
}
#[derive(Deserialize)]
struct AgenciesFile {
    agencies: Vec<Agency>,
}
#[derive(Deserialize)]
struct RequestersFile {
    requesters: Vec<Requester>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentsFile {
    consents: Vec<DemoConsent>,
}
/// A demo holder's consent; it expires [`DEMO_CONSENT_DAYS`] after seeding.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DemoConsent {
    /// `codeType:code` of a holder of the sample licences.
    holder: String,
    requester: String,
    matter: String,
    purpose: String,
    types: Vec<crate::codes::TypeCode>,
    #[serde(default)]
    max_uses: Option<u32>,
}

/// How long the demo consents last from the moment they are seeded.
pub const DEMO_CONSENT_DAYS: i64 = 180;

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value =
        crate::jcs::parse(&bytes).with_context(|| format!("{} is not I-JSON", path.display()))?;
    crate::jcs::deserialize(&value)
        .map_err(|e| anyhow::anyhow!("{}: {} {}", path.display(), e.path, e.message))
}

/// The licence catalogue of a fixtures directory (`catalogue.json`).
pub fn catalogue(fixtures: &Path) -> anyhow::Result<Vec<LicenceType>> {
    Ok(read_json::<TypesFile>(&fixtures.join("catalogue.json"))?.types)
}

/// The matters of a fixtures directory (`matters.json`).
pub fn matters(fixtures: &Path) -> anyhow::Result<Vec<Matter>> {
    Ok(read_json::<MattersFile>(&fixtures.join("matters.json"))?.matters)
}

/// The issuing agencies of a fixtures directory (`agencies.json`).
pub fn agencies(fixtures: &Path) -> anyhow::Result<Vec<Agency>> {
    Ok(read_json::<AgenciesFile>(&fixtures.join("agencies.json"))?.agencies)
}

/// The sample licences in `fixtures/licences/`, in file-name order.
pub fn sample_licences(fixtures: &Path) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    let dir = fixtures.join("licences");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((name, read_json(&p)?))
        })
        .collect()
}

fn already(e: VaultError) -> anyhow::Result<()> {
    match e {
        VaultError::Rejected(r) if r.reason == crate::verdict::Reason::Conflict => Ok(()),
        other => Err(other.into()),
    }
}

/// Loads the demo registries and licences into `vault` (first start only) and writes the tokens.
pub fn seed(vault: &Vault, fixtures: &Path, data: &Path) -> anyhow::Result<()> {
    let tokens_path = data.join("demo-tokens.json");
    if vault
        .store()
        .get(Table::Meta, layout::DEMO_SEEDED)?
        .is_some()
        && tokens_path.exists()
    {
        tracing::info!("demo data already seeded");
        return seed_requests(vault, fixtures, Utc::now());
    }
    for a in agencies(fixtures)? {
        vault.create_agency(a).or_else(already)?;
    }
    for t in catalogue(fixtures)? {
        vault.put_type(t)?;
    }
    for m in matters(fixtures)? {
        vault.put_matter(m)?;
    }
    let requesters: RequestersFile = read_json(&fixtures.join("requesters.json"))?;
    for r in requesters.requesters {
        vault.put_requester(r)?;
    }
    let samples = sample_licences(fixtures)?;
    let docs: Vec<_> = samples.iter().map(|(_, d)| d.clone()).collect();
    let now = Utc::now();
    let mut holders = std::collections::BTreeSet::new();
    // Versions chain onto their predecessors, so deposit in file order, one at a time.
    for ((name, doc), r) in samples.iter().zip(
        docs.iter()
            .map(|d| vault.deposit_batch(None, std::slice::from_ref(d), now)),
    ) {
        match r?.pop() {
            Some(Ok(Deposited::Created(_) | Deposited::Existing(_))) => {
                let lic = crate::licence::Licence::parse(doc)
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                holders.insert(lic.holder);
            }
            Some(Err(e)) => bail!("sample licence {name} was refused: {e}"),
            None => bail!("sample licence {name}: no result"),
        }
    }

    let consents = fixtures.join("consents.json");
    if consents.exists() {
        seed_consents(vault, &consents, now)?;
    }
    seed_requests(vault, fixtures, now)?;
    seed_delegations(vault, fixtures, now)?;

    let reg = vault.registries();
    let mut tokens = DemoTokens {
        admin: vault.create_token(&Principal::Admin, now)?.1,
        ..Default::default()
    };
    for uscc in reg.agencies.keys() {
        tokens.issuers.insert(
            uscc.to_string(),
            vault.create_token(&Principal::Issuer(uscc.clone()), now)?.1,
        );
    }
    tokens.supervisors.insert(
        DEMO_SUPERVISOR.to_owned(),
        vault
            .create_token(&Principal::Supervisor(DEMO_SUPERVISOR.to_owned()), now)?
            .1,
    );
    for id in reg.requesters.keys() {
        tokens.requesters.insert(
            id.clone(),
            vault
                .create_token(&Principal::Requester(id.clone()), now)?
                .1,
        );
    }
    for h in holders {
        let key = h.key();
        tokens
            .holders
            .insert(key, vault.create_token(&Principal::Holder(h), now)?.1);
    }
    write_private(&tokens_path, &serde_json::to_vec_pretty(&tokens)?)?;
    let mut c = Change::durable();
    c.put(
        Table::Meta,
        layout::DEMO_SEEDED,
        now.to_rfc3339().into_bytes(),
    );
    vault.store().commit(c)?;
    tracing::info!(licences = samples.len(), path = %tokens_path.display(), "demo data seeded; tokens written");
    Ok(())
}

/// Grants the demo consents of `path`, skipping any holder that already consented to the same
/// requester for the same matter (so a re-run seed does not duplicate them).
fn seed_consents(vault: &Vault, path: &Path, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let file: ConsentsFile = read_json(path)?;
    for (i, c) in file.consents.into_iter().enumerate() {
        let holder: crate::codes::HolderCode = c
            .holder
            .parse()
            .with_context(|| format!("{}: consents[{i}].holder", path.display()))?;
        let exists = vault
            .consents(&holder)?
            .iter()
            .any(|k| k.requester == c.requester && k.matter == c.matter);
        if exists {
            continue;
        }
        let new = crate::reuse::NewConsent {
            requester: c.requester,
            matter: c.matter,
            purpose: c.purpose,
            types: c.types,
            licences: Vec::new(),
            expires_at: now + chrono::Duration::days(DEMO_CONSENT_DAYS),
            max_uses: c.max_uses,
        };
        vault
            .create_consent(
                &crate::reuse::delegation::Acting::own(holder.clone()),
                new,
                now,
            )
            .with_context(|| format!("{}: consents[{i}] was refused", path.display()))?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegationsFile {
    delegations: Vec<DemoDelegation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DemoDelegation {
    company: String,
    delegate: String,
    delegate_name: Option<String>,
    scope: crate::reuse::delegation::Scope,
}

/// Grants the demo delegations of `delegations.json` for a year, each by the company itself
/// (through the legal representative its 营业执照 names).
fn seed_delegations(
    vault: &Vault,
    fixtures: &Path,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let path = fixtures.join("delegations.json");
    if !path.exists() {
        return Ok(());
    }
    let file: DelegationsFile = read_json(&path)?;
    for (i, d) in file.delegations.into_iter().enumerate() {
        let at = |what: &str| format!("{}: delegations[{i}].{what}", path.display());
        let company: crate::codes::HolderCode = d.company.parse().with_context(|| at("company"))?;
        let delegate = d.delegate.parse().with_context(|| at("delegate"))?;
        let new = crate::reuse::delegation::NewDelegation {
            delegate,
            delegate_name: d.delegate_name,
            scope: d.scope,
            expires_at: now + chrono::Duration::days(365),
        };
        vault
            .create_delegation(&crate::reuse::delegation::Acting::own(company), new, now)
            .with_context(|| at("was refused"))?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestsFile {
    requests: Vec<DemoRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoRequest {
    holder: String,
    requester: String,
    matter: String,
    purpose: String,
}

/// Makes sure each consent request of `requests.json` is pending (asked again, for 24 hours,
/// when the last one was answered or expired), so every start of the demo has one to answer.
fn seed_requests(vault: &Vault, fixtures: &Path, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let path = fixtures.join("requests.json");
    if !path.exists() {
        return Ok(());
    }
    let file: RequestsFile = read_json(&path)?;
    for (i, r) in file.requests.into_iter().enumerate() {
        let holder: crate::codes::HolderCode = r
            .holder
            .parse()
            .with_context(|| format!("{}: requests[{i}].holder", path.display()))?;
        let pending = vault
            .pending_requests(&holder, now)?
            .iter()
            .any(|p| p.requester == r.requester && p.matter == r.matter);
        if pending {
            continue;
        }
        let new = crate::reuse::request::NewRequest {
            holder,
            matter: r.matter,
            purpose: r.purpose,
            types: None,
            max_uses: Some(1),
            valid_for: None,
            expires_in: Some(crate::reuse::request::MAX_EXPIRES_IN),
        };
        vault
            .request_consent(&r.requester, new, now)
            .with_context(|| format!("{}: requests[{i}] was refused", path.display()))?;
    }
    Ok(())
}

/// On a fresh non-demo vault, creates the first admin token and writes it to `DATA/admin-token`
/// (mode 0600): tokens are shown once and never logged.
pub fn bootstrap_admin(vault: &Vault, data: &Path) -> anyhow::Result<()> {
    if vault.has_admin_token()? {
        return Ok(());
    }
    let (_, token) = vault.create_token(&Principal::Admin, Utc::now())?;
    let path = data.join("admin-token");
    write_private(&path, format!("{token}\n").as_bytes())?;
    eprintln!(
        "created the first admin token in {} (readable only by you); keep it safe",
        path.display()
    );
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A demo principal the pages offer for sign-in (`serve --demo` only).
#[derive(Clone)]
pub struct SignInChoice {
    pub role: Role,
    /// Shown on the sign-in list: a name and a masked code.
    pub label: String,
    pub token: String,
}

impl std::fmt::Debug for SignInChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInChoice")
            .field("role", &self.role)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// The demo principals the pages offer for sign-in (SPEC §12): every demo holder (named from its
/// licences), every approval system and every agency, with the tokens `seed` wrote. Labels carry
/// masked holder codes only.
pub fn sign_in_choices(vault: &Vault, data: &Path) -> anyhow::Result<Vec<SignInChoice>> {
    let tokens: DemoTokens = read_json(&data.join("demo-tokens.json"))?;
    let reg = vault.registries();
    let now = Utc::now();
    let mut out = Vec::new();
    for (key, token) in &tokens.holders {
        let holder: crate::codes::HolderCode = key.parse()?;
        let name = vault
            .holder_licences(&holder, now)?
            .into_iter()
            .find_map(|e| e.licence.map(|l| l.holder_name))
            .unwrap_or_default();
        out.push(SignInChoice {
            role: Role::Holder,
            label: format!("{name} · {holder}"),
            token: token.clone(),
        });
    }
    for (id, token) in &tokens.requesters {
        let name = reg
            .requesters
            .get(id)
            .map_or(id.as_str(), |r| r.name.as_str());
        out.push(SignInChoice {
            role: Role::Requester,
            label: format!("{name} · {id}"),
            token: token.clone(),
        });
    }
    for (name, token) in &tokens.supervisors {
        out.push(SignInChoice {
            role: Role::Supervisor,
            label: format!("监督机构 · {name}"),
            token: token.clone(),
        });
    }
    for (uscc, token) in &tokens.issuers {
        let name = uscc
            .parse()
            .ok()
            .and_then(|u| reg.agencies.get(&u))
            .map_or(uscc.clone(), |a| a.name.clone());
        out.push(SignInChoice {
            role: Role::Issuer,
            label: format!("{name} · {uscc}"),
            token: token.clone(),
        });
    }
    Ok(out)
}

/// Tells the person who started the demo how to try it.
pub fn print_walkthrough(addr: SocketAddr, data: &Path) {
    let tokens = data.join("demo-tokens.json");
    eprintln!(
        "\nlicence-vault demo is running at http://{addr}\n\
         tokens: {tokens}\n\n\
         try:\n  \
         curl -s http://{addr}/v1/catalogue\n  \
         ADMIN=$(python3 -c 'import json;print(json.load(open(\"{t}\"))[\"admin\"])')\n  \
         HOLDER=$(python3 -c 'import json;print(list(json.load(open(\"{t}\"))[\"holders\"].values())[0])')\n  \
         curl -s -H \"Authorization: Bearer $HOLDER\" http://{addr}/v1/me/licences\n\n\
         pages (pick a demo holder, approval system or agency to sign in):\n  \
         holder portal  http://{addr}/me\n  \
         verifier       http://{addr}/verify\n  \
         agency         http://{addr}/agency\n\n\
         the README has the full walk-through; stop with Ctrl-C\n",
        tokens = tokens.display(),
        t = tokens.display(),
    );
}
