// #/access[?person=<id>&decision=<decision>]: the access log (GET /logs) with filters (the query's person and decision
// fill them in on load), "load more" paging and a CSV export of every matching entry.

import { api, allPages } from '../api.js';
import {
  h, can, field, dataTable, emptyRow, badge, personLink, onSubmit, onClick, whileLoading, timeElement, formatDistance,
  localInputToInstant, showError,
} from '../app.js';

const PAGE_SIZE = 100;
const DECISIONS = ['match', 'ambiguous', 'unknown', 'no_face'];
const personNames = new Map(); // id → name (or null once found deleted), kept while the console is open

/** Resolves the person filter: an id as it is, a name only when exactly one person matches it. */
async function personFilter(text) {
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return text;
  const { persons } = await api.get('/persons', { name: text, limit: 2 });
  if (persons.length === 1) return String(persons[0].id);
  throw new Error(persons.length ? `Several persons match "${text}": use the person id.` : `No person matches "${text}".`);
}

/** Fills in person names for the ids on a page, a few requests at a time. */
async function loadNames(ids) {
  const missing = [...new Set(ids)].filter((id) => id !== null && id !== undefined && !personNames.has(id));
  for (let start = 0; start < missing.length; start += 6) {
    await Promise.all(missing.slice(start, start + 6).map(async (id) => {
      const answer = await api.get(`/persons/${id}`).catch((error) => (error.status === 404 ? null : Promise.reject(error)));
      personNames.set(id, answer?.person.full_name ?? null);
    }));
  }
}

function personCell(id) {
  if (id === null || id === undefined) return '—';
  const name = personNames.get(id);
  return name === null ? `deleted person #${id}` : personLink(id, name);
}

// The columns that matter most come first, so that a phone shows them before the table scrolls sideways.
const COLUMNS = ['Time', 'Decision', 'Person', 'Distance', 'Location', 'Kiosk', 'Actor', 'Latency'];

function entryRow(entry, deviceNames) {
  return h('tr', { 'data-entry-id': entry.id, 'data-person-id': entry.person_id ?? '' },
    h('td', null, timeElement(entry.at)),
    h('td', null, badge(entry.decision)),
    h('td', null, personCell(entry.person_id)),
    h('td', null, formatDistance(entry.distance)),
    h('td', null, entry.location || '—'),
    h('td', null, entry.device_id ? deviceNames.get(entry.device_id) || `#${entry.device_id}` : '—'),
    h('td', null, entry.actor),
    h('td', null, typeof entry.latency_ms === 'number' ? `${entry.latency_ms.toFixed(0)} ms` : '—'));
}

// CSV: quoted where needed; text that a spreadsheet would run as a formula is prefixed with '.
function csvCell(value) {
  let text = value === null || value === undefined ? '' : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const CSV_COLUMNS = ['id', 'at', 'actor', 'device_id', 'location', 'decision', 'person_id', 'distance', 'face_count', 'latency_ms', 'probe_sha256'];

function downloadLink(lines, count) {
  const url = URL.createObjectURL(new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/csv' }));
  return h('a', { id: 'log-csv-link', href: url, download: 'faceid-access-log.csv' }, `faceid-access-log.csv (${count} entries)`);
}

export default async function render(view, { query, onLeave }) {
  const devices = can('read_devices') ? (await api.get('/devices')).devices : [];
  const deviceNames = new Map(devices.map((device) => [device.id, device.name]));
  const person = h('input', { id: 'log-person', autocomplete: 'off' });
  const device = h('select', { id: 'log-device' }, h('option', { value: '' }, 'Any kiosk or caller'),
    devices.map((entry) => h('option', { value: entry.id }, entry.name)));
  const decision = h('select', { id: 'log-decision' }, h('option', { value: '' }, 'Any decision'),
    DECISIONS.map((value) => h('option', { value }, value.replace('_', ' '))));
  const from = h('input', { id: 'log-from', type: 'datetime-local', step: '1' });
  const to = h('input', { id: 'log-to', type: 'datetime-local', step: '1' });
  const { wrap, tbody } = dataTable('log-table', 'Access log', COLUMNS);
  const more = h('button', { id: 'log-more', type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const csv = h('button', { id: 'log-csv', type: 'button', class: 'secondary' }, 'Export CSV');
  const download = h('p', { class: 'download' });
  let filters = {};
  let cursor = null;

  async function showPage(reset) {
    const page = await api.get('/logs', { ...filters, limit: PAGE_SIZE, cursor: reset ? undefined : cursor });
    await loadNames(page.entries.map((entry) => entry.person_id));
    if (reset) tbody.replaceChildren();
    tbody.append(...page.entries.map((entry) => entryRow(entry, deviceNames)));
    if (!tbody.children.length) emptyRow(tbody, COLUMNS.length, 'No entries match these filters.');
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
  }

  async function readFilters() {
    return {
      person_id: await personFilter(person.value.trim()), device_id: device.value, decision: decision.value,
      from: localInputToInstant(from.value), to: localInputToInstant(to.value),
    };
  }

  async function exportCsv() {
    const lines = [CSV_COLUMNS.join(',')];
    for await (const entries of allPages('/logs', { ...await readFilters(), limit: 500 }, 'entries')) {
      lines.push(...entries.map((entry) => CSV_COLUMNS.map((column) => csvCell(entry[column])).join(',')));
    }
    const link = downloadLink(lines, lines.length - 1);
    onLeave(() => URL.revokeObjectURL(link.href));
    download.replaceChildren('Ready: ', link);
    link.click();
  }

  const form = h('form', { class: 'card filters' },
    h('div', { class: 'grid-3' }, field('Person (id or name)', person), field('Kiosk', device), field('Decision', decision),
      field('From (your time)', from), field('To (your time)', to)),
    h('div', { class: 'actions' }, h('button', { id: 'log-apply', type: 'submit' }, 'Apply filters'), csv));
  onSubmit(form, async () => {
    filters = await readFilters();
    await whileLoading(() => showPage(true));
  });
  onClick(more, () => whileLoading(() => showPage(false)));
  onClick(csv, exportCsv);

  // A link such as #/access?person=12 (from a person's page) opens the log filtered already.
  person.value = query?.get('person')?.trim() || '';
  if (DECISIONS.includes(query?.get('decision'))) decision.value = query.get('decision');
  let ready = true;
  try {
    filters = await readFilters();
  } catch (error) {
    ready = false; // a person filter that names nobody: said, and nothing shown as if it were unfiltered
    showError(error);
    emptyRow(tbody, COLUMNS.length, 'Correct the filters and apply them again.');
  }
  if (ready) await showPage(true);
  view.append(h('h1', null, 'Access log'),
    h('p', { class: 'muted' }, 'Every search and verification, newest first. Times are in your time zone.'),
    form, download, wrap, h('div', { class: 'pager' }, more));
}
