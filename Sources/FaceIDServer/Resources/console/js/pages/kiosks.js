// #/kiosks: the company's kiosks with how far each has acknowledged the change feed, registering and removing
// kiosks (manage_devices), and the propagation report of one person. Exports propagationReport() for #/people/<id>.

import { api } from '../api.js';
import {
  h, can, field, dataTable, emptyRow, onSubmit, onClick, timeElement, formatRelative, formatDateTime, formatNumber,
  toast, confirmDialog, refresh,
} from '../app.js';

const CHANGE_WORDS = {
  deleted: 'Deleted on',
  no_face: 'Face removal applied on',
  face_registered: 'Current face on',
};

/** GET /api/employees/{id}/face/propagation as a sentence and a per-kiosk list; null when the person is no employee. */
export async function propagationReport(personId) {
  let report;
  try {
    report = await api.get(`/api/employees/${encodeURIComponent(personId)}/face/propagation`);
  } catch (error) {
    if (error.status === 404) {
      return h('p', { class: 'muted' }, 'Not a kiosk employee (no timekeeper id), so kiosks never receive this person.');
    }
    throw error;
  }
  const devices = report.devices || [];
  const pending = devices.filter((device) => !device.applied);
  let summary = `${CHANGE_WORDS[report.state] || 'Applied on'} ${report.applied.length} of ${devices.length} kiosks`;
  summary += pending.length ? `; pending: ${pending.map((device) => device.name).join(', ')}` : devices.length ? '; every kiosk is up to date' : '';
  const latest = report.latest_change?.at;
  return h('div', { class: 'propagation', 'data-state': report.state },
    h('p', { class: 'propagation-summary' }, `${summary}.`),
    latest && h('p', { class: 'muted' }, 'Latest change: ', timeElement(latest)),
    devices.length > 0 && h('ul', { class: 'plain' }, devices.map((device) => h('li', { 'data-device-id': device.id },
      h('span', { class: device.applied ? 'status-ok' : 'status-pending' }, device.applied ? 'applied' : 'pending'),
      ` ${device.name}${device.location ? ` (${device.location})` : ''} — last acknowledged `,
      device.acked_at ? timeElement(device.acked_at) : 'never'))));
}

function lastAck(device) {
  if (!device.last_ack_at) return 'never';
  return h('span', null, formatRelative(device.last_ack_at), h('br'), h('span', { class: 'muted' }, formatDateTime(device.last_ack_at)));
}

function behind(device) {
  if (device.behind === null || device.behind === undefined) return h('span', { class: 'muted' }, 'not acknowledged yet');
  if (device.behind === 0) return h('span', { class: 'status-ok' }, 'up to date');
  return h('span', { class: 'status-pending' }, `${formatNumber(device.behind)} changes behind`);
}

function removeButton(device, row) {
  const button = h('button', { type: 'button', class: 'small danger', 'data-write': true, 'aria-label': `Remove kiosk ${device.name}` }, 'Remove');
  onClick(button, async () => {
    const question = `Remove the kiosk "${device.name}"? It can no longer sync or acknowledge, and the feed changes it was holding back are released.`;
    if (!await confirmDialog(question, 'Remove kiosk')) return;
    await api.del(`/devices/${device.id}`);
    row.remove();
    toast(`Removed kiosk ${device.name}.`);
  });
  return button;
}

function kioskTable(devices) {
  const manage = can('manage_devices');
  const headings = ['Id', 'Name', 'Location', 'Last acknowledgement', 'Feed', 'Registered'];
  const { wrap, tbody } = dataTable('kiosk-table', 'Kiosks', manage ? [...headings, ''] : headings);
  for (const device of devices) {
    const row = h('tr', { 'data-device-id': device.id },
      h('td', null, String(device.id)), h('td', null, device.name), h('td', null, device.location || '—'),
      h('td', null, lastAck(device)), h('td', null, behind(device)), h('td', null, timeElement(device.created_at)));
    if (manage) row.append(h('td', null, removeButton(device, row)));
    tbody.append(row);
  }
  if (!devices.length) emptyRow(tbody, headings.length + (manage ? 1 : 0), 'No kiosks registered yet.');
  return wrap;
}

function newKioskForm(slot) {
  const name = h('input', { id: 'kiosk-name', required: true, maxlength: '200' });
  const place = h('input', { id: 'kiosk-location', maxlength: '200' });
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', () => slot.replaceChildren());
  const form = h('form', { class: 'card' }, h('h2', null, 'Register a kiosk'),
    h('div', { class: 'grid-2' }, field('Name', name), field('Location', place, 'Optional, e.g. Gate 3.')),
    h('div', { class: 'actions' }, h('button', { id: 'kiosk-save', type: 'submit', 'data-write': true }, 'Register kiosk'), cancel));
  onSubmit(form, async () => {
    const { device } = await api.post('/devices', { name: name.value.trim(), location: place.value.trim() });
    toast(`Registered kiosk ${device.name} (id ${device.id}: the desktop app sends it as X-Device-Id).`);
    refresh();
  });
  setTimeout(() => name.focus());
  return form;
}

function propagationLookup() {
  const person = h('input', { id: 'propagation-person', type: 'number', min: '1', required: true, inputmode: 'numeric' });
  const report = h('div', { id: 'propagation-report', 'aria-live': 'polite' });
  const form = h('form', { class: 'toolbar' }, field('Person id', person),
    h('button', { id: 'propagation-check', type: 'submit' }, 'Check'));
  onSubmit(form, async () => report.replaceChildren(await propagationReport(person.value)));
  return h('section', { class: 'card' }, h('h2', null, 'Has a change reached every kiosk?'),
    h('p', { class: 'muted' }, 'Which kiosks applied a person\'s latest face change or deletion, and which have not yet.'),
    form, report);
}

export default async function render(view) {
  const { devices, feed_head: feedHead } = await api.get('/devices');
  const header = h('div', { class: 'page-head' }, h('h1', null, 'Kiosks'));
  const formSlot = h('div');
  if (can('manage_devices')) {
    const create = h('button', { id: 'kiosk-new', type: 'button', 'data-write': true }, 'Register kiosk');
    create.addEventListener('click', () => formSlot.replaceChildren(newKioskForm(formSlot)));
    header.append(create);
  }
  view.append(header, formSlot,
    h('p', { class: 'muted' }, `Feed head: change ${formatNumber(feedHead)}. A kiosk "behind" has changes it has not acknowledged yet.`),
    kioskTable(devices), propagationLookup());
}
