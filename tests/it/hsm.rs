//! The vault key in a hardware security module (SPEC §18), against SoftHSM2 as the PKCS#11
//! module, with real processes: the key is made inside the token and never leaves it; the vault
//! signs through it; a wrong PIN or a missing key refuses to start; a key removed from the token
//! while the vault serves makes signing answer 503 with nothing written, and a rotation (a new
//! key made inside the token) recovers.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A throwaway SoftHSM2 token labelled `lv` (user PIN 1234) under `dir`; the configuration file.
fn token(dir: &Path) -> String {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is not installed: run scripts/install-deps.sh"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_owned();
    let o = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "lv",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    conf
}

fn get(url: &str) -> (u16, Value) {
    let r = reqwest::blocking::get(url).unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

#[test]
fn the_vault_signs_through_the_module_and_recovers_from_a_lost_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = token(dir.path());
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234\n").unwrap();
    let uri = |object: &str| {
        format!(
            "pkcs11:token=lv;object={object}?module-path={MODULE}&pin-source=file:{}",
            pin.display()
        )
    };
    let env = [("SOFTHSM2_CONF", conf.as_str())];

    // The key ceremony: made inside the token; only its did:key comes out.
    let o = cli_command()
        .envs(env)
        .args(["keygen", "--out", &uri("vault")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let did = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    assert!(did.starts_with("did:key:z6Mk"), "{did}");

    // A wrong PIN, a missing key: the vault does not start, and says why.
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let wrong = format!("pkcs11:token=lv;object=vault?module-path={MODULE}&pin-value=0000");
    for (key, why) in [
        (wrong.as_str(), "is the PIN right?"),
        (
            &uri("missing") as &str,
            "has no Ed25519 key labelled missing",
        ),
    ] {
        let o = cli_command()
            .envs(env)
            .args([
                "serve",
                "--data",
                d,
                "--listen",
                "127.0.0.1:0",
                "--vault-key",
                key,
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{err}");
        assert!(!err.contains("0000"), "the PIN is never shown: {err}");
    }

    // On PostgreSQL too when the suite runs there (`make test-pg`).
    let key = uri("vault");
    let schema = pg_schema(&data);
    let mut args = vec!["--vault-key", key.as_str()];
    let pg = test_pg();
    if let Some(url) = &pg {
        args.extend(["--store", url.as_str(), "--pg-schema", schema.as_str()]);
    }
    let (child, base) = serve_demo_env(&data, &args, &env);
    let mut child = Killed(child);
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let admin = tokens["admin"].as_str().unwrap().to_owned();
    assert_eq!(get(&format!("{base}/v1/vault")).1["didKey"], did.as_str());
    let list = format!("{base}/v1/status-lists/{MARKET}/revocation/0");
    let (s, signed) = get(&list);
    assert_eq!(s, 200, "{signed}");
    assert_eq!(signer_of(&signed), Some(did.as_str()));
    // An outside check of what the module signed, with the published history.
    let file = write_json(dir.path(), "list.json", &signed);
    let (c, v) = cli(&["verify", "--in", &file, "--vault", &base]);
    assert_eq!((c, v["valid"].clone()), (Some(0), Value::Bool(true)), "{v}");

    // The key disappears from the token while the vault serves: 503, and it says which reason.
    let o = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--module",
            MODULE,
            "--token-label",
            "lv",
            "--login",
            "--pin",
            "1234",
            "--delete-object",
            "--type",
            "privkey",
            "--label",
            "vault",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (s, e) = get(&list);
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (503, Value::from("vault_key_unavailable")),
        "{e}"
    );

    // A rotation makes a new key inside the token; the next request signs with it.
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/v1/admin/vault/keys/rotate"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reason": "key lost in the module"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let new: Value = r.json().unwrap();
    let (s, signed) = get(&list);
    assert_eq!(s, 200, "{signed}");
    assert_eq!(signer_of(&signed), new["didKey"].as_str());
    // A backup of the serving vault holds no private key; it restores with the token's key.
    if pg.is_none() {
        let admin_file = dir.path().join("admin");
        std::fs::write(&admin_file, &admin).unwrap();
        let b = dir.path().join("backup");
        let o = cli_command()
            .envs(env)
            .args(["backup", "--data", d, "--to", b.to_str().unwrap()])
            .args(["--token-file", admin_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!b.join("keys/vault.key").exists());
        let r = dir.path().join("restored");
        let o = cli_command()
            .envs(env)
            .args([
                "restore",
                "--from",
                b.to_str().unwrap(),
                "--data",
                r.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("give --vault-key"));
        let o = cli_command()
            .envs(env)
            .args([
                "restore",
                "--from",
                b.to_str().unwrap(),
                "--data",
                r.to_str().unwrap(),
            ])
            .args(["--vault-key", &uri("vault")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(!log.contains("1234"), "the PIN is never logged");
}

/// A child process killed when the test ends, failed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The did:key whose key signed `doc` (its proof's verification method without the fragment).
fn signer_of(doc: &Value) -> Option<&str> {
    doc["proof"]["verificationMethod"]
        .as_str()?
        .split('#')
        .next()
}
