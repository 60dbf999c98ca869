// #/people/<id>: one person — details, consent, faces (with stored photos for owners/admins), access-log and audit
// entries naming them, kiosk propagation; edit, delete (with a confirmation that says what goes), enroll and export.

import { api } from '../api.js';
import {
  h, can, field, dataTable, emptyRow, badge, onClick, onSubmit, timeElement, formatDistance, localInputToInstant, toast,
  confirmDialog, refresh, errorText,
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

// ---------------------------------------------------------------- consent

const CONSENT_METHODS = { written: 'written', electronic: 'electronic' };

/** Now in the browser's zone, as a datetime-local value. */
function localNow() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function consentStatus(consent, required) {
  if (!consent) {
    return h('div', { id: 'consent-status' }, h('p', null, 'No consent recorded.'),
      required && h('p', { class: 'warning' }, 'The company requires a recorded consent: no face of theirs can be enrolled or uploaded until one is recorded.'));
  }
  const row = (term, value) => [h('dt', null, term), h('dd', null, value)];
  return h('dl', { id: 'consent-status', class: 'details' },
    row('Obtained', timeElement(consent.obtained_at)),
    row('Method', CONSENT_METHODS[consent.method] || consent.method),
    row('Document version', consent.document_version),
    row('Recorded by', consent.recorded_by),
    row('Recorded', timeElement(consent.recorded_at)));
}

function consentForm(person, consent, show) {
  const obtained = h('input', { id: 'consent-obtained', type: 'datetime-local', required: true, value: localNow() });
  const method = h('select', { id: 'consent-method' },
    Object.entries(CONSENT_METHODS).map(([value, label]) => h('option', { value, selected: value === (consent?.method || 'written') }, label)));
  const version = h('input', { id: 'consent-version', required: true, maxlength: '100', autocomplete: 'off', value: consent?.document_version || '' });
  const form = h('form', { id: 'consent-form' }, h('h3', null, consent ? 'Record a new consent' : 'Record consent'),
    h('div', { class: 'grid-3' }, field('Obtained (your time)', obtained), field('Method', method),
      field('Document version', version, 'The version of the consent form they agreed to.')),
    h('div', { class: 'actions' }, h('button', { id: 'consent-save', type: 'submit', 'data-write': true }, 'Save consent')));
  onSubmit(form, async () => {
    const documentVersion = version.value.trim();
    if (!obtained.value) throw new Error('Give the date and time the consent was obtained.');
    if (!documentVersion) throw new Error('Give the version of the consent document.');
    const answer = await api.put(`/persons/${person.id}/consent`,
      { obtained_at: localInputToInstant(obtained.value), method: method.value, document_version: documentVersion });
    toast(`Recorded the consent of ${person.full_name}.`);
    show(answer.consent);
  });
  return form;
}

function withdrawButton(person, show) {
  const button = h('button', { id: 'consent-withdraw', type: 'button', class: 'danger', 'data-write': true }, 'Withdraw consent');
  onClick(button, async () => {
    const question = `Withdraw the consent of ${person.full_name}? The record of it is removed (the audit log keeps that it was withdrawn). `
      + 'Faces already enrolled are not deleted by this: delete them below if that was asked for.';
    if (!await confirmDialog(question, 'Withdraw consent')) return;
    await api.del(`/persons/${person.id}/consent`);
    toast(`Withdrew the consent of ${person.full_name}.`);
    show(null);
  });
  return button;
}

/** The consent card (#person-consent): what is recorded, and (manage_persons) record or withdraw it. */
function consentCard(person, answer, required) {
  const card = h('section', { id: 'person-consent', class: 'card' });
  const show = (consent) => {
    const manage = can('manage_persons');
    card.replaceChildren(h('h2', null, 'Consent'), consentStatus(consent, required),
      ...(manage ? [consent ? h('div', { class: 'actions' }, withdrawButton(person, show)) : '', consentForm(person, consent, show)] : []));
  };
  if (answer.error) card.append(h('h2', null, 'Consent'), h('p', { class: 'form-error' }, errorText(answer.error)));
  else show(answer.consent);
  return card;
}

// ---------------------------------------------------------------- export, actions

/** "Export data (JSON)": everything held about the person, offered as a download (the URL is revoked on leaving). */
function exportControl(person, onLeave) {
  if (!can('export_person_data')) return {};
  const button = h('button', { id: 'person-export', type: 'button', class: 'secondary' }, 'Export data (JSON)');
  const slot = h('p', { class: 'download' });
  onClick(button, async () => {
    const data = await api.blob(`/persons/${person.id}/export`);
    const url = URL.createObjectURL(new Blob([data], { type: 'application/json' }));
    onLeave(() => URL.revokeObjectURL(url));
    const name = `person-${person.id}-export.json`;
    const link = h('a', { id: 'person-export-link', href: url, download: name }, name);
    slot.replaceChildren('Ready: ', link, '. It holds personal data: keep it safe and delete it once handed over.');
    link.click();
  });
  return { button, slot };
}

function deleteQuestion(person, faces, storesImages) {
  const count = `${faces.length} face${faces.length === 1 ? '' : 's'}`;
  const photos = storesImages ? ' and their stored photos' : ' (no photos are stored)';
  return `Delete ${person.full_name}? This removes the person, ${count}${photos} from the server and its search index. `
    + 'Their consent record (if any) goes too. Every kiosk removes them on its next sync. This cannot be undone.';
}

function actions(person, faces, storesImages, showEditor, exportButton) {
  if (!can('manage_persons')) return exportButton ? h('div', { class: 'actions' }, exportButton) : null;
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
    exportButton, remove);
}

function section(title, ...content) {
  return h('section', { class: 'card' }, h('h2', null, title), ...content);
}

export default async function render(view, { params, onLeave }) {
  const id = params.id;
  const [{ person }, { faces }, settings, groups, consent] = await Promise.all([
    api.get(`/persons/${encodeURIComponent(id)}`),
    api.get(`/persons/${encodeURIComponent(id)}/faces`),
    can('read_settings') ? api.get('/settings').then((answer) => answer.settings) : null,
    can('manage_persons') ? api.get('/groups').then((answer) => answer.groups.map((group) => group.name)) : [],
    api.get(`/persons/${encodeURIComponent(id)}/consent`).catch((error) => ({ error })), // shown in its card
  ]);
  const storesImages = Boolean(settings?.store_images);
  const body = h('div', null, details(person));
  const showEditor = () => body.replaceChildren(personForm({
    person, groups,
    onSaved: () => { toast('Saved.'); refresh(); },
    onCancel: () => body.replaceChildren(details(person)),
  }));
  const exporter = exportControl(person, onLeave);
  view.append(
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/people' }, 'People')),
    h('div', { class: 'page-head' }, h('h1', { id: 'person-title' }, person.full_name),
      actions(person, faces, storesImages, showEditor, exporter.button)),
    exporter.slot || '',
    body,
    consentCard(person, consent, Boolean(settings?.require_consent)),
    section('Faces', await facesTable(faces, storesImages && can('read_images'), onLeave)));
  const later = [];
  if (can('read_devices')) later.push(['Kiosks', propagationReport(person.id).then((report) => h('div', { id: 'person-propagation' }, report))]);
  if (can('read_access_log')) later.push(['Recent searches', accessLog(person.id)]);
  if (can('read_audit')) later.push(['Audit', auditEntries(person.id, faces)]);
  // A section that fails shows its error in place; the rest of the page still works.
  const contents = await Promise.all(later.map(([, content]) => content.catch((error) => h('p', { class: 'form-error' }, errorText(error)))));
  later.forEach(([title], index) => view.append(section(title, contents[index])));
}
