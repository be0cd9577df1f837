// Small DOM helpers: elements are built with createElement and textContent only, so nothing a
// peer or a requester wrote can ever become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'className') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const DAY = 24 * 3600;
// [unit, its length, from how far away it is used]: days up to two months, since TTLs are set
// in days ("in 10 days", not "next week").
const units = [
  ['year', 365 * DAY, 365 * DAY], ['month', 30 * DAY, 60 * DAY], ['day', DAY, DAY],
  ['hour', 3600, 3600], ['minute', 60, 60], ['second', 1, 0],
];

// "in 3 days", "5 minutes ago", against the browser's clock.
export function fromNow(iso, now = Date.now()) {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Number.isNaN(seconds)) return iso;
  const [unit, size] = units.find(([, , from]) => Math.abs(seconds) >= from);
  return relative.format(Math.round(seconds / size), unit);
}

// A time shown relative, with the exact UTC time a hover or a screen reader can reach.
export function time(iso) {
  if (!iso) return h('span', { className: 'empty' }, 'never');
  return h('time', { datetime: iso, title: iso }, fromNow(iso));
}

export function stateBadge(state) {
  return h('span', { className: `state state-${state.replace(/\W+/g, '-')}` }, state.replaceAll('_', ' '));
}

// A table whose cells also carry their column's name, for the narrow (zoomed) layout.
// columns: [{ label, cell: (row) => Node|string, className }]
export function table(caption, columns, rows, emptyText) {
  if (rows.length === 0) return h('p', { className: 'empty' }, emptyText);
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.label, className: c.className }, c.cell(row)))))));
}

// An action on one object: its accessible name is the verb and the object's id, e.g.
// "Approve payments-api-x1y2z3w4" (docs/console.md).
export function actionButton(verb, id, onclick, { danger = false } = {}) {
  return h('button', { type: 'button', 'aria-label': `${verb} ${id}`, className: danger ? 'danger' : undefined, onclick }, verb);
}

export function code(text) {
  return h('code', {}, text);
}

// A problem+json error as the user reads it: its title, then what the broker said.
// An export's L7 rules as the peer may use them: one line per rule, or the whole port.
export function l7Rules(rules) {
  if (!rules) return h('span', { className: 'empty' }, 'whole port (TCP)');
  const lines = (rules.grpc || []).map((m) => `gRPC ${m}`).concat((rules.http || []).map((r) =>
    `${r.methods.join(', ')} ${r.path.exact !== undefined ? r.path.exact : `${r.path.prefix}*`}`));
  return h('ul', { className: 'rules' }, lines.map((line) => h('li', {}, code(line))));
}

export function showError(box, error) {
  box.className = 'message';
  box.replaceChildren(h('span', { className: 'title' }, `${error.title || 'Error'}: `), error.detail || error.message);
}

export function showInfo(box, text) {
  box.className = 'message info';
  box.replaceChildren(text);
}

// Marks a form field wrong and says why right next to it (and to screen readers, before the
// field's hint).
export function markField(input, errorBox, message) {
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', [errorBox.id, input.dataset.hint].filter(Boolean).join(' '));
  errorBox.textContent = message;
}

export function clearField(input, errorBox) {
  input.removeAttribute('aria-invalid');
  if (input.dataset.hint) input.setAttribute('aria-describedby', input.dataset.hint);
  else input.removeAttribute('aria-describedby');
  errorBox.textContent = '';
}
