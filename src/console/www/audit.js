// The audit log, a page at a time (newest first), the result of a chain verification, and what
// the peers witnessed of the log (the broker's last check of it against them).
import { api } from './api.js';
import { h, time, table, code } from './dom.js';

const PAGE = 50;
// Which page is shown: the newest (and following new entries) until the user pages back.
const view = { follow: true, after: 0, verification: null, verifying: false, asking: false };

// Asks every peer now (the broker's check, which then is the last one shown).
async function askWitnesses(ctx) {
  view.asking = true;
  ctx.refresh();
  try {
    await api.get('/api/v1/audit/verify?witnesses=true');
  } finally {
    view.asking = false;
    ctx.refresh();
  }
}

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

// Which peer witnessed which head of this log, and when; and whether the log still holds it.
function witnesses(check, asking, ctx) {
  const ask = h('button', { type: 'button', onclick: () => askWitnesses(ctx), disabled: asking }, 'Ask the witnesses');
  if (!check) {
    return h('div', { className: 'verify', id: 'audit-witnesses' }, h('p', {}, 'The peers have not been asked yet what they witnessed of this log.'), ask);
  }
  const text = {
    ok: 'Witnessed: every peer answered, and every head it saw of this log is in it.',
    incomplete: 'Not every peer could be asked what it witnessed of this log.',
    failed: 'CONTRADICTED: this log no longer holds what a peer witnessed of it (rolled back or rewritten).',
  }[check.outcome];
  const rows = check.peers.flatMap((p) => (p.heads.length ? p.heads : [{}]).map((x) => ({ peer: p, head: x })));
  return h('div', { className: `verify ${check.outcome === 'ok' ? 'ok' : 'broken'}`, id: 'audit-witnesses' },
    h('p', {}, text, ' Checked ', time(check.checked_at), '.'),
    table('Heads of this log witnessed by peers', [
      { label: 'Peer', cell: (r) => r.peer.peer },
      { label: 'State', cell: (r) => r.peer.error ? `${r.peer.state}: ${r.peer.error}` : r.peer.state },
      { label: 'Seq', cell: (r) => (r.head.seq === undefined ? '' : String(r.head.seq)) },
      { label: 'Hash', cell: (r) => code((r.head.hash || '').slice(0, 16)), className: 'nowrap' },
      { label: 'Witnessed', cell: (r) => (r.head.witnessed_at ? time(r.head.witnessed_at) : '') },
      { label: 'In this log', cell: (r) => r.head.problem || r.head.verdict || '' },
    ], rows, 'No peers.'), ask);
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
    const witnessed = await api.get('/api/v1/audit/witnesses');
    return { head, after: view.after, items: page.items, verification: view.verification, verifying: view.verifying, witnessed, asking: view.asking };
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
      witnesses(data.witnessed, data.asking, ctx),
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
