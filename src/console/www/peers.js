// Peers: their state as this domain's watcher sees it, and quarantine for admins.
import { api } from './api.js';
import { h, time, table, stateBadge, actionButton } from './dom.js';

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

// {"active": 3, "stale": 1} -> "3 active, 1 stale".
function importCounts(counts) {
  const parts = Object.entries(counts || {}).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state.replaceAll('_', ' ')}`);
  return parts.length ? parts.join(', ') : 'none';
}

export const peersPage = {
  title: 'Peers',
  load: async () => (await api.get('/api/v1/peers')).items,
  render(body, peers, ctx) {
    body.replaceChildren(
      h('div', { className: 'toolbar' }, h('p', {}, `${peers.length} peer ${peers.length === 1 ? 'domain' : 'domains'}. Updates live.`)),
      table('Peer domains', [
        { label: 'Domain', cell: (p) => p.domain },
        { label: 'Trust domain', cell: (p) => p.trust_domain },
        { label: 'State', cell: (p) => stateBadge(p.state) },
        { label: 'Last sync', cell: (p) => time(p.last_success) },
        { label: 'Last error', cell: (p) => (p.last_error ? h('span', {}, p.last_error, ' (', time(p.last_error_at), ')') : h('span', { className: 'empty' }, 'none')) },
        { label: 'Imports', cell: (p) => importCounts(p.imports) },
        { label: 'Quarantine', cell: (p) => (p.quarantined ? h('span', {}, `since `, time(p.quarantined.since), ` by ${p.quarantined.by}: ${p.quarantined.reason}`) : h('span', { className: 'empty' }, 'no')) },
        { label: 'Actions', cell: (p) => h('div', { className: 'actions' },
          ctx.can('admin') ? peerAction(ctx, p, p.quarantined ? 'Release' : 'Quarantine') : []) },
      ], peers, 'No peer domain is configured.'));
  },
};
