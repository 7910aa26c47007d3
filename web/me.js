// The holder portal (/me): an overview, licences, pending requests, consents, the access log,
// corrections and objections, notifications, presentation codes, an export, and acting for a
// company or ward. People read names: a requester, matter or licence type is shown by its name,
// with its code on request (the element's title).
'use strict';

(() => {
  const { t, h, clear, say, api, errorText, time, verdict, fields, download, section } = LV;
  let actingFor = '';
  let countdowns = [];
  // Codes made on this page, by presentation id: the vault keeps only their digests, so a code
  // and its QR exist only in this page's memory (never in storage) until they expire.
  const made = {};
  // The request a `holderUrl` link (/me/consent-requests/{id}) opened the portal at.
  const linked = (location.pathname.match(/^\/me\/consent-requests\/([A-Za-z0-9_]+)$/) || [])[1];

  // Matter and licence type code → name, from the public registries.
  let matterNames = null;
  let typeNames = null;
  async function loadMatters() {
    if (matterNames) return;
    const [m, c] = await Promise.all([fetch('/v1/matters', { credentials: 'same-origin' }),
      fetch('/v1/catalogue', { credentials: 'same-origin' })]);
    matterNames = {};
    typeNames = {};
    if (m.ok) for (const x of (await m.json()).matters || []) matterNames[x.code] = x.name;
    if (c.ok) for (const x of (await c.json()).types || []) typeNames[x.typeCode] = x.name;
  }
  // A name with its code on request.
  const named = (name, code) => h('span', { title: code, 'data-code': code }, name || code);
  const matterName = (code) => named(matterNames && matterNames[code], code);
  const typeName = (code) => named(typeNames && typeNames[code], code);
  const joined = (items) => items.flatMap((x, i) => (i ? ['、', x] : [x]));

  // What the overview counts, filled in by the sections as they load.
  let counts = {};

  const SECTIONS = ['overview', 'acting', 'requests', 'verifiers', 'licences', 'presentations', 'consents', 'log', 'rights', 'notifications', 'export'];

  function nav() {
    const n = clear(document.getElementById('nav'));
    n.setAttribute('aria-label', t('nav.label'));
    n.append(h('ul', {}, SECTIONS.map((s) => h('li', {}, h('a', { href: '#' + s }, t('me.' + s))))));
  }

  async function render() {
    countdowns.forEach(clearInterval);
    countdowns = [];
    await loadMatters();
    nav();
    const main = clear(document.getElementById('main'));
    const parts = {};
    for (const s of SECTIONS) {
      parts[s] = h('div', { class: 'body' }, h('p', { class: 'muted' }, t('app.loading')));
      main.append(section(s, t('me.' + s), parts[s]));
    }
    counts = {};
    await Promise.all([
      acting(parts.acting), requests(parts.requests), verifiers(parts.verifiers), licences(parts.licences),
      presentations(parts.presentations), consents(parts.consents), accessLog(parts.log),
      rights(parts.rights), notifications(parts.notifications), exportData(parts.export)]);
    overview(parts.overview);
    if (linked) {
      const el = document.getElementById('req-' + linked);
      if (el) { el.scrollIntoView(); el.querySelector('h3').focus(); }
    }
  }

  // At a glance: licences, requests waiting, consents in force, uses in the last 30 days, open
  // corrections; each a link to its section.
  function overview(el) {
    const item = (key, n, href) => h('li', {}, h('a', { href: '#' + href }, h('strong', { class: 'count' }, String(n ?? '–')), ' ', t(key)));
    clear(el).append(h('ul', { class: 'overview' },
      item('overview.licences', counts.licences, 'licences'),
      item('overview.pending', counts.pending, 'requests'),
      item('overview.consents', counts.consents, 'consents'),
      item('overview.uses', counts.uses, 'log'),
      item('overview.corrections', counts.corrections, 'rights')));
  }

  function failed(el, r) {
    clear(el).append(h('p', { class: 'error' }, errorText(r.body, r.status)));
  }

  // ----- acting for a company or ward -----------------------------------------------------
  async function acting(el) {
    const r = await api('GET', '/v1/me/delegations');
    clear(el);
    const select = h('select', { id: 'acting-for' },
      h('option', { value: '' }, t('acting.self')));
    if (r.ok) {
      for (const d of r.body.received || []) {
        if (!d.inForce) continue;
        select.append(h('option', { value: d.holder, selected: d.holder === actingFor },
          t('acting.for', { who: d.holder })));
      }
    }
    const other = h('input', { id: 'acting-other', type: 'text', autocomplete: 'off', placeholder: '001:91350102MA2XN1A2K0' });
    const apply = async (value) => {
      actingFor = value;
      LV.setHeader('Acting-For', value);
      say(value ? t('acting.now', { who: value }) : t('acting.selfNow'), 'info');
      await render();
    };
    select.addEventListener('change', () => apply(select.value));
    const form = h('form', { class: 'inline' },
      h('label', { for: 'acting-other' }, t('acting.other')), other,
      h('button', { type: 'submit', class: 'secondary' }, t('acting.switch')));
    form.addEventListener('submit', (e) => { e.preventDefault(); apply(other.value.trim()); });
    el.append(h('label', { for: 'acting-for' }, t('acting.label')), select, form);
    if (actingFor) el.append(h('p', { class: 'acting-banner' }, t('acting.now', { who: actingFor })));
    if (r.ok && (r.body.given || []).length) {
      el.append(h('h3', {}, t('acting.given')), h('ul', {}, r.body.given.map((d) =>
        h('li', {}, (d.delegateName || d.delegate) + ' · ', d.scope === 'all' ? t('acting.scopeAll') : joined((d.scope || []).map(matterName)),
          ' · ' + (d.inForce ? t('state.active') : t('state.ended'))))));
    }
  }

  // ----- licences -----------------------------------------------------------------------------
  async function licences(el) {
    // A page at a time (at most 200 each), all of them.
    let list = [];
    let cursor = null;
    do {
      const r = await api('GET', '/v1/me/licences?limit=200' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      if (!r.ok) return failed(el, r);
      list = list.concat(r.body.licences || []);
      cursor = r.body.nextCursor;
    } while (cursor);
    clear(el);
    counts.licences = list.length;
    if (!list.length) el.append(h('p', {}, t('licences.none')));
    for (const l of list) {
      const doc = l.licence || {};
      const subj = (doc.credentialSubject || {}).licence || {};
      const face = subj.fields || {};
      const v = l.verdict || {};
      const fieldChoices = Object.keys(face).map((k, i) =>
        h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'field', value: k, 'data-field': i }), k));
      const showForm = h('form', { class: 'inline present-form' },
        h('fieldset', {}, h('legend', {}, t('present.fields')), fieldChoices),
        h('button', { type: 'submit' }, t('present.make')));
      showForm.addEventListener('submit', async (e) => {
        e.preventDefault();
        const chosen = [...showForm.querySelectorAll('input[name=field]:checked')].map((c) => c.value);
        const body = { licence: l.id, validFor: 120 };
        if (chosen.length) body.fields = chosen;
        const p = await api('POST', '/v1/me/presentations', body);
        if (!p.ok) return say(errorText(p.body, p.status), 'error');
        made[p.body.id] = p.body;
        say(t('present.made'), 'ok');
        await presentations(clear(document.querySelector('#presentations .body')), p.body.id);
        document.getElementById('presentations-h').focus();
      });
      el.append(h('article', { class: 'licence', 'data-id': l.id },
        h('h3', {}, subj.typeName || l.id),
        h('p', {}, h('span', { class: 'badge ' + l.status }, t('status.' + l.status)), ' ',
          h('span', { class: 'badge ' + (v.valid ? 'valid' : 'invalid') }, v.valid ? t('verdict.valid') : t('verdict.invalid'))),
        h('dl', { class: 'meta' },
          h('dt', {}, t('licence.number')), h('dd', {}, subj.number || ''),
          h('dt', {}, t('licence.issuer')), h('dd', {}, (doc.issuer || {}).name || ''),
          h('dt', {}, t('licence.validity')), h('dd', {}, time(doc.validFrom) + ' – ' + (doc.validUntil ? time(doc.validUntil) : t('licence.noEnd')))),
        h('details', {}, h('summary', {}, t('licence.face')), fields(face)),
        h('details', {}, h('summary', {}, t('licence.verdict')), verdict(v)),
        h('details', {}, h('summary', {}, t('licence.versions')),
          h('ol', {}, (l.versions || []).map((id) => h('li', { class: 'mono' }, id, id === l.id ? ' ' + t('licence.thisVersion') : '')))),
        h('details', {}, h('summary', {}, t('present.title')), showForm),
        printButton(l),
        h('details', { class: 'wallet' }, h('summary', {}, t('wallet.title')), walletOffer(l, v)),
        h('details', { class: 'correct' }, h('summary', {}, t('correct.title')), correctionForm(l, face))));
      if (v.disputed) {
        el.lastChild.querySelector('p').append(' ', h('span', { class: 'badge disputed' }, t('corrections.disputed')));
      }
    }
  }

  // A request to the issuer to correct fields of this licence (SPEC §17): the fields, what is
  // wrong, the right value of each, and whether to mark it disputed meanwhile.
  function correctionForm(l, face) {
    const rows = Object.keys(face).map((k) => {
      const box = h('input', { type: 'checkbox', name: 'field', value: k });
      const value = h('input', { type: 'text', name: 'claimed', 'data-field': k, autocomplete: 'off',
        'aria-label': t('corrections.claimed', { field: k }) });
      return h('div', { class: 'choice-row' }, h('label', { class: 'choice' }, box, k), value);
    });
    const problem = h('textarea', { name: 'problem', rows: '2', required: true });
    const disputed = h('input', { type: 'checkbox', name: 'disputed' });
    const form = h('form', { class: 'correction-form' },
      h('fieldset', {}, h('legend', {}, t('correct.fields')), rows),
      h('label', {}, t('correct.problem'), ' ', problem),
      h('label', { class: 'choice' }, disputed, t('correct.dispute')),
      h('button', { type: 'submit' }, t('correct.send')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const fields = [...form.querySelectorAll('input[name=field]:checked')].map((c) => c.value);
      const claimed = {};
      for (const f of fields) {
        const v = form.querySelector(`input[name=claimed][data-field="${CSS.escape(f)}"]`).value.trim();
        if (v) claimed[f] = v;
      }
      const r = await api('POST', '/v1/me/corrections', { licence: l.id, fields, problem: problem.value, claimed, disputed: disputed.checked });
      if (!r.ok) return say(errorText(r.body, r.status), 'error');
      say(t('correct.sent', { due: time(r.body.dueAt) }), 'ok');
      await rights(clear(document.querySelector('#rights .body')));
    });
    return form;
  }

  // ----- corrections and objections (SPEC §17) ----------------------------------------------------
  async function rights(el) {
    const [c, o] = await Promise.all([api('GET', '/v1/me/corrections?limit=200'), api('GET', '/v1/me/objections?limit=200')]);
    if (!c.ok) return failed(el, c);
    if (!o.ok) return failed(el, o);
    clear(el);
    const act = (path, body, done) => async () => {
      const r = await api('POST', path, body);
      if (!r.ok) return say(errorText(r.body, r.status), 'error');
      say(t(done), 'ok');
      await rights(clear(el));
    };
    const button = (label, cls, fn) => {
      const b = h('button', { type: 'button', class: cls }, label);
      b.addEventListener('click', fn);
      return b;
    };
    el.append(h('h3', {}, t('rights.corrections')));
    const cs = c.body.corrections || [];
    counts.corrections = cs.filter((x) => x.state === 'open').length;
    if (!cs.length) el.append(h('p', {}, t('rights.noCorrections')));
    for (const x of cs) {
      const base = '/v1/me/corrections/' + encodeURIComponent(x.id);
      const a = x.answer || {};
      el.append(h('article', { class: 'correction', 'data-id': x.id },
        h('p', {}, h('strong', {}, x.typeName), ' · ', x.fields.join('、'), ' · ', x.issuerName, ' ',
          h('span', { class: 'badge ' + x.state }, t('correction.' + x.state)),
          x.disputed ? h('span', { class: 'badge disputed' }, t('corrections.disputed')) : null),
        h('p', {}, x.problem),
        x.state === 'open' ? h('p', { class: x.overdue ? 'error' : 'muted' }, t(x.overdue ? 'corrections.overdue' : 'corrections.due', { at: time(x.dueAt) })) : null,
        a.reason ? h('p', {}, t('rights.refusedBecause', { reason: a.reason })) : null,
        a.renewal ? h('p', {}, t('rights.correctedBy'), ' ', h('span', { class: 'mono' }, a.renewal)) : null,
        x.state === 'open' ? h('div', { class: 'actions' },
          button(t(x.disputed ? 'rights.undispute' : 'rights.dispute'), 'secondary',
            act(base + ':dispute', { disputed: !x.disputed }, x.disputed ? 'rights.undisputed' : 'rights.disputedDone')),
          button(t('rights.withdraw'), 'danger', act(base + ':withdraw', {}, 'rights.withdrawn'))) : null));
    }
    el.append(h('h3', {}, t('rights.objections')));
    const os = o.body.objections || [];
    if (!os.length) el.append(h('p', {}, t('rights.noObjections')));
    for (const x of os) {
      const a = x.answer || {};
      el.append(h('article', { class: 'objection', 'data-id': x.id },
        h('p', {}, h('strong', {}, x.requesterName || x.requester), x.matterName ? ' · ' + x.matterName : '', ' · ', time(x.usedAt), ' ',
          h('span', { class: 'badge ' + x.state }, t('objection.' + x.state))),
        h('p', {}, x.reason),
        a.legalBasis ? h('p', {}, t('rights.legalBasis', { basis: a.legalBasis })) : null,
        a.deletion ? h('p', { class: 'ok' }, t('rights.deletionAttested', { at: time(a.deletion.credentialSubject.deletedAt) })) : null,
        x.state === 'open' ? h('div', { class: 'actions' },
          button(t('rights.withdraw'), 'danger', act('/v1/me/objections/' + encodeURIComponent(x.id) + ':withdraw', {}, 'rights.withdrawn'))) : null));
    }
  }

  // ----- consent requests ---------------------------------------------------------------------
  async function requests(el) {
    // A page at a time (at most 50, each with its preview), all of them.
    let all = [];
    let cursor = null;
    do {
      const r = await api('GET', '/v1/me/consent-requests?limit=50' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      if (!r.ok) return failed(el, r);
      all = all.concat(r.body.requests || []);
      cursor = r.body.nextCursor;
    } while (cursor);
    clear(el);
    const pending = all.filter((q) => q.state === 'pending');
    const answered = all.filter((q) => q.state !== 'pending');
    counts.pending = pending.length;
    if (!pending.length) el.append(h('p', {}, t('requests.none')));
    // One approval system asking again and again: all of its requests rejected at once.
    const byRequester = new Map();
    for (const q of pending) byRequester.set(q.requester, [...(byRequester.get(q.requester) || []), q]);
    for (const [requester, qs] of byRequester) {
      if (qs.length < 2) continue;
      const all = h('button', { type: 'button', class: 'danger reject-all' },
        t('requests.rejectAll', { who: qs[0].requesterName || requester, n: qs.length }));
      all.addEventListener('click', async () => {
        const r = await api('POST', '/v1/me/consent-requests:rejectAll', { requester });
        if (!r.ok) return say(errorText(r.body, r.status), 'error');
        say(t('requests.rejectedAll', { n: (r.body.rejected || []).length }), 'ok');
        await render();
      });
      el.append(h('p', {}, all));
    }
    for (const q of pending) el.append(requestCard(q));
    if (answered.length) {
      el.append(h('details', {}, h('summary', {}, t('requests.answered', { n: answered.length })),
        h('ul', {}, answered.map((q) => h('li', {}, (q.requesterName || q.requester) + ' · ' + (q.matterName || q.matter) + ' · ' + t('requestState.' + q.state))))));
    }
  }

  function requestCard(q) {
    const checks = [];
    const items = (q.preview || []).map((p, i) => {
      const box = h('input', { type: 'checkbox', id: `rq-${q.id}-${i}`, value: p.type, checked: p.wouldRelease, disabled: !p.wouldRelease });
      if (p.wouldRelease) checks.push(box);
      const lic = p.licence;
      return h('li', { class: 'preview-item' },
        h('div', {}, box, h('label', { for: `rq-${q.id}-${i}` }, h('strong', {}, p.typeName || p.type),
          ' · ', p.wouldRelease ? (p.wholeLicence ? t('preview.whole') : t('preview.fieldsOnly')) : t('preview.nothing'))),
        lic ? h('p', { class: 'muted' }, (lic.issuerName || lic.issuer) + ' · ' + t('status.' + lic.status) + ' · ' +
          ((lic.verdict || {}).valid ? t('verdict.valid') : t('verdict.invalid'))) : h('p', { class: 'muted' }, t('preview.noLicence')),
        p.fields ? fields(p.fields) : null);
    });
    const maxUses = h('input', { type: 'number', id: `rq-${q.id}-uses`, min: '1', value: q.maxUses || '', placeholder: t('consent.unlimited') });
    const approve = h('button', { type: 'button', class: 'approve' }, t('requests.approve'));
    const reject = h('button', { type: 'button', class: 'danger' }, t('requests.reject'));
    approve.addEventListener('click', async () => {
      const body = {};
      const chosen = checks.filter((c) => c.checked).map((c) => c.value);
      if (chosen.length !== checks.length) body.types = chosen;
      const n = parseInt(maxUses.value, 10);
      if (n && n !== q.maxUses) body.maxUses = n;
      const r = await api('POST', `/v1/me/consent-requests/${q.id}:approve`, body);
      if (!r.ok) return say(errorText(r.body, r.status), 'error');
      say(t('requests.approved'), 'ok');
      await render();
    });
    reject.addEventListener('click', async () => {
      const r = await api('POST', `/v1/me/consent-requests/${q.id}:reject`, {});
      if (!r.ok) return say(errorText(r.body, r.status), 'error');
      say(t('requests.rejected'), 'ok');
      await render();
    });
    return h('article', { class: 'request', id: 'req-' + q.id },
      h('h3', { tabindex: '-1' }, named(q.requesterName, q.requester)),
      h('dl', { class: 'meta' },
        h('dt', {}, t('consent.matter')), h('dd', {}, named(q.matterName, q.matter)),
        h('dt', {}, t('consent.purpose')), h('dd', {}, q.purpose),
        h('dt', {}, t('requests.expires')), h('dd', {}, time(q.expiresAt))),
      h('p', {}, t('requests.wouldLeave')),
      h('ul', { class: 'preview' }, items),
      h('label', { for: `rq-${q.id}-uses` }, t('consent.maxUses')), maxUses,
      h('div', { class: 'actions' }, approve, reject));
  }

  // ----- consents -----------------------------------------------------------------------------
  async function consents(el) {
    // A page at a time (at most 200 each), all of them.
    let list = [];
    let cursor = null;
    do {
      const r = await api('GET', '/v1/me/consents?limit=200' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      if (!r.ok) return failed(el, r);
      list = list.concat(r.body.consents || []);
      cursor = r.body.nextCursor;
    } while (cursor);
    clear(el);
    counts.consents = list.filter((c) => c.state === 'active').length;
    if (!list.length) el.append(h('p', {}, t('consents.none')));
    for (const c of list) {
      const active = c.state === 'active';
      const withdraw = h('button', { type: 'button', class: 'danger', disabled: !active }, t('consents.withdraw'));
      withdraw.addEventListener('click', async () => {
        const w = await api('DELETE', `/v1/me/consents/${c.id}`);
        if (!w.ok) return say(errorText(w.body, w.status), 'error');
        say(t('consents.withdrawn'), 'ok');
        await render();
      });
      const receipts = h('button', { type: 'button', class: 'secondary' }, t('consents.receipts'));
      receipts.addEventListener('click', async () => {
        const g = await api('GET', `/v1/me/consents/${c.id}/receipts`);
        if (!g.ok) return say(errorText(g.body, g.status), 'error');
        download(`consent-receipts-${c.id}.json`, g.body);
        say(t('consents.downloaded'), 'ok');
      });
      const typeBoxes = (c.types || []).map((ty, i) => h('label', { class: 'choice' },
        h('input', { type: 'checkbox', value: ty, checked: true, id: `cn-${c.id}-${i}` }), named((c.typeNames || {})[ty], ty)));
      const uses = h('input', { type: 'number', min: '1', id: `cn-${c.id}-uses`, value: c.maxUses || '' });
      const narrow = h('form', { class: 'narrow' },
        h('fieldset', {}, h('legend', {}, t('consents.keepTypes')), typeBoxes),
        h('label', { for: `cn-${c.id}-uses` }, t('consent.maxUses')), uses,
        h('button', { type: 'submit' }, t('consents.narrow')));
      narrow.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = {};
        const keep = [...narrow.querySelectorAll('input[type=checkbox]:checked')].map((b) => b.value);
        if (keep.length !== (c.types || []).length) body.types = keep;
        const n = parseInt(uses.value, 10);
        if (n && n !== c.maxUses) body.maxUses = n;
        const x = await api('POST', `/v1/me/consents/${c.id}:narrow`, body);
        if (!x.ok) return say(errorText(x.body, x.status), 'error');
        say(t('consents.narrowed'), 'ok');
        await render();
      });
      el.append(h('article', { class: 'consent', 'data-id': c.id },
        h('h3', {}, named(c.requesterName, c.requester)),
        h('p', {}, h('span', { class: 'badge ' + c.state }, t('consentState.' + c.state))),
        h('dl', { class: 'meta' },
          h('dt', {}, t('consent.matter')), h('dd', {}, named(c.matterName, c.matter)),
          h('dt', {}, t('consent.purpose')), h('dd', {}, c.purpose),
          h('dt', {}, t('consent.types')), h('dd', {}, joined((c.types || []).map((ty) => named((c.typeNames || {})[ty], ty)))),
          h('dt', {}, t('consent.remaining')), h('dd', { class: 'remaining' }, c.remainingUses === null || c.remainingUses === undefined ? t('consent.unlimited') : String(c.remainingUses)),
          h('dt', {}, t('consent.used')), h('dd', {}, String(c.uses)),
          h('dt', {}, t('consent.expires')), h('dd', {}, time(c.expiresAt))),
        active ? h('details', {}, h('summary', {}, t('consents.narrow')), narrow) : null,
        h('div', { class: 'actions' }, withdraw, receipts)));
    }
  }

  // ----- access log -----------------------------------------------------------------------------
  async function accessLog(el) {
    let records = [];
    let cursor = null;
    const kind = h('select', { id: 'log-kind' },
      h('option', { value: '' }, t('log.allKinds')),
      ['pull', 'check', 'in_person', 'export', 'wallet', 'oid4vp'].map((k) => h('option', { value: k }, t('kind.' + k))));
    const who = h('input', { id: 'log-who', type: 'search', autocomplete: 'off' });
    const list = h('ul', { class: 'log' });
    const more = h('button', { type: 'button', class: 'secondary' }, t('log.more'));
    // The records' chain and their leaves in the access log, checked in this browser.
    const proof = h('div', { id: 'log-proof', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('chain.checking')));
    const check = async () => {
      const c = await LV.tlog.checkAccessChain(records, 'lv-chain:' + (LV.who || '') + ':' + actingFor);
      clear(proof);
      if (c.problems.length) {
        proof.append(h('p', { class: 'error', 'data-chain': 'broken' }, t('chain.problems')),
          h('ul', {}, c.problems.map((p) => h('li', { class: 'error' }, t(p.key, p.vars)))));
      } else if (!c.checked) {
        proof.append(h('p', { class: 'muted', 'data-chain': 'none' }, t('chain.none')));
      } else {
        proof.append(h('p', { class: 'ok', 'data-chain': c.signed === true ? 'verified' : 'unsigned' },
          t('chain.ok', { n: c.checked, first: c.first, last: c.last, size: c.size }),
          c.signed === true ? ' ' + t('chain.signed') : ' ' + t('chain.notSigned')));
      }
    };
    const draw = () => {
      clear(list);
      const q = who.value.trim().toLowerCase();
      const shown = records.filter((r) => (!kind.value || (r.kind || 'pull') === kind.value) &&
        (!q || [r.requester, r.requesterName, r.matter, r.matterName, r.purpose].join(' ').toLowerCase().includes(q)));
      if (!shown.length) list.append(h('li', {}, t('log.none')));
      for (const r of shown) {
        list.append(h('li', { class: 'log-entry', 'data-id': r.id },
          h('strong', {}, time(r.at || r.pulledAt)), ' · ', t('kind.' + (r.kind || 'pull')), ' · ',
          r.requester ? named(r.requesterName, r.requester) : t('log.self'), ' · ', r.matter ? named(r.matterName, r.matter) : '',
          r.purpose ? ' · ' + r.purpose : '',
          h('ul', {}, (r.outcomes || []).map((i) => h('li', {}, typeName(i.type), ': ' + t('outcome.' + i.outcome) +
            (i.reason ? ' — ' + t('reason.' + i.reason) : '')))),
          r.requester ? objectionForm(r) : null));
      }
      more.hidden = !cursor;
    };
    const load = async () => {
      const r = await api('GET', '/v1/me/access-log?limit=50' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      if (!r.ok) return failed(el, r);
      records = records.concat(r.body.records || []);
      const month = Date.now() - 30 * 86400e3;
      counts.uses = records.filter((x) => x.requester && new Date(x.at) >= month).length;
      cursor = r.body.nextCursor;
      draw();
      await check();
    };
    kind.addEventListener('change', draw);
    who.addEventListener('input', draw);
    more.addEventListener('click', load);
    clear(el).append(h('div', { class: 'filters' },
      h('label', { for: 'log-kind' }, t('log.kind')), kind,
      h('label', { for: 'log-who' }, t('log.filter')), who), proof, list, more);
    await load();
  }

  // An objection to one use (SPEC §17): why, and whether to ask for deletion.
  function objectionForm(r) {
    const reason = h('textarea', { name: 'reason', rows: '2', required: true });
    const deletion = h('input', { type: 'checkbox', name: 'askDeletion' });
    const form = h('form', { class: 'objection-form' },
      h('label', {}, t('object.reason'), ' ', reason),
      h('label', { class: 'choice' }, deletion, t('object.askDeletion')),
      h('button', { type: 'submit' }, t('object.send')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const o = await api('POST', '/v1/me/objections', { accessRecord: r.id, reason: reason.value, askDeletion: deletion.checked });
      if (!o.ok) return say(errorText(o.body, o.status), 'error');
      say(t('object.sent', { who: r.requesterName || r.requester }), 'ok');
      await rights(clear(document.querySelector('#rights .body')));
    });
    return h('details', { class: 'object' }, h('summary', {}, t('object.title')), form);
  }

  // ----- notifications --------------------------------------------------------------------------
  async function notifications(el) {
    const r = await api('GET', '/v1/me/notifications?limit=50');
    if (!r.ok) return failed(el, r);
    clear(el);
    const list = r.body.notifications || [];
    const unread = list.filter((n) => !n.read).length;
    el.append(h('p', {}, t('notifications.unread', { n: unread })));
    if (unread) {
      const mark = h('button', { type: 'button', class: 'secondary' }, t('notifications.markRead'));
      mark.addEventListener('click', async () => {
        const m = await api('POST', '/v1/me/notifications:read', {});
        if (!m.ok) return say(errorText(m.body, m.status), 'error');
        await notifications(clear(el));
      });
      el.append(mark);
    }
    el.append(h('ul', { class: 'notifications' }, list.map((n) => h('li', { class: n.read ? 'read' : 'unread' },
      h('strong', {}, t('notice.' + n.kind)), n.event ? ' · ' + t('event.' + n.event) : '', ' · ', time(n.at),
      n.requesterName ? ' · ' + n.requesterName : '', n.matterName ? ' · ' + n.matterName : '',
      n.status ? ' · ' + t('status.' + n.status) : '',
      (n.licences || []).length ? h('span', { class: 'mono' }, ' · ' + n.licences.join(', ')) : null))));
  }

  // ----- a printable copy (SPEC §16): a sealed PDF of the licence, made on demand -------------
  function printButton(l) {
    const button = h('button', { type: 'button', class: 'secondary print' }, t('print.button'));
    const status = h('span', { class: 'muted', 'aria-live': 'polite' });
    button.addEventListener('click', async () => {
      button.disabled = true;
      const r = await api('GET', `/v1/me/licences/${encodeURIComponent(l.id)}.pdf`, undefined, { blob: true });
      button.disabled = false;
      if (!r.ok) return failed(status, r);
      LV.download(l.id.replace(/[^A-Za-z0-9.-]/g, '_') + '.pdf', r.body);
      clear(status).append(t('print.done'));
    });
    return h('p', { class: 'print' }, button, ' ', status);
  }

  // ----- a copy of everything (SPEC §17) -----------------------------------------------------------
  function exportData(el) {
    const button = h('button', { type: 'button', class: 'export' }, t('export.button'));
    const status = h('p', { class: 'muted', 'aria-live': 'polite' }, t('export.what'));
    button.addEventListener('click', async () => {
      button.disabled = true;
      clear(status).append(t('export.making'));
      const made = await api('POST', '/v1/me/exports', {});
      const file = made.ok && await api('GET', made.body.href, undefined, { blob: true });
      button.disabled = false;
      if (!made.ok || !file.ok) return failed(status, made.ok ? file : made);
      LV.download('licence-vault-export-' + made.body.id + '.tar', file.body);
      clear(status).append(t('export.done', { id: made.body.id }));
    });
    clear(el).append(status, button);
  }

  // ----- a verifier's OpenID4VP request: the vault answers as the holder's wallet ---------------
  // The request (the QR code's text) is resolved by the vault; the holder sees who asks, for which
  // matter and purpose, and which licences — every field of each — would leave, then decides.
  function verifiers(el) {
    clear(el);
    const input = h('input', { id: 'vp-uri', type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const shown = h('div', { id: 'vp-request', 'aria-live': 'polite' });
    const form = h('form', { id: 'vp-form' },
      h('p', { class: 'muted' }, t('vp.hint')),
      h('label', { for: 'vp-uri' }, t('vp.uri')), input,
      h('button', { type: 'submit' }, t('vp.open')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(shown);
      const r = await api('POST', '/v1/me/oid4vp/requests', { uri: input.value.trim() });
      if (!r.ok) {
        shown.append(h('p', { class: 'error', 'data-code': r.body && r.body.error && r.body.error.code }, errorText(r.body, r.status)));
        return say(t('vp.refused'), 'error');
      }
      input.value = '';
      shown.append(vpCard(r.body));
      shown.querySelector('h3').focus();
    });
    el.append(form, shown);
  }

  function vpCard(q) {
    const missing = q.answers.some((a) => !a.licence);
    const items = q.answers.map((a) => h('li', {},
      a.licence
        ? [h('strong', {}, a.typeName ? typeName(a.typeCode) : a.licence), ' — ', t('vp.fields', { fields: a.fields.join('、') })]
        : h('span', { class: 'error' }, t('vp.none'))));
    const card = h('article', { class: 'vp-request', 'data-id': q.id },
      h('h3', { tabindex: '-1' }, q.requester ? named(q.verifier, q.requester) : q.verifier),
      q.matter ? h('p', {}, t('vp.matter'), ': ', matterName(q.matter)) : null,
      q.purpose ? h('p', {}, t('vp.purpose'), ': ', q.purpose) : null,
      h('p', {}, t('vp.leaves')), h('ul', {}, items),
      h('p', { class: 'muted' }, t('vp.whole')));
    const answer = (verb) => async () => {
      const r = await api('POST', `/v1/me/oid4vp/requests/${q.id}:${verb}`, {});
      if (!r.ok) return say(errorText(r.body, r.status), 'error');
      say(t(verb === 'approve' ? 'vp.approved' : 'vp.rejected'), 'ok');
      card.replaceWith(h('p', { class: 'ok vp-done', 'data-state': r.body.state }, t('vp.state.' + r.body.state)));
      await accessLog(clear(document.querySelector('#log .body')));
    };
    const approve = h('button', { type: 'button' }, t('vp.approve'));
    approve.disabled = missing;
    approve.addEventListener('click', answer('approve'));
    const reject = h('button', { type: 'button', class: 'danger' }, t('vp.reject'));
    reject.addEventListener('click', answer('reject'));
    card.append(h('div', { class: 'actions' }, approve, reject));
    return card;
  }

  // ----- a licence to the holder's own wallet (OpenID4VCI, pre-authorized code) -------------------
  // The offer's QR code and its transaction code are shown once, here; the vault keeps digests.
  function walletOffer(l, v) {
    const box = h('div', { class: 'wallet-offer' }, h('p', { class: 'muted' }, t('wallet.hint')));
    if (!v.valid) {
      box.append(h('p', {}, t('wallet.notValid')));
      return box;
    }
    const make = h('button', { type: 'button' }, t('wallet.make'));
    const shown = h('div', { class: 'offer-shown' });
    make.addEventListener('click', async () => {
      const r = await api('POST', '/v1/me/wallet-offers', { licence: l.id });
      if (!r.ok) return say(errorText(r.body, r.status), 'error');
      say(t('wallet.made'), 'ok');
      const o = r.body;
      const left = h('span', { class: 'countdown', role: 'timer', 'aria-live': 'off' });
      const tick = () => {
        const secs = Math.max(0, Math.round((new Date(o.offer.expiresAt) - Date.now()) / 1000));
        left.textContent = secs ? t('wallet.left', { s: secs }) : t('presentState.expired');
      };
      tick();
      countdowns.push(setInterval(tick, 1000));
      const cancel = h('button', { type: 'button', class: 'danger' }, t('wallet.cancel'));
      cancel.addEventListener('click', async () => {
        const c = await api('DELETE', `/v1/me/wallet-offers/${o.offer.id}`);
        if (!c.ok) return say(errorText(c.body, c.status), 'error');
        say(t('wallet.cancelled'), 'ok');
        clear(shown);
      });
      const svg = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(o.qrSvg)));
      clear(shown).append(
        h('img', { class: 'qr', src: svg, alt: t('wallet.qrAlt'), width: '180', height: '180', 'data-offer-uri': o.offerUri }),
        h('p', {}, t('wallet.txCode'), ': ', h('strong', { class: 'code mono tx-code', 'aria-label': t('wallet.txCode') }, o.txCode)),
        h('p', {}, left),
        h('div', { class: 'actions' }, cancel));
    });
    box.append(make, shown);
    return box;
  }

  // ----- presentation codes -----------------------------------------------------------------------
  async function presentations(el, fresh) {
    const r = await api('GET', '/v1/me/presentations');
    if (!r.ok) return failed(el, r);
    clear(el);
    const list = (r.body.presentations || []);
    const live = list.filter((p) => p.stateNow === 'pending');
    if (!live.length) el.append(h('p', {}, t('present.none')));
    for (const p of live) {
      const left = h('span', { class: 'countdown', role: 'timer', 'aria-live': 'off' });
      const tick = () => {
        const s = Math.max(0, Math.round((new Date(p.expiresAt) - Date.now()) / 1000));
        left.textContent = t('present.left', { s });
        if (s === 0) left.textContent = t('presentState.expired');
      };
      tick();
      countdowns.push(setInterval(tick, 1000));
      const cancel = h('button', { type: 'button', class: 'danger' }, t('present.cancel'));
      cancel.addEventListener('click', async () => {
        const c = await api('DELETE', `/v1/me/presentations/${p.id}`);
        if (!c.ok) return say(errorText(c.body, c.status), 'error');
        say(t('present.cancelled'), 'ok');
        await presentations(clear(el));
      });
      const shown = made[p.id] || {};
      const svg = shown.qrSvg ? 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(shown.qrSvg))) : null;
      el.append(h('article', { class: 'presentation' + (p.id === fresh ? ' fresh' : ''), 'data-id': p.id },
        svg ? h('img', { class: 'qr', src: svg, alt: t('present.qrAlt'), width: '180', height: '180' }) : null,
        shown.code ? h('p', { class: 'code mono', 'aria-label': t('present.code') }, shown.code)
          : h('p', { class: 'muted' }, t('present.codeElsewhere')),
        h('p', {}, left),
        p.fields ? h('p', { class: 'muted' }, t('present.onlyFields', { fields: p.fields.join(', ') })) : null,
        h('div', { class: 'actions' }, cancel)));
    }
    const past = list.filter((p) => p.stateNow !== 'pending');
    if (past.length) {
      el.append(h('details', {}, h('summary', {}, t('present.past', { n: past.length })),
        h('ul', {}, past.map((p) => h('li', {}, time(p.createdAt) + ' · ' + t('presentState.' + p.stateNow))))));
    }
  }

  document.addEventListener('DOMContentLoaded', () => LV.init(render));
})();
