// Verifies licence-vault licences (JSON Lines) with digitalbazaar's eddsa-jcs-2022 cryptosuite,
// offline, and prints one JSON object: how many verified and how fast. The peer half of the
// comparison in BENCHMARKS.md; scripts/bench.sh installs this directory with `npm ci` and runs:
//
//   node benches/peer/verify.mjs FILE.jsonl [--workers N]
//
// The document loader never touches the network: it serves the VC 2.0 context from the
// @digitalbazaar/credentials-context package and builds did:key documents (Multikey) from the key
// itself. This checks the signature and the proof purpose (assertionMethod of the did:key), which
// is what a generic Data Integrity verifier can check; the vault's registry checks (agency key
// registered and active, type allowed, face-field schema) have no JS counterpart and are not run.

import {readFileSync} from 'node:fs';
import {performance} from 'node:perf_hooks';
import {Worker, isMainThread, parentPort, workerData} from 'node:worker_threads';

import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import jsigs from 'jsonld-signatures';

const {purposes: {AssertionProofPurpose}} = jsigs;
const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';
const DID_V1 = 'https://www.w3.org/ns/did/v1';

function documentLoader(url) {
  if(credentialsContexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: credentialsContexts.get(url)};
  }
  if(url.startsWith('did:key:')) {
    const [did] = url.split('#');
    const fingerprint = did.slice('did:key:'.length);
    const id = `${did}#${fingerprint}`;
    const method = {id, type: 'Multikey', controller: did, publicKeyMultibase: fingerprint};
    const document = url.includes('#') ?
      {'@context': MULTIKEY_V1, ...method} :
      {
        '@context': [DID_V1, MULTIKEY_V1],
        id: did,
        verificationMethod: [method],
        assertionMethod: [id],
        authentication: [id]
      };
    return {contextUrl: null, documentUrl: url, document};
  }
  throw new Error(`offline document loader: refusing to load ${url}`);
}

const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});

async function verifyLines(lines) {
  let accepted = 0;
  const failures = {};
  for(const line of lines) {
    const doc = JSON.parse(line);
    const result = await jsigs.verify(doc, {
      suite, purpose: new AssertionProofPurpose(), documentLoader
    });
    if(result.verified) {
      accepted++;
    } else {
      const e = result.error?.errors?.[0] ?? result.error;
      const message = String(e?.message ?? e).slice(0, 120);
      failures[message] = (failures[message] ?? 0) + 1;
    }
  }
  return {accepted, failures};
}

async function main() {
  const args = process.argv.slice(2);
  const file = args.find(a => !a.startsWith('--'));
  const wi = args.indexOf('--workers');
  const workers = wi >= 0 ? Number(args[wi + 1]) : 1;
  if(!file) {
    console.error('usage: node verify.mjs FILE.jsonl [--workers N]');
    process.exit(2);
  }
  const lines = readFileSync(file, 'utf8').split('\n').filter(l => l.trim());

  // Warm the JIT on a few documents, untimed (the Rust side keeps the best of several runs).
  await verifyLines(lines.slice(0, Math.min(200, lines.length)));

  let start = performance.now();
  const {accepted, failures} = await verifyLines(lines);
  const seconds1 = (performance.now() - start) / 1000;

  let secondsN = null;
  let acceptedN = null;
  if(workers > 1) {
    const per = Math.ceil(lines.length / workers);
    const slices = [...Array(workers).keys()].map(i => lines.slice(i * per, (i + 1) * per));
    const pool = slices.map(slice => new Worker(new URL(import.meta.url), {workerData: slice}));
    // Let every worker load and warm up before the clock starts.
    await Promise.all(pool.map(w => new Promise(r => w.once('message', r))));
    start = performance.now();
    const results = await Promise.all(pool.map(w => new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.postMessage('go');
    })));
    secondsN = (performance.now() - start) / 1000;
    acceptedN = results.reduce((n, r) => n + r.accepted, 0);
    await Promise.all(pool.map(w => w.terminate()));
  }

  const out = {
    implementation: '@digitalbazaar/eddsa-jcs-2022-cryptosuite + @digitalbazaar/data-integrity + jsonld-signatures',
    node: process.version,
    documents: lines.length,
    accepted,
    rejected: lines.length - accepted,
    failures,
    seconds1,
    docsPerSecond1: Math.round(lines.length / seconds1),
    workers,
    acceptedWorkers: acceptedN,
    docsPerSecondWorkers: secondsN === null ? null : Math.round(lines.length / secondsN)
  };
  console.log(JSON.stringify(out));
}

if(isMainThread) {
  main().catch(e => {
    console.error(e);
    process.exit(1);
  });
} else {
  const lines = workerData;
  await verifyLines(lines.slice(0, Math.min(100, lines.length)));
  parentPort.postMessage('ready');
  parentPort.once('message', async () => {
    parentPort.postMessage(await verifyLines(lines));
  });
}
