#!/usr/bin/env python3
"""Printable copies checked by tools nobody on the team wrote (SPEC §16).

Usage: pdf-check.py SAMPLES_DIR [--png OUT.png]

SAMPLES_DIR holds what `LICENCE_VAULT_PRINT_SAMPLES=DIR cargo test --test it prints::` writes: a
licence, a stamped copy and a minimised copy as the vault printed them, the vault's rendering CA
(ca.pem) and expect.json (the strings each page must and must not show, the URL of its QR code).

For each PDF:
- pyHanko (`pyhanko sign validate`, the CA as its only trust root) judges the seal VALID and says
  it covers the entire file; poppler's `pdfsig`, with an NSS database holding the CA, says the
  signature is valid, the certificate trusted and the total document signed (pdfsig exits 0 even
  on failure, so its text is read);
- one byte of the page flipped: both say invalid;
- an incremental update appended (by pyHanko's own writer): both report that the signature no
  longer covers the whole file;
- `pdftotext` shows every expected string byte for byte and none of the absent ones;
- `pdffonts` lists every font embedded and subset;
- `pdftoppm` + `zbarimg` read the QR code back to the expected URL;
- `qpdf --check` finds no error.
Runs with the Python of pyHanko's venv (scripts/install-deps.sh).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

FAILURES = []


def run(*args, check=True):
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {p.returncode}: {p.stderr}{p.stdout}")
    return p


def expect(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def pyhanko(path, ca):
    exe = os.path.join(os.path.dirname(sys.executable), "pyhanko")
    p = run(exe, "sign", "validate", "--pretty-print", "--no-revocation-check",
            "--trust", ca, "--trust-replace", path, check=False)
    return p.stdout


def pdfsig(path, nss):
    return run("pdfsig", "-nssdir", "sql:" + nss, path, check=False).stdout


def main():
    samples = sys.argv[1]
    png = sys.argv[sys.argv.index("--png") + 1] if "--png" in sys.argv else None
    ca = os.path.join(samples, "ca.pem")
    with open(os.path.join(samples, "expect.json"), encoding="utf-8") as f:
        expected = json.load(f)
    work = tempfile.mkdtemp(prefix="pdf-check-")
    nss = os.path.join(work, "nss")
    os.mkdir(nss)
    run("certutil", "-N", "-d", "sql:" + nss, "--empty-password")
    run("certutil", "-A", "-d", "sql:" + nss, "-n", "licence-vault rendering CA",
        "-t", "CT,C,C", "-a", "-i", ca)

    for name, want in sorted(expected.items()):
        path = os.path.join(samples, name)
        print(name)
        out = pyhanko(path, ca)
        expect("The signature is judged VALID." in out, "pyHanko: VALID")
        expect("The signer's certificate is trusted." in out, "pyHanko: the certificate is trusted")
        expect("The signature covers the entire file." in out, "pyHanko: covers the entire file")
        out = pdfsig(path, nss)
        expect("Signature Validation: Signature is Valid." in out, "pdfsig: signature valid")
        expect("Certificate Validation: Certificate is Trusted." in out, "pdfsig: certificate trusted")
        expect("Total document signed" in out, "pdfsig: total document signed")
        expect("Signature Type: ETSI.CAdES.detached" in out, "pdfsig: PAdES (ETSI.CAdES.detached)")

        data = open(path, "rb").read()
        i = data.index(b"Tj ET") - 3
        flipped = bytearray(data)
        flipped[i] = ord("2") if flipped[i] == ord("1") else ord("1")
        fpath = os.path.join(work, "flipped-" + name)
        open(fpath, "wb").write(flipped)
        out = pyhanko(fpath, ca)
        expect("The signature is judged INVALID." in out, "one byte flipped: pyHanko INVALID")
        out = pdfsig(fpath, nss)
        expect("Signature is Invalid" in out or "Digest Mismatch" in out,
               "one byte flipped: pdfsig invalid")

        upath = os.path.join(work, "updated-" + name)
        with open(path, "rb") as src:
            w = IncrementalPdfFileWriter(src)
            w.root["/PageMode"] = generic.NameObject("/UseOutlines")
            w.update_root()
            with open(upath, "wb") as dst:
                w.write(dst)
        out = pyhanko(upath, ca)
        expect("The signature does not cover the entire file." in out,
               "incremental update: pyHanko reports it")
        out = pdfsig(upath, nss)
        expect("Not total document signed" in out, "incremental update: pdfsig reports it")

        text = run("pdftotext", "-layout", path, "-").stdout
        raw = run("pdftotext", path, "-").stdout
        for s in want["present"]:
            expect(s in text or s in raw, f"pdftotext shows {s!r}")
        for s in want["absent"]:
            expect(s not in text and s not in raw, f"pdftotext does not show {s!r}")

        fonts = run("pdffonts", path).stdout.splitlines()[2:]
        expect(len(fonts) >= 1, "pdffonts lists the font")
        for line in fonts:
            cols = line.split()
            # name type... encoding emb sub uni object ID: emb and sub are the 4th and 3rd from
            # the end but two.
            expect(cols[-5] == "yes" and cols[-4] == "yes", f"font embedded and subset: {line}")

        prefix = os.path.join(work, name + "-page")
        run("pdftoppm", "-r", "150", "-png", "-singlefile", path, prefix)
        qr = run("zbarimg", "--quiet", "--raw", prefix + ".png", check=False).stdout.strip()
        expect(qr == want["qr"], f"the QR code reads {want['qr']} (read {qr!r})")
        if png and name == "stamped.pdf":
            run("pdftoppm", "-r", "60", "-png", "-singlefile", path, png[:-4])

        out = run("qpdf", "--check", path, check=False)
        expect(out.returncode == 0 and "No syntax or stream encoding errors" in out.stdout,
               "qpdf --check: no errors")

    shutil.rmtree(work)
    if FAILURES:
        raise SystemExit(f"{len(FAILURES)} check(s) failed: {FAILURES}")
    print(f"all checks passed on {len(expected)} PDFs")


if __name__ == "__main__":
    main()
