// The agency page (/agency): deposit one licence or a JSON Lines file (progress, per-line
// results, resumable), post a signed status statement, answer holders' correction requests, and
// see recent deposits and the revocation notices that went out.
'use strict';

(() => {
  const { t, h, clear, say, api, errorText, time, section, docInput, readFile } = LV;

  function outcome(r) {
    if (r.status === 201) return { ok: true, text: t('deposit.created') };
    if (r.status === 200) return { ok: true, text: t('deposit.already') };
    return { ok: false, text: errorText(r.body, r.status), code: r.body && r.body.error && r.body.error.code };
  }

  async function render() {
    const main = clear(document.getElementById('main'));
    const n = clear(document.getElementById('nav'));
    n.setAttribute('aria-label', t('nav.label'));
    n.append(h('ul', {}, ['one', 'file', 'status', 'corrections', 'deposits', 'notices'].map((s) =>
      h('li', {}, h('a', { href: '#' + s }, t('agency.' + s))))));

    // One licence.
    const one = docInput('licence', t('agency.pasteLicence'));
    const oneOut = h('div', { id: 'one-result', 'aria-live': 'polite' });
    const oneForm = h('form', { id: 'one-form' }, one.el, h('button', { type: 'submit' }, t('agency.deposit')));
    oneForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(oneOut);
      const r = await api('POST', '/v1/licences', one.area.value.trim());
      const o = outcome(r);
      oneOut.append(h('p', { class: o.ok ? 'ok' : 'error', 'data-code': o.code }, o.text));
      say(o.text, o.ok ? 'ok' : 'error');
      if (o.ok) await deposits(clear(document.querySelector('#deposits .body')));
    });
    main.append(section('one', t('agency.one'), oneForm, oneOut));

    main.append(section('file', t('agency.file'), jsonl()));

    // A status statement.
    const st = docInput('statement', t('agency.pasteStatement'));
    const stOut = h('div', { id: 'status-result', 'aria-live': 'polite' });
    const stForm = h('form', { id: 'status-form' }, st.el, h('button', { type: 'submit' }, t('agency.postStatus')));
    stForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(stOut);
      const text = st.area.value.trim();
      let id = '';
      try { id = String(JSON.parse(text).licence || ''); } catch (_) { id = ''; }
      if (!id) { stOut.append(h('p', { class: 'error' }, t('agency.noLicenceInStatement'))); return; }
      const r = await api('POST', '/v1/licences/' + encodeURIComponent(id) + '/status', text);
      const text2 = r.ok ? t('agency.statusAccepted', { status: t('status.' + ((r.body && r.body.status) || '')) }) : errorText(r.body, r.status);
      stOut.append(h('p', { class: r.ok ? 'ok' : 'error', 'data-code': r.ok ? null : r.body && r.body.error && r.body.error.code }, text2));
      say(text2, r.ok ? 'ok' : 'error');
      if (r.ok) {
        await deposits(clear(document.querySelector('#deposits .body')));
        await notices(clear(document.querySelector('#notices .body')));
      }
    });
    main.append(section('status', t('agency.status'), stForm, stOut));

    const cor = h('div', { class: 'body' });
    const dep = h('div', { class: 'body' });
    const not = h('div', { class: 'body' });
    main.append(section('corrections', t('agency.corrections'), cor),
      section('deposits', t('agency.deposits'), dep), section('notices', t('agency.notices'), not));
    await Promise.all([corrections(cor), deposits(dep), notices(not)]);
  }

  // Holders' correction requests waiting for an answer (SPEC §17): what is said to be wrong, the
  // values claimed, the deadline; answered by naming the renewal deposited, or refused with a reason.
  async function corrections(el) {
    const r = await api('GET', '/v1/issuer/corrections?limit=50');
    clear(el);
    if (!r.ok) return el.append(h('p', { class: 'error' }, errorText(r.body, r.status)));
    const list = r.body.corrections || [];
    if (!list.length) return el.append(h('p', {}, t('corrections.noneOpen')));
    for (const c of list) {
      const renewal = h('input', { type: 'text', name: 'renewal', autocomplete: 'off', 'aria-label': t('corrections.renewal') });
      const fixed = h('form', { class: 'inline corrected' }, h('label', {}, t('corrections.renewal'), ' ', renewal),
        h('button', { type: 'submit' }, t('corrections.markCorrected')));
      const reason = h('textarea', { name: 'reason', rows: '2', 'aria-label': t('corrections.refuseReason') });
      const refuse = h('form', { class: 'inline refused' }, h('label', {}, t('corrections.refuseReason'), ' ', reason),
        h('button', { type: 'submit', class: 'danger' }, t('corrections.refuse')));
      const answer = async (body) => {
        const a = await api('POST', '/v1/issuer/corrections/' + encodeURIComponent(c.id) + ':answer', body);
        if (!a.ok) return say(errorText(a.body, a.status), 'error');
        say(t('corrections.answered', { state: t('correction.' + a.body.state) }), 'ok');
        await corrections(el);
      };
      fixed.addEventListener('submit', (e) => { e.preventDefault(); answer({ outcome: 'corrected', renewal: renewal.value.trim() }); });
      refuse.addEventListener('submit', (e) => { e.preventDefault(); answer({ outcome: 'refused', reason: reason.value }); });
      el.append(h('article', { class: 'correction', 'data-id': c.id },
        h('h3', {}, c.typeName, ' · ', c.fields.join('、')),
        h('p', {}, c.problem),
        c.claimed && Object.keys(c.claimed).length ? h('dl', { class: 'fields' }, Object.entries(c.claimed).map(([k, v]) =>
          [h('dt', {}, t('corrections.claimed', { field: k })), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))])) : null,
        h('p', { class: c.overdue ? 'error' : 'muted' }, t(c.overdue ? 'corrections.overdue' : 'corrections.due', { at: time(c.dueAt) }),
          c.disputed ? ' · ' + t('corrections.disputed') : ''),
        h('p', { class: 'mono' }, c.licence),
        fixed, refuse));
    }
  }

  // A JSON Lines upload, one licence per line, sent one at a time so each line has its own
  // result. Progress is kept in localStorage by file (name, size, date): deposits are idempotent,
  // so a resumed upload starts after the last line that was answered.
  function jsonl() {
    const file = h('input', { type: 'file', id: 'jsonl', accept: '.jsonl,.ndjson,.txt,application/x-ndjson' });
    const progress = h('progress', { id: 'jsonl-progress', max: '1', value: '0', 'aria-label': t('file.progress') });
    const counts = h('p', { id: 'jsonl-counts', 'aria-live': 'polite' });
    const results = h('ol', { id: 'jsonl-results', class: 'lines' });
    const start = h('button', { type: 'button', disabled: true }, t('file.start'));
    const stop = h('button', { type: 'button', class: 'secondary', disabled: true }, t('file.pause'));
    let lines = [];
    let key = '';
    let stopping = false;
    const saved = () => { try { return parseInt(localStorage.getItem(key) || '0', 10) || 0; } catch (_) { return 0; } };
    const save = (n) => { try { localStorage.setItem(key, String(n)); } catch (_) { /* no storage: no resume */ } };
    file.addEventListener('change', async () => {
      const f = file.files[0];
      if (!f) return;
      lines = (await readFile(f)).split(/\r?\n/);
      while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
      key = 'lv-upload:' + f.name + ':' + f.size + ':' + f.lastModified;
      clear(results);
      progress.max = String(Math.max(lines.length, 1));
      const done = saved();
      progress.value = String(done);
      counts.textContent = done ? t('file.resume', { done, total: lines.length }) : t('file.ready', { total: lines.length });
      start.disabled = false;
      start.textContent = done ? t('file.resumeButton') : t('file.start');
    });
    start.addEventListener('click', async () => {
      start.disabled = true;
      stop.disabled = false;
      stopping = false;
      let ok = 0; let bad = 0;
      for (let i = saved(); i < lines.length && !stopping; i++) {
        const line = lines[i].trim();
        let o;
        if (!line) o = { ok: false, text: t('file.emptyLine') };
        else o = outcome(await api('POST', '/v1/licences', line));
        if (o.ok) ok++; else bad++;
        results.append(h('li', { value: String(i + 1), class: o.ok ? 'ok' : 'error', 'data-line': String(i + 1), 'data-code': o.code },
          t('file.line', { n: i + 1 }) + ': ' + o.text));
        save(i + 1);
        progress.value = String(i + 1);
        counts.textContent = t('file.counts', { done: i + 1, total: lines.length, ok, bad });
      }
      stop.disabled = true;
      if (saved() >= lines.length) {
        try { localStorage.removeItem(key); } catch (_) { /* nothing kept */ }
        say(t('file.finished', { ok, bad }), bad ? 'error' : 'ok');
        await deposits(clear(document.querySelector('#deposits .body')));
      } else {
        start.disabled = false;
        start.textContent = t('file.resumeButton');
        say(t('file.paused', { done: saved(), total: lines.length }), 'info');
      }
    });
    stop.addEventListener('click', () => { stopping = true; });
    return h('div', { class: 'jsonl' },
      h('p', {}, t('file.help')),
      h('label', { for: 'jsonl' }, t('file.choose')), file,
      h('div', { class: 'actions' }, start, stop), progress, counts, results);
  }

  async function deposits(el) {
    const r = await api('GET', '/v1/issuer/deposits?limit=20');
    clear(el);
    if (!r.ok) return el.append(h('p', { class: 'error' }, errorText(r.body, r.status)));
    const list = r.body.deposits || [];
    if (!list.length) return el.append(h('p', {}, t('agency.noDeposits')));
    el.append(h('ul', { class: 'deposits' }, list.map((d) => h('li', { 'data-id': d.id },
      h('span', { class: 'mono' }, d.id), ' · ', time(d.depositedAt), ' · ',
      h('span', { class: 'badge' }, t('status.' + (d.supersededBy ? 'superseded' : d.status ? d.status.status : 'active')))))));
  }

  async function notices(el) {
    const r = await api('GET', '/v1/issuer/notices?limit=20');
    clear(el);
    if (!r.ok) return el.append(h('p', { class: 'error' }, errorText(r.body, r.status)));
    const list = r.body.notices || [];
    if (!list.length) return el.append(h('p', {}, t('agency.noNotices')));
    el.append(h('ul', { class: 'notices' }, list.map((n) =>
      h('li', {}, time(n.receivedAt), ' · ', t('agency.sentTo', { n: n.requesters }), ' · ',
        h('span', { class: 'mono' }, String(n.licence || '')), ' · ', t('status.' + (n.status || ''))))));
  }

  document.addEventListener('DOMContentLoaded', () => LV.init(render));
})();
