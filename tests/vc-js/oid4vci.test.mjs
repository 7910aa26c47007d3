// A licence taken from the vault by two wallets' OpenID4VCI clients nobody on the team wrote:
// the OpenWallet Foundation's @openid4vc/openid4vci (1.0) and Sphereon's @sphereon/oid4vci-client.
// Each resolves the offer by reference, reads the issuer and authorization server metadata,
// exchanges the pre-authorized code with the transaction code, and receives the licence, which
// must be the stored licence and verify with digitalbazaar's eddsa-jcs-2022 suite. This file is glue.
// Env (set by scripts/vc-clients.sh): VAULT_URL, VAULT_DATA (for demo-tokens.json).
import {test, before} from 'node:test';
import assert from 'node:assert/strict';
import {createHash, randomBytes} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import {Openid4vciClient} from '@openid4vc/openid4vci';
import {clientAuthenticationAnonymous} from '@openid4vc/oauth2';
import {setGlobalConfig} from '@openid4vc/utils';
import {OpenID4VCIClientV1_0_15, CredentialRequestClientBuilderV1_0_15} from '@sphereon/oid4vci-client';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {documentLoader} from './loader.mjs';
import jsigs from 'jsonld-signatures';

const need = name => process.env[name] ?? assert.fail(`${name} is not set (run scripts/vc-clients.sh)`);
const VAULT_URL = need('VAULT_URL').replace(/\/$/, '');
const VAULT_DATA = need('VAULT_DATA');
const PRE_AUTH = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';

// The loopback vault speaks http; the library refuses it unless told this is a test.
setGlobalConfig({allowInsecureUrls: true});


let holderToken;
let licences;
before(async () => {
  const tokens = JSON.parse(readFileSync(join(VAULT_DATA, 'demo-tokens.json'), 'utf8'));
  holderToken = Object.values(tokens.holders)[0];
  const res = await fetch(`${VAULT_URL}/v1/me/licences`, {headers: {authorization: `Bearer ${holderToken}`}});
  assert.equal(res.status, 200);
  // Those that verify now: only such a licence is offered.
  licences = (await res.json()).licences.filter(v => v.licence && v.verdict?.valid).map(v => v.licence);
  assert.ok(licences.length >= 2, 'the demo holder holds at least two licences');
});

async function offer(licence) {
  const res = await fetch(`${VAULT_URL}/v1/me/wallet-offers`, {
    method: 'POST',
    headers: {'content-type': 'application/json', authorization: `Bearer ${holderToken}`},
    body: JSON.stringify({licence: licence.id})
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

async function accessLog() {
  const res = await fetch(`${VAULT_URL}/v1/me/access-log`, {headers: {authorization: `Bearer ${holderToken}`}});
  return (await res.json()).records;
}

// A licence's issuer is the agency's urn:uscc, not a DID, so @digitalbazaar/vc's issuer purpose
// cannot tie it to the key (vc.test.mjs 2c); the proof is checked with the plain assertion purpose.
async function verifiesWithDigitalbazaar(credential) {
  const result = await vc.verifyCredential({
    credential, documentLoader, purpose: new jsigs.purposes.AssertionProofPurpose(),
    now: credential.validFrom,
    suite: new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()})
  });
  assert.equal(result.verified, true, JSON.stringify(result.error ?? result));
}

const callbacks = {
  fetch,
  hash: (data, alg) => createHash(alg.replace('-', '').toLowerCase()).update(data).digest(),
  generateRandom: bytes => randomBytes(bytes),
  clientAuthentication: clientAuthenticationAnonymous(),
  signJwt: () => { throw new Error('no JWT is signed: the vault asks for no key proof'); }
};

test('@openid4vc/openid4vci takes a licence with the pre-authorized code and the transaction code', async () => {
  const licence = licences[0];
  const made = await offer(licence);
  const client = new Openid4vciClient({callbacks});

  const credentialOffer = await client.resolveCredentialOffer(made.offerUri);
  assert.equal(credentialOffer.credential_issuer, VAULT_URL);
  const typeCode = licence.credentialSubject.licence.typeCode;
  assert.deepEqual(credentialOffer.credential_configuration_ids, [typeCode]);
  const grant = credentialOffer.grants[PRE_AUTH];
  assert.deepEqual({mode: grant.tx_code.input_mode, length: grant.tx_code.length}, {mode: 'numeric', length: 6});

  const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
  assert.equal(issuerMetadata.originalDraftVersion, 'V1');
  const configuration = issuerMetadata.credentialIssuer.credential_configurations_supported[typeCode];
  assert.equal(configuration.format, 'ldp_vc');
  assert.deepEqual(configuration.credential_metadata.display.map(d => d.locale), ['zh-CN', 'en']);

  // A wrong transaction code is refused in OAuth's words.
  const wrong = String((Number(made.txCode) + 1) % 1_000_000).padStart(6, '0');
  await assert.rejects(
    client.retrievePreAuthorizedCodeAccessTokenFromOffer({credentialOffer, issuerMetadata, txCode: wrong}),
    e => JSON.stringify(e.errorResponse ?? e.message).includes('invalid_grant'));

  const {accessTokenResponse} = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer, issuerMetadata, txCode: made.txCode
  });
  assert.equal(accessTokenResponse.token_type, 'Bearer');

  const before = (await accessLog()).length;
  const {credentialResponse} = await client.retrieveCredentials({
    issuerMetadata, accessToken: accessTokenResponse.access_token, credentialConfigurationId: typeCode
  });
  const credential = credentialResponse.credentials[0].credential;
  assert.deepEqual(credential, licence, 'the licence exactly as stored');
  await verifiesWithDigitalbazaar(credential);

  // Once: the same token again is refused; the holder's log has the release.
  await assert.rejects(client.retrieveCredentials({
    issuerMetadata, accessToken: accessTokenResponse.access_token, credentialConfigurationId: typeCode
  }));
  const log = await accessLog();
  assert.equal(log.length, before + 1);
  assert.equal(log[0].kind, 'wallet');
  assert.deepEqual(log[0].licences, [licence.id]);
});

test('@sphereon/oid4vci-client takes a licence the same way', async () => {
  const licence = licences[1];
  const made = await offer(licence);
  const typeCode = licence.credentialSubject.licence.typeCode;
  const client = await OpenID4VCIClientV1_0_15.fromURI({uri: made.offerUri, retrieveServerMetadata: true});
  assert.equal(client.getIssuer(), VAULT_URL);
  assert.equal(client.getAccessTokenEndpoint(), `${VAULT_URL}/v1/oid4vci/token`);
  assert.deepEqual(client.getCredentialOfferConfigurationIds(), [typeCode]);

  const token = await client.acquireAccessToken({pin: made.txCode});
  assert.ok(token.access_token.startsWith('vat_'));
  // The client's own request without a key proof (its path for issuers that bind the holder by
  // other means: a licence names its holder's identity number).
  const requests = CredentialRequestClientBuilderV1_0_15
    .fromCredentialOffer({credentialOffer: client.credentialOffer, metadata: client.endpointMetadata})
    .withCredentialConfigurationId(typeCode)
    .withTokenFromResponse(token)
    .build();
  const response = await requests.acquireCredentialsWithoutProof({format: 'ldp_vc'});
  assert.equal(response.origResponse.status, 200, JSON.stringify(response.errorBody));
  const credential = response.successBody.credentials[0].credential;
  assert.deepEqual(credential, licence, 'the licence exactly as stored');
  await verifiesWithDigitalbazaar(credential);
});
