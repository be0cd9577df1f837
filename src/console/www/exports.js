// Exports: pending ones to decide, active ones to revoke or extend, and the request form.
import { api, listAll } from './api.js';
import { h, time, table, code, stateBadge, actionButton, showError, showInfo, markField, clearField, l7Rules } from './dom.js';

const DAY_S = 24 * 3600;

function target(e) {
  return h('span', {}, code(`${e.service}:${e.port}`), ` (${e.protocol}, mesh ${e.mesh}${e.zone ? `, zone ${e.zone}` : ''})`,
    e.target_missing ? h('span', { className: 'state state-error' }, 'no longer in the inventory') : null);
}

function decisionBody(comment, extra = {}) {
  return comment ? { comment, ...extra } : extra;
}

// The export's action: a dialog asking for a comment, then the API call guarded by If-Match, so
// that a decision is never made on an export someone else changed since it was shown.
function exportAction(ctx, e, verb, { extra, values = () => ({}), danger, action = verb.toLowerCase() } = {}) {
  return actionButton(verb, e.id, () => ctx.act({
    title: `${verb} export ${e.id}`,
    summary: `${e.service}:${e.port} to ${e.peers.join(', ')}, requested by ${e.requested_by}: “${e.reason}”`,
    extra: extra && extra(),
    perform: async (comment) => {
      await api.post(`/api/v1/exports/${encodeURIComponent(e.id)}/${action}`, decisionBody(comment, values()),
        { ifMatch: e.version });
      return `Export ${e.id}: ${verb.toLowerCase()} done.`;
    },
  }), { danger });
}

export const pendingPage = {
  title: 'Pending exports',
  load: () => listAll('/api/v1/exports?state=pending'),
  render(body, exports, ctx) {
    body.replaceChildren(
      h('div', { className: 'toolbar' }, h('p', {}, `${exports.length} waiting for a decision. Updates live.`)),
      table('Exports waiting for an approver', [
        { label: 'Export', cell: (e) => code(e.id) },
        { label: 'Service and port', cell: target },
        { label: 'Peers', cell: (e) => e.peers.join(', ') },
        { label: 'Allowed calls', cell: (e) => l7Rules(e.l7) },
        { label: 'Requested by', cell: (e) => e.requested_by },
        { label: 'Requested', cell: (e) => time(e.requested_at) },
        { label: 'Reason', cell: (e) => e.reason },
        { label: 'Lapses unless decided', cell: (e) => time(e.pending_expires_at) },
        { label: 'Actions', cell: (e) => pendingActions(e, ctx) },
      ], exports, 'Nothing is waiting for a decision.'));
  },
};

function pendingActions(e, ctx) {
  const own = e.requested_by === ctx.me.name;
  const cell = h('div', { className: 'actions' });
  if (own) {
    cell.append(h('p', { className: 'note' },
      'You requested this export, so you cannot approve or reject it: another approver must decide (four-eyes rule).'));
    cell.append(exportAction(ctx, e, 'Cancel', { danger: true }));
  } else if (ctx.can('approver')) {
    cell.append(exportAction(ctx, e, 'Approve'), exportAction(ctx, e, 'Reject', { danger: true }));
  }
  return cell;
}

export const activePage = {
  title: 'Active exports',
  load: () => listAll('/api/v1/exports?state=approved'),
  render(body, exports, ctx) {
    body.replaceChildren(
      h('div', { className: 'toolbar' }, h('p', {}, `${exports.length} approved and exported. Updates live.`)),
      table('Approved exports', [
        { label: 'Export', cell: (e) => code(e.id) },
        { label: 'Service and port', cell: target },
        { label: 'Peers', cell: (e) => e.peers.join(', ') },
        { label: 'Allowed calls', cell: allowedCalls },
        { label: 'State', cell: (e) => stateBadge(e.state) },
        { label: 'Requested by', cell: (e) => e.requested_by },
        { label: 'Approved by', cell: (e) => e.decided_by || '' },
        { label: 'Expires', cell: (e) => time(e.expires_at) },
        { label: 'Metrics', cell: (e) => (e.metrics.length ? e.metrics.join(', ') : 'none') },
        { label: 'Actions', cell: (e) => activeActions(e, ctx) },
      ], exports, 'No export is active.'));
  },
};

// The rules in force and, while one waits for an approver, the change proposed.
function allowedCalls(e) {
  if (!e.l7_change) return l7Rules(e.l7);
  return h('div', {}, l7Rules(e.l7),
    h('p', { className: 'note' }, `Proposed by ${e.l7_change.proposed_by}, waiting for another approver:`),
    l7Rules(e.l7_change.l7));
}

function l7ChangeActions(e, ctx) {
  const proposer = e.l7_change.proposed_by === ctx.me.name;
  if (proposer) {
    return [h('p', { className: 'note' }, 'You proposed these rules: another approver must approve them (four-eyes rule).'),
      exportAction(ctx, e, 'Withdraw rules', { action: 'l7/reject', danger: true })];
  }
  if (!ctx.can('approver')) return [];
  return [exportAction(ctx, e, 'Approve rules', { action: 'l7/approve' }),
    exportAction(ctx, e, 'Reject rules', { action: 'l7/reject', danger: true })];
}

// New rules for an approved export: like a request, they wait for another approver, and the
// rules in force stay until then.
function changeRulesAction(ctx, e) {
  let rules;
  let rulesError;
  return exportAction(ctx, e, 'Change rules', {
    action: 'l7',
    extra: () => {
      rules = h('textarea', { id: 'change-l7', rows: '4', spellcheck: 'false' });
      rules.value = e.l7 ? JSON.stringify(e.l7) : '';
      rulesError = h('p', { className: 'field-error', id: 'change-l7-error' });
      const hint = h('p', { className: 'hint', id: 'change-l7-hint' },
        'As JSON, e.g. {"http": [{"methods": ["GET"], "path": {"prefix": "/v1/rates/"}}]}; '
        + 'they apply once another approver approves them.');
      rules.dataset.hint = hint.id;
      rules.setAttribute('aria-describedby', hint.id);
      return h('div', {}, h('label', { for: 'change-l7' }, 'New L7 rules'), hint, rules, rulesError);
    },
    values: () => {
      clearField(rules, rulesError);
      if (rules.value.trim() === '') return {};  // the API names the missing rules
      try {
        return { l7: JSON.parse(rules.value) };
      } catch (err) {
        markField(rules, rulesError, `expected JSON: ${err.message}`);
        throw Object.assign(new Error(`expected JSON: ${err.message}`), { title: 'L7 rules', fields: [] });
      }
    },
  });
}

const L7_PROTOCOLS = ['http', 'http2', 'grpc'];

function activeActions(e, ctx) {
  const own = e.requested_by === ctx.me.name;
  const cell = h('div', { className: 'actions' });
  if (e.l7_change) {
    cell.append(...l7ChangeActions(e, ctx));
  } else if (L7_PROTOCOLS.includes(e.protocol) && (ctx.can('approver') || ctx.can('requester'))) {
    cell.append(changeRulesAction(ctx, e));
  }
  if (ctx.can('approver') || (own && ctx.can('requester'))) cell.append(exportAction(ctx, e, 'Revoke', { danger: true }));
  if (ctx.can('approver') && !own) {
    let days;
    cell.append(exportAction(ctx, e, 'Extend', {
      extra: () => {
        days = h('input', { id: 'extend-days', type: 'number', min: '1', step: '1', value: String(Math.round(e.ttl_s / DAY_S)) });
        return h('div', {}, h('label', { for: 'extend-days' }, 'TTL (days)'),
          h('p', { className: 'hint', id: 'extend-hint' }, 'From now; the export then expires that many days later.'), days);
      },
      values: () => (days.value ? { ttl_s: Math.round(Number(days.value) * DAY_S) } : {}),
    }));
  } else if (ctx.can('approver') && own) {
    cell.append(h('p', { className: 'note' }, 'You requested this export: another approver must extend it (four-eyes rule).'));
  }
  return cell;
}

// --- the request form ------------------------------------------------------------------------

const fields = [
  // [API field, input id, label, hint]
  ['service', 'request-service', 'Service', 'From this domain’s inventory.'],
  ['port', 'request-port', 'Port', null],
  ['peers', 'request-peers', 'Peers', 'The domains that may reach it. Hold Ctrl or Shift to pick several.'],
  ['metrics', 'request-metrics', 'Metrics', 'Optional: metric names or prefixes ending in *, separated by commas.'],
  ['ttl_s', 'request-ttl', 'TTL (days)', 'Optional: how long it stays exported once approved.'],
  ['l7', 'request-l7', 'L7 rules', 'Optional, for an http, http2 or grpc port: what the peer may call, as JSON, '
    + 'e.g. {"http": [{"methods": ["GET"], "path": {"prefix": "/v1/rates/"}}]} or {"grpc": ["pkg.Service/Method"]}. '
    + 'Empty: the whole port.'],
  ['reason', 'request-reason', 'Reason', 'Why this service should leave the domain; approvers read it.'],
  ['proxy_protocol', 'request-proxy', 'Send the PROXY protocol header to the service', null],
];

export const requestPage = {
  title: 'Request an export',
  role: 'requester',
  live: false,
  async load() {
    const [services, peers] = await Promise.all([api.get('/api/v1/services'), api.get('/api/v1/peers')]);
    return { services: services.items, peers: peers.items.map((p) => p.domain) };
  },
  render(body, data) {
    const inputs = {};
    const errors = {};
    const control = (field, id) => {
      if (field === 'service') {
        return h('select', { id, required: true }, data.services.map((s, i) => h('option', { value: String(i) },
          `${s.name} (mesh ${s.mesh}${s.zone ? `, zone ${s.zone}` : ''})`)));
      }
      if (field === 'port') return h('select', { id, required: true });
      if (field === 'peers') {
        return h('select', { id, multiple: true, required: true, size: String(Math.min(6, Math.max(2, data.peers.length))) },
          data.peers.map((p) => h('option', { value: p }, p)));
      }
      if (field === 'ttl_s') return h('input', { id, type: 'number', min: '1', step: '1', inputmode: 'numeric' });
      if (field === 'reason') return h('textarea', { id, rows: '3', required: true });
      if (field === 'l7') return h('textarea', { id, rows: '3', spellcheck: 'false' });
      if (field === 'proxy_protocol') return h('input', { id, type: 'checkbox' });
      return h('input', { id, type: 'text', spellcheck: 'false' });
    };
    const result = h('div', { id: 'request-result', className: 'message', role: 'alert' });
    const form = h('form', { id: 'request-form', novalidate: true });
    for (const [field, id, label, hint] of fields) {
      inputs[field] = control(field, id);
      errors[field] = h('p', { className: 'field-error', id: `${id}-error` });
      const hintEl = hint ? h('p', { className: 'hint', id: `${id}-hint` }, hint) : null;
      if (hintEl) {
        inputs[field].dataset.hint = hintEl.id;
        inputs[field].setAttribute('aria-describedby', hintEl.id);
      }
      if (field === 'proxy_protocol') {
        form.append(h('label', { className: 'check', for: id }, inputs[field], label), errors[field]);
      } else {
        form.append(...[h('label', { for: id }, label), hintEl, inputs[field], errors[field]].filter(Boolean));
      }
    }
    form.append(h('div', { className: 'buttons' }, h('button', { type: 'submit' }, 'Request export')));

    const fillPorts = () => {
      const s = data.services[Number(inputs.service.value)];
      inputs.port.replaceChildren(...(s ? s.ports : []).map((p) => h('option', { value: String(p.port) }, `${p.port} (${p.protocol})`)));
    };
    inputs.service.addEventListener('change', fillPorts);
    fillPorts();

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      result.replaceChildren();
      for (const [field] of fields) clearField(inputs[field], errors[field]);
      const service = data.services[Number(inputs.service.value)];
      const request = {
        mesh: service ? service.mesh : '',
        service: service ? service.name : '',
        port: Number(inputs.port.value) || 0,
        peers: [...inputs.peers.selectedOptions].map((o) => o.value),
        reason: inputs.reason.value,
        proxy_protocol: inputs.proxy_protocol.checked,
      };
      if (service && service.zone) request.zone = service.zone;
      const metrics = inputs.metrics.value.split(/[\s,]+/).filter(Boolean);
      if (metrics.length) request.metrics = metrics;
      if (inputs.ttl_s.value !== '') {
        const days = Number(inputs.ttl_s.value);
        if (!Number.isFinite(days) || days <= 0) {
          markField(inputs.ttl_s, errors.ttl_s, `expected a number of days above 0, got “${inputs.ttl_s.value}”`);
          inputs.ttl_s.focus();
          return;
        }
        request.ttl_s = Math.round(days * DAY_S);
      }
      if (inputs.l7.value.trim() !== '') {
        try {
          request.l7 = JSON.parse(inputs.l7.value);
        } catch (e) {
          markField(inputs.l7, errors.l7, `expected JSON: ${e.message}`);
          inputs.l7.focus();
          return;
        }
      }
      try {
        const created = await api.post('/api/v1/exports', request);
        showInfo(result, `Export ${created.id} requested. It is pending until another person approves it.`);
        form.reset();
        fillPorts();
      } catch (e) {
        if (e.status === 401) return;
        showError(result, e);
        let first = null;
        for (const f of e.fields) {
          const field = f.field.startsWith('l7') ? 'l7' : f.field.replace(/\[\d+\]$/, '');
          const name = inputs[field] ? field : (field === 'mesh' || field === 'alias' || field === 'zone') ? 'service' : null;
          if (!name) continue;
          const message = name === 'ttl_s' ? `${f.message} (the API counts seconds; a day is 86400)` : f.message;
          markField(inputs[name], errors[name], message);
          first = first || inputs[name];
        }
        if (first) first.focus();
      }
    });
    body.replaceChildren(result, form);
  },
};
