// The supervisor's page (/supervise): every holder's objection to a use and the approval
// system's answer (SPEC §17) — open ones first to see, with their deadlines, then all.
'use strict';

(() => {
  const { t, h, clear, api, errorText, time, section } = LV;

  function render() {
    const main = clear(document.getElementById('main'));
    clear(document.getElementById('nav'));
    const state = h('select', { id: 'objection-state' },
      h('option', { value: 'open' }, t('supervise.open')), h('option', { value: 'all' }, t('supervise.all')));
    const body = h('div', { class: 'body' });
    state.addEventListener('change', () => objections(body, state.value));
    main.append(section('objections', t('supervise.objections'),
      h('div', { class: 'filters' }, h('label', { for: 'objection-state' }, t('supervise.show')), state), body));
    objections(body, state.value);
  }

  async function objections(el, state) {
    // A page at a time (at most 200 each), all of them.
    let list = [];
    let cursor = null;
    do {
      const r = await api('GET', `/v1/supervisor/objections?limit=200&state=${state}` + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      if (!r.ok) return clear(el).append(h('p', { class: 'error' }, errorText(r.body, r.status)));
      list = list.concat(r.body.objections || []);
      cursor = r.body.nextCursor;
    } while (cursor);
    clear(el);
    if (!list.length) return el.append(h('p', {}, t('supervise.none')));
    for (const o of list) {
      const a = o.answer || {};
      el.append(h('article', { class: 'objection', 'data-id': o.id },
        h('h3', {}, h('span', { title: o.requester, 'data-code': o.requester }, o.requesterName || o.requester),
          o.matterName ? ' · ' + o.matterName : ''),
        h('p', {}, h('span', { class: 'badge ' + o.state }, t('objection.' + o.state)), ' ',
          o.askDeletion ? h('span', { class: 'badge' }, t('supervise.askedDeletion')) : null),
        h('dl', { class: 'meta' },
          h('dt', {}, t('supervise.usedAt')), h('dd', {}, time(o.usedAt)),
          h('dt', {}, t('supervise.reason')), h('dd', {}, o.reason),
          h('dt', {}, t('supervise.raisedAt')), h('dd', {}, time(o.createdAt)),
          o.state === 'open' ? [h('dt', {}, t('supervise.due')),
            h('dd', { class: o.overdue ? 'error' : '' }, time(o.dueAt) + (o.overdue ? ' · ' + t('supervise.overdue') : ''))] : null,
          a.legalBasis ? [h('dt', {}, t('supervise.legalBasis')), h('dd', {}, a.legalBasis)] : null,
          a.deletion ? [h('dt', {}, t('supervise.deletion')), h('dd', {}, time(a.deletion.credentialSubject.deletedAt))] : null)));
    }
  }

  document.addEventListener('DOMContentLoaded', () => LV.init(render));
})();
