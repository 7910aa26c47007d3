//! A full disk, on a real 48 MiB tmpfs (`scripts/tmpfs.sh`) under the real server: writes are
//! refused with `503 storage_full`, readiness says so while liveness stays up, nothing
//! acknowledged is lost, and once space is freed the vault writes again without a restart.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::*;

/// The tmpfs, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        let script = root().join("scripts/tmpfs.sh");
        let ok = Command::new(&script)
            .args(["mount", dir.to_str().unwrap(), size])
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "scripts/tmpfs.sh could not mount a tmpfs at {}",
            dir.display()
        );
        Self(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/tmpfs.sh"))
            .args(["umount", self.0.to_str().unwrap()])
            .status();
    }
}

#[cfg(unix)]
#[test]
fn a_full_disk_is_503_storage_full_and_the_vault_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    let _mount = Tmpfs::mount(&disk, "48m");
    let data = disk.join("data");
    let (mut child, base) = serve_demo(&data);
    let client = reqwest::blocking::Client::new();
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let holder = tokens["holders"]["111:350102198503120130"]
        .as_str()
        .unwrap();
    let grant = |n: usize| {
        client
            .post(format!("{base}/v1/me/consents"))
            .bearer_auth(holder)
            .json(&json!({"requester": "fz-gjj", "matter": "350100-GJJ-001",
                          "purpose": format!("第{n}次提取{}", "住房公积金".repeat(60)),
                          "types": [ID_CARD], "expiresAt": in_days(30)}))
            .send()
            .unwrap()
    };
    let get = |path: &str| client.get(format!("{base}{path}")).send().unwrap();
    let consents = || -> Vec<String> {
        let v: Value = client
            .get(format!("{base}/v1/me/consents"))
            .bearer_auth(holder)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["consents"]
            .as_array()
            .unwrap()
            .iter()
            .rev() // oldest first, as acknowledged
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut acknowledged: Vec<String> = consents();
    let r = grant(0);
    assert_eq!(r.status(), 201);
    acknowledged.push(
        r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    // Fill the disk to the last byte.
    let filler = disk.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 1 << 20];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    // A write or two may still fit in the space RocksDB allocated to its log before the disk
    // filled; once one is refused, every later one is, until there is space again.
    let mut refused = 0;
    for n in 1..=20 {
        let r = grant(n);
        match r.status().as_u16() {
            201 if refused == 0 => acknowledged.push(
                r.json::<Value>().unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            503 => {
                assert_eq!(r.headers()["retry-after"], "30");
                let e: Value = r.json().unwrap();
                assert_eq!(e["error"]["code"], "storage_full", "{e}");
                refused += 1;
            }
            other => panic!(
                "a write on a full disk answered {other}: {}",
                r.text().unwrap()
            ),
        }
    }
    assert!(refused >= 16, "only {refused} of 20 writes were refused");
    // Reads still work; liveness is up but says degraded; readiness is 503.
    assert_eq!(consents(), acknowledged);
    let live = get("/healthz");
    assert_eq!(live.status(), 200);
    assert_eq!(live.text().unwrap(), "degraded: storage_full\n");
    let ready = get("/readyz");
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().unwrap()["error"]["code"],
        "storage_full"
    );

    // Space is freed: the vault writes again by itself, with nothing acknowledged lost.
    std::fs::remove_file(&filler).unwrap();
    let mut back = false;
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if get("/readyz").status() == 200 {
            back = true;
            break;
        }
    }
    assert!(back, "the vault did not recover after space was freed");
    assert_eq!(get("/healthz").text().unwrap(), "ok\n");
    let r = grant(99);
    assert_eq!(r.status(), 201, "{:?}", r.text());
    acknowledged.push(
        r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(consents(), acknowledged);

    // And after a kill and a restart, every acknowledged write is there.
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, base2) = serve_demo(&data);
    let v: Value = client
        .get(format!("{base2}/v1/me/consents"))
        .bearer_auth(holder)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = v["consents"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, acknowledged);
    child.kill().unwrap();
    child.wait().unwrap();
}
