// #/settings: company settings (GET/PATCH /settings), the biometric retention schedule (GET /privacy/retention), the
// presets with their measured error rates, users, API keys, the roles' permission matrix (read-only; built from the server's
// matrix in the session answer), and for the owner the company's deletion (DELETE /company).

import { api } from '../api.js';
import {
  h, state, can, roleMatrix, field, checkbox, dataTable, emptyRow, onSubmit, onClick, timeElement, toast, confirmDialog, refresh,
  showError, personLink, formatNumber, errorText, endSession,
} from '../app.js';

const MODELS = { 'sface-2021dec': 'SFace (sface-2021dec)', 'dlib-resnet-v1': 'dlib (dlib-resnet-v1)' };

// Measured on LFW with the server's exact decision rule (README "Thresholds and presets").
const PRESETS = {
  'dlib-resnet-v1': {
    strict: { threshold: 0.42, margin: 0.06, far: '1.0e-05', tar: '41.1 %', strangers: '0.2 %' },
    balanced: { threshold: 0.50, margin: 0.04, far: '2.4e-04', tar: '83.8 %', strangers: '4.5 %' },
    lenient: { threshold: 0.55, margin: 0.04, far: '1.2e-03', tar: '95.7 %', strangers: '10.9 %' },
  },
  'sface-2021dec': {
    strict: { threshold: 1.00, margin: 0.05, far: '7.8e-06', tar: '97.7 %', strangers: '0.4 %' },
    balanced: { threshold: 1.02, margin: 0.04, far: '1.5e-05', tar: '98.4 %', strangers: '0.9 %' },
    lenient: { threshold: 1.06, margin: 0.03, far: '6.1e-05', tar: '99.2 %', strangers: '4.7 %' },
  },
};
const DUPLICATE_DEFAULTS = { 'dlib-resnet-v1': 0.45, 'sface-2021dec': 0.90 };

const ROLES = ['owner', 'admin', 'staff', 'viewer'];
const SCOPES = {
  recognize: 'search and verify faces',
  enroll: 'enroll faces and manage persons and groups',
  kiosk: 'timekeeper kiosk sync (with the desktop app secret)',
  admin: 'everything an admin user can do',
};
// What each permission allows, in plain words, in the order the table lists them. Which roles hold a permission is
// not kept here: it comes from the server's matrix (the session's `roles`), so the table cannot disagree with it.
const PERMISSION_TEXT = {
  read_profile: 'see their own profile, sign out',
  read_users: 'list users',
  manage_users: 'create, change and remove users',
  manage_api_keys: 'create, list and revoke API keys',
  read_devices: 'see kiosks and propagation',
  manage_devices: 'register and remove kiosks',
  read_settings: 'see the settings',
  manage_settings: 'change the settings',
  read_audit: 'read and verify the audit log',
  read_persons: 'see persons, groups and faces',
  manage_persons: 'create, edit and delete persons; enroll and delete faces',
  manage_groups: 'create and delete groups',
  import_faces: 'import precomputed encodings',
  recognize: 'identify and verify faces',
  read_access_log: 'read the access log and statistics',
  read_encodings: 'read face encodings (desktop app only)',
  read_images: 'see stored enrollment photos',
  export_person_data: 'export everything held about a person (JSON)',
  delete_company: 'delete the company and everything it holds (password asked again)',
  sync_faces: 'kiosk sync',
};

// ---------------------------------------------------------------- company settings

function settingInputs(settings, editable) {
  const number = (name, attrs) => h('input', { id: `setting-${name}`, name, type: 'number', value: settings[name], disabled: !editable, ...attrs });
  const select = (name, options) => h('select', { id: `setting-${name}`, name, disabled: !editable },
    Object.entries(options).map(([value, label]) => h('option', { value, selected: value === settings[name] }, label)));
  return {
    token_lifetime_minutes: number('token_lifetime_minutes', { min: 5, max: 43200, step: 1 }),
    requests_per_minute: number('requests_per_minute', { min: 10, step: 1 }),
    recognition_model: select('recognition_model', MODELS),
    match_preset: select('match_preset', { strict: 'strict', balanced: 'balanced', lenient: 'lenient', custom: 'custom (own threshold and margin)' }),
    match_threshold: number('match_threshold', { min: 0.2, max: 1.3, step: 0.01 }),
    match_margin: number('match_margin', { min: 0, max: 0.3, step: 0.01 }),
    duplicate_distance: number('duplicate_distance', { min: 0, max: 1.2, step: 0.01 }),
    log_retention_days: number('log_retention_days', { min: 1, max: 3650, step: 1 }),
    store_images: h('input', { id: 'setting-store_images', name: 'store_images', type: 'checkbox', checked: settings.store_images, disabled: !editable }),
    biometric_retention_days: number('biometric_retention_days', { min: 1, max: 1095, step: 1 }),
    require_consent: h('input', { id: 'setting-require_consent', name: 'require_consent', type: 'checkbox', checked: settings.require_consent, disabled: !editable }),
  };
}

function readValue(input) {
  if (input.type === 'checkbox') return input.checked;
  return input.type === 'number' ? Number(input.value) : input.value;
}

/** Only what changed; a named preset is sent alone (its threshold and margin follow from it on the server). */
function settingsPatch(inputs, settings) {
  const patch = {};
  for (const [name, input] of Object.entries(inputs)) {
    if (readValue(input) !== settings[name]) patch[name] = readValue(input);
  }
  if (inputs.match_preset.value !== 'custom') {
    delete patch.match_threshold;
    delete patch.match_margin;
  } else {
    delete patch.match_preset; // "custom" is what the server answers for an own threshold/margin
  }
  return patch;
}

/** Keeps the form coherent: a preset fills threshold and margin; editing those makes it custom. */
function linkPresetFields(inputs) {
  const fillPreset = () => {
    const preset = PRESETS[inputs.recognition_model.value][inputs.match_preset.value];
    if (!preset) return;
    inputs.match_threshold.value = preset.threshold;
    inputs.match_margin.value = preset.margin;
  };
  inputs.match_preset.addEventListener('change', fillPreset);
  inputs.recognition_model.addEventListener('change', () => {
    if (inputs.match_preset.value === 'custom') inputs.match_preset.value = 'balanced'; // what the server does on a switch
    inputs.duplicate_distance.value = DUPLICATE_DEFAULTS[inputs.recognition_model.value];
    fillPreset();
  });
  for (const input of [inputs.match_threshold, inputs.match_margin]) {
    input.addEventListener('input', () => { inputs.match_preset.value = 'custom'; });
  }
}

async function confirmRiskyChanges(patch) {
  if (patch.recognition_model && !await confirmDialog(`Switch the recognition model to ${MODELS[patch.recognition_model]}? Searches use it at once; `
    + 'the preset keeps its name with the new model\'s values, and stored photos are re-embedded in the background. '
    + 'Faces without a stored photo are still found with their own model until they are re-enrolled.', 'Switch model')) return false;
  if (patch.store_images === false && !await confirmDialog('Stop keeping enrollment photos? Every photo kept so far is deleted now, '
    + 'and a later model switch cannot re-embed those faces.', 'Delete stored photos')) return false;
  // A shorter schedule destroys, at the next daily run, every face idle for longer than the new number of days.
  if (patch.biometric_retention_days && !await confirmDialog(`Keep faces only ${patch.biometric_retention_days} days after a person's `
    + 'last interaction? Faces idle for longer are destroyed at the next daily run, with their photos, on every kiosk too.',
  'Change retention')) return false;
  return true;
}

function settingsForm(settings) {
  const editable = can('manage_settings');
  const inputs = settingInputs(settings, editable);
  linkPresetFields(inputs);
  const form = h('form', { id: 'settings-form', class: 'card' }, h('h2', null, 'Company settings'),
    h('div', { class: 'grid-2' },
      field('Recognition model', inputs.recognition_model, 'New companies use SFace: far fewer false accepts.'),
      field('Match preset', inputs.match_preset, 'See the table below.'),
      field('Match threshold (largest distance accepted)', inputs.match_threshold, 'In the model\'s units: dlib 0.2–0.8, SFace 0.6–1.3.'),
      field('Match margin', inputs.match_margin, 'How far ahead of the next person the best one must be (0–0.3).'),
      field('Duplicate guard distance', inputs.duplicate_distance, 'Enrollment refuses a face this close to another person (dlib 0.45, SFace 0.90 by default).'),
      field('Access log retention (days)', inputs.log_retention_days, '1–3650.'),
      field('Session lifetime (minutes)', inputs.token_lifetime_minutes, '5–43200.'),
      field('Requests per minute (whole company)', inputs.requests_per_minute, 'At least 10.'),
      field('Biometric retention (days)', inputs.biometric_retention_days,
        'Faces are destroyed after this many days without an enrollment, kiosk upload or matching search (at most 1,095 = 3 years)')),
    h('div', { class: 'check' }, inputs.store_images,
      h('label', { for: 'setting-store_images' }, 'Keep enrollment photos (sealed on disk, visible to owners and admins)')),
    h('div', { class: 'check' }, inputs.require_consent,
      h('label', { for: 'setting-require_consent' }, 'Require a recorded consent before storing a face')));
  if (!editable) {
    form.append(h('p', { class: 'muted' }, 'Only owners and admins can change the settings.'));
    return form;
  }
  form.append(h('div', { class: 'actions' }, h('button', { id: 'settings-save', type: 'submit', 'data-write': true }, 'Save settings')));
  onSubmit(form, async () => {
    const patch = settingsPatch(inputs, settings);
    if (!Object.keys(patch).length) return toast('Nothing to save: no setting changed.');
    if (!await confirmRiskyChanges(patch)) return;
    await api.patch('/settings', patch);
    toast('Settings saved.');
    refresh();
  });
  return form;
}

function presetsTable(settings) {
  const model = settings.recognition_model;
  const { wrap, tbody } = dataTable('presets-table', 'Presets',
    ['Preset', 'Threshold / margin', 'False accepts (FAR)', 'True accepts (TAR)', 'Strangers accepted']);
  for (const [name, preset] of Object.entries(PRESETS[model] || {})) {
    const current = name === settings.match_preset;
    tbody.append(h('tr', { class: current ? 'current' : null, 'data-preset': name, 'aria-current': current ? 'true' : null },
      h('td', null, name, name === 'balanced' ? ' (default)' : '', current ? h('strong', null, ' — current') : ''),
      h('td', null, `${preset.threshold.toFixed(2)} / ${preset.margin.toFixed(2)}`),
      h('td', null, preset.far), h('td', null, preset.tar), h('td', null, preset.strangers)));
  }
  const custom = settings.match_preset === 'custom'
    && h('p', null, `Current: custom threshold ${settings.match_threshold} / margin ${settings.match_margin}.`);
  return h('section', { class: 'card' }, h('h2', null, `Presets for ${MODELS[model] || model}`),
    h('p', { class: 'muted' }, 'Measured on LFW with the server\'s exact decision rule: FAR and TAR per comparison; strangers accepted as '
      + 'one of 1,680 enrolled people (4,069 strangers).'),
    wrap, custom);
}

// ---------------------------------------------------------------- biometric retention

async function retentionSection() {
  const answer = await api.get('/privacy/retention');
  const { wrap, tbody } = dataTable('retention-table', 'Due in the next 30 days', ['Person', 'Faces', 'Last interaction', 'Destroyed on']);
  for (const person of answer.persons) {
    tbody.append(h('tr', { 'data-person-id': person.id },
      h('td', null, personLink(person.id, person.full_name), person.external_id ? h('span', { class: 'muted' }, ` (${person.external_id})`) : ''),
      h('td', null, formatNumber(person.faces)), h('td', null, timeElement(person.last_interaction_at)),
      h('td', null, timeElement(person.destroy_on))));
  }
  const due = answer.due_within_30_days;
  const shown = answer.persons.length;
  return h('section', { id: 'retention', class: 'card' }, h('h2', null, 'Biometric retention'),
    h('p', { id: 'retention-schedule' }, answer.schedule),
    h('h3', null, 'Due in the next 30 days'),
    shown ? [wrap, due > shown && h('p', { class: 'muted' }, `The first ${formatNumber(shown)} of ${formatNumber(due)}, soonest first.`)]
      : h('p', { id: 'retention-none', class: 'muted' }, 'Nobody is due in the next 30 days.'));
}

// ---------------------------------------------------------------- users

function mayManage(user) {
  const me = state.session.user;
  return can('manage_users') && user.id !== me.id && (me.role === 'owner' || user.role !== 'owner');
}

function roleCell(user) {
  if (!mayManage(user)) return user.role;
  const roles = state.session.user.role === 'owner' ? ROLES : ROLES.slice(1);
  const select = h('select', { 'data-write': true, 'aria-label': `Role of ${user.email}` },
    roles.map((role) => h('option', { value: role, selected: role === user.role }, role)));
  select.addEventListener('change', async () => {
    try {
      await api.patch(`/users/${user.id}`, { role: select.value });
      user.role = select.value;
      toast(`${user.email} is now ${user.role}.`);
    } catch (error) {
      select.value = user.role;
      showError(error);
    }
  });
  return select;
}

function userRow(user) {
  const row = h('tr', { 'data-user-id': user.id },
    h('td', null, user.full_name || '—'), h('td', null, user.email), h('td', null, roleCell(user)),
    h('td', null, user.disabled ? 'disabled' : 'active'), h('td', null, timeElement(user.created_at)), h('td'));
  if (mayManage(user)) {
    const remove = h('button', { type: 'button', class: 'small danger', 'data-write': true, 'aria-label': `Remove ${user.email}` }, 'Remove');
    onClick(remove, async () => {
      if (!await confirmDialog(`Remove the user ${user.email}? Their sessions end at once.`, 'Remove user')) return;
      await api.del(`/users/${user.id}`);
      row.remove();
      toast(`Removed ${user.email}.`);
    });
    row.lastChild.append(remove);
  }
  return row;
}

function newUserForm(slot) {
  const email = h('input', { id: 'user-email', type: 'email', required: true, autocomplete: 'off' });
  const name = h('input', { id: 'user-name', maxlength: '200', autocomplete: 'off' });
  const password = h('input', { id: 'user-password', type: 'password', required: true, minlength: '10', maxlength: '72', autocomplete: 'new-password' });
  const roles = state.session.user.role === 'owner' ? ROLES : ROLES.slice(1);
  const role = h('select', { id: 'user-role' }, roles.map((value) => h('option', { value, selected: value === 'staff' }, value)));
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', () => slot.replaceChildren());
  const form = h('form', { class: 'card' }, h('h3', null, 'Add a user'),
    h('div', { class: 'grid-2' }, field('Email', email), field('Full name', name),
      field('First password', password, 'At least 10 characters; give it to them in person.'), field('Role', role)),
    h('div', { class: 'actions' }, h('button', { id: 'user-save', type: 'submit', 'data-write': true }, 'Add user'), cancel));
  onSubmit(form, async () => {
    const { user } = await api.post('/users', { email: email.value.trim(), full_name: name.value.trim(), password: password.value, role: role.value });
    toast(`Added ${user.email} as ${user.role}.`);
    refresh();
  });
  setTimeout(() => email.focus());
  return form;
}

async function usersSection() {
  const { users } = await api.get('/users');
  const { wrap, tbody } = dataTable('users-table', 'Users', ['Name', 'Email', 'Role', 'Status', 'Created', '']);
  tbody.append(...users.map(userRow));
  const slot = h('div');
  const section = h('section', { class: 'card' }, h('h2', null, 'Users'), wrap, slot);
  if (can('manage_users')) {
    const add = h('button', { id: 'user-new', type: 'button', 'data-write': true }, 'Add a user');
    add.addEventListener('click', () => slot.replaceChildren(newUserForm(slot)));
    section.insertBefore(h('div', { class: 'actions' }, add), slot);
  }
  return section;
}

// ---------------------------------------------------------------- API keys

function keyRow(key, reload) {
  const row = h('tr', { 'data-key-id': key.id },
    h('td', null, key.name), h('td', null, h('code', null, key.prefix)), h('td', null, key.scopes.join(', ')),
    h('td', null, timeElement(key.created_at)), h('td', null, key.created_by || '—'), h('td', null, timeElement(key.last_used_at)),
    h('td', null, key.revoked_at ? ['revoked ', timeElement(key.revoked_at)] : 'active'), h('td'));
  if (!key.revoked_at) {
    const revoke = h('button', { type: 'button', class: 'small danger', 'data-write': true, 'aria-label': `Revoke key ${key.name}` }, 'Revoke');
    onClick(revoke, async () => {
      if (!await confirmDialog(`Revoke the API key "${key.name}" (${key.prefix}…)? Everything using it stops working at once.`, 'Revoke key')) return;
      await api.del(`/api-keys/${key.id}`);
      toast(`Revoked ${key.name}.`);
      await reload();
    });
    row.lastChild.append(revoke);
  }
  return row;
}

function secretPanel(key) {
  const copy = h('button', { id: 'apikey-copy', type: 'button', class: 'secondary' }, 'Copy');
  onClick(copy, async () => {
    try {
      await navigator.clipboard.writeText(key);
      toast('Copied the key.');
    } catch {
      throw new Error('Copying failed: select the key and copy it by hand.');
    }
  });
  return h('div', { class: 'secret card' },
    h('p', { class: 'warning' }, 'Copy this key now: it will not be shown again.'),
    h('div', { class: 'secret-row' }, h('code', { id: 'apikey-secret' }, key), copy));
}

function newKeyForm(slot, secretSlot, reload) {
  const name = h('input', { id: 'apikey-name', required: true, maxlength: '200', autocomplete: 'off' });
  const scopes = Object.entries(SCOPES).map(([scope, text]) => checkbox(`apikey-scope-${scope}`, `${scope} — ${text}`, { value: scope }));
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', () => slot.replaceChildren());
  const form = h('form', { class: 'card' }, h('h3', null, 'Create an API key'), field('Name', name),
    h('fieldset', null, h('legend', null, 'Scopes'), scopes),
    h('div', { class: 'actions' }, h('button', { id: 'apikey-save', type: 'submit', 'data-write': true }, 'Create key'), cancel));
  onSubmit(form, async () => {
    const chosen = [...form.querySelectorAll('fieldset input:checked')].map((input) => input.value);
    if (!chosen.length) throw new Error('Choose at least one scope.');
    const created = await api.post('/api-keys', { name: name.value.trim(), scopes: chosen });
    slot.replaceChildren();
    secretSlot.replaceChildren(secretPanel(created.key));
    await reload();
  });
  setTimeout(() => name.focus());
  return form;
}

async function keysSection() {
  const { wrap, tbody } = dataTable('apikeys-table', 'API keys', ['Name', 'Prefix', 'Scopes', 'Created', 'By', 'Last used', 'Status', '']);
  const reload = async () => {
    const { api_keys: keys } = await api.get('/api-keys');
    tbody.replaceChildren(...keys.map((key) => keyRow(key, reload)));
    if (!keys.length) emptyRow(tbody, 8, 'No API keys yet.');
  };
  await reload();
  const slot = h('div');
  const secretSlot = h('div', { 'aria-live': 'polite' });
  const add = h('button', { id: 'apikey-new', type: 'button', 'data-write': true }, 'Create an API key');
  add.addEventListener('click', () => slot.replaceChildren(newKeyForm(slot, secretSlot, reload)));
  return h('section', { class: 'card' }, h('h2', null, 'API keys'),
    h('p', { class: 'muted' }, 'For integrations and kiosks. A key is shown once, when it is created.'),
    h('div', { class: 'actions' }, add), slot, secretSlot, wrap);
}

// ---------------------------------------------------------------- permission matrix

/** The permissions of the server's matrix: the described ones in their order, then any the console has no words for. */
function matrixPermissions(matrix) {
  const granted = new Set(Object.values(matrix).flat());
  const known = Object.keys(PERMISSION_TEXT).filter((name) => granted.has(name));
  return [...known, ...[...granted].filter((name) => !(name in PERMISSION_TEXT)).sort()];
}

function permissionMatrix() {
  const myRole = state.session.user.role;
  const matrix = roleMatrix();
  const intro = h('p', { class: 'muted' }, `Your role: ${myRole}. Only an owner creates, promotes or changes an owner.`);
  if (!matrix) {
    return h('section', { class: 'card' }, h('h2', null, 'Roles and permissions'), intro,
      h('p', { class: 'notice' }, 'The server did not send its permission matrix; sign out and in again to see it.'));
  }
  const roles = [...ROLES.filter((role) => role in matrix), ...Object.keys(matrix).filter((role) => !ROLES.includes(role))];
  const { wrap, tbody, table } = dataTable('permission-matrix', 'Permissions by role', ['Permission', 'Allows', ...roles]);
  table.querySelectorAll('th').forEach((cell) => { if (cell.textContent === myRole) cell.classList.add('current'); });
  for (const permission of matrixPermissions(matrix)) {
    tbody.append(h('tr', { 'data-permission': permission }, h('td', null, h('code', null, permission)),
      h('td', { class: 'desc' }, PERMISSION_TEXT[permission] || permission),
      roles.map((role) => {
        const held = Array.isArray(matrix[role]) && matrix[role].includes(permission);
        return h('td', { class: role === myRole ? 'current center' : 'center' },
          h('span', { 'aria-hidden': 'true' }, held ? '✓' : '—'), h('span', { class: 'visually-hidden' }, held ? 'yes' : 'no'));
      })));
  }
  return h('section', { class: 'card' }, h('h2', null, 'Roles and permissions'), intro, wrap);
}

// ---------------------------------------------------------------- deleting the company (owner)

function deleteCompanySection() {
  const name = state.session.company.name;
  const phrase = `delete ${name}`;
  const password = h('input', { id: 'delete-company-password', type: 'password', required: true, autocomplete: 'current-password' });
  const confirmation = h('input', { id: 'delete-company-confirmation', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', null,
    h('p', null, 'Deletes every person, face, photo, log, user, API key and kiosk of ', h('strong', null, name),
      ', and destroys its data key: backups taken before can no longer be decrypted either, once the key vault\'s own ',
      '(short-lived) backups from before have expired. Kiosks stop syncing at once. ',
      'This cannot be undone.'),
    h('div', { class: 'grid-2' }, field('Your password', password, 'Asked again for this.'),
      field('Confirmation', confirmation, `Type “${phrase}”.`)),
    h('div', { class: 'actions' }, h('button', { id: 'delete-company', type: 'submit', class: 'danger', 'data-write': true }, 'Delete the company')));
  onSubmit(form, async () => {
    if (confirmation.value !== phrase) throw new Error(`Type “${phrase}” exactly to confirm.`);
    const answer = await api.del('/company', { password: password.value, confirmation: confirmation.value });
    const rows = Object.values(answer.rows_deleted).reduce((sum, count) => sum + count, 0);
    endSession(`${name} was deleted: ${formatNumber(rows)} records, its index and photos are gone, and its data key is destroyed.`);
  });
  return h('section', { id: 'delete-company-section', class: 'card' }, h('h2', null, 'Delete the company'), form);
}

// Before these settings existed the server did not send them: the form shows (and compares with) their defaults.
const NEW_SETTING_DEFAULTS = { biometric_retention_days: 1095, require_consent: false };

export default async function render(view) {
  const [answer, retention, users, keys] = await Promise.all([
    api.get('/settings'),
    // The card shows its own error in place; the rest of the page still works.
    can('read_audit') ? retentionSection().catch((error) => h('section', { id: 'retention', class: 'card' },
      h('h2', null, 'Biometric retention'), h('p', { class: 'form-error' }, errorText(error)))) : null,
    can('read_users') ? usersSection() : null,
    can('manage_api_keys') ? keysSection() : null,
  ]);
  const settings = { ...NEW_SETTING_DEFAULTS, ...answer.settings };
  view.append(h('h1', null, 'Settings'), settingsForm(settings), retention || '', presetsTable(settings), users || '', keys || '',
    permissionMatrix(), can('delete_company') ? deleteCompanySection() : '');
}
