//! The `licence-vault` binary: keygen, sign, verify (exit 0/1/2), id, import, and serve --demo
//! with a graceful shutdown.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::*;

#[test]
fn keygen_writes_a_private_key_file_and_a_did_key() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("agency");
    let o = run_cli(&["keygen", "--out", prefix.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let did = std::fs::read_to_string(prefix.with_extension("pub")).unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), did);
    let signer = licence_vault::keys::Signer::from_private_multibase(
        &std::fs::read_to_string(prefix.with_extension("key")).unwrap(),
    )
    .unwrap();
    assert_eq!(signer.did_key().as_str(), did.trim());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(prefix.with_extension("key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // Never overwrites.
    let o = run_cli(&["keygen", "--out", prefix.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn sign_then_verify_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned = write_json(
        dir.path(),
        "unsigned.json",
        &business_licence("CLI0001", COMPANY),
    );
    let key_path = root().join("keys/scjgj.key");
    let o = run_cli(&[
        "sign",
        "--key",
        key_path.to_str().unwrap(),
        "--in",
        &unsigned,
        "--created",
        "2024-06-01T08:00:00Z",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let signed = stdout_json(&o);
    // The CLI's signature is the library's, byte for byte (Ed25519 is deterministic).
    assert_eq!(signed, sign(&business_licence("CLI0001", COMPANY), "scjgj"));
    let signed_path = write_json(dir.path(), "signed.json", &signed);
    let registry = registry_file(dir.path(), key("vault").did_key());

    let o = run_cli(&["verify", "--in", &signed_path, "--registry", &registry]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = stdout_json(&o);
    assert_eq!(v["valid"], true);
    assert_eq!(
        check(&v, "status")["ok"],
        Value::Null,
        "status cannot be checked offline, so it is not passed"
    );

    // Without a registry, registry checks are reported as not checked, never as passed.
    let o = run_cli(&["verify", "--in", &signed_path]);
    assert_eq!(o.status.code(), Some(0));
    let v = stdout_json(&o);
    for name in ["schema", "issuer_key", "issuer"] {
        assert_eq!(check(&v, name)["ok"], Value::Null, "{name}");
    }

    let mut tampered = signed.clone();
    tampered["credentialSubject"]["holder"]["name"] = json!("李四");
    let tampered_path = write_json(dir.path(), "tampered.json", &tampered);
    let o = run_cli(&["verify", "--in", &tampered_path, "--registry", &registry]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout_json(&o)["checks"][2]["code"], "bad_signature");

    // Unusable input: not JSON, ambiguous JSON, no proof.
    let not_json = dir.path().join("x.json");
    std::fs::write(&not_json, "hello").unwrap();
    let dup = dir.path().join("dup.json");
    std::fs::write(&dup, r#"{"a":1,"a":2,"proof":{}}"#).unwrap();
    for path in [not_json.to_str().unwrap(), dup.to_str().unwrap(), &unsigned] {
        let o = run_cli(&["verify", "--in", path]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{path}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout.is_empty());
    }
    let o = run_cli(&["verify", "--in", dup.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("malformed_json"));
}

#[test]
fn verify_accepts_any_signed_document_and_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_file(dir.path(), key("vault").did_key());
    let vc = read_json("fixtures/conformance/eddsa-jcs-2022/signedJCS.json");
    let mut child = cli_command()
        .args(["verify", "--in", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&vc).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v = stdout_json(&o);
    assert_eq!(v["checks"][0]["check"], "signature");
    assert_eq!(v["checks"][1]["ok"], Value::Null);
    // With a registry, a document signed by a key the registry does not trust for vault documents fails.
    let path = write_json(dir.path(), "vc.json", &vc);
    let o = run_cli(&["verify", "--in", &path, "--registry", &registry]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout_json(&o)["checks"][1]["code"], "unknown_key");
}

#[test]
fn id_check_and_new() {
    let o = run_cli(&[
        "id",
        "check",
        "urn:gbt36904:1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = stdout_json(&o);
    assert_eq!(
        (
            v["serial"].as_str(),
            v["version"].as_str(),
            v["issuerCode"].as_str()
        ),
        (Some("2430599"), Some("001"), Some("11220000013544541J"))
    );
    let o = run_cli(&[
        "id",
        "check",
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.G",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = stdout_json(&o);
    assert_eq!(v["code"], "invalid_identifier");
    assert_eq!(v["message"], "check character is 'G', expected 'F'");
    let o = run_cli(&[
        "id",
        "new",
        "--type",
        "11100000000013338W032",
        "--issuer",
        "11220000013544541J",
        "--serial",
        "2430599",
    ]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F\n"
    );
    let o = run_cli(&[
        "id",
        "new",
        "--type",
        "11100000000013338W032",
        "--issuer",
        "11220000013544541K",
        "--serial",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--issuer 11220000013544541K"));
}

/// `gen --out -` writes licences and nothing else on stdout (it feeds `import --in -`); its
/// summary goes to stderr.
#[test]
fn gen_to_stdout_writes_only_licences_there() {
    let o = run_cli(&[
        "gen", "--count", "7", "--seed", "3", "--out", "-", "--quiet",
    ]);
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    assert!(lines
        .iter()
        .all(|l| l["id"].as_str().unwrap().starts_with("urn:gbt36904:")));
    let stderr = String::from_utf8(o.stderr).unwrap();
    let summary: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(summary["count"], 7);
}

#[test]
fn import_deposits_jsonl_and_summarises_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A data directory bound to the demo vault key, with the demo registries.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(root().join("keys/vault.key"), data.join("vault.key")).unwrap();
    {
        let vault = licence_vault::cli::open_vault(&data, None, None, vec![]).unwrap();
        seed_registries(&vault);
    }
    let mut lines = String::new();
    for i in 0..25 {
        lines.push_str(
            &serde_json::to_string(&sign(
                &business_licence(&format!("IMP{i:04}"), COMPANY),
                "scjgj",
            ))
            .unwrap(),
        );
        lines.push('\n');
    }
    let mut tampered = sign(&business_licence("IMPBAD", COMPANY), "scjgj");
    tampered["validFrom"] = json!("2024-03-02T00:00:00Z");
    lines.push_str(&serde_json::to_string(&tampered).unwrap());
    lines.push_str("\n{\"dup\":1,\"dup\":2}\n\n");
    lines.push_str(
        &serde_json::to_string(&sign(&business_licence("IMP0000", COMPANY), "scjgj")).unwrap(),
    );
    lines.push('\n');
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let o = run_cli(&[
        "import",
        "--in",
        input.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
        "--batch",
        "10",
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = stdout_json(&o);
    assert_eq!(
        summary,
        json!({"lines": 28, "created": 25, "existing": 1, "rejected": 2, "reasons": {"bad_signature": 1, "malformed_json": 1}})
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("25 created, 1 already present, 2 rejected"),
        "{stderr}"
    );
    let rejected: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0]["line"].as_u64(), rejected[0]["code"].as_str()),
        (Some(26), Some("bad_signature"))
    );
    assert_eq!(
        (
            rejected[1]["line"].as_u64(),
            rejected[1]["code"].as_str(),
            rejected[1]["field"].as_str()
        ),
        (Some(27), Some("malformed_json"), Some("$.dup"))
    );
    // Running the same import again (what to do after an interrupted one) adds nothing twice.
    let again = run_cli(&[
        "import",
        "--in",
        input.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--batch",
        "7",
        "--quiet",
    ]);
    assert_eq!(
        stdout_json(&again),
        json!({"lines": 28, "created": 0, "existing": 26, "rejected": 2, "reasons": {"bad_signature": 1, "malformed_json": 1}})
    );
    // The imported licences are in the vault, verified on read.
    let vault = licence_vault::cli::open_vault(&data, None, None, vec![]).unwrap();
    let holder: licence_vault::codes::HolderCode = format!("001:{COMPANY}").parse().unwrap();
    let mine = vault.holder_licences(&holder, chrono::Utc::now()).unwrap();
    assert_eq!(mine.len(), 25);
    assert!(mine.iter().all(|e| e.verdict.valid));
    // Import defers receipt signing to the first read; the receipt is then signed by the vault,
    // dated at the deposit, and the same bytes every time (Ed25519 is deterministic).
    let e = &mine[0];
    assert!(e.meta.receipt.is_none());
    let receipt = vault.receipt_of(&e.id, &e.meta).unwrap();
    assert_eq!(receipt, vault.receipt_of(&e.id, &e.meta).unwrap());
    assert_eq!(
        receipt["credentialSubject"]["depositedAt"],
        licence_vault::proof::format_time(e.meta.deposited_at)
    );
    let v = licence_vault::verify::document(
        &receipt,
        Some(&vault.key_history().unwrap()),
        chrono::Utc::now(),
    );
    assert!(v.valid, "{v:?}");
}

#[test]
fn a_data_directory_refuses_another_vault_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    drop(licence_vault::cli::open_vault(data, None, None, vec![]).unwrap());
    let other = root().join("keys/vault.key");
    let err = licence_vault::cli::open_vault(data, Some(&other), None, vec![]).unwrap_err();
    assert!(
        format!("{err:#}").contains("this data directory belongs to vault key"),
        "{err:#}"
    );
}

/// `serve --demo` on `data` at a free port, once it answers `/healthz`: the child and its base URL.
#[test]
fn serve_demo_seeds_serves_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, base) = serve_demo(&data);
    let client = reqwest::blocking::Client::new();
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    assert!(tokens["admin"].is_string());
    assert_eq!(tokens["issuers"].as_object().unwrap().len(), 5);
    assert_eq!(tokens["requesters"].as_object().unwrap().len(), 4);
    let (holder, token) = tokens["holders"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let mine: Value = client
        .get(format!("{base}/v1/me/licences"))
        .bearer_auth(token.as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let list = mine["licences"].as_array().unwrap();
    assert!(!list.is_empty(), "{holder} has no licences");
    assert!(list
        .iter()
        .all(|l| l["verdict"]["valid"] == true || l["status"] == "superseded"));

    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(err.contains("shutting down: flushing the store"), "{err}");
        assert!(
            !err.contains(tokens["admin"].as_str().unwrap()),
            "a token reached the log"
        );
    }
    #[cfg(not(unix))]
    child.kill().unwrap();
}

/// A pull answered is a pull recorded: killed without warning right after answering (no flush,
/// no clean close), the vault comes back with every access record, replayed from its write-ahead
/// log.
#[cfg(unix)]
#[test]
fn an_answered_pull_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, base) = serve_demo(&data);
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let client = reqwest::blocking::Client::new();
    let holder = "111:350105199011280350";
    let mut records = Vec::new();
    for _ in 0..3 {
        let pull: Value = client
            .post(format!("{base}/v1/reuse"))
            .bearer_auth(tokens["requesters"]["fz-ga-zwfw"].as_str().unwrap())
            .json(&json!({"holder": holder, "matter": "350100-JJ-002", "purpose": "受理驾驶证期满换证"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        records.push(pull["accessRecord"].as_str().unwrap().to_owned());
    }
    assert!(Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();

    let (mut child, base) = serve_demo(&data);
    let log: Value = client
        .get(format!("{base}/v1/me/access-log"))
        .bearer_auth(tokens["holders"][holder].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut found: Vec<String> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    records.sort();
    assert_eq!(found, records);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sign_refuses_what_the_data_model_forbids_and_signs_presentations_for_a_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = root().join("keys/scjgj.key");
    let key_path = key_path.to_str().unwrap();
    let issuer = key("scjgj").did_key().as_str().to_owned();
    let vc = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": issuer,
        "credentialSubject": {"id": "did:example:subject"}
    });
    for (member, value, field) in [
        ("credentialSubject", json!({}), "$.credentialSubject[0]"),
        ("evidence", json!({}), "$.evidence[0].type"),
        (
            "validFrom",
            json!("Sat 25 Feb 2023 07:16:31 PM CST"),
            "$.validFrom",
        ),
    ] {
        let mut bad = vc.clone();
        bad[member] = value;
        let path = write_json(dir.path(), "bad.json", &bad);
        let o = run_cli(&["sign", "--key", key_path, "--in", &path]);
        assert_eq!(o.status.code(), Some(2), "{member}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("not a VC 2.0 credential ({field}:")),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }

    // A presentation signed as its holder answers the challenge, and the vault's verifier
    // takes it.
    let vp = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": issuer,
    });
    let path = write_json(dir.path(), "vp.json", &vp);
    let o = run_cli(&[
        "sign",
        "--key",
        key_path,
        "--in",
        &path,
        "--presentation",
        "--challenge",
        "c-1",
        "--domain",
        "verifier.example.org",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let signed = stdout_json(&o);
    assert_eq!(
        (
            &signed["proof"]["proofPurpose"],
            &signed["proof"]["challenge"],
            &signed["proof"]["domain"]
        ),
        (
            &json!("authentication"),
            &json!("c-1"),
            &json!("verifier.example.org")
        )
    );
    let judged = licence_vault::verify::presentation::check(
        &signed,
        licence_vault::verify::presentation::Expected {
            challenge: Some("c-1"),
            domain: Some("verifier.example.org"),
            challenge_refused: None,
        },
        chrono::Utc::now(),
        |_| unreachable!("no credentials"),
    );
    assert!(judged.verdict.valid, "{:?}", judged.verdict);
    // A did:key named as issuer or holder must be the signer's.
    let stranger = licence_vault::keys::Signer::generate();
    for (doc, extra) in [
        (
            json!({"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"],
                "issuer": stranger.did_key().as_str(), "credentialSubject": {"id": "did:example:s"}}),
            None,
        ),
        (
            json!({"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation"],
                "holder": {"id": stranger.did_key().as_str()}}),
            Some("--presentation"),
        ),
    ] {
        let path = write_json(dir.path(), "stranger.json", &doc);
        let mut args = vec!["sign", "--key", key_path, "--in", &path];
        args.extend(extra);
        let o = run_cli(&args);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("does not control the signing key did:key:"),
            "{err}"
        );
    }
    // A challenge without --presentation is refused by the parser.
    let o = run_cli(&[
        "sign",
        "--key",
        key_path,
        "--in",
        &path,
        "--challenge",
        "c-1",
    ]);
    assert_eq!(o.status.code(), Some(2));
}
