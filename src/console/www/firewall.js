// The firewall rules that let the approved exports' traffic through, as the API prints them.
import { api } from './api.js';
import { h, showError, showInfo } from './dom.js';

const view = { mode: 'host', format: 'nftables' };

// Not live: the rules name the time host names were resolved at, so every load differs, and a
// user selecting them must not see them replaced.
export const firewallPage = {
  title: 'Firewall',
  live: false,
  async load() {
    const path = `/api/v1/firewall?format=${view.format}&mode=${view.mode}`;
    const rules = view.format === 'json' ? JSON.stringify(await api.get(path), null, 2) : await api.text(path);
    return { ...view, rules };
  },
  render(body, data, ctx) {
    const choice = (id, label, value, options, onchange) => h('div', {},
      h('label', { for: id }, label),
      h('select', { id, onchange: (event) => { onchange(event.target.value); ctx.refresh(); } },
        options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
    const copied = h('div', { id: 'firewall-copied', className: 'message', role: 'status' });
    const rules = h('pre', { className: 'rules', id: 'firewall-rules', tabindex: '0', 'aria-label': 'Firewall rules' }, data.rules);
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(data.rules);
        showInfo(copied, 'Copied to the clipboard.');
      } catch (e) {
        getSelection().selectAllChildren(rules);
        showError(copied, { title: 'Copy blocked', detail: 'The rules are selected: press Ctrl+C to copy them.' });
      }
    };
    body.replaceChildren(
      h('div', { className: 'toolbar' },
        choice('firewall-mode', 'Mode', data.mode, [['host', 'host (on the gateway hosts)'], ['router', 'router (on a boundary router)']],
          (v) => { view.mode = v; }),
        choice('firewall-format', 'Format', data.format, [['nftables', 'nftables'], ['json', 'JSON']], (v) => { view.format = v; }),
        h('button', { type: 'button', onclick: copy }, 'Copy rules'),
        h('button', { type: 'button', onclick: () => ctx.refresh() }, 'Refresh')),
      copied, rules);
  },
};
