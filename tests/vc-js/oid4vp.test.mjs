// The vault as an approval system's OpenID4VP verifier back-end, answered by a wallet built from
// libraries nobody on the team wrote: the OpenWallet Foundation's @openid4vc/openid4vp parses the
// openid4vp:// URI, fetches and verifies the signed request object (client id prefix
// decentralized_identifier), and posts the answer (direct_post); the `dcql` package checks the
// query and that the licence satisfies it; digitalbazaar's @digitalbazaar/vc signs the
// presentation with the eddsa-jcs-2022 suite. This file is glue.
// Env (set by scripts/vc-clients.sh): VAULT_URL, VAULT_DATA (for demo-tokens.json).
import {test, before} from 'node:test';
import assert from 'node:assert/strict';
import {createHash, randomBytes} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import {Openid4vpClient} from '@openid4vc/openid4vp';
import {setGlobalConfig} from '@openid4vc/utils';
import {DcqlQuery} from 'dcql';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createSignCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {didKey, documentLoader} from './loader.mjs';

const need = name => process.env[name] ?? assert.fail(`${name} is not set (run scripts/vc-clients.sh)`);
const VAULT_URL = need('VAULT_URL').replace(/\/$/, '');
const VAULT_DATA = need('VAULT_DATA');
const REQUESTER = 'fz-scjg-xk';
const MATTER = '350100-SJ-004';          // 食品经营许可证新办: the 营业执照
const COMPANY = '001:91350102MA2XN1A2K0';
const BUSINESS_LICENCE = '11100000000013338W001';

setGlobalConfig({allowInsecureUrls: true});


// The wallet's JWT check: an EdDSA signature by the did:key the signer names.
async function verifyJwt(signer, jwt) {
  if(signer.method !== 'did' || !signer.didUrl.startsWith('did:key:') || jwt.header.alg !== 'EdDSA') {
    return {verified: false};
  }
  const vm = await didKey.get({url: signer.didUrl});
  const key = await Ed25519Multikey.from(vm);
  const [h, p, s] = jwt.compact.split('.');
  const verified = await key.verifier().verify({
    data: new TextEncoder().encode(`${h}.${p}`), signature: Buffer.from(s, 'base64url')
  });
  const signerJwk = await Ed25519Multikey.toJwk({keyPair: key});
  return verified ? {verified: true, signerJwk} : {verified: false};
}

const callbacks = {
  fetch,
  verifyJwt,
  hash: (data, alg) => createHash(alg.replace('-', '').toLowerCase()).update(data).digest(),
  generateRandom: bytes => randomBytes(bytes),
};

let tokens;
let licence;
before(async () => {
  tokens = JSON.parse(readFileSync(join(VAULT_DATA, 'demo-tokens.json'), 'utf8'));
  const res = await fetch(`${VAULT_URL}/v1/me/licences`, {headers: {authorization: `Bearer ${tokens.holders[COMPANY]}`}});
  licence = (await res.json()).licences
    .map(v => v.licence)
    .find(l => l?.credentialSubject?.licence?.typeCode === BUSINESS_LICENCE);
  assert.ok(licence, 'the demo company holds a business licence');
});

// A licence is bound to its holder's identity number, not to a wallet's key: an outside wallet's
// presentation proves only that it holds a copy. A verifier content with that says so in its query.
const BEARER_QUERY = {credentials: [{id: 'business', format: 'ldp_vc',
  meta: {type_values: [['VerifiableCredential', 'ElectronicLicence']]},
  claims: [{path: ['credentialSubject', 'licence', 'typeCode'], values: [BUSINESS_LICENCE]}],
  require_cryptographic_holder_binding: false}]};

async function openTransaction(ask = {matter: MATTER}) {
  const res = await fetch(`${VAULT_URL}/v1/oid4vp/transactions`, {
    method: 'POST',
    headers: {'content-type': 'application/json', authorization: `Bearer ${tokens.requesters[REQUESTER]}`},
    body: JSON.stringify({...ask, purpose: '食品经营许可证新办'})
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

async function transaction(id) {
  const res = await fetch(`${VAULT_URL}/v1/oid4vp/transactions/${id}`, {
    headers: {authorization: `Bearer ${tokens.requesters[REQUESTER]}`}
  });
  assert.equal(res.status, 200);
  return res.json();
}

async function resolve(requestUri) {
  const client = new Openid4vpClient({callbacks});
  const parsed = client.parseOpenid4vpAuthorizationRequest({authorizationRequest: requestUri});
  const resolved = await client.resolveOpenId4vpAuthorizationRequest({authorizationRequestPayload: parsed.params});
  return {client, resolved};
}

async function presentation(request) {
  const holderKey = await Ed25519Multikey.generate({controller: 'did:key:placeholder'});
  const fingerprint = holderKey.publicKeyMultibase;
  holderKey.controller = `did:key:${fingerprint}`;
  holderKey.id = `did:key:${fingerprint}#${fingerprint}`;
  const suite = new DataIntegrityProof({signer: holderKey.signer(), cryptosuite: createSignCryptosuite()});
  const unsigned = vc.createPresentation({verifiableCredential: [licence], holder: holderKey.controller, version: 2.0});
  return vc.signPresentation({
    presentation: unsigned, suite, documentLoader,
    challenge: request.nonce, domain: request.client_id
  });
}

test('@openid4vc/openid4vp as the wallet answers a transaction; the requester gets a valid verdict', async () => {
  const opened = await openTransaction({dcqlQuery: BEARER_QUERY});
  const {client, resolved} = await resolve(opened.requestUri);
  const request = resolved.authorizationRequestPayload;
  assert.equal(resolved.client.prefix, 'decentralized_identifier');
  assert.equal(resolved.jar.sendBy, 'reference');
  assert.equal(request.response_mode, 'direct_post');
  assert.equal(request.client_id, opened.transaction.clientId);

  // The dcql package reads the query and finds that the licence satisfies it.
  const query = DcqlQuery.parse(resolved.dcql.query);
  DcqlQuery.validate(query);
  const matched = DcqlQuery.query(query, [{
    credential_format: 'ldp_vc', type: licence.type, claims: licence, cryptographic_holder_binding: true
  }]);
  assert.equal(matched.can_be_satisfied, true, JSON.stringify(matched));
  const queryId = query.credentials[0].id;

  const vp = await presentation(request);
  const response = await client.createOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: {vp_token: {[queryId]: [vp]}}
  });
  const submitted = await client.submitOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: response.authorizationResponsePayload
  });
  assert.equal(submitted.response.status, 200, await submitted.response.clone().text());

  const t = await transaction(opened.transaction.id);
  assert.equal(t.state, 'answered');
  assert.equal(t.result.valid, true, JSON.stringify(t.result));
  const p = t.result.presentations[0];
  assert.deepEqual([p.query, p.matches, p.verdict.valid, p.credentials[0].valid], [queryId, true, true, true]);
  assert.equal(p.holderBound, null, 'an outside wallet is not shown to be the holder');
  const checks = Object.fromEntries(p.verdict.checks.map(c => [c.check, c.ok]));
  assert.deepEqual([checks.challenge, checks.domain, checks.signature], [true, true, true]);

  // The same answer again (a replayed state) is refused.
  const again = await client.submitOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: response.authorizationResponsePayload
  });
  assert.equal(again.response.status, 400);
  assert.equal((await again.response.json()).error, 'invalid_request');
});

test('@openid4vc/openid4vp: a matter asks for the holder bound (refused for a copy); another verifier\'s presentation is domain_mismatch; a refusal is kept', async () => {
  {
    const opened = await openTransaction();
    const {client, resolved} = await resolve(opened.requestUri);
    const request = resolved.authorizationRequestPayload;
    const queryId = resolved.dcql.query.credentials[0].id;
    const vp = await presentation(request);
    const response = await client.createOpenid4vpAuthorizationResponse({
      authorizationRequestPayload: request, authorizationResponsePayload: {vp_token: {[queryId]: [vp]}}
    });
    await client.submitOpenid4vpAuthorizationResponse({
      authorizationRequestPayload: request, authorizationResponsePayload: response.authorizationResponsePayload
    });
    const t = await transaction(opened.transaction.id);
    const p = t.result.presentations[0];
    assert.deepEqual([t.result.valid, p.verdict.valid, p.matches, p.holderBound], [false, true, true, null]);
  }
  const opened = await openTransaction();
  const {client, resolved} = await resolve(opened.requestUri);
  const request = resolved.authorizationRequestPayload;
  const queryId = resolved.dcql.query.credentials[0].id;
  const vp = await presentation({...request, client_id: 'redirect_uri:https://elsewhere.example/cb'});
  const response = await client.createOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: {vp_token: {[queryId]: [vp]}}
  });
  await client.submitOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request, authorizationResponsePayload: response.authorizationResponsePayload
  });
  const t = await transaction(opened.transaction.id);
  assert.equal(t.result.valid, false);
  const domain = t.result.presentations[0].verdict.checks.find(c => c.check === 'domain');
  assert.deepEqual([domain.ok, domain.code], [false, 'domain_mismatch']);

  const refused = await openTransaction();
  const second = await resolve(refused.requestUri);
  const error = await second.client.createOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: second.resolved.authorizationRequestPayload,
    authorizationResponsePayload: {error: 'access_denied', error_description: 'the holder said no'}
  });
  const sent = await second.client.submitOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: second.resolved.authorizationRequestPayload,
    authorizationResponsePayload: error.authorizationResponsePayload
  });
  assert.equal(sent.response.status, 200);
  const r = await transaction(refused.transaction.id);
  assert.deepEqual([r.state, r.result.error], ['refused', 'access_denied']);
});

test('@openid4vc/openid4vp as an outside verifier asks; the holder approves on the vault; the verifier accepts the answer', async () => {
  const {createServer} = await import('node:http');
  const {Openid4vpVerifier} = await import('@openid4vc/openid4vp');
  let posted;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', c => { body += c; });
    req.on('end', () => {
      posted = Object.fromEntries(new URLSearchParams(body));
      res.writeHead(200, {'content-type': 'application/json'}).end('{}');
    });
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  const cb = `http://127.0.0.1:${server.address().port}/cb`;
  try {
    const verifier = new Openid4vpVerifier({callbacks: {...callbacks,
      signJwt: () => { throw new Error('a redirect_uri request is not signed'); }}});
    const nonce = randomBytes(16).toString('base64url');
    const {authorizationRequest, authorizationRequestPayload} = await verifier.createOpenId4vpAuthorizationRequest({
      authorizationRequestPayload: {
        response_type: 'vp_token', client_id: `redirect_uri:${cb}`, response_uri: cb,
        response_mode: 'direct_post', nonce, state: 'outside-1',
        dcql_query: {credentials: [{id: 'business', format: 'ldp_vc',
          meta: {type_values: [['https://www.w3.org/ns/credentials/issuer-dependent#ElectronicLicence']]},
          claims: [{path: ['credentialSubject', 'licence', 'typeCode'], values: [BUSINESS_LICENCE]}]}]}
      }
    });

    // The holder, on the vault: the request resolved, who asks and what would leave, approved.
    const holder = {'content-type': 'application/json', authorization: `Bearer ${tokens.holders[COMPANY]}`};
    const resolved = await fetch(`${VAULT_URL}/v1/me/oid4vp/requests`, {
      method: 'POST', headers: holder, body: JSON.stringify({uri: authorizationRequest})
    });
    const shown = await resolved.json();
    assert.equal(resolved.status, 201, JSON.stringify(shown));
    assert.equal(shown.verifier, `redirect_uri:${cb}`);
    assert.equal(shown.answers[0].licence, licence.id);
    const approved = await fetch(`${VAULT_URL}/v1/me/oid4vp/requests/${shown.id}:approve`, {
      method: 'POST', headers: holder, body: '{}'
    });
    const done = await approved.json();
    assert.equal(done.delivered, 200, JSON.stringify(done));

    // The verifier's side: the library parses and validates the answer against its request.
    const parsed = await verifier.parseOpenid4vpAuthorizationResponse({
      authorizationResponse: posted, authorizationRequestPayload
    });
    assert.equal(parsed.expectedNonce, nonce);
    assert.equal(parsed.authorizationResponsePayload.state, 'outside-1');
    const vp = parsed.type === 'dcql' ? parsed.dcql.presentations.business[0] :
      JSON.parse(posted.vp_token).business[0];
    assert.deepEqual(vp.verifiableCredential[0], licence);
    // And digitalbazaar checks the presentation's proof: the nonce, the client id, the vault's key.
    const result = await vc.verify({
      presentation: vp, challenge: nonce, domain: `redirect_uri:${cb}`, documentLoader,
      suite: new DataIntegrityProof({cryptosuite: (await import('@digitalbazaar/eddsa-jcs-2022-cryptosuite')).createVerifyCryptosuite()}),
      presentationPurpose: undefined, checkStatus: async () => ({verified: true}),
      purpose: undefined, unsignedPresentation: false,
    });
    assert.equal(result.presentationResult.verified, true, JSON.stringify(result.presentationResult));
  } finally {
    server.close();
  }
});
