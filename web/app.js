// licence-vault pages: what every page shares. No framework and no build step: the pages build
// their DOM with `h()`, which only ever creates text nodes for values, so a licence field holding
// "<script>" is shown as those characters. The CSP forbids inline script and requires Trusted
// Types, so nothing here may (or could) assign HTML strings.
'use strict';

const LV = (() => {
  const realm = document.body.dataset.realm; // "me" | "verify" | "agency"
  const base = '/' + realm;
  let dict = {};
  let lang = 'zh';
  let csrf = '';
  let state = null;
  let render = () => {};
  const extraHeaders = {};

  function t(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split('{' + k + '}').join(String(v));
    return s;
  }

  // h('div', {class: 'x', onclick: f, 'aria-label': '…'}, 'text', child, [more]) — children that
  // are strings or numbers become text nodes.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.firstChild.remove();
    return el;
  }

  // Announces a message in the page's live region (screen readers read it out).
  function say(msg, kind) {
    const s = document.getElementById('status');
    clear(s);
    s.className = 'status ' + (kind || 'info');
    if (msg) s.append(document.createTextNode(msg));
  }

  function errorText(body, status) {
    const e = body && body.error;
    if (!e) return t('error.http', { status });
    const words = t('reason.' + e.code);
    const field = e.field ? ' (' + e.field + ')' : '';
    return (words === 'reason.' + e.code ? e.code : words) + field + ': ' + e.message;
  }

  // A call to the API through this page's session: /{realm}/api/v1/… with the CSRF token.
  async function api(method, path, body, opts) {
    const headers = { 'X-CSRF-Token': csrf, Accept: 'application/json', ...extraHeaders };
    let payload;
    if (body !== undefined && opts && opts.contentType) {
      // Bytes as they are (a PDF to check).
      headers['Content-Type'] = opts.contentType;
      payload = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const r = await fetch(base + '/api' + path, { method, headers, body: payload, credentials: 'same-origin' });
    // A file (an export's archive, a PDF): its bytes as they came.
    if (opts && opts.blob && r.ok) return { status: r.status, ok: true, body: await r.blob() };
    let json = null;
    try { json = await r.json(); } catch (_) { json = null; }
    if (r.status === 401 && !(opts && opts.quiet401)) {
      state = null;
      await start();
      say(t('session.ended'), 'error');
    }
    return { status: r.status, ok: r.ok, body: json };
  }

  function setHeader(name, value) {
    if (value) extraHeaders[name] = value; else delete extraHeaders[name];
  }

  function time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { timeZone: 'Asia/Shanghai', hour12: false });
  }

  // A verdict, check by check: what was checked, the outcome, the reason in words, the detail.
  function verdict(v) {
    if (!v || !Array.isArray(v.checks)) return h('p', {}, t('verdict.none'));
    const rows = v.checks.map((c) => {
      const mark = c.ok === true ? 'ok' : c.ok === false ? 'fail' : 'skip';
      const words = c.code ? t('reason.' + c.code) : '';
      return h('li', { class: 'check ' + mark },
        h('span', { class: 'mark', 'aria-hidden': 'true' }, mark === 'ok' ? '✓' : mark === 'fail' ? '✗' : '–'),
        h('span', { class: 'check-name' }, t('check.' + c.check)),
        ' ',
        h('span', { class: 'outcome' }, t('outcome.' + mark)),
        words ? h('span', { class: 'reason', 'data-code': c.code }, ' — ' + words) : null,
        c.detail ? h('span', { class: 'detail' }, ' (' + c.detail + ')') : null);
    });
    return h('div', { class: 'verdict ' + (v.valid ? 'valid' : 'invalid') },
      h('p', { class: 'verdict-head', role: 'status' },
        v.valid ? t('verdict.valid') : t('verdict.invalid'),
        v.checkedAt ? h('span', { class: 'muted' }, ' · ' + t('verdict.checkedAt', { at: time(v.checkedAt) })) : null),
      v.disputed ? h('p', { class: 'disputed error' }, t('verdict.disputed', { fields: v.disputed.fields.join('、'), since: time(v.disputed.since) })) : null,
      h('ul', { class: 'checks', 'aria-label': t('verdict.checks') }, rows));
  }

  // Key/value pairs of a licence face, every value as text.
  function fields(obj) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return null;
    return h('dl', { class: 'fields' }, entries.map(([k, v]) => [
      h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))]));
  }

  // Saves a Blob as it is, or any other value as JSON.
  function download(name, value) {
    const blob = value instanceof Blob ? value
      : new Blob([JSON.stringify(value, null, 2) + '\n'], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function section(id, title, ...children) {
    return h('section', { id, 'aria-labelledby': id + '-h', class: 'card' },
      h('h2', { id: id + '-h', tabindex: '-1' }, title), children);
  }

  // Reads a chosen or dropped file as text.
  function readFile(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(r.error);
      r.readAsText(file);
    });
  }

  // A text area that also takes a chosen file or a file dropped on it.
  function docInput(id, label) {
    const area = h('textarea', { id, rows: '8', spellcheck: 'false', autocomplete: 'off', class: 'doc' });
    const file = h('input', { type: 'file', id: id + '-file', accept: '.json,.jsonl,application/json' });
    file.addEventListener('change', async () => {
      if (file.files[0]) area.value = await readFile(file.files[0]);
    });
    area.addEventListener('dragover', (e) => { e.preventDefault(); area.classList.add('drop'); });
    area.addEventListener('dragleave', () => area.classList.remove('drop'));
    area.addEventListener('drop', async (e) => {
      e.preventDefault();
      area.classList.remove('drop');
      const f = e.dataTransfer.files[0];
      if (f) area.value = await readFile(f);
    });
    return {
      area, file,
      el: h('div', { class: 'doc-input' },
        h('label', { for: id }, label), area,
        h('label', { for: id + '-file', class: 'file-label' }, t('doc.chooseFile')), file),
    };
  }

  function applyStatic() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    document.title = t(realm + '.title') + ' · ' + t('app.name');
    const toggle = document.getElementById('lang');
    toggle.textContent = t('lang.switch');
    toggle.setAttribute('aria-label', t('lang.switchLabel'));
  }

  async function loadLang(l) {
    const r = await fetch('/assets/' + l + '.json', { credentials: 'same-origin' });
    dict = await r.json();
    lang = l;
    try { localStorage.setItem('lv-lang', l); } catch (_) { /* storage may be off */ }
    applyStatic();
  }

  function signInForm() {
    const main = clear(document.getElementById('main'));
    const input = h('input', { id: 'token', type: 'password', autocomplete: 'one-time-code', spellcheck: 'false', required: true });
    const form = h('form', { id: 'signin', class: 'card' },
      h('h2', {}, t('signin.title')),
      h('p', {}, t('signin.' + realm)),
      h('label', { for: 'token' }, t('signin.token')), input,
      h('button', { type: 'submit' }, t('signin.submit')));
    form.addEventListener('submit', (e) => { e.preventDefault(); signIn({ token: input.value }); });
    main.append(form);
    if (state && state.demo && state.demo.length) {
      main.append(h('section', { class: 'card', 'aria-labelledby': 'demo-h' },
        h('h2', { id: 'demo-h' }, t('signin.demo')),
        h('p', { class: 'muted' }, t('signin.demoNote')),
        h('ul', { class: 'demo-list' }, state.demo.map((d) =>
          h('li', {}, h('button', { type: 'button', class: 'link', 'data-demo': d.id, onclick: () => signIn({ demo: d.id }) }, d.label))))));
    }
    input.focus();
  }

  async function signIn(body) {
    const r = await fetch(base + '/session', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
    });
    const json = await r.json().catch(() => null);
    if (!r.ok) { say(errorText(json, r.status), 'error'); return; }
    state = json;
    csrf = json.csrf;
    say(t('signin.done', { who: json.label }), 'ok');
    showUser();
    await render();
    // The focus goes to the content, unless the page put it somewhere (a linked request).
    if (!document.activeElement || document.activeElement === document.body) document.getElementById('main').focus();
  }

  async function signOut() {
    await fetch(base + '/session/end', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } });
    state = null;
    await start();
    say(t('signout.done'), 'info');
  }

  function showUser() {
    const u = clear(document.getElementById('user'));
    if (state && state.signedIn) {
      u.append(h('span', { class: 'who' }, t('signin.as', { who: state.label })), ' ',
        h('button', { type: 'button', id: 'signout', class: 'secondary', onclick: signOut }, t('signout')));
    }
  }

  async function start() {
    const r = await fetch(base + '/session', { credentials: 'same-origin' });
    state = await r.json();
    csrf = state.csrf;
    showUser();
    if (state.signedIn) await render(); else signInForm();
  }

  async function init(renderFn) {
    render = renderFn;
    let l = 'zh';
    try { l = localStorage.getItem('lv-lang') || 'zh'; } catch (_) { /* default */ }
    await loadLang(l === 'en' ? 'en' : 'zh');
    document.getElementById('lang').addEventListener('click', async () => {
      await loadLang(lang === 'zh' ? 'en' : 'zh');
      if (state && state.signedIn) await render(); else signInForm();
      showUser();
    });
    await start();
  }

  // ----- the transparency logs (SPEC §14), checked here in the browser, not by the vault -----
  // RFC 8785 canonical JSON: keys in UTF-16 code unit order (the default sort), numbers and
  // strings as JSON.stringify writes them (which is what RFC 8785 asks).
  function jcs(v) {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
    return '{' + Object.keys(v).sort().filter((k) => v[k] !== undefined)
      .map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}';
  }
  const utf8 = (s) => new TextEncoder().encode(s);
  const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const toB64 = (b) => btoa(String.fromCharCode(...b));
  const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)); }
  async function leafHash(leaf) { const b = new Uint8Array(leaf.length + 1); b.set(leaf, 1); return sha256(b); }
  async function nodeHash(l, r) { const b = new Uint8Array(65); b[0] = 1; b.set(l, 1); b.set(r, 33); return sha256(b); }

  // RFC 9162 §2.1.3.2: whether `proof` leads from the leaf at `index` to `root`.
  async function inclusionHolds(index, size, leaf, proof, root) {
    if (!(index < size)) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0 || p.length !== 32) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(r, root);
  }

  // A C2SP signed note checked with a verifier key (name+id+base64(0x01 ‖ key)): true, false,
  // or null when this browser cannot verify Ed25519 (then it is not checked, never passed).
  async function noteVerifies(text, vkey) {
    const cut = text.lastIndexOf('\n\n');
    if (cut < 0) return false;
    const body = text.slice(0, cut + 1);
    const [name, id, b64] = [vkey.split('+')[0], vkey.split('+')[1], vkey.split('+').slice(2).join('+')];
    const key = fromB64(b64).slice(1);
    let k;
    try {
      k = await crypto.subtle.importKey('raw', key, { name: 'Ed25519' }, false, ['verify']);
    } catch (_) { return null; }
    for (const line of text.slice(cut + 2).split('\n')) {
      const m = line.match(/^\u2014 (\S+) (\S+)$/);
      if (!m || m[1] !== name) continue;
      const sig = fromB64(m[2]);
      if (toHex(sig.slice(0, 4)) !== id) continue;
      return crypto.subtle.verify('Ed25519', k, sig.slice(4), utf8(body));
    }
    return false;
  }

  function parseCheckpoint(note) {
    const [origin, size, root] = note.slice(0, note.indexOf('\n\n') + 1).split('\n');
    return { origin, size: Number(size), root: fromB64(root) };
  }

  function parseProof(text) {
    const cut = text.indexOf('\n\n');
    const lines = text.slice(0, cut).split('\n');
    if (lines.shift() !== 'c2sp.org/tlog-proof@v1') return null;
    if (lines[0].startsWith('extra ')) lines.shift();
    const index = Number((lines.shift() || '').replace(/^index /, ''));
    return { index, proof: lines.map(fromB64), checkpoint: text.slice(cut + 2) };
  }

  // The log's keys, as the vault lists them.
  async function logKeys(log) {
    const r = await fetch('/v1/logs', { credentials: 'same-origin' });
    if (!r.ok) return [];
    const l = ((await r.json()).logs || []).find((x) => x.name === log);
    return l ? l.verifierKeys : [];
  }

  // Whether `leaf` (canonical bytes) is in `log`: { index, size, origin, signed } or a reason.
  async function proveLeaf(log, leaf, keys) {
    const lh = await leafHash(leaf);
    const r = await fetch('/v1/logs/' + log + '/proof?leaf=' + encodeURIComponent(toB64(lh)), { credentials: 'same-origin' });
    if (r.status === 404) return { missing: true };
    if (!r.ok) return { error: r.status };
    const p = parseProof(await r.text());
    if (!p) return { error: 'proof' };
    const cp = parseCheckpoint(p.checkpoint);
    if (!(await inclusionHolds(p.index, cp.size, lh, p.proof, cp.root))) return { wrong: true };
    let signed = false;
    for (const k of keys) {
      const v = await noteVerifies(p.checkpoint, k);
      if (v === null) { signed = null; break; }
      if (v) { signed = true; break; }
    }
    return { index: p.index, size: cp.size, origin: cp.origin, signed };
  }

  // The holder's access records (newest first, as the page loaded them) checked against their
  // chain and the access log; what was seen before is remembered in this browser under
  // `memoryKey`, so that records removed or rewritten since, or a log rolled back, are found.
  async function checkAccessChain(records, memoryKey) {
    const problems = [];
    const chained = records.filter((r) => r.chain).slice().reverse(); // oldest first
    const keys = await logKeys('access');
    let prev = null, size = 0, origin = '', signed = true, proved = 0;
    const digests = {};
    for (const r of chained) {
      const digest = toHex(await sha256(utf8(jcs(r))));
      digests[r.chain.seq] = digest;
      if (prev && r.chain.seq !== prev.seq + 1) problems.push({ key: 'chain.gap', vars: { from: prev.seq, to: r.chain.seq } });
      else if (prev && r.chain.prev !== prev.digest) problems.push({ key: 'chain.broken', vars: { seq: r.chain.seq } });
      prev = { seq: r.chain.seq, digest };
      const p = await proveLeaf('access', utf8(jcs({ at: r.at, record: digest })), keys);
      if (p.missing || p.wrong || p.error) problems.push({ key: 'chain.notLogged', vars: { seq: r.chain.seq } });
      else {
        proved += 1;
        size = Math.max(size, p.size); origin = p.origin;
        if (p.signed !== true) signed = signed === false ? false : p.signed;
      }
    }
    let seen = null;
    try { seen = JSON.parse(localStorage.getItem(memoryKey) || 'null'); } catch (_) { seen = null; }
    if (seen && prev) {
      if (prev.seq < seen.seq) problems.push({ key: 'chain.lost', vars: { seen: seen.seq, now: prev.seq } });
      else if (digests[seen.seq] !== undefined && digests[seen.seq] !== seen.digest) problems.push({ key: 'chain.rewritten', vars: { seq: seen.seq } });
    }
    if (seen && !prev && seen.seq >= 0) problems.push({ key: 'chain.lost', vars: { seen: seen.seq, now: '—' } });
    if (seen && size && seen.origin === origin && size < seen.size) problems.push({ key: 'chain.rolledBack', vars: { seen: seen.size, now: size } });
    if (!problems.length && prev) {
      try { localStorage.setItem(memoryKey, JSON.stringify({ seq: prev.seq, digest: prev.digest, size, origin })); } catch (_) { /* private mode */ }
    }
    return { problems, checked: chained.length, proved, size, signed, first: chained.length ? chained[0].chain.seq : null, last: prev ? prev.seq : null };
  }

  // A deposit receipt's deposit in the public log: { index, size, signed } or a reason.
  async function checkDeposit(sha) {
    const r = await fetch('/v1/logs/public/deposit?sha256=' + encodeURIComponent(sha), { credentials: 'same-origin' });
    if (r.status === 404) return { missing: true };
    if (!r.ok) return { error: r.status };
    const d = await r.json();
    const leaf = JSON.parse(d.leaf);
    if (leaf.event !== 'deposit' || leaf.licence !== sha) return { wrong: true };
    return proveLeaf('public', utf8(d.leaf), await logKeys('public'));
  }

  const tlog = { checkAccessChain, checkDeposit, jcs };

  return { t, h, append, clear, say, api, errorText, time, verdict, fields, download, section, docInput, readFile, setHeader, init, tlog, get lang() { return lang; }, get who() { return state && state.label; } };
})();
