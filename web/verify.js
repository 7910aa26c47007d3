// The verifier (/verify): check any signed document, check by check, redeem a presentation
// code typed in, opened from its link (/verify#code=…) or scanned with the camera, and answer
// holders' objections to the approval system's uses.
'use strict';

(() => {
  const { t, h, clear, say, api, errorText, verdict, fields, section, docInput, time } = LV;

  // What kind of signed document this is, by its `type` (and the members that tell them apart).
  function kindOf(doc) {
    const types = [].concat((doc && doc.type) || []);
    for (const k of ['ElectronicLicence', 'MinimisedCopy', 'PurposeStampedCopy', 'DepositReceipt', 'ConsentReceipt', 'LicenceStatusNotice', 'ExportManifest', 'DeletionAttestation', 'BitstringStatusListCredential']) {
      if (types.includes(k)) return t('doctype.' + k);
    }
    if (doc && doc.licence && doc.status) return t('doctype.StatusStatement');
    return types.length ? types.join(', ') : t('doctype.unknown');
  }

  function render() {
    const main = clear(document.getElementById('main'));
    clear(document.getElementById('nav'));
    const input = docInput('doc', t('verify.paste'));
    const out = h('div', { id: 'verify-result', 'aria-live': 'polite' });
    const form = h('form', { id: 'verify-form' }, input.el, h('button', { type: 'submit' }, t('verify.check')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(out);
      const text = input.area.value.trim();
      if (!text) return say(t('verify.empty'), 'error');
      let doc = null;
      try { doc = JSON.parse(text); } catch (_) { doc = null; }
      // The raw text goes to the vault as it is: it parses strictly (duplicate names, big numbers).
      const r = await api('POST', '/v1/verify', text);
      if (!r.ok) {
        out.append(h('p', { class: 'error', 'data-code': r.body && r.body.error && r.body.error.code }, errorText(r.body, r.status)));
        return say(t('verify.failed'), 'error');
      }
      out.append(h('p', {}, t('verify.kind', { kind: kindOf(doc) })), verdict(r.body));
      // A stamped or minimised copy given to this approval system: its printable PDF.
      if ([].concat((doc && doc.type) || []).includes('PurposeStampedCopy') && typeof doc.id === 'string') {
        const get = h('button', { type: 'button', class: 'secondary', id: 'copy-pdf' }, t('print.copy'));
        const note = h('span', { class: 'muted', 'aria-live': 'polite' });
        get.addEventListener('click', async () => {
          const f = await api('GET', `/v1/copies/${encodeURIComponent(doc.id)}.pdf`, undefined, { blob: true });
          if (!f.ok) return clear(note).append(errorText(f.body, f.status));
          LV.download(doc.id.replace(/[^A-Za-z0-9-]/g, '_') + '.pdf', f.body);
          clear(note).append(t('print.done'));
        });
        out.append(h('p', {}, get, ' ', note));
      }
      // A deposit receipt: is the deposit it proves in the public log? Checked in this browser.
      const types = [].concat((doc && doc.type) || []);
      if (types.includes('DepositReceipt') && doc.credentialSubject && doc.credentialSubject.sha256) {
        const d = await LV.tlog.checkDeposit(doc.credentialSubject.sha256);
        out.append(d.index !== undefined && d.signed !== false
          ? h('p', { class: 'ok', id: 'deposit-logged', 'data-signed': String(d.signed) },
            t('deposit.logged', { index: d.index, size: d.size }), ' ', d.signed ? t('chain.signed') : t('chain.notSigned'))
          : h('p', { class: 'error', id: 'deposit-logged', 'data-signed': 'false' }, t('deposit.notLogged')));
      }
      say(r.body.valid ? t('verdict.valid') : t('verdict.invalid'), r.body.valid ? 'ok' : 'error');
    });
    main.append(section('check', t('verify.checkTitle'), form, out));
    main.append(section('pdf', t('pdf.title'), pdfForm()));

    const code = h('input', { id: 'code', type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', inputmode: 'text' });
    const hash = new URLSearchParams(location.hash.slice(1)).get('code');
    if (hash) {
      code.value = hash;
      // The code stays out of the address bar, the history and any later link.
      history.replaceState(null, '', location.pathname);
    }
    const shown = h('div', { id: 'redeem-result', 'aria-live': 'polite' });
    const redeem = h('form', { id: 'redeem-form' },
      h('label', { for: 'code' }, t('redeem.code')), code,
      h('button', { type: 'submit' }, t('redeem.submit')));
    redeem.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(shown);
      const r = await api('POST', '/v1/presentations:redeem', { code: code.value });
      if (!r.ok) {
        const c = r.body && r.body.error && r.body.error.code;
        shown.append(h('p', { class: 'error', 'data-code': c }, errorText(r.body, r.status)));
        return say(t('redeem.refused'), 'error');
      }
      const b = r.body;
      const subj = b.document ? (b.document.credentialSubject || {}) : {};
      const face = b.fields || (subj.licence || {}).fields;
      shown.append(h('article', { class: 'redeemed' },
        h('h3', {}, b.typeName || b.type),
        h('p', { class: 'muted' }, t('redeem.at', { at: time(b.redeemedAt) }) + ' · ' + b.licence),
        subj.holder ? h('p', {}, t('redeem.holder', { name: subj.holder.name })) : null,
        fields(face), verdict(b.verdict)));
      code.value = '';
      say(t('redeem.done'), 'ok');
    });
    const parts = [redeem];
    if ('BarcodeDetector' in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      parts.push(scanner(code, redeem));
    } else {
      parts.push(h('p', { class: 'muted' }, t('redeem.noCamera')));
    }
    main.append(section('redeem', t('redeem.title'), parts, shown));
    main.append(section('oid4vp', t('ask.title'), asking()));
    const ob = h('div', { class: 'body' });
    main.append(section('objections', t('objections.title'), ob));
    objections(ob);
  }

  // Ask a holder's wallet (OpenID4VP): a matter and a purpose make a transaction; its QR code is
  // shown until the wallet answers, then the verdict of each presentation, check by check.
  function asking() {
    const matter = h('input', { id: 'ask-matter', type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const purpose = h('input', { id: 'ask-purpose', type: 'text', autocomplete: 'off' });
    const out = h('div', { id: 'ask-result', 'aria-live': 'polite' });
    const form = h('form', { id: 'ask-form' },
      h('p', { class: 'muted' }, t('ask.hint')),
      h('label', { for: 'ask-matter' }, t('ask.matter')), matter,
      h('label', { for: 'ask-purpose' }, t('ask.purpose')), purpose,
      h('button', { type: 'submit' }, t('ask.submit')));
    let poll = null;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(out);
      if (poll) clearInterval(poll);
      const r = await api('POST', '/v1/oid4vp/transactions', { matter: matter.value.trim(), purpose: purpose.value.trim() });
      if (!r.ok) {
        out.append(h('p', { class: 'error', 'data-code': r.body && r.body.error && r.body.error.code }, errorText(r.body, r.status)));
        return say(t('ask.refused'), 'error');
      }
      const tx = r.body.transaction;
      const svg = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(r.body.qrSvg)));
      const waiting = h('p', { class: 'waiting' }, t('ask.waiting'));
      out.append(h('img', { class: 'qr', src: svg, alt: t('ask.qrAlt'), width: '200', height: '200', 'data-request-uri': r.body.requestUri }),
        h('p', { class: 'mono small' }, r.body.requestUri), waiting);
      say(t('ask.made'), 'ok');
      poll = setInterval(async () => {
        const s = await api('GET', '/v1/oid4vp/transactions/' + encodeURIComponent(tx.id));
        if (!s.ok || s.body.state === 'pending') return;
        clearInterval(poll);
        waiting.replaceWith(answered(s.body));
      }, 1000);
    });
    return [form, out];
  }

  function answered(tx) {
    const res = tx.result || {};
    const box = h('div', { class: 'answered', 'data-state': tx.state, 'data-valid': String(!!res.valid) },
      h('p', { class: res.valid ? 'ok' : 'error' }, t('ask.state.' + tx.state), res.valid ? ' · ' + t('verdict.valid') : ''));
    if (res.error) box.append(h('p', {}, res.error + (res.errorDescription ? ' — ' + res.errorDescription : '')));
    for (const p of res.presentations || []) {
      box.append(h('article', { class: 'presented' },
        h('h3', {}, p.query, ' · ', p.matches ? t('ask.matches') : t('ask.mismatch')),
        p.mismatch ? h('p', { class: 'error' }, p.mismatch) : null,
        verdict(p.verdict)));
    }
    return box;
  }

  // Holders' objections to this approval system's uses (SPEC §17), answered once with the legal
  // basis and, when the holder asked, an attestation that what the use released was deleted.
  async function objections(el) {
    const r = await api('GET', '/v1/objections?limit=50');
    clear(el);
    if (!r.ok) return el.append(h('p', { class: 'error' }, errorText(r.body, r.status)));
    const list = r.body.objections || [];
    if (!list.length) return el.append(h('p', {}, t('objections.none')));
    for (const o of list) {
      const basis = h('textarea', { name: 'legalBasis', rows: '2', required: true });
      const deleted = h('input', { type: 'checkbox', name: 'deleted' });
      const form = h('form', { class: 'objection-answer' },
        h('label', {}, t('objections.legalBasis'), ' ', basis),
        h('label', { class: 'choice' }, deleted, t(o.askDeletion ? 'objections.deletedAsked' : 'objections.deleted')),
        h('button', { type: 'submit' }, t('objections.answer')));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = { legalBasis: basis.value };
        if (deleted.checked) body.deleted = true;
        const a = await api('POST', '/v1/objections/' + encodeURIComponent(o.id) + ':answer', body);
        if (!a.ok) return say(errorText(a.body, a.status), 'error');
        say(t('objections.answered'), 'ok');
        await objections(el);
      });
      el.append(h('article', { class: 'objection', 'data-id': o.id },
        h('p', {}, h('strong', {}, o.matterName || t('kind.in_person')), ' · ', time(o.usedAt)),
        h('p', {}, o.reason),
        o.askDeletion ? h('p', { class: 'error' }, t('objections.askedDeletion')) : null,
        h('p', { class: o.overdue ? 'error' : 'muted' }, t(o.overdue ? 'corrections.overdue' : 'corrections.due', { at: time(o.dueAt) })),
        form));
    }
  }

  // Scans a QR code with the camera where the browser has a BarcodeDetector.
  function scanner(code, form) {
    const video = h('video', { class: 'scan', muted: true, playsinline: true, hidden: true, 'aria-label': t('redeem.camera') });
    const button = h('button', { type: 'button', class: 'secondary' }, t('redeem.scan'));
    let stream = null;
    button.addEventListener('click', async () => {
      if (stream) { stream.getTracks().forEach((tr) => tr.stop()); stream = null; video.hidden = true; return; }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
      } catch (err) {
        return say(t('redeem.cameraRefused'), 'error');
      }
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
      const look = async () => {
        if (!stream) return;
        const found = await detector.detect(video).catch(() => []);
        const value = found.length && found[0].rawValue;
        if (value) {
          const m = value.match(/#code=([A-Z2-7-]+)/i);
          code.value = m ? m[1] : value;
          stream.getTracks().forEach((tr) => tr.stop());
          stream = null;
          video.hidden = true;
          form.requestSubmit();
          return;
        }
        requestAnimationFrame(look);
      };
      look();
    });
    return h('div', { class: 'scanner' }, button, video);
  }

  // A printed copy's PDF (SPEC §16): its seal, its page against the copy the vault keeps, then
  // that copy's checks.
  function pdfForm() {
    const file = h('input', { type: 'file', id: 'pdf-file', accept: '.pdf,application/pdf' });
    const out = h('div', { id: 'pdf-result', 'aria-live': 'polite' });
    const form = h('form', { id: 'pdf-form' },
      h('p', { class: 'muted' }, t('pdf.hint')),
      h('label', { for: 'pdf-file' }, t('pdf.choose')), file,
      h('button', { type: 'submit' }, t('pdf.check')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(out);
      if (!file.files[0]) return say(t('verify.empty'), 'error');
      const bytes = await file.files[0].arrayBuffer();
      const r = await api('POST', '/v1/verify', bytes, { contentType: 'application/pdf' });
      if (!r.ok) {
        out.append(h('p', { class: 'error', 'data-code': r.body && r.body.error && r.body.error.code }, errorText(r.body, r.status)));
        return say(t('verify.failed'), 'error');
      }
      out.append(verdict(r.body));
      say(r.body.valid ? t('verdict.valid') : t('verdict.invalid'), r.body.valid ? 'ok' : 'error');
    });
    return h('div', {}, form, out);
  }

  // A printed copy's QR code (/verify#print=…): what the vault keeps for that print, and its
  // verdict now, for whoever holds the paper, signed in or not. The id leaves the address bar.
  async function printCheck() {
    const id = new URLSearchParams(location.hash.slice(1)).get('print');
    if (!id) return;
    history.replaceState(null, '', location.pathname);
    const r = await fetch('/v1/prints:check', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ print: id }), credentials: 'omit',
    });
    const body = await r.json().catch(() => null);
    const box = h('div', { id: 'print-result', 'aria-live': 'polite' });
    if (!r.ok) {
      box.append(h('p', { class: 'error', 'data-code': body && body.error && body.error.code }, errorText(body, r.status)));
    } else {
      box.append(h('p', { class: 'muted' }, t('print.compare')),
        h('h3', {}, body.title), h('p', { class: 'muted' }, body.subtitle),
        body.band ? h('p', { class: 'band' }, body.band) : null,
        h('dl', { class: 'fields' }, body.rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
        h('dl', { class: 'fields mono' }, body.footer.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
        verdict(body.verdict));
    }
    document.getElementById('main').prepend(section('print', t('print.title'), box));
  }

  document.addEventListener('DOMContentLoaded', () => LV.init(render).then(printCheck));
})();
