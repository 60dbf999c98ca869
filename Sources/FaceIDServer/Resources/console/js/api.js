// The console's only way to the server. The session cookie travels by itself (same origin); every
// state-changing call carries the CSRF token the session handed out. Failures become ApiError objects
// with the server's stable `code` and human `message`.

const API_BASE = '/console/api';
const SESSION_URL = '/console/session';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

let csrfToken = '';
let onSessionExpired = () => {};

export function setCsrfToken(token) {
  csrfToken = token || '';
}

/** Called (once per 401) when an API call finds the session gone. */
export function setSessionExpiredHandler(handler) {
  onSessionExpired = handler;
}

class ApiError extends Error {
  constructor(status, body = {}) {
    super(body.error || `The server answered ${status}.`);
    this.status = status;
    this.code = body.code || `http_${status}`;
    this.detail = body.detail;
    this.body = body; // extra fields, e.g. person_id/full_name/distance of duplicate_face
  }
}

function queryString(query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function errorBody(response) {
  const body = await response.json().catch(() => ({}));
  const wait = response.headers.get('Retry-After');
  if (response.status === 429 && wait) {
    body.error = `${body.error || 'Too many requests'} — try again in ${wait} s.`;
  }
  return body;
}

async function send(method, url, { body, headers = {}, as = 'json' } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (UNSAFE_METHODS.has(method) && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, { error: 'Could not reach the server. Check the connection and try again.', code: 'network' });
  }
  if (!response.ok) throw new ApiError(response.status, await errorBody(response));
  if (response.status === 204) return null;
  return as === 'blob' ? response.blob() : response.json();
}

async function call(method, path, options = {}) {
  try {
    return await send(method, API_BASE + path + queryString(options.query), options);
  } catch (error) {
    if (error.status !== 401) throw error;
    onSessionExpired();
    throw new ApiError(401, { error: 'Your session has expired — please sign in again.', code: 'session_expired' });
  }
}

/** The API of openapi.yaml, under /console/api. */
export const api = {
  get: (path, query) => call('GET', path, { query }),
  post: (path, body, headers) => call('POST', path, { body, headers }),
  patch: (path, body) => call('PATCH', path, { body }),
  put: (path, body) => call('PUT', path, { body }),
  del: (path, body) => call('DELETE', path, { body }),
  blob: (path) => call('GET', path, { as: 'blob' }),
};

/** Every page of a cursor-paginated list: yields each page's `key` array. */
export async function* allPages(path, query, key) {
  let cursor;
  do {
    const page = await api.get(path, { ...query, cursor });
    yield page[key] || [];
    cursor = page.next_cursor;
  } while (cursor);
}

/** The console session (cookie) and the public registration; a 401 here is an answer, not an expiry. */
export const auth = {
  load: () => send('GET', SESSION_URL),
  signIn: (email, password) => send('POST', SESSION_URL, { body: { email, password } }),
  signOut: () => send('DELETE', SESSION_URL),
  register: (fields) => send('POST', '/register', { body: fields }),
};
