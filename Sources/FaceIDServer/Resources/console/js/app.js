// The console shell: session bootstrap, hash router, navigation, and the small helpers every page uses
// (h() for DOM, toast/error/confirm, date and number formatting). Pages live in ./pages/<name>.js and are
// loaded on first visit; each exports `default async function render(view, ctx)`.

import { auth, setCsrfToken, setSessionExpiredHandler } from './api.js';

const RETURN_KEY = 'faceid.returnTo';
const SVG_NS = 'http://www.w3.org/2000/svg'; // a namespace name, not a URL that is fetched

/** The signed-in session as GET/POST /console/session answered it: {user, company, permissions, roles, expires_at, …}, or null. */
export const state = { session: null };

export function can(permission) {
  return Boolean(state.session?.permissions?.includes(permission));
}

/**
 * The server's permission matrix for roles, from the session answer: {owner: [permission…], admin: […], staff: […],
 * viewer: […]} with the snake_case names it enforces. null when the server did not send it.
 */
export function roleMatrix() {
  const roles = state.session?.roles;
  return roles && typeof roles === 'object' && !Array.isArray(roles) ? roles : null;
}

/** Owners and admins may override the duplicate guard and see stored photos. */
export function isAdmin() {
  return ['owner', 'admin'].includes(state.session?.user?.role);
}

// ---------------------------------------------------------------- DOM helpers

// Attributes set as DOM properties (a textarea's value has no attribute; `hidden`/`disabled` toggle).
const PROPERTIES = new Set(['value', 'checked', 'selected', 'disabled', 'hidden']);

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (PROPERTIES.has(name)) element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h('a', {href: '#/x', class: 'btn'}, 'text', child…): strings become text nodes; an on<event> key with a function adds a listener. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A labelled form control: the control must carry its id. */
export function field(label, control, hint) {
  const hintId = hint ? `${control.id}-hint` : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control,
    hint && h('p', { class: 'hint', id: hintId }, hint));
}

/** A checkbox with its label after it. */
export function checkbox(id, label, attrs = {}) {
  return h('div', { class: 'check' }, h('input', { type: 'checkbox', id, ...attrs }), h('label', { for: id }, label));
}

/** A table inside a horizontally scrolling wrapper; returns {wrap, table, tbody}. */
export function dataTable(id, label, headings) {
  const tbody = h('tbody');
  const table = h('table', { id },
    h('thead', null, h('tr', null, headings.map((text) => h('th', { scope: 'col' }, text)))), tbody);
  return { wrap: h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table), table, tbody };
}

export function emptyRow(tbody, columns, text) {
  tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: columns }, text)));
}

const DECISION_LABELS = { match: 'match', ambiguous: 'ambiguous', unknown: 'unknown', no_face: 'no face' };

/** A decision badge: colour plus the word, never colour alone. */
export function badge(decision) {
  return h('span', { class: `badge badge-${decision}` }, DECISION_LABELS[decision] || decision);
}

/** The product's name and what it is, shown above the sign-in and register forms. */
export function authBrand() {
  return h('header', { class: 'auth-brand' },
    s('svg', { class: 'auth-logo', viewBox: '0 0 32 32', width: 40, height: 40, 'aria-hidden': 'true', focusable: 'false' }, // favicon.svg's mark
      s('rect', { width: 32, height: 32, rx: 7, fill: '#1d4ed8' }),
      s('circle', { cx: 16, cy: 13, r: 6, fill: 'none', stroke: '#fff', 'stroke-width': 2.5 }),
      s('path', { d: 'M6 28c2-6 6-8 10-8s8 2 10 8', fill: 'none', stroke: '#fff', 'stroke-width': 2.5 })),
    h('div', null, h('p', { class: 'auth-product' }, 'faceid'), h('p', { class: 'auth-tagline' }, 'Face recognition console')));
}

export function personLink(id, name) {
  return h('a', { href: `#/people/${id}` }, name || `person #${id}`);
}

/** Runs a form's async submit handler with its buttons disabled and errors shown. */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError();
    const buttons = [...form.querySelectorAll('button')];
    buttons.forEach((button) => { button.disabled = true; });
    try {
      await handler(event);
    } catch (error) {
      showError(error);
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  });
}

/** Runs a button's async click handler the same way. */
export function onClick(button, handler) {
  button.addEventListener('click', async () => {
    clearError();
    button.disabled = true;
    try {
      await handler();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
}

/** Marks the page busy (data-ready="false") while `work` reloads part of it. */
export async function whileLoading(work) {
  const main = document.getElementById('page');
  main.dataset.ready = 'false';
  try {
    return await work();
  } finally {
    main.dataset.ready = 'true';
  }
}

export function splitList(text) {
  return text.split(',').map((item) => item.trim()).filter(Boolean);
}

// ---------------------------------------------------------------- formatting (browser's zone and locale)

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const numberFormat = new Intl.NumberFormat();
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const RELATIVE_STEPS = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month'], [Infinity, 'year']];

export function formatDateTime(iso) {
  const date = new Date(iso);
  return iso && !Number.isNaN(date.getTime()) ? dateTimeFormat.format(date) : '—';
}

/** A <time> element showing the local date and time, with the exact instant on hover. */
export function timeElement(iso) {
  return iso ? h('time', { datetime: iso, title: iso }, formatDateTime(iso)) : '—';
}

export function formatRelative(iso) {
  let amount = (new Date(iso).getTime() - Date.now()) / 1000;
  for (const [size, unit] of RELATIVE_STEPS) {
    if (Math.abs(amount) < size) return relativeFormat.format(Math.round(amount), unit);
    amount /= size;
  }
  return '';
}

export function formatNumber(value) {
  return value === null || value === undefined ? '—' : numberFormat.format(value);
}

export function formatDistance(value) {
  return typeof value === 'number' ? value.toFixed(3) : '—';
}

/** The browser's local time from a datetime-local value, as RFC 3339 (UTC). */
export function localInputToInstant(value) {
  return value ? new Date(value).toISOString() : undefined;
}

// ---------------------------------------------------------------- toast, error, confirm

let toastTimer;

export function toast(text) {
  const element = document.getElementById('toast');
  element.textContent = text;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { element.hidden = true; }, 6000);
}

/** An error's message for people: the server's `error`, with its `detail` when there is one. */
export function errorText(error) {
  const message = typeof error === 'string' ? error : error?.message || 'Something went wrong.';
  return error?.detail ? `${message} (${error.detail})` : message;
}

/** Shows an error (an ApiError, an Error or a string) in #error. An expired session is not an error here. */
export function showError(error) {
  if (error?.code === 'session_expired') return;
  const element = document.getElementById('error');
  element.textContent = errorText(error);
  element.hidden = false;
  element.scrollIntoView({ block: 'nearest' });
}

export function clearError() {
  const element = document.getElementById('error');
  element.textContent = '';
  element.hidden = true;
}

/** Asks in #confirm-dialog; resolves true when the user pressed the OK button (Escape/Cancel → false). */
export function confirmDialog(text, okLabel = 'OK') {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  document.getElementById('confirm-cancel').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// ---------------------------------------------------------------- navigation

const PAGES = {
  signin: { title: 'Sign in', public: true },
  register: { title: 'Register', public: true },
  overview: { title: 'Overview', nav: true },
  people: { title: 'People', permission: 'read_persons', nav: true },
  person: { title: 'Person', permission: 'read_persons' },
  enroll: { title: 'Enroll', permission: 'manage_persons', nav: true },
  identify: { title: 'Identify', permission: 'recognize', nav: true },
  access: { title: 'Access log', permission: 'read_access_log', nav: true },
  audit: { title: 'Audit', permission: 'read_audit', nav: true },
  kiosks: { title: 'Kiosks', permission: 'read_devices', nav: true },
  settings: { title: 'Settings', permission: 'read_settings', nav: true },
};

function navLink(name) {
  return h('li', null, h('a', { href: `#/${name}`, 'data-page': name }, PAGES[name].title));
}

function toggleMenu(open) {
  const nav = document.getElementById('nav');
  nav.classList.toggle('open', open);
  document.getElementById('nav-toggle')?.setAttribute('aria-expanded', String(open));
}

function renderNav() {
  const nav = document.getElementById('nav');
  const session = state.session;
  nav.hidden = !session;
  if (!session) {
    nav.replaceChildren();
    return;
  }
  const user = session.user;
  const links = Object.keys(PAGES).filter((name) => PAGES[name].nav && (!PAGES[name].permission || can(PAGES[name].permission)));
  const toggle = h('button', { id: 'nav-toggle', type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': 'nav-menu' }, 'Menu');
  const signOut = h('button', { id: 'signout', type: 'button', class: 'secondary' }, 'Sign out');
  toggle.addEventListener('click', () => toggleMenu(!nav.classList.contains('open')));
  onClick(signOut, signOutNow);
  nav.replaceChildren(
    h('div', { class: 'nav-head' }, h('span', { class: 'brand' }, 'faceid'), toggle),
    h('div', { id: 'nav-menu', class: 'nav-menu' },
      h('ul', { class: 'nav-links' }, links.map(navLink)),
      h('div', { class: 'nav-user' },
        h('span', { class: 'user-name' }, user.full_name || user.email),
        h('span', { class: 'user-role' }, `${user.role} · ${session.company?.name || ''}`),
        signOut)));
}

function markCurrentLink(name) {
  const current = name === 'person' ? 'people' : name;
  for (const link of document.querySelectorAll('#nav a[data-page]')) {
    if (link.dataset.page === current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function parseHash() {
  const [path, search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [first = '', second] = path.split('/');
  if (first === 'people' && second) return { name: 'person', params: { id: second }, query: new URLSearchParams(search) };
  return { name: first, params: {}, query: new URLSearchParams(search) };
}

let navigation = 0;
let leaveHandlers = [];

function leavePage() {
  for (const handler of leaveHandlers) handler();
  leaveHandlers = [];
}

function showPage(name, title, ...content) {
  const main = document.getElementById('page');
  main.dataset.page = name;
  document.title = `${title} — faceid console`;
  main.replaceChildren(...content);
}

async function route() {
  const { name, params, query } = parseHash();
  const page = PAGES[name];
  const signedIn = Boolean(state.session);
  if (!page || (name === 'person' && !params.id)) return go(signedIn ? 'overview' : 'signin');
  if (!page.public && !signedIn) {
    rememberPage();
    return go('signin');
  }
  if (page.public && signedIn) return go('overview');

  const main = document.getElementById('page');
  const current = ++navigation;
  leavePage();
  toggleMenu(false);
  clearError();
  markCurrentLink(name);
  main.dataset.ready = 'false';
  const view = h('div', { class: 'view' });
  showPage(name, page.title, view);
  window.scrollTo(0, 0);
  if (page.permission && !can(page.permission)) {
    view.append(h('h1', null, page.title), h('p', { class: 'notice' }, 'You do not have access to this page.'));
  } else {
    try {
      const module = await import(`./pages/${name}.js`);
      await module.default(view, { params, query, onLeave: (handler) => leaveHandlers.push(handler) });
    } catch (error) {
      if (current === navigation) showError(error);
    }
  }
  if (current !== navigation) return; // the user moved on while this page loaded
  main.dataset.ready = 'true';
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

/** Renders the current page again (after a change that affects more than one part of it). */
export function refresh() {
  route();
}

/** Navigates to #/<name> (the router renders it). */
function go(name) {
  const hash = `#/${name}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

// ---------------------------------------------------------------- session

function rememberPage() {
  const { name } = parseHash();
  if (PAGES[name] && !PAGES[name].public) sessionStorage.setItem(RETURN_KEY, location.hash);
}

let signInNotice = '';

/** The notice for the sign-in page (set when a session expired), given once. */
export function takeSignInNotice() {
  const notice = signInNotice;
  signInNotice = '';
  return notice;
}

function useSession(session) {
  state.session = session;
  setCsrfToken(session?.csrf_token);
  if (!session) document.getElementById('toast').hidden = true; // nothing of the last user's work stays on screen
  renderNav();
}

/** After POST /console/session: keep the session and return to the page the user was on. */
export function completeSignIn(session) {
  useSession(session);
  const target = sessionStorage.getItem(RETURN_KEY) || '#/overview';
  sessionStorage.removeItem(RETURN_KEY);
  location.hash = target;
}

async function signOutNow() {
  await auth.signOut().catch(() => {}); // an already-expired session is signed out all the same
  sessionStorage.removeItem(RETURN_KEY);
  useSession(null);
  go('signin');
}

/** After the company was deleted: the session is gone with it; the sign-in page says what happened. */
export function endSession(notice) {
  sessionStorage.removeItem(RETURN_KEY);
  useSession(null);
  signInNotice = notice;
  go('signin');
}

function sessionExpired() {
  if (!state.session) return; // several calls failing together: handle the first
  rememberPage();
  useSession(null);
  signInNotice = 'Your session has expired — please sign in again.';
  go('signin');
}

async function start() {
  setSessionExpiredHandler(sessionExpired);
  try {
    useSession(await auth.load());
  } catch (error) {
    // 401: not signed in. Anything else (server down) is said on the sign-in page, which the router shows next.
    if (error.status !== 401) signInNotice = errorText(error);
    useSession(null);
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
