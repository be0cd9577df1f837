// The approval console in Debian's Chromium, driven by playwright-core. Run by
// tests/integration/console_browser_test.cpp, which starts the brokers of two domains (pci
// exports, internal imports; both accept imports manually) and names them in the JSON file
// MESHFED_CONSOLE_SETUP points at. Every click's effect is checked through the admin API too.
// MESHFED_CONSOLE_SCREENSHOTS=DIR saves the main pages as PNGs (scripts/console-screenshots.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { chromium } from 'playwright-core';

const setup = JSON.parse(fs.readFileSync(process.env.MESHFED_CONSOLE_SETUP, 'utf8'));
const screenshots = process.env.MESHFED_CONSOLE_SCREENSHOTS;
const TIMEOUT = 20000;

// --- the admin API, with the domain's own CA verified ----------------------------------------

function call(domain, method, target, who, body) {
  const d = setup[domain];
  const url = new URL(target, d.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method, ca: fs.readFileSync(d.ca_file), timeout: TIMEOUT,
      headers: {
        Authorization: `Bearer ${d.tokens[who]}`,
        ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${target} timed out`)));
    req.end(payload);
  });
}

async function waitFor(what, probe, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function exportsOf(state) {
  const r = await call('pci', 'GET', `/api/v1/exports?state=${state}&limit=1000`, 'victor');
  assert.equal(r.status, 200);
  return r.body.items;
}

async function exportOf(id) {
  const r = await call('pci', 'GET', `/api/v1/exports/${id}`, 'victor');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function importState(id) {
  const r = await call('internal', 'GET', `/api/v1/imports/${id}`, 'victor');
  return r.status === 200 ? r.body : null;
}

async function requestByApi(who, alias, reason) {
  const r = await call('pci', 'POST', '/api/v1/exports', who,
    { mesh: 'default', service: 'ledger', port: 5432, peers: ['internal'], alias, reason });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

// --- the browser -----------------------------------------------------------------------------

let browser;
const problems = [];  // CSP violations and script errors seen by any page

before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});
after(async () => {
  await browser?.close();
});

// A fresh tab (its own session storage) on `domain`'s console. The brokers' certificates come
// from the test's own CA, which this browser does not know: the API calls above verify it.
async function open(domain, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${domain}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${domain}: ${e.message}`));
  const response = await page.goto(`${setup[domain].url}/ui/`);
  assert.equal(response.status(), 200);
  return page;
}

async function signIn(page, domain, who) {
  await page.getByLabel('Token', { exact: true }).fill(setup[domain].tokens[who]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${who}`).waitFor();
}

async function goTo(page, link) {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: link }).waitFor();
}

async function shot(page, name) {
  if (!screenshots) return;
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

async function confirm(page, comment) {
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Comment', { exact: true }).fill(comment);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'hidden' });
}

const exported = {};  // ids of the exports the steps below make, for the later steps

test('the console is served with strict headers and holds no inline script or style', async () => {
  const page = await open('pci');
  const headers = (await page.goto(`${setup.pci.url}/ui/`)).headers();
  const csp = headers['content-security-policy'];
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  assert.equal(await page.locator('script:not([src]), style, [style]').count(), 0);
  await page.context().close();
});

test('a wrong token returns to sign-in with a clear message', async () => {
  const page = await open('pci');
  await shot(page, 'sign-in');
  await page.getByLabel('Token', { exact: true }).fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'the bearer token is not valid' }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Console' }).isVisible(), false);
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), false);
  // Nothing of the token in the URL, a cookie or local storage.
  assert.doesNotMatch(page.url(), /not-a-token/);
  assert.equal((await page.context().cookies()).length, 0);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  await page.context().close();
});

test('a requester requests an export through the page, with field errors from the API', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'alice');
  await goTo(page, 'Request an export');
  await page.getByLabel('Service', { exact: true }).selectOption({ label: 'payments-api (mesh default)' });
  await page.getByLabel('Port', { exact: true }).selectOption('8443');
  await page.getByLabel('Peers', { exact: true }).selectOption(['internal']);
  await page.getByLabel('TTL (days)', { exact: true }).fill('3');
  await page.getByLabel('Metrics', { exact: true }).fill('envoy_cluster_upstream_rq_total, envoy_http_*');
  // No reason: the API refuses, and the page says so next to the Reason field.
  await page.getByRole('button', { name: 'Request export' }).click();
  await page.getByRole('alert').filter({ hasText: 'the export request is invalid' }).waitFor();
  assert.equal(await page.getByLabel('Reason', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#request-reason-error').innerText(), /required/);
  assert.equal((await exportsOf('pending')).length, 0);
  await shot(page, 'request');

  await page.getByLabel('Reason', { exact: true }).fill('checkout needs payments from internal');
  await page.getByRole('button', { name: 'Request export' }).click();
  const info = page.getByRole('alert').filter({ hasText: 'requested' });
  await info.waitFor();
  const pending = await exportsOf('pending');
  assert.equal(pending.length, 1);
  const e = pending[0];
  assert.equal(e.requested_by, 'alice');
  assert.equal(e.service, 'payments-api');
  assert.equal(e.port, 8443);
  assert.deepEqual(e.peers, ['internal']);
  assert.equal(e.ttl_s, 3 * 86400);
  assert.deepEqual(e.metrics, ['envoy_cluster_upstream_rq_total', 'envoy_http_*']);
  assert.match(await info.innerText(), new RegExp(e.id));
  exported.payments = e.id;

  // Her own request: no approve button; she may cancel it.
  await goTo(page, 'Pending exports');
  await page.getByRole('button', { name: `Cancel ${e.id}` }).waitFor();
  assert.equal(await page.getByRole('button', { name: `Approve ${e.id}` }).count(), 0);
  await page.context().close();
});

test('on their own request an approver is told why they cannot approve, and the API refuses a forged call', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'root');  // an admin holds the requester and approver roles
  const own = await requestByApi('root', 'ledger-reports', 'ledger for reporting');
  exported.rootsOwn = own;
  await goTo(page, 'Pending exports');
  const row = page.getByRole('row').filter({ hasText: own });
  await row.getByText('four-eyes rule').waitFor();
  assert.equal(await row.getByRole('button', { name: `Approve ${own}` }).count(), 0);
  assert.equal(await row.getByRole('button', { name: `Reject ${own}` }).count(), 0);
  // Someone else's request does offer it.
  await page.getByRole('button', { name: `Approve ${exported.payments}` }).waitFor();
  // The same call the button would make, forged from the page with root's own session.
  const forged = await page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/exports/${id}/approve`, {
      method: 'POST', headers: { Authorization: `Bearer ${sessionStorage.getItem('meshfed.token')}` },
    });
    return { status: r.status, body: await r.json() };
  }, own);
  assert.equal(forged.status, 403);
  assert.match(forged.body.detail, /four-eyes rule/);
  assert.equal((await exportOf(own)).state, 'pending');
  await page.context().close();
});

test('an approver approves by clicking, the API shows it approved, and the peer imports it', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'bob');
  await goTo(page, 'Pending exports');
  await shot(page, 'pending');
  await page.getByRole('button', { name: `Approve ${exported.payments}` }).click();
  await confirm(page, 'reviewed with the payments team');
  const e = await exportOf(exported.payments);
  assert.equal(e.state, 'approved');
  assert.equal(e.decided_by, 'bob');
  assert.equal(e.history.at(-1).comment, 'reviewed with the payments team');
  // The row left the pending list without a reload.
  await page.getByRole('button', { name: `Approve ${exported.payments}` }).waitFor({ state: 'detached' });

  // internal accepts imports manually: an approver there accepts it on internal's console.
  const importId = `pci.${exported.payments}`;
  await waitFor('the import to arrive', async () => (await importState(importId))?.state === 'pending_acceptance');
  const there = await open('internal');
  await signIn(there, 'internal', 'bob');
  await goTo(there, 'Imports');
  await there.getByRole('button', { name: `Accept ${importId}` }).click();
  await confirm(there, 'expected');
  const imported = await waitFor('the import to be active', async () => {
    const r = await importState(importId);
    return r?.state === 'active' && r;
  });
  assert.notEqual(imported.local, null);
  await there.getByRole('row').filter({ hasText: importId }).getByText('active').waitFor();
  await shot(there, 'imports');
  await goTo(there, 'Peers');
  await there.getByRole('row').filter({ hasText: 'pci' }).getByText('1 active').waitFor();
  await there.context().close();

  await goTo(page, 'Active exports');
  await page.getByRole('row').filter({ hasText: exported.payments }).getByText(/^in (3|2) days$/).waitFor();
  await shot(page, 'active');
  await page.context().close();
});

test('lists update live: a request made elsewhere appears without a reload', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'carol');
  await goTo(page, 'Pending exports');
  const id = await requestByApi('alice', 'ledger-books', 'ledger for the bookkeepers');
  exported.keyboard = id;
  await page.getByRole('button', { name: `Approve ${id}` }).waitFor();
  await page.context().close();
});

test('an approver approves by keyboard alone', async () => {
  const page = await open('pci');
  await page.getByLabel('Token', { exact: true }).focus();
  await page.keyboard.type(setup.pci.tokens.carol);
  await page.keyboard.press('Enter');
  await page.getByText('Signed in as carol').waitFor();
  await page.getByRole('button', { name: `Approve ${exported.keyboard}` }).waitFor();
  const target = `Approve ${exported.keyboard}`;
  let reached = false;
  for (let i = 0; i < 80 && !reached; ++i) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate((name) => document.activeElement?.getAttribute('aria-label') === name, target);
  }
  assert.ok(reached, `Tab never reached "${target}"`);
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'action-comment');
  await page.keyboard.type('approved from the keyboard');
  await page.keyboard.press('Tab');  // to Confirm
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').waitFor({ state: 'hidden' });
  const e = await exportOf(exported.keyboard);
  assert.equal(e.state, 'approved');
  assert.equal(e.decided_by, 'carol');
  // The approved row is gone from the list; the keyboard user lands on the page's heading.
  await page.getByRole('button', { name: target }).waitFor({ state: 'detached' });
  await page.waitForFunction(() => document.activeElement?.id === 'page-title');
  await page.context().close();
});

test('an approver extends an export by a number of days', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'bob');
  await goTo(page, 'Active exports');
  await page.getByRole('button', { name: `Extend ${exported.keyboard}` }).click();
  await page.getByRole('dialog').getByLabel('TTL (days)', { exact: true }).fill('10');
  const before = Date.now();
  await confirm(page, 'the audit runs longer');
  const e = await exportOf(exported.keyboard);
  assert.equal(e.ttl_s, 10 * 86400);
  const expires = Date.parse(e.expires_at);
  assert.ok(expires >= before + 10 * 86400e3 - 5000 && expires <= Date.now() + 10 * 86400e3 + 5000, e.expires_at);
  await page.getByRole('row').filter({ hasText: exported.keyboard }).getByText('in 10 days').waitFor();
  await page.context().close();
});

test('revoking from the page withdraws the import at the peer', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'bob');
  await goTo(page, 'Active exports');
  await page.getByRole('button', { name: `Revoke ${exported.payments}` }).click();
  await confirm(page, 'no longer needed');
  assert.equal((await exportOf(exported.payments)).state, 'revoked');
  const withdrawn = await waitFor('the import to be withdrawn', async () => {
    const r = await importState(`pci.${exported.payments}`);
    return r?.state === 'withdrawn' && r;
  });
  assert.equal(withdrawn.local, null);
  await page.getByRole('button', { name: `Revoke ${exported.payments}` }).waitFor({ state: 'detached' });
  await page.context().close();
});

test('L7 rules are shown to the approver and on the import, and a change of them is proposed and approved by clicking', async () => {
  const rules = { http: [{ methods: ['GET'], path: { prefix: '/metrics/' } }] };
  const r = await call('pci', 'POST', '/api/v1/exports', 'alice',
    { mesh: 'default', service: 'ledger', port: 9187, peers: ['internal'], alias: 'ledger-page', reason: 'metrics page', l7: rules });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id;
  const page = await open('pci');
  await signIn(page, 'pci', 'bob');
  await goTo(page, 'Pending exports');
  const row = page.getByRole('row').filter({ hasText: id });
  await row.getByText('GET /metrics/*').waitFor();
  await row.getByRole('button', { name: `Approve ${id}` }).click();
  await confirm(page, 'read-only page');
  assert.equal((await exportOf(id)).state, 'approved');

  // The importing side sees exactly what it may call.
  const importId = `pci.${id}`;
  await waitFor('the import to arrive', async () => (await importState(importId))?.state === 'pending_acceptance');
  const accepted = await call('internal', 'POST', `/api/v1/imports/${importId}/accept`, 'bob', {});
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  const there = await open('internal');
  await signIn(there, 'internal', 'victor');
  await goTo(there, 'Imports');
  await there.getByRole('row').filter({ hasText: importId }).getByText('GET /metrics/*').waitFor();
  await shot(there, 'imports-l7');

  // A change of the rules is proposed in the console and waits for another approver, shown next
  // to the rules in force.
  const wider = { http: [{ methods: ['GET', 'HEAD'], path: { prefix: '/metrics/' } }] };
  const requester = await open('pci');
  await signIn(requester, 'pci', 'alice');
  await goTo(requester, 'Active exports');
  await requester.getByRole('button', { name: `Change rules ${id}` }).click();
  const dialog = requester.getByRole('dialog');
  const newRules = dialog.getByLabel('New L7 rules', { exact: true });
  assert.deepEqual(JSON.parse(await newRules.inputValue()), rules, 'the rules in force to start from');
  await newRules.fill('{"http": [');
  await dialog.getByLabel('Comment', { exact: true }).fill('HEAD too');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.getByText(/expected JSON/).first().waitFor();
  assert.equal((await exportOf(id)).l7_change, null, 'bad rules change nothing');
  await newRules.fill(JSON.stringify(wider));
  await confirm(requester, 'HEAD too');
  assert.deepEqual((await exportOf(id)).l7_change, { l7: wider, proposed_by: 'alice' });
  await requester.getByRole('row').filter({ hasText: id })
    .getByText('You proposed these rules: another approver must approve them (four-eyes rule).').waitFor();
  await requester.context().close();
  await goTo(page, 'Active exports');
  const active = page.getByRole('row').filter({ hasText: id });
  await active.getByText('Proposed by alice, waiting for another approver:').waitFor();
  await active.getByText('GET, HEAD /metrics/*').waitFor();
  await shot(page, 'active-l7-change');
  await active.getByRole('button', { name: `Approve rules ${id}` }).click();
  await confirm(page, 'HEAD is harmless');
  const changed = await exportOf(id);
  assert.deepEqual(changed.l7, wider);
  assert.equal(changed.l7_change, null);
  await there.getByRole('row').filter({ hasText: importId }).getByText('GET, HEAD /metrics/*').waitFor();
  await there.context().close();
  await page.context().close();
});

test('a viewer sees every list but no action', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'victor');
  await goTo(page, 'Pending exports');
  await page.getByRole('row').filter({ hasText: exported.rootsOwn }).waitFor();
  await goTo(page, 'Active exports');
  await page.getByRole('row').filter({ hasText: exported.keyboard }).waitFor();
  await goTo(page, 'Peers');
  await page.getByRole('row').filter({ hasText: 'internal' }).waitFor();
  // What pci witnessed of internal's audit log: its newest head, and when.
  await page.getByRole('row').filter({ hasText: 'internal' }).filter({ hasText: /seq \d+, / }).waitFor();
  const actions = /^(Approve|Reject|Cancel|Revoke|Extend|Change|Withdraw|Accept|Quarantine|Release) /;
  assert.equal(await page.getByRole('button', { name: actions }).count(), 0);
  for (const link of ['Pending exports', 'Active exports']) {
    await goTo(page, link);
    await page.getByRole('table').waitFor();
    assert.equal(await page.getByRole('button', { name: actions }).count(), 0);
  }
  assert.equal(await page.getByRole('link', { name: 'Request an export' }).isVisible(), false);
  await page.context().close();
});

test('an admin quarantines and releases a peer; the audit log verifies; the firewall rules are shown', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'root');
  await goTo(page, 'Peers');
  await page.getByRole('button', { name: 'Quarantine internal' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Confirm' }).click();  // no reason: refused by the page
  await dialog.getByText('a comment is required').waitFor();
  await confirm(page, 'incident 42');
  const peer = async () => (await call('pci', 'GET', '/api/v1/peers', 'victor')).body.items.find((p) => p.domain === 'internal');
  assert.equal((await peer()).quarantined.reason, 'incident 42');
  await page.getByRole('button', { name: 'Release internal' }).click();
  await confirm(page, 'incident 42 closed');
  assert.equal((await peer()).quarantined, undefined);
  await page.getByRole('button', { name: 'Quarantine internal' }).waitFor();
  await shot(page, 'peers');

  await goTo(page, 'Audit log');
  await page.getByText(/Chain verified: all \d+ entries are intact/).waitFor();
  const head = (await call('pci', 'GET', '/api/v1/audit/head', 'victor')).body;
  await page.getByText(`head ${head.seq}:${head.hash.slice(0, 16)}`).waitFor();
  await page.getByRole('row').filter({ hasText: 'peer.released' }).first().waitFor();
  // What internal witnessed of pci's log, asked now: the heads it saw, each found in the log.
  await page.getByRole('button', { name: 'Ask the witnesses' }).click();
  await page.getByText('Witnessed: every peer answered').waitFor();
  await page.locator('#audit-witnesses').getByRole('row').filter({ hasText: 'internal' }).filter({ hasText: 'matches' }).first().waitFor();
  assert.equal(await page.locator('#witness-banner').isHidden(), true);
  await shot(page, 'audit');

  await goTo(page, 'Firewall');
  const rules = await page.locator('#firewall-rules').innerText();
  const fromApi = await new Promise((resolve, reject) => {
    https.get(new URL('/api/v1/firewall?format=nftables&mode=host', setup.pci.url),
      { ca: fs.readFileSync(setup.pci.ca_file), headers: { Authorization: `Bearer ${setup.pci.tokens.victor}` } },
      (res) => { let t = ''; res.on('data', (c) => { t += c; }); res.on('end', () => resolve(t)); }).on('error', reject);
  });
  // The same rules as the API prints them (but for the time the host names were resolved at).
  const resolvedAt = /^# host names resolved at .*$/m;
  assert.equal(rules.trim().replace(resolvedAt, ''), fromApi.trim().replace(resolvedAt, ''));
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByRole('button', { name: 'Copy rules' }).click();
  await page.getByText('Copied to the clipboard.').waitFor();
  assert.equal((await page.evaluate(() => navigator.clipboard.readText())).trim(), rules.trim());
  await page.getByLabel('Format', { exact: true }).selectOption('json');
  await page.locator('#firewall-rules').filter({ hasText: '"direction": "inbound"' }).waitFor();
  await shot(page, 'firewall');
  await page.context().close();
});

async function peerOf(domain, peer) {
  const r = await call(domain, 'GET', '/api/v1/peers', 'victor');
  assert.equal(r.status, 200);
  return r.body.items.find((p) => p.domain === peer) || null;
}

// One admin of `domain` adds `other` through the page: its bundle pasted (or loaded from its
// file) and the fingerprint typed; another admin approves it.
async function addPeerInTheConsole(domain, other, { upload } = {}) {
  const { bundle, fingerprint } = (await call(other, 'GET', '/api/v1/peering/bundle', 'victor')).body;
  const page = await open(domain);
  await signIn(page, domain, 'root');
  await goTo(page, 'Peers');
  const text = JSON.stringify({ bundle, fingerprint }, null, 2);
  if (upload) {
    await page.getByLabel('Bundle file', { exact: true }).setInputFiles({ name: `${other}.json`, mimeType: 'application/json', buffer: Buffer.from(text) });
    await page.waitForFunction(() => document.getElementById('peer-bundle').value.length > 0);
  } else {
    await page.getByLabel('Bundle', { exact: true }).fill(text);
  }
  // Misheard: one digit off. Refused, said next to the field, nothing added.
  const misheard = (fingerprint[0] === '0' ? '1' : '0') + fingerprint.slice(1);
  await page.getByLabel('Fingerprint', { exact: true }).fill(misheard.replaceAll(' ', ''));
  // Shown back in large type, grouped as it is read aloud.
  await page.locator('#peer-fingerprint-shown').filter({ hasText: misheard }).waitFor();
  await page.getByLabel('Import policy', { exact: true }).selectOption('auto');
  await page.getByLabel('Reason', { exact: true }).fill(`${other} joins`);
  await page.getByRole('button', { name: 'Add a peer' }).click();
  await page.locator('#peer-fingerprint-error').filter({ hasText: 'does not match the bundle' }).waitFor();
  assert.equal(await peerOf(domain, other), null);
  await page.getByLabel('Fingerprint', { exact: true }).fill(fingerprint);
  await page.getByRole('button', { name: 'Add a peer' }).click();
  await page.getByText(`Peer ${other} proposed.`).waitFor();
  assert.equal((await peerOf(domain, other)).state, 'proposed');
  // The proposer is told why there is no Approve for them.
  await page.getByRole('row').filter({ hasText: other }).getByText('another admin must (four-eyes rule)').waitFor();
  assert.equal(await page.getByRole('button', { name: `Approve ${other}` }).count(), 0);
  await shot(page, 'add-peer');
  await page.context().close();

  const second = await open(domain);
  await signIn(second, domain, 'ada');
  await goTo(second, 'Peers');
  await second.getByRole('button', { name: `Approve ${other}` }).click();
  await second.getByRole('dialog').locator('#approve-fingerprint').filter({ hasText: fingerprint }).waitFor();
  await confirm(second, 'fingerprint compared by phone');
  assert.notEqual((await peerOf(domain, other)).state, 'proposed');
  return second;
}

test('two domains with no peer become peers through the console, an export flows, and a removal ends it', async () => {
  const pciSide = await addPeerInTheConsole('pci', 'edge');
  assert.equal((await peerOf('pci', 'edge')).state, 'waiting for the peer');
  await pciSide.getByRole('row').filter({ hasText: 'edge' }).getByText('waiting for the peer').waitFor();
  const edgeSide = await addPeerInTheConsole('edge', 'pci', { upload: true });
  await waitFor('pci and edge connected', async () =>
    (await peerOf('pci', 'edge'))?.state === 'connected' && (await peerOf('edge', 'pci'))?.state === 'connected');
  await pciSide.getByRole('row').filter({ hasText: 'edge' }).getByText('connected').waitFor();

  const r = await call('pci', 'POST', '/api/v1/exports', 'alice',
    { mesh: 'default', service: 'ledger', port: 5432, peers: ['edge'], alias: 'ledger-edge', reason: 'edge reads the ledger' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal((await call('pci', 'POST', `/api/v1/exports/${r.body.id}/approve`, 'bob', {})).status, 200);
  await waitFor('the import at edge', async () => (await call('edge', 'GET', `/api/v1/imports/pci.${r.body.id}`, 'victor')).body?.state === 'active');

  await edgeSide.getByRole('button', { name: 'Remove pci' }).click();
  const dialog = edgeSide.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Confirm' }).click();  // no reason: refused by the page
  await dialog.getByText('a comment is required').waitFor();
  await confirm(edgeSide, 'the trial ended');
  assert.equal(await peerOf('edge', 'pci'), null);
  assert.equal((await call('edge', 'GET', `/api/v1/imports/pci.${r.body.id}`, 'victor')).body.state, 'withdrawn');
  await edgeSide.getByText('No peer domain yet.').waitFor();
  await pciSide.context().close();
  await edgeSide.context().close();
});

test('at 200% zoom the lists reflow instead of scrolling sideways', async () => {
  // 200% zoom of a 1280-pixel window is a 640-pixel-wide CSS viewport.
  const page = await open('pci', { width: 640, height: 900 });
  await signIn(page, 'pci', 'bob');
  for (const link of ['Pending exports', 'Active exports', 'Imports', 'Peers', 'Audit log']) {
    await goTo(page, link);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${link} scrolls sideways by ${overflow}px at 200%`);
  }
  await goTo(page, 'Pending exports');
  await page.getByRole('button', { name: `Approve ${exported.rootsOwn}` }).waitFor();
  await page.context().close();
});

test('a token revoked while signed in returns to sign-in with a clear message', async () => {
  const page = await open('pci');
  await signIn(page, 'pci', 'carol');
  await goTo(page, 'Pending exports');
  // The administrator removes carol's token and reloads the broker (SIGHUP).
  const file = setup.pci.tokens_file;
  const tokens = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, JSON.stringify(tokens.filter((t) => t.name !== 'carol'), null, 2));
  process.kill(setup.pci.pid, 'SIGHUP');
  // The next live refresh is refused: back to sign-in, saying why.
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByRole('alert').filter({ hasText: 'no longer accepts your token' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('meshfed.token')), null);
  await page.context().close();
});

test('no page broke its Content-Security-Policy or threw', () => {
  // The refusals provoked above (a bad request, a wrong or revoked token, a forged approval)
  // show as failed loads; anything else, a missing file (404) included, is a fault.
  const unexpected = problems.filter((p) => !/Failed to load resource: .* status of (400|401|403) /.test(p));
  assert.deepEqual(unexpected, []);
});
