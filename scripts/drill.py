#!/usr/bin/env python3
"""The disaster drill (SPEC §18): on both engines, writes under load, a backup, more writes,
SIGKILL, the data wiped, restore, start; every write acknowledged before the backup is there and
verifies, and the vault tells, at start and in /healthz, that it was restored and from when.

    scripts/drill.py BINARY [--engine rocksdb|postgres|both] [--seed S]

The load, from 3 client threads: deposits of synthetic signed licences and pulls (each writes an
access record), every acknowledged one noted with when it was sent and acknowledged.

RocksDB: `serve --demo`; `licence-vault backup` of the serving vault under load; more writes;
SIGKILL; the data directory wiped; `licence-vault restore` into it; `serve` again. Checks that
every write acknowledged before the backup's createdAt reads back (a licence: 200 and a valid
verdict; a pull: its access record in the holder's log), that none sent after the backup was
done is there (what a restore loses: the RPO), that `backup verify` passed, and that restore
refuses a serving target, a non-empty target and a copy of the backup with one byte flipped.

PostgreSQL: a throwaway server archiving its WAL (scripts/pg.sh); `serve --demo --store`; a base
backup with the vault's key files (scripts/pg-backup.sh base) under load; more writes; SIGKILL of
the vault, a WAL switch, PostgreSQL stopped hard; its data and the vault's wiped; the base backup
laid out to recover to the end of the archive (scripts/pg-backup.sh restore), PostgreSQL started,
the key files put back, `licence-vault restore --store` and `serve --store` again. Checks that
every acknowledged write is there, those after the base backup replayed from the archived WAL.

On both, the restored vault logs a WARN at start and /healthz says `restored <time> from a backup
made <time>` with the backup's time. Prints one line per engine (and how long the restore took);
exits 1 on the first failed check. Standard library only; PostgreSQL is Debian's package.
"""

import argparse
import calendar
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
spec = importlib.util.spec_from_file_location("crash_suite", os.path.join(HERE, "crash-suite.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)
call, Violation, free_port, whole_log = crash.call, crash.Violation, crash.free_port, crash.whole_log
CONSENT_PAIRS = crash.CONSENT_PAIRS

THREADS = 3
BEFORE_SECONDS = 1.0  # load before the backup
AFTER_SECONDS = 0.7   # load after it, until the kill


def pg_bin():
    if not os.path.isdir("/usr/lib/postgresql"):
        raise Violation("PostgreSQL is not installed: run scripts/install-deps.sh")
    versions = [os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")]
    return sorted((d for d in versions if os.path.isdir(d)), key=lambda d: [int(x) for x in re.findall(r"\d+", d)])[-1]


def as_postgres(argv):
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


def run(argv, **kw):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, **kw)


def must(argv, what, **kw):
    r = run(argv, **kw)
    if r.returncode != 0:
        raise Violation(f"{what} failed ({r.returncode}): {' '.join(argv)}\n{r.stdout}{r.stderr}")
    return r


class Vault:
    """One `serve` process: with --demo on a fresh data directory, without once restored."""

    def __init__(self, binary, data, log_path, store=None, demo=False):
        self.binary, self.data, self.log_path, self.store, self.demo = binary, data, log_path, store, demo
        self.proc = self.base = None

    def start(self):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        # The writes under load are this drill's own: no rate limit between it and the vault.
        argv = [self.binary, "serve", "--no-rate-limits", "--data", self.data, "--listen", f"127.0.0.1:{port}"]
        argv += ["--demo"] if self.demo else []
        argv += ["--store", self.store] if self.store else []
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=log, stderr=log,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("LICENCE_VAULT_")},
                 "RUST_LOG": "warn"})
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if call(self.base, "GET", "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise Violation(f"the vault exited with {self.proc.returncode} while starting; its log:\n"
                                + open(self.log_path, errors="replace").read()[-2000:])
            time.sleep(0.05)
        raise Violation("the vault did not come up in 60 s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Load:
    """Deposits and pulls from a few threads; every acknowledged write with when it was sent and
    acknowledged (the client's clock, the vault's machine's)."""

    def __init__(self, vault, tokens, licences, seed):
        self.vault, self.tokens, self.licences = vault, tokens, licences
        self.lock = threading.Lock()
        self.writes = []        # (kind, id, who, sent, acknowledged)
        self.sent = {}          # licence id -> the licence, for every deposit sent
        self.unexpected = []    # answers that are neither an acknowledgement nor the kill
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(random.Random(seed * 100 + i),))
                        for i in range(THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def run(self, rng):
        base = self.vault.base
        while not self.stop.is_set():
            with self.lock:
                lic = self.licences.pop() if self.licences and rng.random() < 0.7 else None
                if lic:
                    self.sent[lic["id"]] = lic
            try:
                sent = time.time()
                if lic:
                    uscc = lic["issuer"]["id"].split(":")[-1]
                    s, r = call(base, "POST", "/v1/licences", self.tokens["issuers"][uscc], lic)
                    write = ("deposit", lic["id"], uscc) if s == 201 else None
                else:
                    holder, requester, matter = rng.choice(CONSENT_PAIRS)
                    s, r = call(base, "POST", "/v1/reuse", self.tokens["requesters"][requester],
                                {"holder": holder, "matter": matter, "purpose": "灾备演练"})
                    write = ("pull", r["accessRecord"], holder) if s == 200 else None
                acknowledged = time.time()
                with self.lock:
                    if write:
                        self.writes.append(write + (sent, acknowledged))
                    elif not self.stop.is_set():
                        self.unexpected.append(f"{'a deposit' if lic else 'a pull'} answered {s}: {r}")
            except (OSError, urllib.error.URLError, KeyError, ValueError, TypeError):
                # The vault was killed mid-request: nothing about this one was acknowledged.
                if not self.stop.is_set():
                    time.sleep(0.01)


def licences_to_deposit(binary, work, count, seed):
    out = os.path.join(work, "licences.jsonl")
    must([binary, "gen", "--count", str(count), "--out", out, "--seed", str(seed), "--quiet"], "gen")
    licences = [json.loads(line) for line in open(out, encoding="utf-8")]
    # Only first versions: a renewal's predecessor may not be there yet.
    return [l for l in licences if l["credentialSubject"]["licence"]["version"] == "001"]


def present(vault, tokens, writes):
    """Of `writes`, which read back: a licence as 200 with a valid verdict, a pull as an access
    record in its holder's log. A licence that reads back invalid, or any other answer, fails."""
    found = set()
    logs = {}
    for kind, wid, who, _, _ in writes:
        if kind == "deposit":
            s, view = call(vault.base, "GET", f"/v1/licences/{wid}", tokens["issuers"][who])
            if s == 404:
                continue
            if s != 200:
                raise Violation(f"licence {wid} reads {s}: {view}")
            if view["status"] != "active" or not view["verdict"]["valid"]:
                raise Violation(f"licence {wid} is back but does not verify: {view['status']}, {view['verdict']}")
            found.add(wid)
        else:
            if who not in logs:
                logs[who] = {r["id"] for r in whole_log(vault.base, tokens["holders"][who])}
            if wid in logs[who]:
                found.add(wid)
    return found


def takes_writes(vault, tokens, load, lost):
    """The restored vault takes writes: an issuer resends a deposit the restore lost (or a new
    one), a requester pulls."""
    lost = [w[1] for w in lost if w[0] == "deposit"]
    lic = load.sent[lost[0]] if lost else load.licences.pop()
    uscc = lic["issuer"]["id"].split(":")[-1]
    s, r = call(vault.base, "POST", "/v1/licences", tokens["issuers"][uscc], lic)
    if s != 201:
        raise Violation(f"the restored vault refused a deposit: {s} {r}")
    holder, requester, matter = CONSENT_PAIRS[0]
    s, r = call(vault.base, "POST", "/v1/reuse", tokens["requesters"][requester],
                {"holder": holder, "matter": matter, "purpose": "灾备演练"})
    if s != 200:
        raise Violation(f"the restored vault refused a pull: {s} {r}")


def moment(text):
    """An RFC 3339 time or a tracing field's (`2026-01-02 03:04:05.6 UTC`) as (seconds, nanoseconds),
    to compare the times the vault prints in different places exactly."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(?:Z| UTC|\+00:00)", text.strip())
    if not m:
        raise Violation(f"not a time: {text!r}")
    return f"{m[1]}T{m[2]}", int((m[3] or "0").ljust(9, "0"))


def check_told(vault, log_path, made, restore_started):
    """The WARN at start and /healthz both say it was restored, from a backup made `made`."""
    s, health = call(vault.base, "GET", "/healthz")
    # …and that its transparency logs are frozen until an operator resumes them.
    m = re.fullmatch(r"ok\nrestored (\S+) from a backup made (\S+?)(?:, recovered to (\S+))?\n"
                     r"log public: frozen, no checkpoint is signed \(restored from a backup made .*\n"
                     r"log access: frozen, no checkpoint is signed \(restored from a backup made .*\n",
                     health if isinstance(health, str) else "")
    if s != 200 or not m:
        raise Violation(f"/healthz does not say it was restored: {s} {health!r}")
    if moment(m[2]) != moment(made):
        raise Violation(f"/healthz says the backup was made {m[2]}, it was made {made}")
    at = moment(m[1])[0]
    if not time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(restore_started - 1)) <= at <= \
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1)):
        raise Violation(f"/healthz says it was restored at {m[1]}, not during the drill's restore")
    warned = [l for l in open(log_path, errors="replace")
              if " WARN " in l and "restored from a backup" in l]
    if not warned:
        raise Violation("the restored vault logged no WARN at start that it was restored")
    b = re.search(r"backup_made=(.+? UTC)", warned[-1])
    if not b or moment(b[1]) != moment(made):
        raise Violation(f"the WARN at start does not name the backup's time {made}: {warned[-1].strip()}")
    return health.splitlines()[1]


def check_restored(vault, log_path, tokens, load, made, backup_done, restore_started, what):
    """The restored vault says it was restored, and every write acknowledged before `what` was made
    is there: what it said, the writes split by the backup, and those found."""
    told = check_told(vault, log_path, made, restore_started)
    before, between, after = split(load.writes, epoch(made), backup_done)
    found = present(vault, tokens, load.writes)
    lost = [w for w in before if w[1] not in found]
    if lost:
        raise Violation(f"{len(lost)} of {len(before)} writes acknowledged before {what} are gone, "
                        f"e.g. {lost[0][0]} {lost[0][1]}")
    return told, before, between, after, found


def split(writes, made, done):
    """Acknowledged before the backup was made; sent after it was done; the rest in between."""
    before = [w for w in writes if w[4] < made]
    after = [w for w in writes if w[3] > done]
    between = [w for w in writes if w[4] >= made and w[3] <= done]
    return before, between, after


def epoch(rfc3339):
    day, nanos = moment(rfc3339)
    return calendar.timegm(time.strptime(day, "%Y-%m-%dT%H:%M:%S")) + nanos / 1e9


def rocksdb(binary, work, seed):
    data = os.path.join(work, "data")
    backup = os.path.join(work, "backup")
    log = os.path.join(work, "vault.log")
    licences = licences_to_deposit(binary, work, 800, seed)
    vault = Vault(binary, data, log, demo=True)
    vault.start()
    tokens = json.load(open(os.path.join(data, "demo-tokens.json")))
    token_file = os.path.join(work, "admin-token")
    with open(token_file, "w") as f:
        f.write(tokens["admin"])
    os.chmod(token_file, 0o600)
    load = Load(vault, tokens, licences, seed)
    try:
        load.start()
        time.sleep(BEFORE_SECONDS)
        backup_started = time.time()
        must([binary, "backup", "--data", data, "--to", backup, "--token-file", token_file],
             "backup of the serving vault")
        backup_done = time.time()
        # A serving target is refused (and left alone).
        r = run([binary, "restore", "--from", backup, "--data", data])
        if r.returncode == 0 or "serving" not in r.stderr:
            raise Violation(f"restore into the serving vault's data was not refused as such: {r.returncode} {r.stderr}")
        time.sleep(AFTER_SECONDS)
        killed = time.time()
        vault.kill()
    finally:
        load.finish()
        vault.kill()
    if load.unexpected:
        raise Violation(f"{len(load.unexpected)} unexpected answers under load, e.g. {load.unexpected[0]}")
    manifest = json.load(open(os.path.join(backup, "manifest.json")))
    made = manifest["createdAt"]
    if not backup_started - 1 <= epoch(made) <= backup_done:
        raise Violation(f"the backup says it was made {made}, not while `backup` ran")

    r = must([binary, "backup", "verify", backup], "backup verify")
    report = json.loads(r.stdout)
    if not report.get("sound") or report.get("createdAt") != made:
        raise Violation(f"backup verify: {report}")

    # Refusals: a copy with one byte of a table file flipped, a non-empty target.
    corrupt = os.path.join(work, "corrupt")
    shutil.copytree(backup, corrupt)
    sst = max((os.path.join(corrupt, "db", f) for f in os.listdir(os.path.join(corrupt, "db")) if f.endswith(".sst")),
              key=os.path.getsize)
    with open(sst, "r+b") as f:
        f.seek(os.path.getsize(sst) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x01]))
    r = run([binary, "backup", "verify", corrupt])
    if r.returncode != 1:
        raise Violation(f"backup verify of a corrupt copy exited {r.returncode}: {r.stdout}{r.stderr}")
    nowhere = os.path.join(work, "nowhere")
    r = run([binary, "restore", "--from", corrupt, "--data", nowhere])
    if r.returncode == 0 or not r.stderr.strip() or (os.path.exists(nowhere) and os.listdir(nowhere)):
        raise Violation(f"restore of a corrupt copy was not refused: {r.returncode} {r.stderr}")
    refused_corrupt = r.stderr.strip().splitlines()[-1].split(" (sha256")[0]
    occupied = os.path.join(work, "occupied")
    os.makedirs(occupied)
    open(os.path.join(occupied, "keep"), "w").close()
    r = run([binary, "restore", "--from", backup, "--data", occupied])
    if r.returncode == 0 or "not empty" not in r.stderr or os.listdir(occupied) != ["keep"]:
        raise Violation(f"restore into a non-empty directory was not refused: {r.returncode} {r.stderr}")

    # The disaster: the data is gone. Restore into the same place and start as an operator would.
    shutil.rmtree(data)
    restore_started = time.time()
    must([binary, "restore", "--from", backup, "--data", data], "restore")
    restored = time.time()
    log2 = os.path.join(work, "vault-restored.log")
    vault = Vault(binary, data, log2)
    try:
        vault.start()
        serving = time.time()
        told, before, between, after, found = check_restored(vault, log2, tokens, load, made, backup_done,
                                                             restore_started, "the backup")
        back = [w for w in after if w[1] in found]
        if back:
            raise Violation(f"{len(back)} writes sent after the backup was done are there: the data was not "
                            f"restored from the backup (e.g. {back[0][0]} {back[0][1]})")
        takes_writes(vault, tokens, load, after)
    finally:
        vault.kill()
    deposits = sum(1 for w in before if w[0] == "deposit")
    print(f"drill rocksdb: {len(before)} writes acknowledged before the backup ({deposits} deposits, "
          f"{len(before) - deposits} pulls), all present and valid; {len(between)} during it, "
          f"{sum(w[1] in found for w in between)} present; {len(after)} after it, 0 present "
          f"(RPO = time since the backup: {killed - epoch(made):.1f} s at the kill); backup verify: sound, "
          f"{report['licences']} licences, {report['files']} files; restore refused a serving target, "
          f"a non-empty one and a copy with one byte flipped ({refused_corrupt}); restore took "
          f"{restored - restore_started:.2f} s, start {serving - restored:.2f} s; WARN at start, "
          f"/healthz: {told!r}", flush=True)


def postgres(binary, work, seed):
    pg = pg_bin()
    os.chmod(work, 0o755)  # the server runs as postgres when this runs as root
    archive = os.path.join(work, "archive")
    os.makedirs(archive)
    if os.geteuid() == 0:
        shutil.chown(archive, "postgres", "postgres")
    # A segment is archived under its name only once whole (a kill mid-copy leaves a .part).
    a = archive + "/%f"
    env = {**os.environ, "PG_OPTS": (
        f"-c wal_level=replica -c archive_mode=on -c archive_timeout=1 "
        f"-c archive_command='test ! -f {a} && cp %p {a}.part && sync {a}.part && mv {a}.part {a}'")}
    port = free_port()
    pgdata = os.path.join(work, "pg")
    url = must([os.path.join(HERE, "pg.sh"), "start", pgdata, str(port)], "starting PostgreSQL",
               env=env).stdout.strip()
    data = os.path.join(work, "data")
    backup = os.path.join(work, "backup")
    log = os.path.join(work, "vault.log")
    licences = licences_to_deposit(binary, work, 800, seed)
    vault = Vault(binary, data, log, store=url, demo=True)
    try:
        vault.start()
        tokens = json.load(open(os.path.join(data, "demo-tokens.json")))
        load = Load(vault, tokens, licences, seed)
        try:
            load.start()
            time.sleep(BEFORE_SECONDS)
            backup_started = time.time()
            must([os.path.join(HERE, "pg-backup.sh"), "base", url, backup, data], "the base backup")
            backup_done = time.time()
            time.sleep(AFTER_SECONDS)
            vault.kill()
        finally:
            load.finish()
            vault.kill()
        if load.unexpected:
            raise Violation(f"{len(load.unexpected)} unexpected answers under load, e.g. {load.unexpected[0]}")
        last = max(w[4] for w in load.writes)
        made = open(os.path.join(backup, "made")).read().strip()
        label = open(os.path.join(backup, "label")).read().strip()
        if not backup_started <= epoch(made) <= backup_done:
            raise Violation(f"the base backup says it was made {made}, not while it ran")
        # Every acknowledged write is in WAL that reaches the archive, then the machine dies.
        psql = as_postgres([os.path.join(pg, "psql"), url, "-XAtqc"])
        segment = must(psql + ["SELECT pg_walfile_name(pg_switch_wal())"], "pg_switch_wal").stdout.strip()
        deadline = time.time() + 30
        while must(psql + ["SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"],
                   "pg_stat_archiver").stdout.strip()[:24] < segment:
            if time.time() > deadline:
                raise Violation(f"WAL segment {segment} was not archived in 30 s")
            time.sleep(0.1)
    finally:
        run(as_postgres([os.path.join(pg, "pg_ctl"), "-D", pgdata, "-m", "immediate", "-w", "stop"]))
    shutil.rmtree(pgdata)
    shutil.rmtree(data)

    # The restore, as an operator would: PostgreSQL from the base backup and the archive, the key
    # files back into a new data directory, the restore recorded, the vault started.
    restore_started = time.time()
    pgdata = os.path.join(work, "pg-restored")
    must([os.path.join(HERE, "pg-backup.sh"), "restore", backup, archive, pgdata], "laying out the restore")
    laid_out = time.time()
    try:
        must([os.path.join(HERE, "pg.sh"), "start", pgdata, str(port)], "starting the restored PostgreSQL", env=env)
        must([os.path.join(HERE, "pg-backup.sh"), "wait", url, "60"], "waiting for the end of recovery")
        recovered = time.time()
        # How far the archived WAL brought the database: the last transaction replayed.
        replayed_to = must(psql + ["SELECT to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', "
                                   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"], "the replay's end").stdout.strip()
        # The last write acknowledged committed between its sending and its answer.
        last_sent = max(w[3] for w in load.writes)
        if not replayed_to or epoch(replayed_to) < last_sent:
            raise Violation(f"recovery replayed to {replayed_to!r}, before the last acknowledged write was sent")
        data = os.path.join(work, "data-restored")
        shutil.copytree(os.path.join(backup, "keys"), data)
        must([binary, "restore", "--from", label, "--store", url, "--backup-made", made,
              "--recovered-to", replayed_to, "--data", data], "licence-vault restore --store")
        log2 = os.path.join(work, "vault-restored.log")
        vault = Vault(binary, data, log2, store=url)
        try:
            vault.start()
            serving = time.time()
            told, before, between, after, found = check_restored(vault, log2, tokens, load, made, backup_done,
                                                                 restore_started, "the base backup")
            later = between + after
            replayed = [w for w in later if w[1] in found]
            if len(replayed) != len(later):
                missing = [w for w in later if w[1] not in found]
                raise Violation(f"{len(missing)} of {len(later)} writes acknowledged after the base backup did not "
                                f"come back from the archived WAL, e.g. {missing[0][0]} {missing[0][1]} "
                                f"acknowledged at {time.strftime('%H:%M:%S', time.gmtime(missing[0][4]))}")
            takes_writes(vault, tokens, load, [])
        finally:
            vault.kill()
    finally:
        run([os.path.join(HERE, "pg.sh"), "stop", pgdata])
    deposits = sum(1 for w in before if w[0] == "deposit")
    print(f"drill postgres: {len(before)} writes acknowledged before the base backup ({deposits} deposits, "
          f"{len(before) - deposits} pulls), all present and valid; {len(later)} after it, {len(replayed)} present "
          f"(replayed from the archived WAL, the last acknowledged at "
          f"{time.strftime('%H:%M:%S', time.gmtime(last))}.{int(last % 1 * 1000):03d}Z: nothing lost); restore took "
          f"{serving - restore_started:.1f} s to a serving vault (base backup checked and laid out "
          f"{laid_out - restore_started:.1f} s, PostgreSQL started and recovered {recovered - laid_out:.1f} s, "
          f"the vault's keys, restore and start {serving - recovered:.1f} s); WARN at start, /healthz: {told!r}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--engine", choices=["rocksdb", "postgres", "both"], default="both")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    started = time.time()
    for engine in (["rocksdb", "postgres"] if args.engine == "both" else [args.engine]):
        work = tempfile.mkdtemp(prefix=f"licence-vault-drill-{engine}.")
        try:
            (rocksdb if engine == "rocksdb" else postgres)(binary, work, args.seed)
        except (Violation, subprocess.TimeoutExpired) as v:
            print(f"drill {engine}: FAILED: {v}", file=sys.stderr)
            for name in ("vault.log", "vault-restored.log"):
                p = os.path.join(work, name)
                if os.path.exists(p):
                    said = [l for l in open(p, errors="replace") if " WARN " in l or " ERROR " in l or "rror" in l]
                    sys.stderr.write(f"--- {name}, its warnings and errors\n" + "".join(said[-20:]))
            print(f"drill {engine}: the logs are kept in {work}", file=sys.stderr)
            return 1
        shutil.rmtree(work, ignore_errors=True)
    print(f"drill: in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
