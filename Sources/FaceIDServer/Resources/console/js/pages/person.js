// #/people/<id>: one person — details, faces (with stored photos for owners/admins), access-log and audit
// entries naming them, kiosk propagation; edit, delete (with a confirmation that says what goes) and enroll.

import { api } from '../api.js';
import {
  h, can, dataTable, emptyRow, badge, onClick, timeElement, formatDistance, toast, confirmDialog, refresh, errorText,
} from '../app.js';
import { personForm } from './people.js';
import { propagationReport } from './kiosks.js';

const AUDIT_LIMIT = 50;
const MAX_FACE_TARGETS = 20; // one GET /audit?target=face:… per face: bounded for a person with very many faces

function details(person) {
  const metadata = Object.keys(person.metadata || {}).length ? h('pre', null, JSON.stringify(person.metadata, null, 2)) : '—';
  const row = (term, value) => [h('dt', null, term), h('dd', null, value)];
  return h('dl', { class: 'details card' },
    row('Person id', String(person.id)),
    row('External id', person.external_id || '—'),
    row('Groups', person.groups.join(', ') || '—'),
    row('Tags', person.tags.join(', ') || '—'),
    row('Metadata', metadata),
    row('Created', timeElement(person.created_at)),
    row('Updated', timeElement(person.updated_at)));
}

/** The stored enrollment photo as an object URL (revoked when the page is left); a note when there is none. */
async function thumbnail(face, onLeave) {
  if (face.source !== 'photo') return h('span', { class: 'muted' }, 'no photo');
  try {
    const url = URL.createObjectURL(await api.blob(`/faces/${face.id}/image`));
    onLeave(() => URL.revokeObjectURL(url));
    return h('img', { class: 'thumb', src: url, alt: `Enrollment photo of face ${face.id}` });
  } catch (error) {
    if (error.status === 404) return h('span', { class: 'muted' }, 'not stored');
    throw error;
  }
}

async function facesTable(faces, showPhotos, onLeave) {
  const headings = ['Face id', 'Created', 'Source', 'Reference', 'Model'];
  if (showPhotos) headings.push('Photo');
  if (can('manage_persons')) headings.push('');
  const { wrap, tbody } = dataTable('person-faces', 'Faces', headings);
  for (const face of faces) {
    const row = h('tr', { 'data-face-id': face.id },
      h('td', null, String(face.id)), h('td', null, timeElement(face.created_at)), h('td', null, face.source),
      h('td', null, face.reference ? 'yes' : 'no'), h('td', null, face.model_id));
    if (showPhotos) row.append(h('td', null, await thumbnail(face, onLeave)));
    if (can('manage_persons')) row.append(h('td', null, deleteFaceButton(face, row)));
    tbody.append(row);
  }
  if (!faces.length) emptyRow(tbody, headings.length, 'No faces enrolled yet.');
  return wrap;
}

function deleteFaceButton(face, row) {
  const button = h('button', { type: 'button', class: 'small danger', 'data-write': true, 'aria-label': `Delete face ${face.id}` }, 'Delete');
  onClick(button, async () => {
    const question = `Delete face ${face.id}? It leaves the store, the search index and its stored photo (if any); every kiosk drops it on its next sync.`;
    if (!await confirmDialog(question, 'Delete face')) return;
    await api.del(`/faces/${face.id}`);
    row.remove();
    toast(`Deleted face ${face.id}.`);
  });
  return button;
}

async function accessLog(personId) {
  const { entries } = await api.get('/logs', { person_id: personId, limit: 20 });
  const { wrap, tbody } = dataTable('person-log', 'Access log', ['Time', 'Decision', 'Distance', 'Location', 'Actor']);
  for (const entry of entries) {
    tbody.append(h('tr', { 'data-entry-id': entry.id },
      h('td', null, timeElement(entry.at)), h('td', null, badge(entry.decision)), h('td', null, formatDistance(entry.distance)),
      h('td', null, entry.location || '—'), h('td', null, entry.actor)));
  }
  if (!entries.length) emptyRow(tbody, 5, 'No searches found this person.');
  return [wrap, h('p', null, h('a', { id: 'person-log-link', href: `#/access?person=${encodeURIComponent(personId)}` }, 'Open the access log'),
    ' for every search that found this person.')];
}

/** Audit events about the person or one of their faces (GET /audit?target=…, newest first). */
async function auditEntries(personId, faces) {
  const targets = [`person:${personId}`, ...faces.slice(0, MAX_FACE_TARGETS).map((face) => `face:${face.id}`)];
  const pages = await Promise.all(targets.map((target) => api.get('/audit', { target, limit: AUDIT_LIMIT })));
  const events = pages.flatMap((page) => page.events).sort((a, b) => b.id - a.id);
  const { wrap, tbody } = dataTable('person-audit', 'Audit events', ['Time', 'Action', 'Actor', 'Target']);
  for (const event of events) {
    tbody.append(h('tr', { 'data-event-id': event.id },
      h('td', null, timeElement(event.at)), h('td', null, event.action), h('td', null, event.actor), h('td', null, event.target || '—')));
  }
  if (!events.length) emptyRow(tbody, 4, 'No audit events about this person.');
  return [wrap, h('p', { class: 'muted' }, `The newest ${AUDIT_LIMIT} events about the person and about each of their faces.`)];
}

function deleteQuestion(person, faces, storesImages) {
  const count = `${faces.length} face${faces.length === 1 ? '' : 's'}`;
  const photos = storesImages ? ' and their stored photos' : ' (no photos are stored)';
  return `Delete ${person.full_name}? This removes the person, ${count}${photos} from the server and its search index. `
    + 'Every kiosk removes them on its next sync. This cannot be undone.';
}

function actions(person, faces, storesImages, showEditor) {
  if (!can('manage_persons')) return null;
  const edit = h('button', { id: 'person-edit', type: 'button', class: 'secondary', 'data-write': true }, 'Edit');
  const remove = h('button', { id: 'person-delete', type: 'button', class: 'danger', 'data-write': true }, 'Delete');
  edit.addEventListener('click', showEditor);
  onClick(remove, async () => {
    if (!await confirmDialog(deleteQuestion(person, faces, storesImages), 'Delete person')) return;
    // The answer is the erasure proof: what was destroyed, and how many kiosks have applied it already.
    const erased = await api.del(`/persons/${person.id}`);
    const count = erased?.destroyed?.faces ?? faces.length;
    const pending = erased?.kiosks?.pending?.length ?? 0;
    const photos = erased?.destroyed?.photos ? `, ${erased.destroyed.photos} stored photo${erased.destroyed.photos === 1 ? '' : 's'}` : '';
    location.hash = '#/people';
    toast(`Deleted ${person.full_name}, ${count} face${count === 1 ? '' : 's'}${photos}; `
      + (pending ? `${pending} kiosk${pending === 1 ? '' : 's'} will remove them on the next sync.` : 'no kiosk holds them any more.'));
  });
  return h('div', { class: 'actions' }, edit,
    h('a', { id: 'person-enroll', class: 'button', href: `#/enroll?person=${person.id}`, 'data-write': true }, 'Enroll a photo'),
    remove);
}

function section(title, ...content) {
  return h('section', { class: 'card' }, h('h2', null, title), ...content);
}

export default async function render(view, { params, onLeave }) {
  const id = params.id;
  const [{ person }, { faces }, settings, groups] = await Promise.all([
    api.get(`/persons/${encodeURIComponent(id)}`),
    api.get(`/persons/${encodeURIComponent(id)}/faces`),
    can('read_settings') ? api.get('/settings').then((answer) => answer.settings) : null,
    can('manage_persons') ? api.get('/groups').then((answer) => answer.groups.map((group) => group.name)) : [],
  ]);
  const storesImages = Boolean(settings?.store_images);
  const body = h('div', null, details(person));
  const showEditor = () => body.replaceChildren(personForm({
    person, groups,
    onSaved: () => { toast('Saved.'); refresh(); },
    onCancel: () => body.replaceChildren(details(person)),
  }));
  view.append(
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/people' }, 'People')),
    h('div', { class: 'page-head' }, h('h1', { id: 'person-title' }, person.full_name), actions(person, faces, storesImages, showEditor)),
    body,
    section('Faces', await facesTable(faces, storesImages && can('read_images'), onLeave)));
  const later = [];
  if (can('read_devices')) later.push(['Kiosks', propagationReport(person.id).then((report) => h('div', { id: 'person-propagation' }, report))]);
  if (can('read_access_log')) later.push(['Recent searches', accessLog(person.id)]);
  if (can('read_audit')) later.push(['Audit', auditEntries(person.id, faces)]);
  // A section that fails shows its error in place; the rest of the page still works.
  const contents = await Promise.all(later.map(([, content]) => content.catch((error) => h('p', { class: 'form-error' }, errorText(error)))));
  later.forEach(([title], index) => view.append(section(title, contents[index])));
}
