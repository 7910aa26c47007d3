// The offline documentLoader the wallet tests share: the VC v2 context (embedded in
// @digitalbazaar/credentials-context, never fetched) and did:key documents (computed locally).
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {driver as didKeyDriver} from '@digitalbazaar/did-method-key';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';

export const VC_V2 = 'https://www.w3.org/ns/credentials/v2';

export const didKey = didKeyDriver();
didKey.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});

export async function documentLoader(url) {
  if(url === VC_V2) {
    return {contextUrl: null, documentUrl: url, document: credentialsContexts.get(url)};
  }
  if(url.startsWith('did:key:')) {
    return {contextUrl: null, documentUrl: url, document: await didKey.get({url})};
  }
  throw new Error(`documentLoader refuses ${url} (no network)`);
}
