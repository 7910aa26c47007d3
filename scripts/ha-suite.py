#!/usr/bin/env python3
"""The failover suite (SPEC §13): three vault nodes over a Patroni cluster of three PostgreSQL
members with synchronous replication and etcd, all on 127.0.0.1, under the crash suite's mixed load.

    scripts/ha-suite.py BINARY [--seed S]

1. SIGKILL the primary member (its Patroni and its PostgreSQL, as if the machine died). While the
   cluster fails over the vault answers 503, never another 5xx and never a wrong answer; it resumes
   by itself (a multi-host URL with target_session_attrs=read-write); then every acknowledged write
   is there. Reports the time from the kill to the first write accepted again on every node.
2. Cut the new primary off from everyone (an iptables rule dropping everything its processes send
   over TCP, matched by their cgroup) while the load runs; the others elect a new primary; the
   isolated one takes no write; after the cut is healed it rejoins as a replica, and every
   acknowledged write is there.
Prints one line per phase; exits 1 on the first violation. Needs root (iptables, cgroups) and
Debian's patroni, etcd-server and postgresql; standard library only.
"""

import argparse
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("crash_suite", os.path.join(HERE, "crash-suite.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)
call, Violation, free_port = crash.call, crash.Violation, crash.free_port

CGROUP_ROOT = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
PG_BIN = sorted(d for d in (os.path.join("/usr/lib/postgresql", v, "bin")
                            for v in os.listdir("/usr/lib/postgresql")) if os.path.isdir(d))[-1]


def as_postgres(argv):
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


class Member:
    """One Patroni member and its PostgreSQL, in a cgroup of its own (for the partition)."""

    def __init__(self, work, name, etcd_port):
        self.name, self.work = name, work
        self.pg_port, self.api_port = free_port(), free_port()
        self.data = os.path.join(work, name)
        self.cgroup = os.path.join(CGROUP_ROOT, f"lv-ha-{os.getpid()}-{name}")
        self.config = os.path.join(work, f"{name}.yml")
        self.log = open(os.path.join(work, f"{name}.log"), "ab")
        self.proc = None
        with open(self.config, "w") as f:
            f.write(f"""scope: licence-vault
namespace: /licence-vault-ha/
name: {name}
log: {{level: INFO}}
restapi: {{listen: '127.0.0.1:{self.api_port}', connect_address: '127.0.0.1:{self.api_port}'}}
etcd3: {{hosts: '127.0.0.1:{etcd_port}'}}
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters: {{synchronous_commit: 'on', wal_log_hints: 'on', max_connections: 200, max_wal_senders: 10}}
  initdb: [{{encoding: UTF8}}, {{locale: C.UTF-8}}]
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: '127.0.0.1:{self.pg_port}'
  connect_address: '127.0.0.1:{self.pg_port}'
  use_unix_socket: true
  data_dir: {self.data}
  bin_dir: {PG_BIN}
  pgpass: {os.path.join(work, name + '.pgpass')}
  authentication:
    replication: {{username: replicator, password: replicator}}
    superuser: {{username: postgres, password: postgres}}
  parameters: {{unix_socket_directories: '{work}'}}
""")

    def start(self):
        os.makedirs(self.cgroup, exist_ok=True)
        self.proc = subprocess.Popen(
            ["sh", "-c", f'echo $$ > {self.cgroup}/cgroup.procs && exec "$@"', "sh"]
            + as_postgres(["patroni", self.config]),
            stdout=self.log, stderr=self.log, cwd=self.work)

    def state(self):
        try:
            s, v = call(f"http://127.0.0.1:{self.api_port}", "GET", "/patroni", timeout=2)
            return v if s in (200, 503) and isinstance(v, dict) else {}
        except OSError:
            return {}

    def kill(self):
        """SIGKILL to every process of the member: Patroni, the postmaster and its children."""
        for pid in open(os.path.join(self.cgroup, "cgroup.procs")).read().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def rule(self, action):
        """The cut (`-A`) or its heal (`-D`): nothing the member's processes send over TCP leaves
        them, and nothing sent to its ports arrives."""
        subprocess.run(["iptables", action, "OUTPUT", "-p", "tcp", "-m", "cgroup", "--path",
                        os.path.relpath(self.cgroup, CGROUP_ROOT), "-j", "DROP"], check=True)
        for port in (self.pg_port, self.api_port):
            subprocess.run(["iptables", action, "OUTPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"],
                           check=True)

    def in_recovery_locally(self):
        """Asked over its unix socket (which the cut leaves alone): None if it does not answer."""
        r = subprocess.run(as_postgres([os.path.join(PG_BIN, "psql"), "-h", self.work, "-p", str(self.pg_port),
                                        "-U", "postgres", "-Atc", "SELECT pg_is_in_recovery()"]),
                           capture_output=True, text=True, timeout=10)
        return {"t": True, "f": False}.get(r.stdout.strip())

    def acknowledges_a_write_locally(self):
        """A write on it over its unix socket: whether it was acknowledged within 8 s. Cut off from
        its synchronous standby, a primary holds every commit unacknowledged (and once Patroni
        demoted it, it refuses writes)."""
        try:
            r = subprocess.run(as_postgres([os.path.join(PG_BIN, "psql"), "-h", self.work, "-p", str(self.pg_port),
                                            "-U", "postgres", "-Atc", "CREATE TABLE IF NOT EXISTS ha_probe (t text)"]),
                               capture_output=True, text=True, timeout=8)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and "synchronous replication" not in r.stderr

    def remove(self):
        try:
            os.rmdir(self.cgroup)
        except OSError:
            pass


def wait_for(what, pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.5)
    raise Violation(f"timed out waiting for {what}" + (f"; last writes per node: {LAST_WRITES}" if LAST_WRITES else ""))


def primary(members):
    """The one running member that says it is the primary, once the others stream from it."""
    roles = {m.name: m.state() for m in members if m.proc and m.proc.poll() is None}
    leaders = [m for m in members if roles.get(m.name, {}).get("role") in ("master", "primary")
               and roles[m.name].get("state") == "running"]
    streaming = [n for n, r in roles.items() if r.get("role") == "replica" and r.get("state") == "running"]
    return leaders[0] if len(leaders) == 1 and len(streaming) >= 1 else None


def synchronous(members):
    """Whether the primary has a synchronous standby that is caught up (so a failover loses no
    acknowledged write) and every other running member replicates too."""
    for m in members:
        if not (m.proc and m.proc.poll() is None):
            continue
        try:
            s, c = call(f"http://127.0.0.1:{m.api_port}", "GET", "/cluster", timeout=2)
        except OSError:
            continue
        if s != 200 or not isinstance(c, dict):
            continue
        roles = {x["name"]: x for x in c.get("members", [])}
        sync = [x for x in roles.values() if x.get("role") == "sync_standby" and x.get("lag") == 0]
        running = [x for x in roles.values() if x.get("state") in ("running", "streaming")]
        alive = sum(1 for y in members if y.proc and y.proc.poll() is None)
        return bool(sync) and len(running) == alive
    return False


LAST_WRITES = {}


def writes_everywhere(nodes, tokens):
    """A write (an admin token) accepted by every vault node."""
    for i, n in enumerate(nodes):
        try:
            s, r = call(n.base, "POST", "/v1/admin/tokens", tokens["admin"], {"role": "admin"}, timeout=5)
        except OSError as e:  # a request still waiting on the lost primary
            s, r = None, str(e)
        LAST_WRITES[i] = (s, r if s != 201 else "")
        if s != 201:
            return False
    return True


def run_load(nodes, tokens, ledger, licences, statements, rng, seconds, during=None):
    """The crash suite's load from six threads, two per node, for `seconds` (after `during()`)."""
    stop = threading.Event()
    threads = [threading.Thread(target=crash.load, args=(nodes[i % len(nodes)], tokens, ledger, licences,
                                                         statements, stop, rng.random())) for i in range(6)]
    for t in threads:
        t.start()
    try:
        result = during() if during else None
        time.sleep(seconds)
    finally:
        stop.set()
        for t in threads:
            t.join()
    if ledger.violation:
        raise Violation(ledger.violation)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("ha-suite: needs root (iptables and cgroups)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    started = time.time()
    work = tempfile.mkdtemp(prefix="licence-vault-ha.")
    os.chmod(work, 0o777)
    etcd = members = nodes = None
    members, nodes = [], []
    failed = True
    try:
        etcd_port, peer_port = free_port(), free_port()
        etcd_log = open(os.path.join(work, "etcd.log"), "ab")
        etcd = subprocess.Popen(
            ["etcd", "--name", "e1", "--data-dir", os.path.join(work, "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"e1=http://127.0.0.1:{peer_port}"],
            stdout=etcd_log, stderr=etcd_log)
        members = [Member(work, f"pg{i}", etcd_port) for i in range(1, 4)]
        members[0].start()
        wait_for("the first member to bootstrap", lambda: members[0].state().get("role") in ("master", "primary"), 120)
        for m in members[1:]:
            m.start()
        wait_for("three running members, one a synchronous standby", lambda: primary(members) and sum(
            m.state().get("state") == "running" for m in members) == 3 and synchronous(members), 180)
        hosts = ",".join(f"127.0.0.1:{m.pg_port}" for m in members)
        url = f"postgres://postgres@{hosts}/postgres?target_session_attrs=read-write&connect_timeout=3"
        print(f"ha-suite: etcd and three PostgreSQL members up, primary {primary(members).name}", flush=True)

        licences, statements, pulled = crash.prepare(args.binary, work, 600, args.seed)
        log = open(os.path.join(work, "vault.log"), "ab")
        data = os.path.join(work, "data")
        for _ in range(3):
            node = crash.Server(args.binary, data, log, ["--store", url])
            node.start()
            nodes.append(node)
        tokens = json.load(open(os.path.join(data, "demo-tokens.json")))
        ledger = crash.Ledger()
        for lid in pulled:
            ledger.deposits[lid] = lid.split(".")[-4]
        checked = {"deposits": 0, "tokens": 0, "pulled": pulled}

        # 1. SIGKILL the primary under load.
        victim = primary(members)
        recovery = {}

        def kill_and_time():
            time.sleep(2)
            victim.kill()
            t0 = time.time()
            wait_for("the vault to accept writes again", lambda: writes_everywhere(nodes, tokens), 240)
            recovery["kill"] = time.time() - t0

        run_load(nodes, tokens, ledger, licences, statements, rng, 3, kill_and_time)
        new = wait_for("a new primary", lambda: primary(members), 60)
        crash.check(nodes[rng.randrange(3)], tokens, ledger, checked, rng, everything=True)
        print(f"ha-suite: SIGKILL of primary {victim.name}: {new.name} took over; the vault accepted writes "
              f"on all three nodes again {recovery['kill']:.1f} s after the kill; {ledger.acknowledged} "
              f"acknowledged writes, all there; no 5xx but 503", flush=True)
        victim.start()
        wait_for(f"{victim.name} to rejoin", lambda: victim.state().get("role") == "replica"
                 and victim.state().get("state") == "running" and synchronous(members), 120)

        # 2. Cut the primary off from everyone under load.
        isolated = primary(members)

        def cut_and_time():
            time.sleep(2)
            isolated.rule("-A")
            t0 = time.time()
            wait_for("a primary on the other side", lambda: any(
                m is not isolated and m.state().get("role") in ("master", "primary") for m in members), 120)
            recovery["elected"] = time.time() - t0
            wait_for("the vault to accept writes again", lambda: writes_everywhere(nodes, tokens), 240)
            recovery["cut"] = time.time() - t0
            # The isolated member, asked over its unix socket, no longer takes a write.
            recovery["isolated_writes"] = isolated.acknowledges_a_write_locally()
            recovery["isolated_recovery"] = isolated.in_recovery_locally()

        try:
            run_load(nodes, tokens, ledger, licences, statements, rng, 3, cut_and_time)
        finally:
            isolated.rule("-D")
        if recovery["isolated_writes"]:
            raise Violation(f"the isolated old primary {isolated.name} acknowledged a write during the cut")
        wait_for(f"{isolated.name} to rejoin as a replica", lambda: isolated.state().get("role") == "replica"
                 and isolated.state().get("state") == "running", 180)
        crash.check(nodes[rng.randrange(3)], tokens, ledger, checked, rng, everything=True)
        print(f"ha-suite: cut primary {isolated.name} off: a new primary took over {recovery['elected']:.1f} s "
              f"after the cut and the vault accepted writes on all three nodes again after {recovery['cut']:.1f} s; the isolated member acknowledged no write "
              f"(demoted to a standby by then: {recovery['isolated_recovery']}); after the heal it rejoined as a replica; {ledger.acknowledged} "
              f"acknowledged writes, all there", flush=True)
        failed = False
    except Violation as v:
        print(f"ha-suite: VIOLATION: {v}", file=sys.stderr)
        vault_log = os.path.join(work, "vault.log")
        if os.path.exists(vault_log):
            errors = [l for l in open(vault_log, errors="replace") if " ERROR licence_vault" in l]
            sys.stderr.write("--- the vault's errors\n" + "".join(errors[-20:]))
        for name in [f"{m.name}.log" for m in members]:
            p = os.path.join(work, name)
            if os.path.exists(p):
                sys.stderr.write(f"--- {name}\n" + open(p, errors="replace").read()[-1500:])
        return 1
    finally:
        for n in nodes:
            if n.proc and n.proc.poll() is None:
                n.kill()
        for m in members:
            if m.proc and m.proc.poll() is None:
                m.kill()
            m.remove()
        if etcd:
            etcd.kill()
            etcd.wait()
        if failed:
            print(f"ha-suite: the logs are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"ha-suite: {ledger.requests} requests, {ledger.acknowledged} acknowledged writes "
          f"({len(ledger.deposits)} licences, {len(ledger.consents)} consents, {len(ledger.pulls)} pulls): "
          f"none lost; in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
