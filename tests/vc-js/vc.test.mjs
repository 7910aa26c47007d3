// The vault against digitalbazaar's VC and Data Integrity libraries, in both directions.
// Signing and verifying are done only by @digitalbazaar/vc, @digitalbazaar/data-integrity,
// @digitalbazaar/eddsa-jcs-2022-cryptosuite, @digitalbazaar/ed25519-multikey,
// @digitalbazaar/did-method-key and @digitalbazaar/vc-bitstring-status-list; this file is glue.
// Env (set by scripts/vc-clients.sh): VAULT_URL (a running demo vault), VAULT_BIN (its binary),
// VAULT_DATA (its --data directory, for demo-tokens.json); keys/, fixtures/ and docs/ are read
// from the checkout this file is in.
import {test, before} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, writeFileSync, readdirSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, dirname} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createSignCryptosuite, createVerifyCryptosuite} from
  '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {driver as didKeyDriver} from '@digitalbazaar/did-method-key';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import jsigs from 'jsonld-signatures';

const HERE = dirname(fileURLToPath(import.meta.url));
const need = name => process.env[name] ?? assert.fail(`${name} is not set (run scripts/vc-clients.sh)`);
const VAULT_URL = need('VAULT_URL').replace(/\/$/, '');
const VAULT_BIN = need('VAULT_BIN');
const VAULT_SRC = join(HERE, '..', '..');
const VAULT_DATA = need('VAULT_DATA');
const VC_V2 = 'https://www.w3.org/ns/credentials/v2';
const DOMAIN = 'interop.example';
const SCJGJ_USCC = '113501000035920161';

// --- documentLoader: the VC v2 context (embedded in @digitalbazaar/credentials-context, never
// fetched), did:key documents (computed locally), and the vault's own status lists. Nothing else.
const didKey = didKeyDriver();
didKey.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});
async function documentLoader(url) {
  if(url === VC_V2) {
    return {contextUrl: null, documentUrl: url, document: credentialsContexts.get(url)};
  }
  if(url.startsWith('did:key:')) {
    return {contextUrl: null, documentUrl: url, document: await didKey.get({url})};
  }
  if(url.startsWith(`${VAULT_URL}/v1/status-lists/`)) {
    const res = await fetch(url);
    if(res.status !== 200) throw new Error(`status list ${url}: HTTP ${res.status}`);
    return {contextUrl: null, documentUrl: url, document: await res.json()};
  }
  throw new Error(`documentLoader refuses ${url} (no network)`);
}
const verifySuite = () => new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
const firstError = r => r.error?.errors?.[0] ?? r.error;

async function post(path, body, headers = {}) {
  const res = await fetch(VAULT_URL + path, {
    method: 'POST', headers: {'content-type': 'application/json', ...headers},
    body: typeof body === 'string' ? body : JSON.stringify(body)
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return {status: res.status, body: json};
}
const show = r => JSON.stringify(r.body);
const clone = o => structuredClone(o);

// --- part 1: digitalbazaar signs, the vault verifies ---
let key, did, otherKey, signedVc, challenge;

async function newDidKey() {
  const k = await Ed25519Multikey.generate();
  const d = `did:key:${k.publicKeyMultibase}`;
  k.controller = d;
  k.id = `${d}#${k.publicKeyMultibase}`;
  return [k, d];
}
const signSuite = k => new DataIntegrityProof({signer: k.signer(), cryptosuite: createSignCryptosuite()});

async function signVp({challenge, domain, holder = did, signer = key}) {
  const presentation = vc.createPresentation({verifiableCredential: [signedVc], holder});
  return vc.signPresentation({presentation, suite: signSuite(signer), challenge, domain, documentLoader});
}
async function vaultVerifyVp(vp, options) {
  return post('/presentations/verify', {verifiablePresentation: vp, options});
}

before(async () => {
  [key, did] = await newDidKey();
  [otherKey] = await newDidKey();
  signedVc = await vc.issue({
    credential: {
      '@context': [VC_V2],
      type: ['VerifiableCredential'],
      issuer: did,
      credentialSubject: {id: 'did:example:1', name: 'Alice'}
    },
    suite: signSuite(key), documentLoader
  });
  const r = await post('/challenges', {});
  assert.equal(r.status, 201, show(r));
  assert.equal(typeof r.body.challenge, 'string');
  challenge = r.body.challenge;
});

test('1a digitalbazaar VC → vault /credentials/verify 200, checks ok (issuer_key: not checked)', async () => {
  assert.equal(signedVc.proof.cryptosuite, 'eddsa-jcs-2022');
  const own = await vc.verifyCredential({credential: signedVc, suite: verifySuite(), documentLoader});
  assert.equal(own.verified, true, String(firstError(own)));
  const r = await post('/credentials/verify', {verifiableCredential: signedVc});
  assert.equal(r.status, 200, show(r));
  assert.deepEqual(r.body.checks, ['signature', 'issuer', 'validity', 'data_model'], show(r));
  assert.deepEqual(r.body.errors, []);
  assert.deepEqual(r.body.warnings.map(w => w.check), ['issuer_key']);
  assert.equal(r.body.verdict.valid, true);
  for(const c of r.body.verdict.checks) {
    assert.equal(c.ok, c.check === 'issuer_key' ? null : true, JSON.stringify(c));
  }
});

test('1b digitalbazaar VP (vault challenge + domain) → vault /presentations/verify 200, every check ok', async () => {
  const vp = await signVp({challenge, domain: DOMAIN});
  assert.equal(vp.proof.cryptosuite, 'eddsa-jcs-2022');
  assert.equal(vp.proof.proofPurpose, 'authentication');
  assert.equal(vp.proof.challenge, challenge);
  assert.equal(vp.proof.domain, DOMAIN);
  const own = await vc.verify({presentation: vp, suite: verifySuite(), challenge, domain: DOMAIN, documentLoader});
  assert.equal(own.verified, true, String(firstError(own)));

  const r = await vaultVerifyVp(vp, {challenge, domain: DOMAIN});
  assert.equal(r.status, 200, show(r));
  assert.deepEqual(r.body.checks,
    ['signature', 'holder', 'challenge', 'domain', 'data_model', 'credentials'], show(r));
  assert.deepEqual(r.body.errors, []);
  assert.deepEqual(r.body.warnings, []);
  assert.equal(r.body.verdict.valid, true);
  for(const c of r.body.verdict.checks) assert.equal(c.ok, true, JSON.stringify(c));
  assert.equal(r.body.credentialResults.length, 1);
  assert.equal(r.body.credentialResults[0].verdict.valid, true, show(r));
  assert.deepEqual(r.body.credentialResults[0].errors, []);
});

test('1c same VP, another vault challenge in options → 400 challenge/challenge_mismatch', async () => {
  const vp = await signVp({challenge, domain: DOMAIN});
  const other = (await post('/challenges', {})).body.challenge;
  assert.notEqual(other, challenge);
  const r = await vaultVerifyVp(vp, {challenge: other, domain: DOMAIN});
  assert.equal(r.status, 400, show(r));
  assert.equal(r.body.errors.length, 1, show(r));
  assert.equal(r.body.errors[0].check, 'challenge');
  assert.equal(r.body.errors[0].code, 'challenge_mismatch');
  assert.equal(r.body.verdict.valid, false);
  const own = await vc.verify({presentation: vp, suite: verifySuite(), challenge: other, domain: DOMAIN, documentLoader});
  assert.equal(own.verified, false); // digitalbazaar agrees
  assert.match(firstError(own.presentationResult).message, /challenge/);
});

test('1d same VP, another domain in options → 400 domain/domain_mismatch', async () => {
  const vp = await signVp({challenge, domain: DOMAIN});
  const r = await vaultVerifyVp(vp, {challenge, domain: 'evil.example'});
  assert.equal(r.status, 400, show(r));
  assert.equal(r.body.errors.length, 1, show(r));
  assert.equal(r.body.errors[0].check, 'domain');
  assert.equal(r.body.errors[0].code, 'domain_mismatch');
});

test('1e tampered VP (credentialSubject.name edited) → 400 signature/bad_signature', async () => {
  const vp = clone(await signVp({challenge, domain: DOMAIN}));
  vp.verifiableCredential[0].credentialSubject.name = 'Mallory';
  const r = await vaultVerifyVp(vp, {challenge, domain: DOMAIN});
  assert.equal(r.status, 400, show(r));
  assert.equal(r.body.errors[0].check, 'signature', show(r));
  assert.equal(r.body.errors[0].code, 'bad_signature', show(r));
  // the embedded credential's own proof is broken too
  const cred = r.body.errors.find(e => e.check === 'credentials');
  assert.equal(cred?.code, 'bad_signature', show(r));
  assert.equal(r.body.credentialResults[0].errors[0].code, 'bad_signature');
  const own = await vc.verify({presentation: vp, suite: verifySuite(), challenge, domain: DOMAIN, documentLoader});
  assert.equal(own.verified, false);
  assert.equal(firstError(own.presentationResult).message, 'Invalid signature.');
});

test('1f VP tampered outside the credential (id added) → 400, only signature/bad_signature', async () => {
  const vp = clone(await signVp({challenge, domain: DOMAIN}));
  vp.id = 'urn:uuid:00000000-0000-4000-8000-000000000000';
  const r = await vaultVerifyVp(vp, {challenge, domain: DOMAIN});
  assert.equal(r.status, 400, show(r));
  assert.deepEqual(r.body.errors.map(e => [e.check, e.code]), [['signature', 'bad_signature']], show(r));
});

test('1g VP whose holder is not the signing did:key (digitalbazaar signs it anyway) → 400 holder/holder_mismatch', async () => {
  const vp = await signVp({challenge, domain: DOMAIN, signer: otherKey});
  const r = await vaultVerifyVp(vp, {challenge, domain: DOMAIN});
  assert.equal(r.status, 400, show(r));
  assert.deepEqual(r.body.errors.map(e => [e.check, e.code]), [['holder', 'holder_mismatch']], show(r));
  // digitalbazaar's vc.verify does not tie holder to the key: it says verified
  const own = await vc.verify({presentation: vp, suite: verifySuite(), challenge, domain: DOMAIN, documentLoader});
  assert.equal(own.verified, true);
});

// --- part 2: the vault signs, digitalbazaar verifies ---
function vaultSign(doc, extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), 'vcjs-'));
  const file = join(dir, 'in.json');
  writeFileSync(file, JSON.stringify(doc));
  return JSON.parse(execFileSync(VAULT_BIN,
    ['sign', '--key', join(VAULT_SRC, 'keys/scjgj.key'), '--in', file, ...extraArgs],
    {cwd: VAULT_SRC, encoding: 'utf8'}));
}
const scjgjDid = () => readFileSync(join(VAULT_SRC, 'keys/scjgj.pub'), 'utf8').trim();

test('2a `licence-vault sign` VC (keys/scjgj.key) → digitalbazaar verifyCredential true; tampered → Invalid signature', async () => {
  const signed = vaultSign({
    '@context': [VC_V2], type: ['VerifiableCredential'], issuer: scjgjDid(),
    credentialSubject: {id: 'did:example:1', name: 'Alice'}
  });
  assert.equal(signed.proof.cryptosuite, 'eddsa-jcs-2022');
  const result = await vc.verifyCredential({credential: signed, suite: verifySuite(), documentLoader});
  assert.equal(result.verified, true, String(firstError(result)));
  const bad = clone(signed);
  bad.credentialSubject.name = 'Mallory';
  const r2 = await vc.verifyCredential({credential: bad, suite: verifySuite(), documentLoader});
  assert.equal(r2.verified, false);
  assert.equal(firstError(r2).message, 'Invalid signature.');
});

test('2b `licence-vault sign --presentation` VP → digitalbazaar vc.verify true (wrong challenge → false)', async () => {
  const vp = vaultSign({
    '@context': [VC_V2], type: ['VerifiablePresentation'], holder: scjgjDid(),
    verifiableCredential: [signedVc]
  }, ['--presentation', '--challenge', 'c-123', '--domain', DOMAIN]);
  assert.equal(vp.proof.proofPurpose, 'authentication');
  const ok = await vc.verify({presentation: vp, suite: verifySuite(), challenge: 'c-123', domain: DOMAIN, documentLoader});
  assert.equal(ok.verified, true, String(firstError(ok.presentationResult ?? ok)));
  const no = await vc.verify({presentation: vp, suite: verifySuite(), challenge: 'c-999', domain: DOMAIN, documentLoader});
  assert.equal(no.verified, false);
});

test('2c fixture licences (urn:uscc issuer): vc.verifyCredential refuses on issuer≠controller; the proofs verify', async () => {
  const dir = join(VAULT_SRC, 'fixtures/licences');
  const files = readdirSync(dir).filter(f => f.endsWith('.json')).sort();
  assert.ok(files.length > 0);
  const {AssertionProofPurpose} = jsigs.purposes;
  let proofsOk = 0;
  for(const f of files) {
    const licence = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const r = await vc.verifyCredential({credential: licence, suite: verifySuite(), documentLoader,
      now: licence.validFrom});
    assert.equal(r.verified, false, f);
    assert.equal(firstError(r).message,
      'Credential issuer must match the verification method controller.', f);
    // the same call with jsonld-signatures' plain AssertionProofPurpose (no issuer↔key tie)
    const r2 = await vc.verifyCredential({credential: licence, suite: verifySuite(), documentLoader,
      now: licence.validFrom, purpose: new AssertionProofPurpose()});
    assert.equal(r2.verified, true, `${f}: ${firstError(r2)?.message}`);
    proofsOk++;
  }
  console.log(`# ${files.length} fixture licences: issuer purpose refuses all, ${proofsOk} proofs verify`);
});

test('2d vault deposit receipt + its Bitstring status lists → digitalbazaar verified; suspension bit seen', async () => {
  const tokens = JSON.parse(readFileSync(join(VAULT_DATA, 'demo-tokens.json'), 'utf8'));
  const market = {authorization: `Bearer ${tokens.issuers[SCJGJ_USCC]}`};
  const unsigned = JSON.parse(readFileSync(join(VAULT_SRC, 'docs/examples/food-licence.unsigned.json'), 'utf8'));
  const licence = vaultSign(unsigned);
  const dep = await post('/v1/licences', licence, market);
  assert.equal(dep.status, 201, show(dep));
  const receipt = dep.body;
  assert.deepEqual(receipt.type, ['VerifiableCredential', 'DepositReceipt']);
  assert.match(receipt.issuer, /^did:key:z6Mk/);
  assert.equal(receipt.credentialStatus.length, 2);

  // no checkStatus function: vc refuses a credential with credentialStatus
  const noStatus = await vc.verifyCredential({credential: receipt, suite: verifySuite(), documentLoader});
  assert.equal(noStatus.verified, false);
  assert.match(noStatus.error.message, /"checkStatus" function must be given/);

  const verifyReceipt = () => vc.verifyCredential({
    credential: receipt, suite: verifySuite(), documentLoader, checkStatus
  });
  const r = await verifyReceipt();
  assert.equal(r.verified, true, String(firstError(r) ?? r.statusResult?.error));
  const bits = () => Object.fromEntries(
    r2.statusResult.results.map(x => [x.credentialStatus.statusPurpose, x.status]));
  let r2 = r;
  assert.deepEqual(bits(), {revocation: false, suspension: false});

  // the agency suspends the licence; the vault's re-signed suspension list now has the bit set
  const statement = vaultSign({
    '@context': [VC_V2], licence: unsigned.id, status: 'suspended', reason: 'interop test',
    effectiveAt: new Date().toISOString()
  });
  const st = await post(`/v1/licences/${encodeURIComponent(unsigned.id)}/status`, statement, market);
  assert.equal(st.status, 201, show(st));
  r2 = await verifyReceipt();
  // note: vc still says verified=true; the caller must read the bit (vc-bitstring-status-list design)
  assert.equal(r2.verified, true, String(firstError(r2) ?? r2.statusResult?.error));
  assert.deepEqual(bits(), {revocation: false, suspension: true});
});
