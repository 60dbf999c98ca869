// #/audit: the hash-chained audit log (GET /audit with its filters: from, to, actor, action) and the result of
// GET /audit/verify in plain words.

import { api } from '../api.js';
import { h, field, dataTable, emptyRow, onSubmit, onClick, whileLoading, timeElement, formatNumber, localInputToInstant } from '../app.js';

const PAGE_SIZE = 100;
const ACTIONS = ['auth.login', 'auth.login_failed', 'auth.logout', 'company.register', 'user.create', 'user.update', 'user.role_change', 'user.delete',
  'api_key.create', 'api_key.revoke', 'device.create', 'device.delete', 'settings.update', 'group.create', 'group.delete',
  'person.create', 'person.update', 'person.delete', 'employee.update', 'employee.delete', 'employee.import',
  'face.create', 'face.import', 'face.delete', 'face.kiosk_register', 'face.kiosk_delete', 'face.image_read',
  'face.encoding_read', 'face.quarantine'];

const HEAD_PROBLEMS = {
  missing: 'the published chain head is missing',
  invalid: 'the published chain head\'s signature does not hold',
  truncated: 'the newest events were removed (the chain is shorter than its published head)',
  mismatch: 'the chain does not end at the published head',
};

function verification(result) {
  const events = `${formatNumber(result.event_count)} event${result.event_count === 1 ? '' : 's'}`;
  let text;
  if (result.intact) {
    text = result.head?.status === 'empty' ? 'Intact — no events yet' : `Intact — ${events}, anchored at the published head`;
  } else if (result.first_broken_id !== null && result.first_broken_id !== undefined) {
    text = `BROKEN at event ${result.first_broken_id} (${events} in the chain)`;
  } else {
    text = `BROKEN — ${HEAD_PROBLEMS[result.head?.status] || result.head?.status || 'the chain does not verify'} (${events})`;
  }
  const after = result.head?.events_after_head;
  return h('div', { id: 'audit-verify', class: `verify ${result.intact ? 'verify-ok' : 'verify-broken'}`, 'data-intact': String(result.intact) },
    h('strong', null, text), after ? h('span', { class: 'muted' }, ` (${after} event${after === 1 ? '' : 's'} after the recorded head)`) : null);
}

function detailText(detail) {
  return Object.entries(detail || {}).map(([key, value]) => `${key}: ${value}`).join('; ') || '—';
}

function eventRow(event) {
  return h('tr', { 'data-event-id': event.id },
    h('td', null, String(event.id)), h('td', null, timeElement(event.at)), h('td', null, event.actor),
    h('td', null, event.action), h('td', null, event.target || '—'), h('td', { class: 'wrap' }, detailText(event.detail)),
    h('td', null, event.remote_address || '—'));
}

export default async function render(view) {
  const from = h('input', { id: 'audit-from', type: 'datetime-local', step: '1' });
  const to = h('input', { id: 'audit-to', type: 'datetime-local', step: '1' });
  const actor = h('input', { id: 'audit-actor', placeholder: 'user:3', autocomplete: 'off' });
  const action = h('input', { id: 'audit-action', list: 'audit-actions', autocomplete: 'off' });
  const { wrap, tbody } = dataTable('audit-table', 'Audit events', ['#', 'Time', 'Actor', 'Action', 'Target', 'Detail', 'Address']);
  const more = h('button', { id: 'audit-more', type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let filters = {};
  let cursor = null;

  async function showPage(reset) {
    const page = await api.get('/audit', { ...filters, limit: PAGE_SIZE, cursor: reset ? undefined : cursor });
    if (reset) tbody.replaceChildren();
    tbody.append(...page.events.map(eventRow));
    if (!tbody.children.length) emptyRow(tbody, 7, 'No events match these filters.');
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
  }

  const form = h('form', { class: 'card filters' },
    h('div', { class: 'grid-3' }, field('From (your time)', from), field('To (your time)', to),
      field('Actor', actor, 'e.g. user:3 or api_key:7'), field('Action', action),
      h('datalist', { id: 'audit-actions' }, ACTIONS.map((value) => h('option', { value })))),
    h('div', { class: 'actions' }, h('button', { id: 'audit-apply', type: 'submit' }, 'Apply filters')));
  onSubmit(form, () => {
    filters = { from: localInputToInstant(from.value), to: localInputToInstant(to.value), actor: actor.value.trim(), action: action.value.trim() };
    return whileLoading(() => showPage(true));
  });
  onClick(more, () => whileLoading(() => showPage(false)));
  const [result] = await Promise.all([api.get('/audit/verify'), showPage(true)]);
  view.append(h('h1', null, 'Audit'),
    h('section', { class: 'card' }, h('h2', null, 'Chain verification'), verification(result),
      h('p', { class: 'muted' }, 'Every event is chained to the one before it by a hash; the newest is checked against the head kept outside the database.')),
    form, wrap, h('div', { class: 'pager' }, more));
}
