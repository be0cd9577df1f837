// Imports: what peers exported to this domain, their state, and acceptance for `manual` peers.
import { api, listAll } from './api.js';
import { h, time, table, code, stateBadge, actionButton, l7Rules } from './dom.js';

function importAction(ctx, r, verb) {
  const action = verb.toLowerCase();
  return actionButton(verb, r.id, () => ctx.act({
    title: `${verb} import ${r.id}`,
    summary: `${r.service}:${r.port} exported by ${r.peer} as ${r.alias}.`,
    perform: async (comment) => {
      await api.post(`/api/v1/imports/${encodeURIComponent(r.id)}/${action}`, comment ? { comment } : {},
        { ifMatch: r.version });
      return `Import ${r.id}: ${action} done.`;
    },
  }), { danger: action === 'reject' });
}

export const importsPage = {
  title: 'Imports',
  load: () => listAll('/api/v1/imports'),
  render(body, imports, ctx) {
    const waiting = imports.filter((r) => r.state === 'pending_acceptance').length;
    body.replaceChildren(
      h('div', { className: 'toolbar' }, h('p', {}, `${imports.length} imports, ${waiting} waiting for acceptance. Updates live.`)),
      table('Services peers export to this domain', [
        { label: 'Import', cell: (r) => code(r.id) },
        { label: 'From', cell: (r) => r.peer },
        { label: 'Service', cell: (r) => h('span', {}, code(r.alias), ` (${r.service}:${r.port}, ${r.protocol})`) },
        { label: 'Allowed calls', cell: (r) => l7Rules(r.l7) },
        { label: 'State', cell: (r) => h('span', {}, stateBadge(r.state), r.reason ? ` ${r.reason}` : '') },
        { label: 'Reach it at', cell: (r) => (r.local ? code(`${r.local.host}:${r.local.port}`) : h('span', { className: 'empty' }, 'not applied')) },
        { label: 'Last listed by the peer', cell: (r) => time(r.last_seen) },
        { label: 'Expires', cell: (r) => time(r.expires_at) },
        { label: 'Actions', cell: (r) => h('div', { className: 'actions' },
          r.state === 'pending_acceptance' && ctx.can('approver') ? [importAction(ctx, r, 'Accept'), importAction(ctx, r, 'Reject')] : []) },
      ], imports, 'No peer exports anything to this domain.'));
  },
};
