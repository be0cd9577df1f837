// Peers: their state as this domain's watcher sees it; for admins, adding a peer by its bundle
// and the fingerprint they were read, approving another admin's proposal, removing, quarantine.
import { api } from './api.js';
import { h, time, table, stateBadge, actionButton, showError, showInfo, markField, clearField } from './dom.js';

const MAX_BUNDLE_BYTES = 256 * 1024;  // as `meshfed ctl peers add` reads a bundle file

function peerAction(ctx, p, verb) {
  const action = verb.toLowerCase();
  return actionButton(verb, p.domain, () => ctx.act({
    title: `${verb} peer ${p.domain}`,
    summary: action === 'quarantine'
      ? `Every import from ${p.domain} is withdrawn and its catalog is ignored until it is released.`
      : `Imports from ${p.domain} come back at its next catalog.`,
    commentRequired: true,
    perform: async (reason) => {
      await api.post(`/api/v1/peers/${encodeURIComponent(p.domain)}/${action}`, { reason });
      return `Peer ${p.domain}: ${action} done.`;
    },
  }), { danger: action === 'quarantine' });
}

// Approving another admin's proposal: the peer, or the new bundle (CA rollover) of one.
function approveAction(ctx, p) {
  const next = p.peering.next_bundle;
  const fingerprint = next ? next.fingerprint : p.peering.fingerprint;
  return actionButton('Approve', p.domain, () => ctx.act({
    title: next ? `Approve the new bundle of peer ${p.domain}` : `Approve peer ${p.domain}`,
    summary: `Proposed by ${next ? next.proposed_by : p.peering.proposed_by}` +
      (next ? '' : `: “${p.peering.reason}”`) + `. Compare this fingerprint with ${p.domain}’s admin before you confirm.`,
    extra: h('p', { className: 'fingerprint', id: 'approve-fingerprint' }, fingerprint),
    perform: async (comment) => {
      await api.post(`/api/v1/peers/${encodeURIComponent(p.domain)}/approve`, comment ? { comment } : {});
      return `Peer ${p.domain}: approved.`;
    },
  }));
}

function removeAction(ctx, p) {
  return actionButton('Remove', p.domain, () => ctx.act({
    title: `Remove peer ${p.domain}`,
    summary: `Its imports are withdrawn, exports no longer reach it and its live connections are cut at once.`,
    commentRequired: true,
    perform: async (reason) => {
      await api.del(`/api/v1/peers/${encodeURIComponent(p.domain)}`, { reason });
      return `Peer ${p.domain}: removed.`;
    },
  }), { danger: true });
}

function actions(ctx, p) {
  const cell = h('div', { className: 'actions' });
  if (!ctx.can('admin')) return cell;
  const pending = p.peering && (p.state === 'proposed' ? p.peering : p.peering.next_bundle);
  if (pending) {
    if (pending.proposed_by === ctx.me.name) {
      cell.append(h('p', { className: 'note' },
        'You proposed this, so you cannot approve it: another admin must (four-eyes rule).'));
    } else {
      cell.append(approveAction(ctx, p));
    }
  }
  if (p.state !== 'proposed') cell.append(peerAction(ctx, p, p.quarantined ? 'Release' : 'Quarantine'));
  if (p.source === 'api') cell.append(removeAction(ctx, p));
  return cell;
}

// {"active": 3, "stale": 1} -> "3 active, 1 stale".
function importCounts(counts) {
  const parts = Object.entries(counts || {}).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state.replaceAll('_', ' ')}`);
  return parts.length ? parts.join(', ') : 'none';
}

// "3F1A09C2..." or "3f:1a:09:c2..." -> "3f1a 09c2 ...", so that it reads as the other admin reads it.
function grouped(text) {
  const digits = text.toLowerCase().replace(/[\s:-]/g, '');
  return digits.match(/.{1,4}/g)?.join(' ') ?? '';
}

// The form of "Add a peer": kept outside the live list, so that a refresh never clears it.
function addPeerForm(ctx) {
  const result = h('div', { id: 'add-peer-result', className: 'message', role: 'alert' });
  const field = (id, label, hint, control) => {
    const error = h('p', { className: 'field-error', id: `${id}-error` });
    const hintEl = hint ? h('p', { className: 'hint', id: `${id}-hint` }, hint) : null;
    if (hintEl) {
      control.dataset.hint = hintEl.id;
      control.setAttribute('aria-describedby', hintEl.id);
    }
    return { control, error, nodes: [h('label', { for: id }, label), hintEl, control, error].filter(Boolean) };
  };
  const bundle = field('peer-bundle', 'Bundle', 'Paste the other domain’s bundle (meshfed peer bundle -o json), or load its file below.',
    h('textarea', { id: 'peer-bundle', rows: '6', required: true, spellcheck: 'false' }));
  const upload = h('input', { id: 'peer-bundle-file', type: 'file', accept: 'application/json,.json' });
  const fingerprint = field('peer-fingerprint', 'Fingerprint',
    'Type the fingerprint its admin read to you, by phone or in person: never copy it from the mail the bundle came in.',
    h('input', { id: 'peer-fingerprint', type: 'text', required: true, spellcheck: 'false', autocomplete: 'off' }));
  const shown = h('p', { className: 'fingerprint', id: 'peer-fingerprint-shown', 'aria-live': 'polite' });
  const policy = field('peer-policy', 'Import policy', 'manual: an approver accepts each import; auto: imports are accepted as they come.',
    h('select', { id: 'peer-policy' }, h('option', { value: 'manual' }, 'manual'), h('option', { value: 'auto' }, 'auto')));
  const reason = field('peer-reason', 'Reason', 'Why this domain should become a peer; the other admin and the audit log read it.',
    h('textarea', { id: 'peer-reason', rows: '2', required: true }));
  const fields = { bundle, fingerprint, import_policy: policy, reason };

  upload.addEventListener('change', async () => {
    const file = upload.files[0];
    if (!file) return;
    if (file.size > MAX_BUNDLE_BYTES) return markField(bundle.control, bundle.error, 'that file is larger than a bundle can be (256 KiB)');
    bundle.control.value = await file.text();
    clearField(bundle.control, bundle.error);
  });
  fingerprint.control.addEventListener('input', () => { shown.textContent = grouped(fingerprint.control.value); });

  const form = h('form', { id: 'add-peer-form', novalidate: true },
    ...bundle.nodes, h('label', { for: 'peer-bundle-file' }, 'Bundle file'), upload,
    ...fingerprint.nodes, shown, ...policy.nodes, ...reason.nodes,
    h('div', { className: 'buttons' }, h('button', { type: 'submit' }, 'Add a peer')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.replaceChildren();
    for (const f of Object.values(fields)) clearField(f.control, f.error);
    let doc;
    try {
      doc = JSON.parse(bundle.control.value);
    } catch (e) {
      markField(bundle.control, bundle.error, `not JSON: ${e.message}`);
      bundle.control.focus();
      return;
    }
    // The file `meshfed peer bundle -o json` writes holds the bundle and its fingerprint; only
    // the bundle is sent: the fingerprint that counts is the one typed.
    const proposal = {
      bundle: doc && typeof doc === 'object' && 'bundle' in doc ? doc.bundle : doc,
      fingerprint: fingerprint.control.value,
      import_policy: policy.control.value,
      reason: reason.control.value,
    };
    try {
      const added = await api.post('/api/v1/peers', proposal);
      showInfo(result, `Peer ${added.domain} proposed. It is added once another admin approves it.`);
      form.reset();
      shown.textContent = '';
      ctx.refresh();
    } catch (e) {
      if (e.status === 401) return;
      showError(result, e);
      let first = null;
      for (const f of e.fields) {
        const name = f.field.startsWith('bundle') ? 'bundle' : f.field;
        if (!fields[name]) continue;
        markField(fields[name].control, fields[name].error, `${f.field}: ${f.message}`);
        first = first || fields[name].control;
      }
      if (first) first.focus();
    }
  });
  return h('section', { className: 'add-peer', 'aria-labelledby': 'add-peer-title' },
    h('h2', { id: 'add-peer-title' }, 'Add a peer'), result, form);
}

// What this domain witnessed of the peer's audit log: its newest head, or the conflict its log
// showed (a head that went back or changed: rolled back or rewritten).
function witnessed(w) {
  if (!w || w.state === 'none') return h('span', { className: 'empty' }, 'not yet');
  if (w.state === 'conflict') {
    const c = w.conflicts[w.conflicts.length - 1];
    return h('span', { className: 'state state-conflict' }, `CONFLICT: seq ${c.seq} witnessed `, time(c.witnessed_at),
      `, then seq ${c.contradicted_by.seq} shown `, time(c.contradicted_by.at));
  }
  return h('span', {}, `seq ${w.newest.seq}, `, time(w.newest.witnessed_at));
}

export const peersPage = {
  title: 'Peers',
  setup(body, ctx) {
    if (ctx.can('admin')) body.after(addPeerForm(ctx));
  },
  load: async () => (await api.get('/api/v1/peers')).items,
  render(body, peers, ctx) {
    body.replaceChildren(
      h('div', { className: 'toolbar' }, h('p', {}, `${peers.length} peer ${peers.length === 1 ? 'domain' : 'domains'}. Updates live.`)),
      table('Peer domains', [
        { label: 'Domain', cell: (p) => p.domain },
        { label: 'Source', cell: (p) => (p.source === 'api' ? 'added here' : 'config file') },
        { label: 'Trust domain', cell: (p) => p.trust_domain || (p.peering && p.peering.bundle && p.peering.bundle.trust_domain) || '' },
        { label: 'State', cell: (p) => stateBadge(p.state) },
        { label: 'Last sync', cell: (p) => time(p.last_success) },
        { label: 'Last error', cell: (p) => (p.last_error ? h('span', {}, p.last_error, ' (', time(p.last_error_at), ')') : h('span', { className: 'empty' }, 'none')) },
        { label: 'Imports', cell: (p) => importCounts(p.imports) },
        { label: 'Audit witnessed', cell: (p) => witnessed(p.witness) },
        { label: 'Quarantine', cell: (p) => (p.quarantined ? h('span', {}, `since `, time(p.quarantined.since), ` by ${p.quarantined.by}: ${p.quarantined.reason}`) : h('span', { className: 'empty' }, 'no')) },
        { label: 'Actions', cell: (p) => actions(ctx, p) },
      ], peers, 'No peer domain yet.'));
  },
};
