// The dashboard in a real browser: Debian's Chromium driven by
// playwright-core, axe-core for accessibility. Run by the Rust test
// `dashboard::the_dashboard_works_in_a_real_browser`, which starts the stack,
// seeds it, and passes what it made in the environment:
//   CHORUS_DASH_URL, CHORUS_ADMIN_KEY, CHORUS_VIEWER_KEY, CHORUS_DEAD_JOB,
//   CHORUS_RUNNING_JOB, CHORUS_DOCUMENT, CHORUS_BROWSER_MODULES, CHORUS_CHROMIUM,
//   and SCREENSHOTS (a directory) to save a screenshot of each page.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; assert.ok(v, `${k} is set`); return v; };
const require = createRequire(env('CHORUS_BROWSER_MODULES') + '/');
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const base = env('CHORUS_DASH_URL');
const dead = env('CHORUS_DEAD_JOB');
const running = env('CHORUS_RUNNING_JOB');
const documentId = env('CHORUS_DOCUMENT');
const screens = process.env.SCREENSHOTS || '';

const step = (name) => console.log(`dashboard: ${name}`);

const browser = await chromium.launch({ executablePath: env('CHORUS_CHROMIUM'), args: ['--no-sandbox'] });
try {
  // bypassCSP lets the test inject axe; the pages themselves run under the CSP.
  const admin = await browser.newContext({ bypassCSP: true });
  const page = await admin.newPage();
  const cspErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') cspErrors.push(m.text()); });

  step('sign in');
  await page.goto(`${base}/dashboard`);
  assert.match(page.url(), /\/dashboard\/login$/, 'signed out, the dashboard asks to sign in');
  await page.getByLabel('API key').fill(env('CHORUS_ADMIN_KEY'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/dashboard`);
  assert.equal(await page.locator('h1').innerText(), 'Overview');
  const cookies = await admin.cookies();
  const session = cookies.find((c) => c.name === 'chorus_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));

  step('every page loads and passes axe');
  const pages = [
    ['/dashboard', 'Overview', 'overview'],
    ['/dashboard/jobs', 'Jobs', 'jobs'],
    [`/dashboard/jobs/${dead}`, `Job ${dead.slice(0, 8)}`, 'job'],
    ['/dashboard/dead', 'Dead jobs', 'dead'],
    ['/dashboard/webhooks', 'Webhooks', 'webhooks'],
    ['/dashboard/documents', 'Documents', 'documents'],
    [`/dashboard/documents/${documentId}`, 'copper.txt', 'document'],
    ['/dashboard/usage', 'Usage', 'usage'],
  ];
  for (const [path, title, shot] of pages) {
    const resp = await page.goto(base + path);
    assert.equal(resp.status(), 200, path);
    assert.equal(await page.locator('h1').innerText(), title, path);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(() => window.axe.run(document));
    const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target).join(' ')}`);
    assert.deepEqual(found, [], `axe on ${path}`);
    if (screens) await page.screenshot({ path: `${screens}/${shot}.png`, fullPage: true });
  }

  step('the progress bar of a running job moves');
  await page.goto(`${base}/dashboard/jobs/${running}`);
  const bar = page.locator('#progress');
  const first = Number(await bar.getAttribute('value'));
  await page.waitForFunction((v) => document.getElementById('progress').value > v, first, { timeout: 30000 });
  const later = await page.evaluate(() => document.getElementById('progress').value);
  assert.ok(later > first, `the bar moved from ${first} to ${later} without a reload`);
  if (screens) await page.screenshot({ path: `${screens}/progress.png`, fullPage: true });

  step('retry a dead job by clicking, and see it succeed');
  await page.goto(`${base}/dashboard/dead`);
  const row = page.locator('tr', { has: page.locator(`a[href="/dashboard/jobs/${dead}"]`) });
  await row.getByRole('button', { name: 'Retry' }).click();
  await page.waitForURL(`${base}/dashboard/jobs/${dead}`);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'succeeded', null, { timeout: 30000 });

  step('redeliver a webhook');
  await page.goto(`${base}/dashboard/webhooks`);
  const before = await page.locator('tbody tr').count();
  await page.getByRole('button', { name: 'Redeliver' }).first().click();
  await page.waitForURL(`${base}/dashboard/webhooks`);
  assert.ok((await page.locator('tbody tr').count()) >= before, 'the log still lists the deliveries');

  step('a forged POST without the CSRF token is refused');
  const forged = await admin.request.post(`${base}/dashboard/jobs/${dead}/retry`, { form: { csrf: 'forged' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  const bare = await admin.request.post(`${base}/dashboard/dead/retry`, { form: {}, maxRedirects: 0 });
  assert.equal(bare.status(), 403);

  step('a viewer, with JavaScript off, reads every page and sees no action buttons');
  const viewer = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await viewer.goto(`${base}/dashboard/login`);
  await viewer.getByLabel('API key').fill(env('CHORUS_VIEWER_KEY'));
  await viewer.getByRole('button', { name: 'Sign in' }).click();
  await viewer.waitForURL(`${base}/dashboard`);
  for (const path of ['/dashboard', '/dashboard/jobs', '/dashboard/dead', `/dashboard/jobs/${dead}`, '/dashboard/documents']) {
    const resp = await viewer.goto(base + path);
    assert.equal(resp.status(), 200, path);
    assert.ok((await viewer.locator('main table, main p').count()) > 0, `${path} has content without JavaScript`);
    const actions = await viewer.locator('main button').allInnerTexts();
    assert.deepEqual(actions.filter((t) => t !== 'Filter'), [], `no action buttons for a viewer on ${path}`);
  }

  step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/dashboard/login`);
  await page.goto(`${base}/dashboard/jobs`);
  assert.match(page.url(), /\/dashboard\/login$/, 'the session ended');

  assert.deepEqual(cspErrors.filter((e) => /Content Security Policy/.test(e)), [], 'nothing the CSP blocked');
  console.log('dashboard: all checks passed');
} finally {
  await browser.close();
}
