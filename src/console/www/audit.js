// The audit log, a page at a time (newest first), and the result of a chain verification.
import { api } from './api.js';
import { h, time, table, code } from './dom.js';

const PAGE = 50;
// Which page is shown: the newest (and following new entries) until the user pages back.
const view = { follow: true, after: 0, verification: null, verifying: false };

async function verify(ctx) {
  view.verifying = true;
  try {
    view.verification = await api.get('/api/v1/audit/verify');
  } catch (e) {
    view.verification = { error: e };
  } finally {
    view.verifying = false;
  }
  ctx.refresh();
}

function verification(ctx) {
  const v = view.verification;
  const again = h('button', { type: 'button', onclick: () => verify(ctx), disabled: view.verifying }, 'Verify chain');
  if (!v) return h('div', { className: 'verify', id: 'audit-verification' }, h('p', {}, 'The hash chain has not been checked yet. '), again);
  if (v.error) {
    return h('div', { className: 'verify broken', id: 'audit-verification' },
      h('p', {}, `Verification could not run: ${v.error.title}: ${v.error.detail}`), again);
  }
  const text = v.ok
    ? `Chain verified: all ${v.entries} entries are intact, head ${v.head.seq}:${v.head.hash.slice(0, 16)}.`
    : `Chain BROKEN: ${v.problem}`;
  return h('div', { className: `verify ${v.ok ? 'ok' : 'broken'}`, id: 'audit-verification' },
    // The broker walks the chain at most every 10 s; the time is when it last did.
    h('p', {}, text, ' Checked ', time(v.checked_at), '. Record the head outside this box to detect a rewrite of the whole log.'), again);
}

export const auditPage = {
  title: 'Audit log',
  setup(body, ctx) {
    view.follow = true;
    view.verification = null;
    verify(ctx);
  },
  async load() {
    const head = await api.get('/api/v1/audit/head');
    if (view.follow) view.after = Math.max(0, head.seq - PAGE);
    const page = await api.get(`/api/v1/audit?after=${view.after}&limit=${PAGE}`);
    return { head, after: view.after, items: page.items, verification: view.verification, verifying: view.verifying };
  },
  render(body, data, ctx) {
    const first = data.after + 1;
    const last = data.after + data.items.length;
    const goto = (after, follow) => () => {
      view.after = Math.max(0, after);
      view.follow = follow;
      ctx.refresh();
    };
    body.replaceChildren(
      verification(ctx),
      h('div', { className: 'toolbar' },
        h('p', {}, data.items.length ? `Entries ${first} to ${last} of ${data.head.seq}.` : 'The log is empty.'),
        h('button', { type: 'button', id: 'audit-older', disabled: data.after === 0, onclick: goto(data.after - PAGE, false) }, 'Older entries'),
        h('button', { type: 'button', id: 'audit-newer', disabled: last >= data.head.seq,
          onclick: goto(data.after + PAGE, data.after + 2 * PAGE >= data.head.seq) }, 'Newer entries')),
      table('Audit entries, newest first', [
        { label: 'Seq', cell: (e) => String(e.seq) },
        { label: 'Time', cell: (e) => time(e.time) },
        { label: 'Actor', cell: (e) => e.actor },
        { label: 'Action', cell: (e) => e.action },
        { label: 'Object', cell: (e) => code(e.object), className: 'nowrap' },
        { label: 'Details', cell: (e) => code(JSON.stringify(e.details)) },
        { label: 'Hash', cell: (e) => code(e.hash.slice(0, 16)), className: 'nowrap' },
      ], [...data.items].reverse(), 'No entries.'));
  },
};
