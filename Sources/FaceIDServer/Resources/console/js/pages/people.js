// #/people: search persons by name / external id / tag / group, page through them (cursor based),
// create a person, and manage groups. Also exports personForm(), which #/people/<id> reuses to edit.

import { api } from '../api.js';
import {
  h, can, field, dataTable, emptyRow, personLink, onSubmit, onClick, whileLoading, splitList, timeElement,
  toast, confirmDialog, formatNumber, refresh, showError,
} from '../app.js';

const PAGE_SIZE = 50;
const FIELDS = [['name', 'Name'], ['external_id', 'External id'], ['tag', 'Tag'], ['group', 'Group']];

/**
 * The person form, for creating (no `person`) or editing. `onSaved(person)` runs after the server accepted it.
 * `groups` are the company's group names, offered as hints.
 */
export function personForm({ person, groups, onSaved, onCancel }) {
  const name = h('input', { id: 'person-name', required: true, maxlength: '200', value: person?.full_name || '' });
  const externalId = h('input', { id: 'person-external-id', maxlength: '100', value: person?.external_id || '' });
  const tags = h('input', { id: 'person-tags', value: (person?.tags || []).join(', ') });
  const groupInput = h('input', { id: 'person-groups', value: (person?.groups || []).join(', ') });
  const metadata = h('textarea', { id: 'person-metadata', rows: '4', spellcheck: 'false',
    value: person && Object.keys(person.metadata || {}).length ? JSON.stringify(person.metadata, null, 2) : '' });
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', onCancel);
  const form = h('form', { class: 'card person-form' },
    h('h2', null, person ? `Edit ${person.full_name}` : 'New person'),
    h('div', { class: 'grid-2' },
      field('Full name', name),
      field('External id', externalId, 'Optional; unique in the company.'),
      field('Tags', tags, 'Comma separated, e.g. night-shift, visitor.'),
      field('Groups', groupInput, groups.length ? `Comma separated. Existing groups: ${groups.join(', ')}.` : 'No groups exist yet.')),
    field('Metadata (JSON object)', metadata, 'Optional, e.g. {"badge": 4411}.'),
    h('div', { class: 'actions' }, h('button', { id: 'person-save', type: 'submit', 'data-write': true }, 'Save'), cancel));

  onSubmit(form, async () => {
    const body = {
      full_name: name.value.trim(), external_id: externalId.value.trim(),
      tags: splitList(tags.value), groups: splitList(groupInput.value),
    };
    const metadataText = metadata.value.trim();
    if (metadataText) body.metadata = parseMetadata(metadataText);
    else if (person) body.metadata = {}; // emptied while editing: clear it
    if (!person && !body.external_id) delete body.external_id;
    const answer = person ? await api.patch(`/persons/${person.id}`, body) : await api.post('/persons', body);
    onSaved(answer.person);
  });
  setTimeout(() => name.focus());
  return form;
}

function parseMetadata(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('Metadata is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('Metadata must be a JSON object, e.g. {"badge": 4411}.');
  return value;
}

function personRow(person) {
  return h('tr', { 'data-person-id': person.id },
    h('td', null, personLink(person.id, person.full_name)),
    h('td', null, person.external_id || '—'),
    h('td', null, person.groups.join(', ') || '—'),
    h('td', null, person.tags.join(', ') || '—'),
    h('td', null, timeElement(person.created_at)));
}

/** The list with its search box and cursor paging (a stack of the cursors that opened each page). */
function personList(groupNames) {
  const fieldSelect = h('select', { id: 'people-field' }, FIELDS.map(([value, label]) => h('option', { value }, label)));
  const search = h('input', { id: 'people-search', type: 'search', list: 'people-groups', autocomplete: 'off' });
  const { wrap, tbody } = dataTable('people-table', 'Persons', ['Name', 'External id', 'Groups', 'Tags', 'Created']);
  const prev = h('button', { id: 'people-prev', type: 'button', class: 'secondary', disabled: true }, 'Previous');
  const next = h('button', { id: 'people-next', type: 'button', class: 'secondary', disabled: true }, 'Next');
  const status = h('span', { class: 'muted', 'aria-live': 'polite' });
  const cursors = [undefined];
  let nextCursor = null;

  async function load() {
    const query = { limit: PAGE_SIZE, cursor: cursors[cursors.length - 1] };
    const term = search.value.trim();
    if (term) query[fieldSelect.value] = term;
    const page = await api.get('/persons', query);
    tbody.replaceChildren(...page.persons.map(personRow));
    if (!page.persons.length) emptyRow(tbody, 5, term ? 'No person matches.' : 'No persons yet.');
    nextCursor = page.next_cursor || null;
    prev.disabled = cursors.length === 1;
    next.disabled = !nextCursor;
    status.textContent = `Page ${cursors.length}`;
  }
  const restart = () => { cursors.length = 1; return whileLoading(load); };
  const restartNow = () => restart().catch(showError); // from typing: no submit handler shows the error
  let typing;
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(restartNow, 300); });
  fieldSelect.addEventListener('change', () => search.value.trim() && restartNow());
  onClick(next, () => { cursors.push(nextCursor); return whileLoading(load); });
  onClick(prev, () => { cursors.pop(); return whileLoading(load); });
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('Search by', fieldSelect), field('Search', search),
    h('datalist', { id: 'people-groups' }, groupNames.map((value) => h('option', { value }))),
    h('button', { type: 'submit' }, 'Search'));
  onSubmit(form, () => { clearTimeout(typing); return restart(); });
  const element = h('section', null, form, wrap, h('div', { class: 'pager' }, prev, status, next));
  /** Shows the members of one group. */
  const showGroup = (name) => { fieldSelect.value = 'group'; search.value = name; return restart(); };
  return { element, load, showGroup };
}

function groupsPanel(groups, showGroup) {
  const list = h('ul', { class: 'group-list' }, groups.map((group) => {
    const show = h('button', { type: 'button', class: 'link' }, group.name);
    onClick(show, () => showGroup(group.name));
    const item = h('li', null, show, h('span', { class: 'muted' }, ` ${formatNumber(group.person_count)} members`));
    if (can('manage_groups')) {
      const remove = h('button', { type: 'button', class: 'small danger', 'data-write': true, 'aria-label': `Delete group ${group.name}` }, 'Delete');
      onClick(remove, async () => {
        if (!await confirmDialog(`Delete the group "${group.name}"? Its ${group.person_count} members stay; only the group goes.`, 'Delete group')) return;
        await api.del(`/groups/${group.id}`);
        item.remove();
        toast(`Deleted group ${group.name}.`);
      });
      item.append(' ', remove);
    }
    return item;
  }));
  const panel = h('details', { class: 'card' }, h('summary', null, `Groups (${groups.length})`),
    groups.length ? list : h('p', { class: 'muted' }, 'No groups yet.'));
  if (can('manage_groups')) panel.append(newGroupForm());
  return panel;
}

function newGroupForm() {
  const name = h('input', { id: 'group-name', required: true, maxlength: '100' });
  const description = h('input', { id: 'group-description', maxlength: '200' });
  const form = h('form', { class: 'toolbar' }, field('New group', name), field('Description', description),
    h('button', { type: 'submit', 'data-write': true }, 'Create group'));
  onSubmit(form, async () => {
    const { group } = await api.post('/groups', { name: name.value.trim(), description: description.value.trim() });
    toast(`Created group ${group.name}.`);
    refresh(); // the group hints, the search list and this panel all change
  });
  return form;
}

export default async function render(view) {
  const { groups } = await api.get('/groups');
  const groupNames = groups.map((group) => group.name);
  const list = personList(groupNames);
  const formSlot = h('div');
  const header = h('div', { class: 'page-head' }, h('h1', null, 'People'));
  if (can('manage_persons')) {
    const create = h('button', { id: 'people-new', type: 'button', 'data-write': true }, 'New person');
    create.addEventListener('click', () => formSlot.replaceChildren(personForm({
      groups: groupNames,
      onSaved: (person) => { toast(`Created ${person.full_name}.`); location.hash = `#/people/${person.id}`; },
      onCancel: () => formSlot.replaceChildren(),
    })));
    header.append(create);
  }
  await list.load();
  view.append(header, formSlot, list.element, groupsPanel(groups, list.showGroup));
}
