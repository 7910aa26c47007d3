#!/usr/bin/env python3
"""The crash suite: the real server under mixed load, SIGKILLed at random moments, restarted, and
checked for every acknowledged write and for the absence of half-written ones.

    scripts/crash-suite.py BINARY [--kills N] [--seed S] [--licences N]

Load, from 6 client threads: deposits (single and batches of 5), consents granted and withdrawn,
pulls, status statements (suspensions, signed in advance with the demo keys) and admin tokens.
After each kill and restart it checks (what was acknowledged since the previous check and a sample
of the rest; after the last kill, everything) that
  - every acknowledged deposit reads back valid (or suspended, if that statement was acknowledged),
  - every acknowledged consent is listed, and every acknowledged withdrawal holds,
  - every acknowledged pull's access record is in the holder's log,
  - every acknowledged token still authenticates,
  - nothing is half-written: each consent's use count equals the provided records under it in the
    log (one durable change writes both), and no read answers 500;
  - a suspended demo licence that was pulled has exactly one revocation notice per requester that
    was provided it, naming exactly those access records, and none for anyone else (the notices and
    the statement are one durable change).
Prints one line per kill and a summary; exits 1 on the first violation. Standard library only.
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSENT_PAIRS = [  # holder, requester, matter (the demo's seeded consents cover these pulls)
    ("111:350102198503120130", "fz-gjj", "350100-GJJ-001"),
    ("111:350103198809230240", "fz-ga-zwfw", "350100-GA-003"),
    ("111:350104197911050571", "fz-rs-zwfw", "350100-RS-006"),
]
# The demo licences the pulls provide; their suspensions (signed in advance) send notices.
PULLED = [
    "01-sfz-linzhiqiang.json",
    "06-sfz-chenyating.json",
    "10-sfz-huangjianhua.json",
]
TYPES = {
    "350100-GJJ-001": ["11100000000019713D001"],
    "350100-GA-003": ["11100000000019713D001"],
    "350100-RS-006": ["11100000000019713D001"],
}


class Violation(Exception):
    pass


def call(base, method, path, token=None, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            try:
                return r.status, json.loads(raw or b"null")
            except ValueError:
                return r.status, raw.decode(errors="replace")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, data, log, extra=()):
        self.binary, self.data, self.log, self.extra = binary, data, log, list(extra)
        self.proc = None
        self.base = None

    def start(self):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            # The load is this rig's own: no rate limit between it and the vault.
            [self.binary, "serve", "--demo", "--no-rate-limits", "--data", self.data, "--listen", f"127.0.0.1:{port}"] + self.extra,
            cwd=ROOT, stdout=self.log, stderr=self.log,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("LICENCE_VAULT_")},
                 "RUST_LOG": "warn"},
        )
        for _ in range(300):
            try:
                if call(self.base, "GET", "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise Violation(f"the server exited with {self.proc.returncode} while starting")
            time.sleep(0.05)
        raise Violation("the server did not come up")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Ledger:
    """What the server acknowledged, across restarts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.deposits = {}       # licence id -> issuer uscc
        self.suspended = set()   # licence ids whose suspension was acknowledged
        self.attempted = set()   # suspensions sent: one cut by the kill may have landed or not
        self.consents = {}       # consent id -> holder
        self.withdrawn = set()
        self.pulls = {}          # access record id -> holder
        self.tokens = []         # holder tokens created by the admin
        self.requests = 0
        self.acknowledged = 0
        self.violation = None    # a wrong answer seen under load


def prepare(binary, work, count, seed):
    """Synthetic signed licences, by issuer, and a signed suspension for some of them."""
    out = os.path.join(work, "licences.jsonl")
    subprocess.run([binary, "gen", "--count", str(count), "--out", out, "--seed", str(seed), "--quiet"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    licences = [json.loads(line) for line in open(out, encoding="utf-8")]
    # Only first versions: a renewal's predecessor may not be there yet.
    licences = [l for l in licences if l["credentialSubject"]["licence"]["version"] == "001"]
    keys = {}
    for name in os.listdir(os.path.join(ROOT, "keys")):
        if name.endswith(".pub"):
            keys[open(os.path.join(ROOT, "keys", name)).read().strip()] = name[:-4]
    agencies = json.load(open(os.path.join(ROOT, "fixtures", "agencies.json")))["agencies"]
    signer = {}
    for a in agencies:
        usable = [k for k in a["keys"] if "retiredAt" not in k and "compromisedAt" not in k and k["didKey"] in keys]
        if usable:
            signer[a["uscc"]] = keys[usable[-1]["didKey"]]
    statements = {}
    effective = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    pulled = [json.load(open(os.path.join(ROOT, "fixtures", "licences", f), encoding="utf-8")) for f in PULLED]
    for lic in licences[: max(1, len(licences) // 10)] + pulled:
        uscc = lic["issuer"]["id"].split(":")[-1]
        if uscc not in signer:
            continue
        unsigned = {"@context": ["https://www.w3.org/ns/credentials/v2"], "licence": lic["id"],
                    "status": "suspended", "reason": "崩溃测试：暂停", "effectiveAt": effective}
        path = os.path.join(work, "statement.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(unsigned, f, ensure_ascii=False)
        signed = subprocess.run(
            [binary, "sign", "--key", os.path.join(ROOT, "keys", signer[uscc] + ".key"), "--in", path],
            cwd=ROOT, check=True, capture_output=True).stdout
        statements[lic["id"]] = json.loads(signed)
    return licences, statements, [l["id"] for l in pulled]


def load(server, tokens, ledger, licences, statements, stop, rng_seed):
    rng = random.Random(rng_seed)
    base = server.base
    admin = tokens["admin"]
    while not stop.is_set():
        op = rng.random()
        s, r = 0, None
        with ledger.lock:
            ledger.requests += 1
        try:
            if op < 0.30:
                batch = [licences.pop() for _ in range(min(len(licences), rng.choice([1, 5])))]
                if not batch:
                    continue
                uscc = batch[0]["issuer"]["id"].split(":")[-1]
                batch = [l for l in batch if l["issuer"]["id"].endswith(uscc)]
                tok = tokens["issuers"][uscc]
                if len(batch) == 1:
                    s, r = call(base, "POST", "/v1/licences", tok, batch[0])
                    if s in (200, 201):
                        with ledger.lock:
                            ledger.deposits[batch[0]["id"]] = uscc
                            ledger.acknowledged += 1
                else:
                    s, r = call(base, "POST", "/v1/licences:batch", tok, {"licences": batch})
                    if s == 200:
                        with ledger.lock:
                            for lic, item in zip(batch, r["results"]):
                                if item.get("status") in (200, 201, "created", "existing") or "receipt" in item:
                                    ledger.deposits[lic["id"]] = uscc
                                    ledger.acknowledged += 1
            elif op < 0.45:
                holder, requester, matter = rng.choice(CONSENT_PAIRS)
                s, r = call(base, "POST", "/v1/me/consents", tokens["holders"][holder], {
                    "requester": requester, "matter": matter, "purpose": "崩溃测试",
                    "types": TYPES[matter],
                    "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)),
                    "maxUses": rng.choice([None, 3, 50]) or 1000})
                if s == 201:
                    with ledger.lock:
                        ledger.consents[r["id"]] = holder
                        ledger.acknowledged += 1
            elif op < 0.52:
                with ledger.lock:
                    open_ones = [c for c in ledger.consents if c not in ledger.withdrawn]
                if open_ones:
                    cid = rng.choice(open_ones)
                    holder = ledger.consents[cid]
                    s, r = call(base, "DELETE", f"/v1/me/consents/{cid}", tokens["holders"][holder])
                    if s == 200:
                        with ledger.lock:
                            ledger.withdrawn.add(cid)
                            ledger.acknowledged += 1
            elif op < 0.85:
                holder, requester, matter = rng.choice(CONSENT_PAIRS)
                s, r = call(base, "POST", "/v1/reuse", tokens["requesters"][requester],
                            {"holder": holder, "matter": matter, "purpose": "崩溃测试"})
                if s == 200:
                    with ledger.lock:
                        ledger.pulls[r["accessRecord"]] = holder
                        ledger.acknowledged += 1
            elif op < 0.93:
                with ledger.lock:
                    todo = [i for i in statements if i in ledger.deposits and i not in ledger.suspended]
                if todo:
                    lid = rng.choice(todo)
                    with ledger.lock:
                        ledger.attempted.add(lid)
                    tok = tokens["issuers"][ledger.deposits[lid]]
                    s, r = call(base, "POST", f"/v1/licences/{lid}/status", tok, statements[lid])
                    if s in (200, 201):
                        with ledger.lock:
                            ledger.suspended.add(lid)
                            ledger.acknowledged += 1
            else:
                holder = rng.choice(CONSENT_PAIRS)[0]
                s, r = call(base, "POST", "/v1/admin/tokens", admin, {"role": "holder", "subject": holder})
                if s == 201:
                    with ledger.lock:
                        ledger.tokens.append(r["token"])
                        ledger.acknowledged += 1
            if s >= 500 and s != 503:
                with ledger.lock:
                    ledger.violation = ledger.violation or f"a request answered {s}: {r}"
        except (OSError, ConnectionError, urllib.error.URLError, KeyError, ValueError):
            # The server was killed mid-request: nothing about this one was acknowledged.
            if not stop.is_set():
                time.sleep(0.01)


def whole(base, token, feed, member):
    """Every item of a paged feed of the holder's, following `nextCursor`."""
    items, cursor = [], None
    while True:
        path = f"{feed}?limit=200" + (f"&cursor={cursor}" if cursor else "")
        s, page = call(base, "GET", path, token)
        if s != 200:
            raise Violation(f"{feed} answered {s}: {page}")
        items += page[member]
        cursor = page.get("nextCursor")
        if not cursor:
            return items


def whole_log(base, token):
    return whole(base, token, "/v1/me/access-log", "records")


def check_notices(base, tokens, pulled):
    """Each suspended pulled demo licence has one notice per requester provided it, naming exactly
    the access records that provided it; an active one has none. Returns how many notices and
    suspended pulled licences it checked."""
    feeds = {}
    seen = [0, 0]
    for rid, tok in tokens["requesters"].items():
        notices, after = [], None
        while True:
            s, page = call(base, "GET", "/v1/notices?limit=200" + (f"&cursor={after}" if after else ""), tok)
            if s != 200:
                raise Violation(f"notices answered {s}: {page}")
            notices += [n["notice"]["credentialSubject"] for n in page["notices"]]
            after = page.get("nextCursor")
            if not after:
                break
        feeds[rid] = notices
    for lid in pulled:
        s, view = call(base, "GET", f"/v1/licences/{lid}", tokens["issuers"][lid.split(".")[-4]])
        if s != 200:
            raise Violation(f"{lid} reads {s}")
        holder = next(h for h, _, _ in CONSENT_PAIRS if h.split(":")[1] in json.dumps(view["licence"]))
        provided = {}
        for r in reversed(whole_log(base, tokens["holders"][holder])):
            if any(o["outcome"] == "provided" and o.get("licence") == lid for o in r["outcomes"]):
                provided.setdefault(r["requester"], []).append(r["id"])
        suspended = view["status"] == "suspended"
        for rid, notices in feeds.items():
            mine = [n for n in notices if n["licence"] == lid]
            want = provided.get(rid) if suspended else None
            if want is None and mine:
                raise Violation(f"{rid} has a notice about {lid} it should not: {mine}")
            if want is not None and [n["accessRecords"] for n in mine] != [want]:
                raise Violation(f"{rid}: notices about {lid} {mine}, expected one naming {want}")
            seen[0] += len(mine)
        seen[1] += suspended
    return seen


def check(server, tokens, ledger, checked, rng, everything=False):
    """Checks what was acknowledged since the last check (`checked` counts the deposits, pulls and
    tokens already checked), a sample of 40 older ones, and the consents and logs of every demo
    holder whole; with `everything`, all of it."""
    base = server.base
    deposits = list(ledger.deposits.items())
    older, new = deposits[: checked["deposits"]], deposits[checked["deposits"]:]
    sample = older if everything else rng.sample(older, min(40, len(older)))
    checked["deposits"] = len(deposits)
    for lid, uscc in sample + new:
        s, view = call(base, "GET", f"/v1/licences/{lid}", tokens["issuers"][uscc])
        if s != 200:
            raise Violation(f"acknowledged deposit {lid} reads {s}: {view}")
        want = "suspended" if lid in ledger.suspended else "active"
        unsure = lid in ledger.attempted and lid not in ledger.suspended
        if view["status"] != want and not (unsure and view["status"] == "suspended"):
            raise Violation(f"{lid} is {view['status']}, acknowledged as {want}")
        if view["status"] == "active" and not view["verdict"]["valid"]:
            raise Violation(f"{lid} does not verify after the restart: {view['verdict']}")
    for holder in {h for h, _, _ in CONSENT_PAIRS}:
        tok = tokens["holders"][holder]
        by_id = {c["id"]: c for c in whole(base, tok, "/v1/me/consents", "consents")}
        log = whole_log(base, tok)
        in_log = {r["id"] for r in log}
        provided = {}
        for r in log:
            for o in r["outcomes"]:
                if o["outcome"] == "provided" and "consent" in o:
                    provided.setdefault(o["consent"], set()).add(r["id"])
        for cid, h in ledger.consents.items():
            if h != holder:
                continue
            if cid not in by_id:
                raise Violation(f"acknowledged consent {cid} is gone")
            if cid in ledger.withdrawn and by_id[cid]["state"] != "withdrawn":
                raise Violation(f"acknowledged withdrawal of {cid} is gone")
        for cid, c in by_id.items():
            if c["uses"] != len(provided.get(cid, ())):
                raise Violation(f"consent {cid} counts {c['uses']} uses, the log {len(provided.get(cid, ()))}")
        for rid, h in ledger.pulls.items():
            if h == holder and rid not in in_log:
                raise Violation(f"acknowledged pull {rid} is not in the holder's log")
    checked["notices"] = check_notices(base, tokens, checked["pulled"])
    tokens_new = ledger.tokens if everything else ledger.tokens[checked["tokens"]:]
    checked["tokens"] = len(ledger.tokens)
    for t in tokens_new:
        s, _ = call(base, "GET", "/v1/me/consents", t)
        if s != 200:
            raise Violation(f"an acknowledged token answers {s}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--licences", type=int, default=0, help="default: 60 per kill")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="licence-vault-crash.") as work:
        licences, statements, pulled = prepare(args.binary, work, args.licences or 60 * args.kills + 100,
                                               args.seed)
        log = open(os.path.join(work, "server.log"), "ab")
        server = Server(args.binary, os.path.join(work, "data"), log)
        ledger = Ledger()
        checked = {"deposits": 0, "tokens": 0, "pulled": pulled}
        server.start()
        tokens = json.load(open(os.path.join(work, "data", "demo-tokens.json")))
        for lid in pulled:  # the demo deposited them; their suspensions join the load
            ledger.deposits[lid] = lid.split(".")[-4]
        try:
            for k in range(1, args.kills + 1):
                stop = threading.Event()
                threads = [threading.Thread(target=load, args=(server, tokens, ledger, licences, statements,
                                                               stop, rng.random())) for _ in range(6)]
                for t in threads:
                    t.start()
                time.sleep(rng.uniform(0.2, 1.2))
                server.kill()
                stop.set()
                for t in threads:
                    t.join()
                if ledger.violation:
                    raise Violation(ledger.violation)
                server.start()
                check(server, tokens, ledger, checked, rng, everything=(k == args.kills))
                print(f"crash-suite: kill {k}/{args.kills}: {ledger.acknowledged} acknowledged writes, "
                      f"{'all checked' if k == args.kills else 'the new ones and a sample checked'}", flush=True)
        except Violation as v:
            print(f"crash-suite: VIOLATION after kill {k}: {v}", file=sys.stderr)
            log.flush()
            sys.stderr.write(open(os.path.join(work, "server.log"), errors="replace").read()[-3000:])
            return 1
        finally:
            if server.proc and server.proc.poll() is None:
                server.kill()
    print(f"crash-suite: {args.kills} kills, {ledger.requests} requests, {ledger.acknowledged} acknowledged "
          f"writes ({len(ledger.deposits)} licences, {len(ledger.consents)} consents, {len(ledger.withdrawn)} "
          f"withdrawals, {len(ledger.pulls)} pulls, {len(ledger.suspended)} suspensions, {len(ledger.tokens)} "
          f"tokens): none lost, none half-written; {checked['notices'][0]} revocation notices for "
          f"{checked['notices'][1]} suspended pulled licences, each as the log says; in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
