// The console's shell: sign-in, navigation between pages, live refresh and the action dialog.
import { api, session, onUnauthenticated } from './api.js';
import { h, markField, clearField, showError, fromNow } from './dom.js';
import { pendingPage, activePage, requestPage } from './exports.js';
import { importsPage } from './imports.js';
import { peersPage } from './peers.js';
import { auditPage } from './audit.js';
import { firewallPage } from './firewall.js';

const pages = {
  pending: pendingPage, active: activePage, request: requestPage, imports: importsPage, peers: peersPage,
  audit: auditPage, firewall: firewallPage,
};
const REFRESH_MS = 3000;

const $ = (id) => document.getElementById(id);
const state = { me: null, page: null, shown: '', timer: null, generation: 0 };

function announce(text) {
  $('status').textContent = text;
}

// --- sign-in --------------------------------------------------------------------------------

function showSignIn(message) {
  clearTimeout(state.timer);
  state.generation += 1;
  state.me = null;
  if ($('action-dialog').open) $('action-dialog').close();
  $('nav').hidden = true;
  $('identity').hidden = true;
  $('page').replaceChildren();
  $('domain-name').textContent = '';
  $('sign-in').hidden = false;
  const box = $('sign-in-message');
  if (message) showError(box, message);
  else box.replaceChildren();
  $('sign-in-token').value = '';
  $('sign-in-token').focus();
}

async function signIn(token) {
  try {
    state.me = await api.get('/api/v1/whoami', { token });
  } catch (e) {
    if (e.status === 401) return showSignIn({ title: 'Sign-in failed', detail: `${e.detail} Check the token and try again.` });
    return showSignIn(e);
  }
  session.start(token);
  $('sign-in').hidden = true;
  $('identity-name').textContent = state.me.name;
  $('identity-roles').textContent = `(${state.me.roles.join(', ')})`;
  $('identity').hidden = false;
  $('domain-name').textContent = `domain ${state.me.domain}`;
  for (const link of $('nav').querySelectorAll('a[data-role]')) {
    link.parentElement.hidden = !can(link.dataset.role);
  }
  $('nav').hidden = false;
  route();
}

function can(role) {
  return Boolean(state.me && state.me.roles.includes(role));
}

onUnauthenticated((error) => {
  if (!state.me) return;  // sign-in reports its own failure
  session.end();
  showSignIn({ title: 'Signed out', detail: `The broker no longer accepts your token (${error.detail}) Sign in again.` });
});

// --- pages ----------------------------------------------------------------------------------

function route() {
  if (!state.me) return;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const page = pages[name] && (!pages[name].role || can(pages[name].role)) ? name : 'pending';
  if (`#/${page}` !== location.hash) {
    history.replaceState(null, '', `#/${page}`);
  }
  for (const link of $('nav').querySelectorAll('a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  state.page = page;
  state.shown = '';
  document.title = `${pages[page].title} · meshfed console`;
  const heading = h('h1', { id: 'page-title', tabindex: '-1' }, pages[page].title);
  const body = h('div', { id: 'page-body' });
  const error = h('div', { id: 'page-error', className: 'message', role: 'alert' });
  $('page').replaceChildren(h('section', { 'aria-labelledby': 'page-title' }, heading, error, body));
  heading.focus();
  if (pages[page].setup) pages[page].setup(body, context());
  refresh();
}

function context() {
  return { me: state.me, can, act, refresh };
}

// Loads the page's data and renders it when it changed, keeping the focused control focused.
// The refresh waits while a dialog is open or the user is typing, so nothing moves under them.
// The banner of a failed witness check (GET /api/v1/audit/witnesses), on every page: a restored
// old backup or a rewritten log must not go unnoticed by whoever signs in.
async function witnessBanner() {
  const banner = $('witness-banner');
  try {
    const check = await api.get('/api/v1/audit/witnesses');
    const failed = check && check.outcome === 'failed';
    const problems = failed ? check.peers.flatMap((p) => p.heads.filter((x) => x.problem).map((x) => x.problem)) : [];
    const text = failed ? `This domain's audit log does not hold what its peers witnessed of it (rolled back or rewritten): ${problems[0]}` : '';
    if (banner.textContent !== text) banner.textContent = text;
    banner.hidden = !failed;
  } catch (e) {
    banner.hidden = true;  // a role that may not read the audit log sees no banner
  }
}

async function refresh() {
  clearTimeout(state.timer);
  const generation = ++state.generation;
  const page = pages[state.page];
  if (!state.me || !page || !page.load) return;
  witnessBanner();
  const typing = document.activeElement && document.activeElement.matches('form input, form textarea, form select');
  const busy = $('action-dialog').open || typing;
  if (!busy || state.shown === '') {
    try {
      const data = await page.load(context());
      if (generation !== state.generation) return;
      $('page-error').replaceChildren();
      const shown = JSON.stringify(data);
      if (shown !== state.shown) {
        state.shown = shown;
        const body = $('page-body');
        const focused = body.contains(document.activeElement) ? document.activeElement : null;
        const key = focused && (focused.id ? ['id', focused.id] : ['aria-label', focused.getAttribute('aria-label')]);
        page.render(body, data, context());
        if (key) {
          // The same control again, or (its row gone, e.g. just approved) the page's heading, so
          // that a keyboard user is not dropped at the top of the document.
          const again = key[1] && [...body.querySelectorAll(`[${key[0]}]`)].find((el) => el.getAttribute(key[0]) === key[1]);
          (again || $('page-title')).focus();
        }
      } else {
        // The same data, but "5 seconds ago" has aged.
        for (const t of $('page-body').querySelectorAll('time[datetime]')) t.textContent = fromNow(t.dateTime);
      }
    } catch (e) {
      if (generation !== state.generation || e.status === 401) return;
      showError($('page-error'), e);
    }
  }
  if (page.live !== false) state.timer = setTimeout(refresh, REFRESH_MS);
}

// --- the action dialog ----------------------------------------------------------------------

// Asks for a comment (and whatever `extra` holds), then runs `perform`. The dialog stays open
// with the broker's answer when the call fails, naming the field that was wrong.
// options: { title, summary, extra: Node, commentRequired, perform: async (comment) => message }
function act(options) {
  const dialog = $('action-dialog');
  const opener = document.activeElement;
  $('action-title').textContent = options.title;
  $('action-summary').textContent = options.summary;
  $('action-extra').replaceChildren(...(options.extra ? [options.extra] : []));
  const comment = $('action-comment');
  comment.value = '';
  comment.required = Boolean(options.commentRequired);
  clearField(comment, $('action-comment-error'));
  $('action-error').replaceChildren();
  const form = $('action-form');
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (options.commentRequired && !comment.value.trim()) {
      markField(comment, $('action-comment-error'), 'say why: a comment is required');
      comment.focus();
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const message = await options.perform(comment.value.trim());
      announce(message);
      state.shown = '';
      dialog.close();  // its close handler refreshes the page
    } catch (e) {
      if (e.status === 401) return;
      showError($('action-error'), e);
      for (const f of e.fields) {
        if (f.field === 'comment' || f.field === 'reason') markField(comment, $('action-comment-error'), f.message);
      }
    } finally {
      submit.disabled = false;
    }
  };
  dialog.onclose = () => {
    if (opener && opener.isConnected) opener.focus();
    else $('page-title').focus();
    refresh();
  };
  dialog.showModal();
  (options.extra && options.extra.querySelector('input, select')) ? options.extra.querySelector('input, select').focus()
    : comment.focus();
}

// --- start ----------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('sign-in-token').value.trim();
    if (!token) return showSignIn({ title: 'Sign-in failed', detail: 'Enter your token.' });
    signIn(token);
  });
  $('sign-out').addEventListener('click', () => {
    session.end();
    showSignIn(null);
  });
  $('action-close').addEventListener('click', () => $('action-dialog').close());
  window.addEventListener('hashchange', route);
  const token = session.token();
  if (token) signIn(token);
  else showSignIn(null);
});
