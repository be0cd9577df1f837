// The admin API as the console uses it: the same calls, roles and four-eyes rule as the CLI.
// The token lives in session storage only: never in a URL, a cookie or local storage.

const TOKEN_KEY = 'meshfed.token';

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  start: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  end: () => sessionStorage.removeItem(TOKEN_KEY),
};

// A problem+json answer (RFC 9457): title, detail and the fields that were wrong.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || '';
    this.fields = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

let unauthenticated = () => {};
// Called with the ApiError of any 401: the token was wrong, or has been revoked since.
export function onUnauthenticated(handler) {
  unauthenticated = handler;
}

async function call(method, path, { body, ifMatch, token = session.token(), accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch !== undefined) headers['If-Match'] = `"${ifMatch}"`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', redirect: 'error',
    });
  } catch (e) {
    throw new ApiError(0, { title: 'Broker unreachable', detail: `${method} ${path} failed: ${e.message}` });
  }
  const type = response.headers.get('Content-Type') || '';
  if (!response.ok) {
    const problem = type.includes('json') ? await response.json().catch(() => ({})) : {};
    const error = new ApiError(response.status, problem);
    if (response.status === 401) unauthenticated(error);
    throw error;
  }
  return type.includes('json') ? response.json() : response.text();
}

export const api = {
  get: (path, options) => call('GET', path, options),
  post: (path, body, options = {}) => call('POST', path, { ...options, body }),
  del: (path, body) => call('DELETE', path, { body }),
  text: (path) => call('GET', path, { accept: 'text/plain' }),
};

// Every item of a paged list (follows `next` up to `max` items).
export async function listAll(path, max = 1000) {
  const items = [];
  let after = '';
  while (items.length < max) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api.get(`${path}${sep}limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    items.push(...page.items);
    if (!page.next) break;
    after = page.next;
  }
  return items;
}
