// The vault's pages in a real headless Chromium against the real server (SPEC §12).
// scripts/web-test.sh starts `serve --demo` on a temp RocksDB and runs this file with
//   BASE (the vault's URL), DATA (its data directory: demo-tokens.json), BIN (the licence-vault
//   binary: gen and sign), SHOTS (where the screenshots go).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const BASE = process.env.BASE;
const DATA = process.env.DATA;
const BIN = process.env.BIN;
const SHOTS = process.env.SHOTS || join(DATA, 'screenshots');
const tmp = join(DATA, 'web-test');
mkdirSync(tmp, { recursive: true });
mkdirSync(SHOTS, { recursive: true });
const tokens = JSON.parse(readFileSync(join(DATA, 'demo-tokens.json'), 'utf8'));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// The demo holders these tests use; each test has its own, so no test sees another's consents.
const HUANG = '111:350104197911050571';   // approves a request
const ZHENG = '111:350111199206171282';   // narrows while approving
const WU = '111:350102199612030462';      // approves, then withdraws
const WANG = '111:350105199011280350';    // shows a licence in person
const LI = '111:35011220010426093X';      // holds a licence whose face field is "<script>"
const ZHANG = '111:350121198808080714';   // asks for a correction and objects to a use
const REQUESTER = 'fz-rs-zwfw';
const MATTER = '350100-RS-007';           // 居民身份证 (姓名) + 社会保障卡 (姓名, 社会保障号码, 卡号)
const ID_CARD = '11100000000019713D001';
const SS_CARD = '11100000717800963N002';
const POLICE = '113501000035902487';      // 福州市公安局, key keys/gaj.key

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; " +
  "require-trusted-types-for 'script'; trusted-types 'none'";

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });

async function call(token, method, path, body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// A fresh browser (no cookies, no storage) at phone width unless told otherwise.
async function fresh(opts = {}) {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 }, locale: 'zh-CN', ...opts });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { context, page, errors };
}

// Signs in on `realm` as the demo principal whose label contains `who`.
async function signIn(page, realm, who) {
  await page.goto(BASE + '/' + realm);
  await page.locator('button[data-demo]', { hasText: who }).click();
  await page.locator('#signout').waitFor();
}

async function askConsent(holder, types) {
  const r = await call(tokens.requesters[REQUESTER], 'POST', '/v1/consent-requests',
    { holder, matter: MATTER, purpose: '页面测试', ...(types ? { types } : {}), maxUses: 3 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function pull(holder) {
  const r = await call(tokens.requesters[REQUESTER], 'POST', '/v1/reuse', { holder, matter: MATTER, purpose: '页面测试' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return Object.fromEntries(r.body.results.map((x) => [x.type, x]));
}

async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target).join(' ')}`), []);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + '.png') });
}

test('a holder approves a request on /me, and the approval system\'s pull is then provided', async () => {
  const id = await askConsent(HUANG);
  const { context, page, errors } = await fresh();
  await signIn(page, 'me', '黄建华');
  const card = page.locator('#req-' + id);
  await card.waitFor();
  // The preview shows what would leave: only the matter's declared fields.
  await assert.doesNotReject(card.getByText('社会保障号码').waitFor());
  await shot(page, 'me');
  await card.getByRole('button', { name: '同意' }).click();
  await page.locator('#status', { hasText: '已同意' }).waitFor();
  await page.locator('#req-' + id).waitFor({ state: 'detached' });
  const got = await pull(HUANG);
  assert.equal(got[ID_CARD].outcome, 'provided');
  assert.equal(got[SS_CARD].outcome, 'provided');
  assert.deepEqual([...got[SS_CARD].disclosed].sort(), ['卡号', '姓名', '社会保障号码'].sort());
  assert.equal(got[SS_CARD].licence, undefined, 'only the declared fields leave');
  // The holder sees the pull in the access log.
  await page.reload();
  await page.locator('#log .log-entry', { hasText: '页面测试' }).first().waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test('an approval system asking again and again: /me rejects all of its requests at once', async () => {
  const ids = [await askConsent(HUANG), await askConsent(HUANG), await askConsent(HUANG)];
  const { context, page, errors } = await fresh();
  await signIn(page, 'me', '黄建华');
  await page.locator('#req-' + ids[2]).waitFor();
  const all = page.locator('button.reject-all');
  assert.match(await all.textContent(), /拒绝 .+ 的全部 \d+ 个请求/);
  await all.click();
  await page.locator('#status', { hasText: /已拒绝 \d+ 个请求/ }).waitFor();
  for (const id of ids) {
    await page.locator('#req-' + id).waitFor({ state: 'detached' });
    const r = await call(tokens.requesters[REQUESTER], 'GET', `/v1/consent-requests/${id}`);
    assert.equal(r.body.state, 'rejected');
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('narrowing while approving: the unticked type is not provided', async () => {
  const id = await askConsent(ZHENG);
  const { context, page } = await fresh();
  await signIn(page, 'me', '郑丽娟');
  const card = page.locator('#req-' + id);
  await card.locator(`input[value="${SS_CARD}"]`).uncheck();
  await card.getByRole('button', { name: '同意' }).click();
  await page.locator('#status', { hasText: '已同意' }).waitFor();
  const got = await pull(ZHENG);
  assert.equal(got[ID_CARD].outcome, 'provided');
  assert.equal(got[SS_CARD].outcome, 'not_provided');
  assert.equal(got[SS_CARD].reason, 'no_consent');
  await context.close();
});

test('withdrawing a consent on /me: the next pull is not provided, and receipts download', async () => {
  const id = await askConsent(WU);
  const { context, page } = await fresh({ acceptDownloads: true });
  await signIn(page, 'me', '吴晓燕');
  await page.locator('#req-' + id).getByRole('button', { name: '同意' }).click();
  await page.locator('#status', { hasText: '已同意' }).waitFor();
  const consents = (await call(tokens.holders[WU], 'GET', '/v1/me/consents')).body.consents;
  const consent = consents.find((c) => c.matter === MATTER && c.state === 'active');
  const card = page.locator(`article.consent[data-id="${consent.id}"]`);
  await card.locator('.remaining', { hasText: '3' }).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), card.getByRole('button', { name: '下载授权回执' }).click()]);
  const receipts = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(receipts.receipts.length, 1);
  await card.getByRole('button', { name: '撤回授权' }).click();
  await page.locator('#status', { hasText: '授权已撤回' }).waitFor();
  await page.locator(`article.consent[data-id="${consent.id}"] .badge`, { hasText: '已撤回' }).waitFor();
  const got = await pull(WU);
  assert.equal(got[ID_CARD].outcome, 'not_provided');
  assert.equal(got[ID_CARD].reason, 'consent_withdrawn');
  assert.equal(got[SS_CARD].outcome, 'not_provided');
  await context.close();
});

test('a holder exports everything on /me: one archive that the CLI verifies against the vault', async () => {
  const { context, page, errors } = await fresh({ acceptDownloads: true });
  await signIn(page, 'me', '吴晓燕');
  const button = page.getByRole('button', { name: '导出我的全部数据' });
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  await page.locator('#export', { hasText: /已下载导出 exp_/ }).waitFor();
  const file = await download.path();
  const bytes = readFileSync(file);
  assert.equal(bytes.subarray(257, 262).toString(), 'ustar');
  let out = '';
  try {
    out = execFileSync(BIN, ['verify', '--in', file, '--vault', BASE]).toString();
  } catch (e) {
    assert.fail('verify refused the export: ' + e.stdout + e.stderr);
  }
  const verdict = JSON.parse(out);
  assert.equal(verdict.valid, true);
  assert.match(verdict.checks.find((c) => c.check === 'integrity').detail, /^\d+ files match the manifest$/);
  // The export itself is the newest record of the holder's access log.
  const log = (await call(tokens.holders[WU], 'GET', '/v1/me/access-log')).body.records;
  assert.equal(log[0].kind, 'export');
  await page.reload();
  await page.locator('#log .log-entry', { hasText: '导出本人数据' }).first().waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test('a correction asked on /me is refused on /agency, and an objection raised on /me is answered on /verify', async () => {
  // 张伟 asks the police to correct his 居民身份证, marking it disputed meanwhile.
  const holder = await fresh({ viewport: { width: 1280, height: 900 } });
  await signIn(holder.page, 'me', '张伟');
  const card = holder.page.locator(`article.licence:has(h3:text-is("居民身份证"))`);
  const form = card.locator('details.correct');
  await form.locator('summary').click();
  await form.locator('input[name=field][value="住址"]').check();
  await form.locator('input[name=claimed][data-field="住址"]').fill('福建省福州市闽侯县上街镇大学城学府路2号');
  await form.locator('textarea[name=problem]').fill('住址门牌号错误');
  await form.locator('input[name=disputed]').check();
  await form.getByRole('button', { name: '提交更正申请' }).click();
  await holder.page.locator('#status', { hasText: '已提交，发证机关应于' }).waitFor();
  const mine = holder.page.locator('#rights article.correction').first();
  await mine.locator('.badge', { hasText: '处理中' }).waitFor();
  await mine.locator('.badge', { hasText: '持证人有异议' }).waitFor();
  // The licence's verdict says it is disputed, and still valid.
  await holder.page.reload();
  const said = card.locator('.verdict p.disputed');
  await said.waitFor({ state: 'attached' });
  assert.match(await said.textContent(), /对 住址 有异议/);
  await card.locator('.badge', { hasText: '持证人有异议' }).waitFor();

  // The police see it with the value claimed, and refuse it with a reason.
  const agency = await fresh({ viewport: { width: 1280, height: 900 } });
  await signIn(agency.page, 'agency', POLICE);
  const toAnswer = agency.page.locator('#corrections article.correction', { hasText: '住址门牌号错误' });
  await toAnswer.getByText('福建省福州市闽侯县上街镇大学城学府路2号').waitFor();
  await toAnswer.locator('textarea[name=reason]').fill('住址以户籍登记为准，请先到派出所办理住址变更');
  await toAnswer.getByRole('button', { name: '不予更正' }).click();
  await agency.page.locator('#status', { hasText: '已答复：不予更正' }).waitFor();
  await holder.page.reload();
  await holder.page.locator('#rights article.correction', { hasText: '住址以户籍登记为准' })
    .locator('.badge', { hasText: '不予更正' }).waitFor();

  // A use 张伟 did not expect: he objects on /me and asks for deletion.
  const consent = await call(tokens.holders[ZHANG], 'POST', '/v1/me/consents',
    { requester: REQUESTER, matter: MATTER, purpose: '页面测试', types: [ID_CARD], expiresAt: new Date(Date.now() + 86400e3).toISOString() });
  assert.equal(consent.status, 201, JSON.stringify(consent.body));
  await pull(ZHANG);
  await holder.page.reload();
  const entry = holder.page.locator('#log .log-entry', { hasText: '页面测试' }).first();
  await entry.locator('details.object summary').click();
  await entry.locator('textarea[name=reason]').fill('我没有申请社保业务');
  await entry.locator('input[name=askDeletion]').check();
  await entry.getByRole('button', { name: '提交异议' }).click();
  await holder.page.locator('#status', { hasText: '已提交给' }).waitFor();

  // The approval system answers on /verify with its legal basis and attests deletion.
  const requester = await fresh({ viewport: { width: 1280, height: 900 } });
  await signIn(requester.page, 'verify', REQUESTER);
  const objection = requester.page.locator('#objections article.objection', { hasText: '我没有申请社保业务' });
  await objection.getByText('持证人要求删除所获取的信息').waitFor();
  await objection.locator('textarea[name=legalBasis]').fill('《社会保险法》第五十八条');
  await objection.locator('input[name=deleted]').check();
  await objection.getByRole('button', { name: '答复' }).click();
  await requester.page.locator('#status', { hasText: '已答复' }).waitFor();
  await holder.page.reload();
  const answered = holder.page.locator('#rights article.objection', { hasText: '我没有申请社保业务' });
  await answered.getByText('依据：《社会保险法》第五十八条').waitFor();
  await answered.getByText(/对方已于 .+ 确认删除（金库签名）/).waitFor();
  // The supervisor sees the objection and its answer on /supervise.
  const supervisor = await fresh({ viewport: { width: 1280, height: 900 } });
  await signIn(supervisor.page, 'supervise', 'fz-dsj');
  await supervisor.page.selectOption('#objection-state', 'all');
  const seen = supervisor.page.locator('#objections article.objection', { hasText: '我没有申请社保业务' });
  await seen.getByText('《社会保险法》第五十八条').waitFor();
  await seen.locator('.badge', { hasText: '已答复' }).waitFor();
  assert.deepEqual(supervisor.errors, []);
  await supervisor.context.close();
  await shot(holder.page, 'me-rights');
  for (const p of [holder, agency, requester]) {
    assert.deepEqual(p.errors, []);
    await p.context.close();
  }
});

// Every requester id and licence type code the registries know: none may be the only label of
// anything a person reads (a name is shown, the code only in its title).
function rawCodes() {
  const reg = (f) => JSON.parse(readFileSync(join(root, 'fixtures', f), 'utf8'));
  return new Set([...reg('requesters.json').requesters.map((r) => r.id), ...reg('catalogue.json').types.map((t) => t.typeCode)]);
}

async function visibleCodes(page, codes) {
  return page.evaluate((codes) => {
    const found = [];
    const walk = document.createTreeWalker(document.getElementById('main'), NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement;
      if (!el || !el.checkVisibility()) continue;
      for (const token of n.textContent.split(/[\s,，、·:：()（）]+/)) {
        if (codes.includes(token)) found.push(`${token} in <${el.tagName.toLowerCase()} class="${el.className}">`);
      }
    }
    return found;
  }, [...codes]);
}

test('pages show names, not codes: no requester id or type code is the only label of anything', async () => {
  const codes = rawCodes();
  const { context, page } = await fresh({ viewport: { width: 1280, height: 900 } });
  await signIn(page, 'me', '黄建华');
  await page.locator('#log .log-entry').first().waitFor();
  await page.locator('#consents article.consent').first().waitFor();
  // Open every collapsed part so that what it holds is checked too.
  await page.evaluate(() => document.querySelectorAll('#main details').forEach((d) => { d.open = true; }));
  assert.deepEqual(await visibleCodes(page, codes), []);
  // The overview counts what the sections hold.
  const overview = await page.locator('#overview .overview').textContent();
  assert.match(overview, /\d+ 张证照/);
  assert.match(overview, /\d+ 项有效授权/);
  // The code is there on request.
  const requester = page.locator('#consents article.consent h3 span[data-code]').first();
  assert.equal(await requester.getAttribute('title'), await requester.getAttribute('data-code'));
  for (const [realm, who] of [['agency', POLICE], ['verify', REQUESTER]]) {
    await signIn(page, realm, who);
    await page.evaluate(() => document.querySelectorAll('#main details').forEach((d) => { d.open = true; }));
    assert.deepEqual(await visibleCodes(page, codes), [], realm);
  }
  await context.close();
});

test('a presentation code made on /me is redeemed once on /verify and is dead on reuse', async () => {
  const holder = await fresh();
  await signIn(holder.page, 'me', '王海峰');
  const lic = holder.page.locator('article.licence').first();
  await lic.locator('summary', { hasText: '亮证' }).click();
  await lic.locator('input[name=field]').first().check();
  await lic.getByRole('button', { name: '生成亮证码' }).click();
  const shown = holder.page.locator('article.presentation.fresh');
  await shown.locator('img.qr').waitFor();
  const code = (await shown.locator('.code').textContent()).trim();
  assert.match(code, /^[A-Z2-7]{4}(-[A-Z2-7]{4})+$/);
  const left = await shown.locator('.countdown').textContent();
  assert.match(left, /^剩余 \d+ 秒$/);
  await holder.page.waitForFunction((before) => document.querySelector('article.presentation.fresh .countdown').textContent !== before, left);
  assert.match(await shown.locator('.countdown').textContent(), /^剩余 \d+ 秒$/, 'the countdown runs');

  const clerk = await fresh({ acceptDownloads: true });
  await signIn(clerk.page, 'verify', REQUESTER);
  await clerk.page.fill('#code', code);
  await clerk.page.getByRole('button', { name: '核销' }).click();
  const out = clerk.page.locator('#redeem-result .redeemed');
  await out.waitFor();
  await out.locator('.verdict.valid').waitFor();
  assert.equal(await out.locator('dl.fields dt').count(), 1, 'only the one chosen field is shown');
  await clerk.page.fill('#code', code);
  await clerk.page.getByRole('button', { name: '核销' }).click();
  await clerk.page.locator('#redeem-result .error[data-code="presentation_used"]').waitFor();
  // The holder sees the showing.
  await holder.page.reload();
  await holder.page.locator('#log .log-entry', { hasText: '现场亮证' }).first().waitFor();
  await holder.context.close();
  await clerk.context.close();
});

test('a licence offered to a wallet on /me: the QR and transaction code shown, the wallet takes it once, the log says so', async () => {
  const holder = await fresh();
  await signIn(holder.page, 'me', '王海峰');
  const lic = holder.page.locator('article.licence').first();
  const licenceId = await lic.getAttribute('data-id');
  await lic.locator('summary', { hasText: '存入我的证照钱包' }).click();
  await lic.getByRole('button', { name: '生成钱包领取码' }).click();
  const qr = lic.locator('.wallet-offer img.qr');
  await qr.waitFor();
  const offerUri = await qr.getAttribute('data-offer-uri');
  const txCode = (await lic.locator('.wallet-offer .tx-code').textContent()).trim();
  assert.match(txCode, /^\d{6}$/);
  assert.match(await lic.locator('.wallet-offer .countdown').textContent(), /^剩余 \d+ 秒$/);
  await axe(holder.page, 'me with a wallet offer');

  // The wallet's side, as a wallet would: the offer by reference, the token, the credential.
  const ref = new URL(offerUri).searchParams.get('credential_offer_uri');
  const offer = await (await fetch(ref)).json();
  const grant = offer.grants['urn:ietf:params:oauth:grant-type:pre-authorized_code'];
  const token = await (await fetch(BASE + '/v1/oid4vci/token', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:pre-authorized_code',
      'pre-authorized_code': grant['pre-authorized_code'], tx_code: txCode }),
  })).json();
  const got = await fetch(BASE + '/v1/oid4vci/credential', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token.access_token },
    body: JSON.stringify({ credential_configuration_id: offer.credential_configuration_ids[0] }),
  });
  assert.equal(got.status, 200);
  const credential = (await got.json()).credentials[0].credential;
  assert.equal(credential.id, licenceId.startsWith('urn:') ? licenceId : 'urn:gbt36904:' + licenceId);

  await holder.page.reload();
  await holder.page.locator('#log .log-entry', { hasText: '存入证照钱包' }).first().waitFor();
  assert.deepEqual(holder.errors, []);
  await holder.context.close();
});

test('OpenID4VP end to end: the approval system shows a QR on /verify, the holder presents on /me, the verdict appears', async () => {
  const clerk = await fresh();
  await signIn(clerk.page, 'verify', 'fz-scjg-xk');
  await clerk.page.fill('#ask-matter', '350100-SJ-004');
  await clerk.page.fill('#ask-purpose', '页面测试：食品经营许可证新办');
  await clerk.page.getByRole('button', { name: '生成二维码' }).click();
  const qr = clerk.page.locator('#ask-result img.qr');
  await qr.waitFor();
  const requestUri = await qr.getAttribute('data-request-uri');
  assert.match(requestUri, /^openid4vp:\/\/\?client_id=decentralized_identifier%3Adid%3Akey%3Az6Mk/);
  await axe(clerk.page, 'verify with a presentation request');

  const holder = await fresh();
  await signIn(holder.page, 'me', '福州闽味餐饮');
  await holder.page.fill('#vp-uri', requestUri);
  await holder.page.getByRole('button', { name: '打开请求' }).click();
  const card = holder.page.locator('article.vp-request');
  await card.waitFor();
  // Who asks, for which matter and purpose, and what would leave: names, not codes.
  await card.getByText('福州市市场监督管理局行政许可审批系统').waitFor();
  await card.getByText('页面测试：食品经营许可证新办').waitFor();
  await card.getByText('营业执照').first().waitFor();
  await axe(holder.page, 'me with a verifier request');
  await card.getByRole('button', { name: '出示' }).click();
  await holder.page.locator('.vp-done[data-state="approved"]').waitFor();
  await holder.page.locator('#log .log-entry', { hasText: '向核验方出示' }).first().waitFor();

  // The approval system's page shows the verdict of the wallet's answer.
  const answered = clerk.page.locator('#ask-result .answered[data-valid="true"]');
  await answered.waitFor({ timeout: 10000 });
  await answered.locator('.verdict.valid').first().waitFor();
  assert.deepEqual(holder.errors, []);
  assert.deepEqual(clerk.errors, []);
  await holder.context.close();
  await clerk.context.close();
});

test('a licence printed on /me: /verify checks the PDF, and its QR code opens the check without signing in', async () => {
  const { context, page, errors } = await fresh({ acceptDownloads: true });
  await signIn(page, 'me', '黄建华');
  const button = page.getByRole('button', { name: '下载打印件（PDF）' }).first();
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  const file = join(tmp, 'printed.pdf');
  await download.saveAs(file);
  const bytes = readFileSync(file);
  assert.equal(bytes.subarray(0, 8).toString(), '%PDF-1.7');
  const id = /\/LicenceVaultPrint \((urn:uuid:[0-9a-f-]+)\)/.exec(bytes.toString('latin1'))[1];
  await context.close();

  // The approval system's clerk checks the PDF on /verify: the seal, the page, the licence.
  const clerk = await fresh();
  await signIn(clerk.page, 'verify', REQUESTER);
  await clerk.page.setInputFiles('#pdf-file', file);
  await clerk.page.getByRole('button', { name: '核验打印件' }).click();
  await clerk.page.locator('#pdf-result .verdict.valid').waitFor();
  for (const name of ['签章', '页面内容']) {
    await clerk.page.locator('#pdf-result .check.ok', { hasText: name }).waitFor();
  }
  await axe(clerk.page, 'verify-pdf');
  // A stamped copy the clerk's system was given, checked on /verify, downloads as its PDF.
  const consent = await call(tokens.holders[HUANG], 'POST', '/v1/me/consents',
    { requester: REQUESTER, matter: MATTER, purpose: '打印测试', types: [ID_CARD], expiresAt: new Date(Date.now() + 86400e3).toISOString() });
  assert.equal(consent.status, 201, JSON.stringify(consent.body));
  const copy = (await pull(HUANG))[ID_CARD].stampedCopy;
  await clerk.page.fill('#doc', JSON.stringify(copy));
  await clerk.page.getByRole('button', { name: '核验', exact: true }).click();
  await clerk.page.locator('#verify-result .verdict.valid').waitFor();
  const [copyPdf] = await Promise.all([clerk.page.waitForEvent('download'), clerk.page.locator('#copy-pdf').click()]);
  const copyFile = join(tmp, 'copy.pdf');
  await copyPdf.saveAs(copyFile);
  assert.equal(readFileSync(copyFile).subarray(0, 8).toString(), '%PDF-1.7');
  await clerk.context.close();

  // Anyone holding the paper scans the QR code: the vault's copy of the page, verified now.
  const paper = await fresh();
  await paper.page.goto(BASE + '/verify#print=' + id);
  await paper.page.locator('#print-result .verdict.valid').waitFor();
  await paper.page.locator('#print-result dd', { hasText: id }).waitFor();
  assert.equal(new URL(paper.page.url()).hash, '', 'the print id leaves the address bar');
  await axe(paper.page, 'verify-print');
  assert.deepEqual([...errors, ...clerk.errors, ...paper.errors], []);
  await paper.context.close();
});

test('/verify shows a tampered licence as bad_signature, check by check, and an intact one as valid', async () => {
  const { context, page } = await fresh();
  await signIn(page, 'verify', REQUESTER);
  const dir = join(root, 'fixtures', 'licences');
  const doc = JSON.parse(readFileSync(join(dir, readdirSync(dir).sort()[0]), 'utf8'));
  await page.fill('#doc', JSON.stringify(doc));
  await page.getByRole('button', { name: '核验', exact: true }).click();
  await page.locator('#verify-result .verdict.valid').waitFor();
  doc.credentialSubject.holder.name = '篡改';
  await page.fill('#doc', JSON.stringify(doc));
  await page.getByRole('button', { name: '核验', exact: true }).click();
  const fail = page.locator('#verify-result .check.fail .reason[data-code="bad_signature"]');
  await fail.waitFor();
  assert.match(await fail.textContent(), /签名无效/);
  assert.equal(await page.locator('#verify-result .verdict-head').textContent().then((t) => t.startsWith('核验未通过')), true);
  await page.locator('#verify-result').evaluate((el) => el.scrollIntoView());
  await shot(page, 'verify');
  // A duplicate member is refused as ambiguous JSON, not guessed at.
  await page.fill('#doc', '{"a":1,"a":2}');
  await page.getByRole('button', { name: '核验', exact: true }).click();
  await page.locator('#verify-result .error[data-code="malformed_json"]').waitFor();
  await context.close();
});

// Licences of one agency from `gen`, as JSON Lines, and that agency's USCC.
function generated(count, seed) {
  const out = join(tmp, `gen-${seed}.jsonl`);
  execFileSync(BIN, ['gen', '--count', String(count), '--out', out, '--seed', String(seed), '--quiet',
    '--keys', join(root, 'keys'), '--fixtures', join(root, 'fixtures')], { stdio: 'ignore' });
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  const by = {};
  for (const l of lines) (by[JSON.parse(l).issuer.id] ||= []).push(l);
  const [issuer, mine] = Object.entries(by).sort((a, b) => b[1].length - a[1].length)[0];
  return { uscc: issuer.replace('urn:uscc:', ''), lines: mine };
}

test('/agency uploads a JSON Lines file with one bad line: per-line results, and it resumes', async () => {
  const { uscc, lines } = generated(60, 4242);
  assert.ok(lines.length >= 3);
  const file = join(tmp, 'upload.jsonl');
  const content = [lines[0], '{"id": "truncated', lines[1], lines[2]];
  writeFileSync(file, content.join('\n') + '\n');
  const { context, page } = await fresh();
  await signIn(page, 'agency', uscc);
  await page.setInputFiles('#jsonl', file);
  await page.locator('#jsonl-counts', { hasText: '共 4 行' }).waitFor();
  await page.getByRole('button', { name: '开始存入' }).click();
  await page.locator('#status', { hasText: '完成：成功 3，失败 1' }).waitFor();
  const items = page.locator('#jsonl-results li');
  assert.equal(await items.count(), 4);
  assert.deepEqual(await items.evaluateAll((li) => li.map((l) => l.className)), ['ok', 'error', 'ok', 'ok']);
  assert.equal(await items.nth(1).getAttribute('data-code'), 'malformed_json');
  assert.match(await items.nth(0).textContent(), /第 1 行: 已存入/);
  // The recent deposits list shows them.
  for (const l of [lines[0], lines[1], lines[2]]) {
    await page.locator(`#deposits li[data-id="${JSON.parse(l).id}"]`).waitFor();
  }
  await page.locator('#file').evaluate((el) => el.scrollIntoView());
  await shot(page, 'agency');
  // Resuming: progress is kept per file (name, size, date). Pretend a break after line 2: the same
  // file picked again resumes at line 3, and those lines are answered as already deposited
  // (deposits are idempotent).
  await page.evaluate(() => {
    const f = document.getElementById('jsonl').files[0];
    localStorage.setItem(`lv-upload:${f.name}:${f.size}:${f.lastModified}`, '2');
  });
  await page.setInputFiles('#jsonl', []);
  await page.setInputFiles('#jsonl', file);
  await page.locator('#jsonl-counts', { hasText: '上次已处理 2/4 行' }).waitFor();
  await page.getByRole('button', { name: '继续存入' }).click();
  await page.locator('#status', { hasText: '完成：成功 2，失败 0' }).waitFor();
  assert.deepEqual(await page.locator('#jsonl-results li').evaluateAll((li) => li.map((l) => l.textContent)),
    ['第 3 行: 此前已存入（相同内容）', '第 4 行: 此前已存入（相同内容）']);
  await context.close();
});

test('/agency posts a status statement and lists the notice that went out', async () => {
  // A requester is provided one of the police's licences, then the police suspend it.
  const holder = WANG;
  const id = await askConsent(holder, [ID_CARD]);
  await call(tokens.holders[holder], 'POST', `/v1/me/consent-requests/${id}:approve`, {});
  const provided = await pull(holder);
  const licence = provided[ID_CARD].licenceId;
  assert.ok(licence);
  const unsigned = { '@context': ['https://www.w3.org/ns/credentials/v2'], licence, status: 'suspended',
    reason: '页面测试暂停', effectiveAt: new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
  const statementFile = join(tmp, 'statement.json');
  writeFileSync(statementFile, JSON.stringify(unsigned));
  const signed = execFileSync(BIN, ['sign', '--key', join(root, 'keys', 'gaj.key'), '--in', statementFile]).toString();
  const { context, page } = await fresh();
  await signIn(page, 'agency', POLICE);
  await page.fill('#statement', signed);
  await page.getByRole('button', { name: '提交', exact: true }).click();
  await page.locator('#status-result .ok').waitFor();
  // How many approval systems the notice reached, never which.
  await page.locator('#notices li', { hasText: '已通知 1 个审批系统' }).first().waitFor();
  const line = await page.locator('#notices li').first().textContent();
  assert.match(line, /已暂停/);
  assert.ok(!line.includes(REQUESTER), line);
  await context.close();
});

test('a face field holding <script> is shown as text on /me and never runs', async () => {
  generated(200, 77);
  // One of the police's ID cards from gen, made out to a demo holder, with markup in a face field,
  // signed again with the police's demo key.
  const all = readFileSync(join(tmp, 'gen-77.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const card = all.find((d) => d.issuer.id === 'urn:uscc:' + POLICE && d.credentialSubject.licence.typeCode === ID_CARD);
  assert.ok(card, 'gen made an ID card of the police');
  delete card.proof;
  card.credentialSubject.holder = { codeType: '111', code: LI.split(':')[1], name: '李明辉' };
  const evil = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  card.credentialSubject.licence.fields['住址'] = evil;
  const file = join(tmp, 'evil.json');
  writeFileSync(file, JSON.stringify(card));
  const signed = execFileSync(BIN, ['sign', '--key', join(root, 'keys', 'gaj.key'), '--in', file]).toString();

  const agency = await fresh();
  await signIn(agency.page, 'agency', POLICE);
  await agency.page.fill('#licence', signed);
  await agency.page.getByRole('button', { name: '存入', exact: true }).click();
  await agency.page.locator('#one-result .ok', { hasText: '已存入' }).waitFor();
  await agency.context.close();

  const { context, page } = await fresh();
  await signIn(page, 'me', '李明辉');
  const art = page.locator(`article.licence[data-id="${card.id}"]`);
  await art.locator('summary', { hasText: '照面信息' }).click();
  const dd = art.locator('dl.fields dd', { hasText: '<script>' });
  assert.equal(await dd.textContent(), evil);
  assert.equal(await art.locator('dl.fields img, dl.fields script').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await context.close();
});

test('the language toggle switches every text to English and back, and is remembered', async () => {
  const { context, page } = await fresh();
  await page.goto(BASE + '/me');
  await page.getByRole('heading', { name: '登录' }).waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  await page.click('#lang');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.title(), 'My licences · Licence vault');
  await page.goto(BASE + '/verify');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.locator('button[data-demo]', { hasText: REQUESTER }).click();
  await page.getByRole('heading', { name: 'Redeem a presentation code' }).waitFor();
  await shot(page, 'verify-en');
  await page.click('#lang');
  await page.getByRole('heading', { name: '核销亮证码' }).waitFor();
  await context.close();
  // Every key has both languages.
  const zh = JSON.parse(readFileSync(join(root, 'web', 'i18n', 'zh.json'), 'utf8'));
  const en = JSON.parse(readFileSync(join(root, 'web', 'i18n', 'en.json'), 'utf8'));
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
});

test('every page fits a 375 px phone screen without sideways scrolling', async () => {
  for (const [realm, who] of [['me', '黄建华'], ['verify', REQUESTER], ['agency', POLICE], ['supervise', 'fz-dsj']]) {
    const { context, page } = await fresh();
    await page.goto(BASE + '/' + realm);
    await page.locator('#signin').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), realm + ' sign-in');
    await signIn(page, realm, who);
    await page.locator('main section').first().waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), realm + ' signed in');
    await context.close();
  }
});

test('sessions: HttpOnly SameSite=Strict cookies, a CSRF token on every call, no token in the page', async () => {
  const { context, page } = await fresh();
  await signIn(page, 'me', '黄建华');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'lv_session');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/me');
  const token = tokens.holders[HUANG];
  const seen = await page.evaluate(() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage), location.href, document.documentElement.outerHTML].join('\n'));
  assert.ok(!seen.includes(token), 'the token is nowhere in the page');
  assert.ok(!cookies.some((c) => c.value === token), 'the token is not a cookie');
  // Calls without the CSRF token, or with another, are refused before they reach the API.
  const none = await page.request.post(BASE + '/me/api/v1/me/notifications:read', { data: {} });
  assert.equal(none.status(), 403);
  assert.equal((await none.json()).error.field, 'X-CSRF-Token');
  const wrong = await page.request.get(BASE + '/me/api/v1/me/licences', { headers: { 'X-CSRF-Token': 'x'.repeat(43) } });
  assert.equal(wrong.status(), 403);
  // With the token, but from another site.
  const csrf = (await (await page.request.get(BASE + '/me/session')).json()).csrf;
  const cross = await page.request.post(BASE + '/me/api/v1/me/notifications:read',
    { data: {}, headers: { 'X-CSRF-Token': csrf, Origin: 'https://evil.example' } });
  assert.equal(cross.status(), 403);
  const good = await page.request.post(BASE + '/me/api/v1/me/notifications:read', { data: {}, headers: { 'X-CSRF-Token': csrf } });
  assert.equal(good.status(), 200);
  // The session is for /me only: the agency page's API does not accept it.
  const other = await page.request.get(BASE + '/agency/api/v1/issuer/deposits', { headers: { 'X-CSRF-Token': csrf } });
  assert.equal(other.status(), 401);
  // Signing in needs the pre-sign-in CSRF token too, and a holder token is refused at /agency.
  const bare = await fetch(BASE + '/me/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
  assert.equal(bare.status, 403);
  const agency = await fresh();
  await agency.page.goto(BASE + '/agency');
  await agency.page.fill('#token', token);
  await agency.page.getByRole('button', { name: '登录' }).click();
  await agency.page.locator('#status', { hasText: '无权进行此操作' }).waitFor();
  await agency.context.close();
  // Signing out ends the session on the server.
  await page.click('#signout');
  await page.locator('#signin').waitFor();
  const after = await page.request.get(BASE + '/me/api/v1/me/licences', { headers: { 'X-CSRF-Token': csrf } });
  assert.equal(after.status(), 401);
  await context.close();
});

test('every page sends the strict CSP and refuses framing; inline script does not run', async () => {
  for (const path of ['/me', '/verify', '/agency', '/supervise', '/assets/app.js', '/me/session']) {
    const r = await fetch(BASE + path);
    assert.equal(r.headers.get('content-security-policy'), CSP, path);
    assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
  }
  const { context, page } = await fresh();
  // Markup injected into the page (as a stored value would be if it were ever written as HTML):
  // the page as the server sent it, headers and all, with an inline script and handler added.
  await page.route(BASE + '/me', async (route) => {
    const response = await route.fetch();
    const body = (await response.text()).replace('</body>',
      '<script>window.__inline = 1</script><img src="/x" onerror="window.__inline = 2"></body>');
    await route.fulfill({ response, body });
  });
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.effectiveDirective));
  });
  await page.goto(BASE + '/me');
  await page.locator('#signin').waitFor();
  // Script text set from a string is refused by Trusted Types.
  const threw = await page.evaluate(() => {
    try {
      const s = document.createElement('script');
      s.text = 'window.__inline = 3';
      document.head.append(s);
      return null;
    } catch (e) { return e.name; }
  });
  await page.waitForTimeout(200);
  assert.equal(threw, 'TypeError');
  assert.equal(await page.evaluate(() => window.__inline), undefined);
  const seen = await page.evaluate(() => window.__violations);
  for (const d of ['script-src-elem', 'script-src-attr', 'require-trusted-types-for']) {
    assert.ok(seen.includes(d), d + ' in ' + JSON.stringify(seen));
  }
  await context.close();
});

test('axe-core finds no serious or critical violation on any page, signed out or in', async () => {
  for (const [realm, who] of [['me', '黄建华'], ['verify', REQUESTER], ['agency', POLICE], ['supervise', 'fz-dsj']]) {
    // axe is injected by the test, so this context alone does not enforce the CSP.
    const { context, page } = await fresh({ bypassCSP: true });
    await page.goto(BASE + '/' + realm);
    await page.locator('#signin').waitFor();
    await axe(page, realm + ' sign-in');
    await signIn(page, realm, who);
    await page.locator('main section').first().waitFor();
    await page.waitForLoadState('networkidle');
    for (const d of await page.locator('details').all()) await d.evaluate((el) => { el.open = true; });
    await axe(page, realm);
    await context.close();
  }
});

test('the holderUrl of a consent request opens /me at that request', async () => {
  const id = await askConsent(HUANG);
  const r = await call(tokens.requesters[REQUESTER], 'GET', `/v1/consent-requests/${id}`);
  const url = new URL(r.body.holderUrl);
  assert.equal(url.pathname, `/me/consent-requests/${id}`);
  const { context, page } = await fresh();
  await page.goto(BASE + url.pathname);
  await page.locator('button[data-demo]', { hasText: '黄建华' }).click();
  await page.locator(`#req-${id} h3:focus`).waitFor();
  await page.locator(`#req-${id}`).getByRole('button', { name: '拒绝' }).click();
  await page.locator('#status', { hasText: '已拒绝' }).waitFor();
  await context.close();
});

test('a delegate switches to the company on /me and sees only its matters\' licences', async () => {
  const { context, page } = await fresh();
  await signIn(page, 'me', '陈雅婷');
  const select = page.locator('#acting-for');
  const company = '001:91350102MA2XN1A2K0';
  await select.locator(`option[value="${company}"]`).waitFor({ state: 'attached' });
  await select.selectOption(company);
  await page.locator('.acting-banner', { hasText: company }).waitFor();
  await page.locator('#licences article.licence').first().waitFor();
  const ids = await page.locator('#licences article.licence').evaluateAll((a) => a.map((x) => x.dataset.id));
  const own = (await call(tokens.holders[company], 'GET', '/v1/me/licences')).body.licences.map((l) => l.id);
  assert.ok(ids.length > 0 && ids.every((id) => own.includes(id)), JSON.stringify(ids));
  // Presentation codes need the whole scope; a matter-scoped delegate is refused, in words.
  await page.locator('#presentations .error').waitFor();
  assert.match(await page.locator('#presentations .error').textContent(), /无权进行此操作/);
  await select.selectOption('');
  await page.locator('.acting-banner').waitFor({ state: 'detached' });
  await context.close();
});

test('/verify names and checks every kind of signed document the vault issues', async () => {
  const holder = tokens.holders[HUANG];
  const mine = (await call(holder, 'GET', '/v1/me/licences')).body.licences[0];
  const consent = (await call(holder, 'GET', '/v1/me/consents')).body.consents[0];
  const receipts = (await call(holder, 'GET', `/v1/me/consents/${consent.id}/receipts`)).body.receipts;
  const list = mine.receipt.credentialStatus[0].statusListCredential;
  const statusList = await (await fetch(list)).json();
  const notice = (await call(tokens.requesters[REQUESTER], 'GET', '/v1/notices')).body.notices[0].notice;
  // The demo consent of 黄建华 for 350100-RS-006, whose matter declares no fields: a whole licence
  // with its purpose-stamped copy; RS-007 (approved above) declares fields: a minimised copy.
  const whole = await call(tokens.requesters[REQUESTER], 'POST', '/v1/reuse', { holder: HUANG, matter: '350100-RS-006', purpose: '页面测试' });
  const stamped = whole.body.results.find((x) => x.stampedCopy).stampedCopy;
  assert.ok(stamped.type.includes('PurposeStampedCopy') && !stamped.type.includes('MinimisedCopy'), JSON.stringify(stamped.type));
  const id = await askConsent(HUANG);
  await call(holder, 'POST', `/v1/me/consent-requests/${id}:approve`, {});
  const minimised = (await pull(HUANG))[SS_CARD].stampedCopy;
  assert.ok(minimised.type.includes('MinimisedCopy'), JSON.stringify(minimised.type));
  const docs = [
    ['电子证照', mine.licence], ['存证回执', mine.receipt], ['授权回执', receipts[0]],
    ['状态列表', statusList], ['证照状态变更通知', notice], ['用途副本', stamped], ['最小化副本', minimised],
  ];
  const { context, page } = await fresh();
  await signIn(page, 'verify', REQUESTER);
  for (const [i, [kind, doc]] of docs.entries()) {
    // Chosen as a file, as a clerk would.
    const file = join(tmp, `doc-${i}.json`);
    writeFileSync(file, JSON.stringify(doc));
    await page.setInputFiles('#doc-file', file);
    await page.waitForFunction(() => document.getElementById('doc').value.length > 0);
    await page.getByRole('button', { name: '核验', exact: true }).click();
    await page.locator('#verify-result p', { hasText: '文件类型：' + kind }).waitFor();
    await page.locator('#verify-result .verdict.valid').waitFor();
    await page.fill('#doc', '');
  }
  await context.close();
});

test('signing in and acting work from the keyboard alone', async () => {
  const { context, page } = await fresh();
  await page.goto(BASE + '/me');
  await page.locator('#token').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token', 'the token field has the focus');
  await page.keyboard.type(tokens.holders[WANG]);
  await page.keyboard.press('Enter');
  await page.locator('#signout').waitFor();
  // After sign-in the focus is on the content, which is announced.
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'main');
  // On a fresh load the skip link is the first stop and leads to the content.
  await page.reload();
  await page.locator('main section').first().waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await context.close();
});

test('/me checks its access records in the browser: chained, in the signed log; a removal, a rewrite and a rollback are each found', async () => {
  const holder = tokens.holders[HUANG];
  const id = await askConsent(HUANG);
  await call(holder, 'POST', `/v1/me/consent-requests/${id}:approve`, {});
  for (let i = 0; i < 3; i++) await pull(HUANG);
  const { context, page, errors } = await fresh();
  await signIn(page, 'me', '黄建华');
  const verdict = page.locator('#log-proof p[data-chain]');
  await verdict.waitFor();
  assert.equal(await verdict.getAttribute('data-chain'), 'verified', await verdict.textContent());
  assert.match(await verdict.textContent(), /一条不少、一字未改.*检查点签名已验证/);
  await page.locator('#log-proof').scrollIntoViewIfNeeded();
  await shot(page, 'me-log-checked');

  // The server (an insider) now answers with the access log altered in three ways.
  const alter = async (how) => {
    await page.unroute('**/me/api/v1/me/access-log**');
    await page.route('**/me/api/v1/me/access-log**', async (route) => {
      const r = await route.fetch();
      const body = await r.json();
      how(body.records);
      await route.fulfill({ response: r, json: body });
    });
    await page.reload();
    await page.locator('#log-proof p[data-chain]').waitFor();
    assert.equal(await page.locator('#log-proof p[data-chain]').getAttribute('data-chain'), 'broken');
    return page.locator('#log-proof ul').textContent();
  };
  assert.match(await alter((rs) => rs.splice(1, 1)), /中间的记录不见了/);
  assert.match(await alter((rs) => { rs[1].purpose = '改过的用途'; }), /接不上|不在公开的访问日志中/);
  assert.match(await alter((rs) => rs.splice(0, 1)), /您上次看到了第 \d+ 号记录/);
  // (A record the log does not hold is a 404 the browser reports; the untouched page has none.)
  errors.length = 0;
  await page.unroute('**/me/api/v1/me/access-log**');
  await page.reload();
  await verdict.waitFor();
  assert.equal(await verdict.getAttribute('data-chain'), 'verified');
  assert.deepEqual(errors, []);
  await context.close();

  // /verify finds a deposit receipt's deposit in the public log.
  const mine = (await call(holder, 'GET', '/v1/me/licences')).body.licences[0];
  const v = await fresh();
  await signIn(v.page, 'verify', REQUESTER);
  await v.page.fill('#doc', JSON.stringify(mine.receipt));
  await v.page.getByRole('button', { name: '核验', exact: true }).click();
  const logged = v.page.locator('#deposit-logged');
  await logged.waitFor();
  assert.equal(await logged.getAttribute('data-signed'), 'true', await logged.textContent());
  assert.match(await logged.textContent(), /已写入公开日志/);
  await v.context.close();
});
