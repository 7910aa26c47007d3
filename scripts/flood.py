#!/usr/bin/env python3
"""The flood run: one holder flooded with consent requests, the others measured.

Starts the real server (`serve --demo`, rate limits on, as a deployment runs) on a temp RocksDB on
a free port of 127.0.0.1. Then, from 127.0.0.1, THREADS clients send REQUESTS consent requests
for one holder from every demo requester, as fast as the vault answers; meanwhile a client on
another loopback address (127.0.0.2: its own address share) reads another holder's licences and
the flooded holder reads their own list. The same reads are measured on the idle vault first.

Prints one JSON object: the flood's answers by status and code, and per measured read its count,
statuses and latency (p50, p99, max) idle and under the flood. Fails (exit 1) on any 5xx, on a
flooded holder's list that is not 200 or not one bounded page, or when more requests were stored
than the caps allow. Figures in docs/OPERATIONS.md, "Rate limits and caps".

Usage: scripts/flood.py BINARY [--requests N] [--threads T] [--seconds-idle S]
Standard library only.
"""

import argparse
import collections
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    """One keep-alive connection from `source` (an address of the loopback)."""

    def __init__(self, port, source="127.0.0.1"):
        self.port, self.source = port, source
        self.conn = None

    def call(self, method, path, token=None, body=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60,
                                                       source_address=(self.source, 0))
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=data, headers=headers)
                res = self.conn.getresponse()
                raw = res.read()
                elapsed = time.perf_counter() - t0
                if res.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return res.status, raw, elapsed
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def code(raw):
    try:
        return json.loads(raw)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def summary(samples):
    lat = sorted(s[1] for s in samples)
    statuses = collections.Counter(str(s[0]) for s in samples)
    if not lat:
        return {"count": 0}
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)
    return {"count": len(lat), "statuses": dict(statuses), "p50Ms": pick(0.5), "p99Ms": pick(0.99),
            "maxMs": round(lat[-1] * 1000, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("--requests", type=int, default=40000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds-idle", type=float, default=5.0)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="licence-vault-flood.")
    port = free_port()
    log = open(os.path.join(work, "server.log"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENCE_VAULT_")}
    env["RUST_LOG"] = "warn"
    proc = subprocess.Popen([args.binary, "serve", "--demo", "--data", os.path.join(work, "data"),
                             "--listen", f"127.0.0.1:{port}"], cwd=ROOT, stdout=log, stderr=log, env=env)
    failures = []
    try:
        probe = Client(port)
        for _ in range(600):
            try:
                if probe.call("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("flood: the server did not come up")
        tokens = json.load(open(os.path.join(work, "data", "demo-tokens.json")))
        holders = sorted(tokens["holders"])
        flooded, other = holders[0], holders[1]
        requesters = sorted(tokens["requesters"])
        matters = {}
        reg = json.load(open(os.path.join(ROOT, "fixtures", "requesters.json")))["requesters"]
        for r in reg:
            matters[r["id"]] = r["matters"][0]

        def reads(stop_at, out_other, out_list, count=None):
            mine, theirs = Client(port, "127.0.0.2"), Client(port, "127.0.0.3")
            n = 0
            while time.time() < stop_at() and (count is None or n < count):
                s, _, t = theirs.call("GET", "/v1/me/licences", tokens["holders"][other])
                out_other.append((s, t))
                s, raw, t = mine.call("GET", "/v1/me/consent-requests", tokens["holders"][flooded])
                out_list.append((s, t, len(raw)))
                n += 1
                # A person at a page: a few reads a second, within the expensive share (10/s).
                time.sleep(0.25)

        idle_other, idle_list = [], []
        end = time.time() + args.seconds_idle
        reads(lambda: end, idle_other, idle_list)

        answers = collections.Counter()
        lock = threading.Lock()
        sent = iter(range(args.requests))
        done = threading.Event()

        def flood():
            c = Client(port)
            while True:
                with lock:
                    i = next(sent, None)
                if i is None:
                    return
                rq = requesters[i % len(requesters)]
                s, raw, _ = c.call("POST", "/v1/consent-requests", tokens["requesters"][rq],
                                   {"holder": flooded, "matter": matters[rq], "purpose": "flood"})
                with lock:
                    answers[f"{s} {code(raw) or ''}".strip()] += 1

        flood_other, flood_list = [], []
        t0 = time.time()
        workers = [threading.Thread(target=flood) for _ in range(args.threads)]
        for w in workers:
            w.start()
        reader = threading.Thread(target=reads, args=(lambda: float("inf") if not done.is_set() else 0,
                                                      flood_other, flood_list))
        reader.start()
        for w in workers:
            w.join()
        done.set()
        reader.join()
        seconds = time.time() - t0

        stored = sum(n for k, n in answers.items() if k.startswith("201"))
        cap = min(20 * len(requesters), 200)
        if any(k.startswith("5") for k in answers):
            failures.append("a flood request got a 5xx")
        if stored > cap:
            failures.append(f"{stored} requests stored, more than the caps allow ({cap})")
        for name, samples in [("other", idle_other + flood_other)]:
            if any(s[0] >= 500 for s in samples):
                failures.append(f"the {name} holder's read got a 5xx")
        if any(s[0] != 200 for s in flood_list + idle_list):
            failures.append("the flooded holder's list was not always 200")
        biggest = max((s[2] for s in flood_list), default=0)
        if biggest > 200_000:
            failures.append(f"the flooded holder's list was {biggest} bytes")
        report = {
            "requests": args.requests, "threads": args.threads, "seconds": round(seconds, 1),
            "floodAnswers": dict(answers), "stored": stored,
            "otherHolderLicences": {"idle": summary(idle_other), "flood": summary(flood_other)},
            "floodedHolderList": {"idle": summary([s[:2] for s in idle_list]),
                                  "flood": summary([s[:2] for s in flood_list]), "largestBodyBytes": biggest},
            "failures": failures,
        }
        print(json.dumps(report, indent=1))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if failures:
            print(f"flood: server log in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
