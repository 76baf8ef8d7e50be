/**
 * Browser tests of the dashboard: Debian's Chromium (driven by playwright-core) against a real
 * agent (`etcd-steward serve`, the shipped CLI) watching a real local 3-member cluster. One etcd
 * line is enough here (the page only reads the agent's API): the newest of STEWARD_TEST_LINES.
 *
 * Two agents watch the same cluster: one with a daily backup schedule and working storage
 * (nothing is stale), one whose schedule runs every 2 s into storage that cannot be written (so
 * the newest backup is soon older than twice the schedule: the stale-backup banner).
 *
 * STEWARD_WEB_SCREENSHOT=docs/dashboard.png also writes some data, takes a few backups, lets the
 * history collect points and saves the README's screenshot there.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { freePorts } from '../runtime/local/ports.js';
import {
  binariesFor,
  CLI,
  Cleanup,
  etcdctl,
  scrubbedEnv,
  tempDir,
  testLines,
  upDetached,
  writeSpec,
} from '../testing/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const DEADLINE_MS = 120_000; // only so a broken page cannot hang the run

/** Starts `etcd-steward serve` on a free loopback port; stopped with SIGTERM by `cleanup`. */
async function startServe(cleanup: Cleanup, specFile: string): Promise<string> {
  const [port] = await freePorts(1);
  const url = `http://127.0.0.1:${String(port)}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, '--config', specFile, 'serve', '--listen', `127.0.0.1:${String(port)}`],
    { env: scrubbedEnv(), stdio: ['ignore', 'pipe', 'pipe'], cwd: path.dirname(specFile) },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanup.add(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
  });
  const until = Date.now() + DEADLINE_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited (${String(child.exitCode)}):\n${output}`);
    const ok = await fetch(`${url}/api/status`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return url;
    if (Date.now() > until) throw new Error(`serve did not answer on ${url}:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Debian's Chromium, headless, with a fresh profile dir removed by `cleanup`. */
async function launchChromium(cleanup: Cleanup): Promise<BrowserContext> {
  const profile = await tempDir(cleanup, 'chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  cleanup.add(() => context.close());
  return context;
}

/** Waits until `selector` matches a number of elements that satisfies `ok`; returns that number. */
async function waitForCount(page: Page, selector: string, ok: (n: number) => boolean): Promise<number> {
  const until = Date.now() + DEADLINE_MS;
  for (;;) {
    const n = await page.locator(selector).count();
    if (ok(n)) return n;
    if (Date.now() > until) throw new Error(`${selector}: still ${n} elements`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function openDashboard(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(DEADLINE_MS);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.locator('[data-member]').first().waitFor();
  assert.deepEqual(errors, [], 'the page threw');
  return page;
}

describe('dashboard in Chromium', { timeout: 15 * 60_000 }, () => {
  const cleanup = new Cleanup();
  const line = testLines().at(-1) ?? '3.6';
  let dir: string;
  let endpoints: string[];
  let healthyUrl: string;
  let staleUrl: string;
  let context: BrowserContext;

  before(async () => {
    dir = await tempDir(cleanup, 'web');
    const spec = await writeSpec(dir, {
      name: 'meta',
      // A small quota, so the quota bars show something in the screenshot.
      etcd: { version: line, quotaBackendBytes: '8MiB' },
      backup: { storage: './backups', schedule: '0 3 * * *' },
      monitoring: { statusInterval: '1s' },
    });
    endpoints = (await upDetached(cleanup, spec)).endpoints;
    healthyUrl = await startServe(cleanup, spec);

    // The second agent: every 2 s a backup into a "directory" below a regular file.
    const staleDir = await tempDir(cleanup, 'web-stale');
    await writeFile(path.join(staleDir, 'not-a-dir'), 'x');
    const staleSpec = await writeSpec(staleDir, {
      name: 'meta',
      runtime: 'external',
      endpoints,
      etcd: { version: line },
      backup: { storage: path.join(staleDir, 'not-a-dir', 'backups'), schedule: '*/2 * * * * *' },
    });
    staleUrl = await startServe(cleanup, staleSpec);
    context = await launchChromium(cleanup);
  });
  after(() => cleanup.run());

  it('loads and shows the three members with their roles', async () => {
    const page = await openDashboard(context, healthyUrl);
    await waitForCount(page, '[data-member]', (n) => n === 3);
    const roles = await page.locator('[data-member] [data-role]').allTextContents();
    assert.deepEqual(roles.sort(), ['follower', 'follower', 'leader']);
    assert.equal(await page.locator('#cluster-name').textContent(), 'meta');
    await page.close();
  });

  it('"Create backup" adds a row once the job is done, and Verify shows the result', async () => {
    const page = await openDashboard(context, healthyUrl);
    const rows = page.locator('tr[data-backup]');
    await page
      .locator('#backups')
      .getByText(/No backups yet|Name/)
      .first()
      .waitFor();
    const before = await rows.count();
    await page.locator('#create-backup').click();
    await waitForCount(page, 'tr[data-backup]', (n) => n === before + 1);
    const row = rows.first();
    assert.match((await row.getAttribute('data-backup')) ?? '', /^meta-\d{8}T\d{6}Z/);
    await page.locator('tr[data-job][data-kind="backup"][data-state="succeeded"]').first().waitFor();

    await row.getByRole('button', { name: 'Verify' }).click();
    const outcome = row.locator('[data-outcome="verify"]');
    await outcome.filter({ hasText: /verify (ok|failed)/ }).waitFor();
    assert.equal(await outcome.textContent(), 'verify ok');

    await row.getByRole('button', { name: 'Restore…' }).click();
    const command = page.locator('#restore-command');
    await command.waitFor();
    assert.equal(
      await command.textContent(),
      `etcd-steward restore ${String(await row.getAttribute('data-backup'))}`,
    );
    await page.locator('#restore-dialog').getByRole('button', { name: 'Close' }).click();

    const shot = path.join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await page.close();
  });

  it('shows no stale-backup banner while backups are fresh', async () => {
    const page = await openDashboard(context, healthyUrl);
    await page.locator('#overall').filter({ hasNotText: 'Loading…' }).waitFor();
    assert.equal(await page.locator('[data-problem="backup-stale"]').count(), 0);
    assert.equal(await page.locator('#banner').isHidden(), true);
    await page.close();
  });

  it('shows the stale-backup banner when the schedule keeps failing', async () => {
    const page = await openDashboard(context, staleUrl);
    const stale = page.locator('#banner [data-problem="backup-stale"]');
    await stale.waitFor();
    assert.match(await stale.innerText(), /Critical.*backup/s);
    await page.locator('#banner [data-problem="backup-failing"]').waitFor();
    const shot = path.join(dir, 'dashboard-stale.png');
    await page.screenshot({ path: shot });
    console.log(`screenshot: ${shot}`);
    await page.close();
  });

  it('fits a narrow screen in dark mode without sideways scrolling', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(DEADLINE_MS);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(healthyUrl);
    await page.locator('[data-member]').first().waitFor();
    await page.locator('#charts svg').first().waitFor();
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    assert.equal(background, 'rgb(15, 19, 24)', 'the dark palette is not applied');
    const overflow = await page.evaluate(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    assert.equal(overflow, 0, 'the page scrolls sideways');
    const shot = path.join(dir, 'dashboard-dark-narrow.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await page.close();
  });

  it('runs a defrag only after the confirmation', async () => {
    const page = await openDashboard(context, healthyUrl);
    await page.locator('#defrag table').waitFor();
    const defragJobs = async () => {
      const response = await fetch(`${healthyUrl}/api/jobs`);
      const { jobs } = (await response.json()) as { jobs: { kind: string }[] };
      return jobs.filter((j) => j.kind === 'defrag').length;
    };
    const before = await defragJobs();
    await page.locator('#defrag-run').click();
    const dialog = page.locator('#defrag-dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Run a defrag\?/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await defragJobs(), before, 'Cancel started a defrag');

    await page.locator('#defrag-run').click();
    await dialog.getByRole('button', { name: 'Defragment' }).click();
    await page.locator('tr[data-job][data-kind="defrag"]').first().waitFor();
    assert.equal(await defragJobs(), before + 1);
    await page
      .locator('tr[data-job][data-state="succeeded"]')
      .filter({ hasText: 'defrag' })
      .first()
      .waitFor();
    await page.close();
  });

  it(
    'writes the README screenshot (STEWARD_WEB_SCREENSHOT)',
    { skip: !process.env['STEWARD_WEB_SCREENSHOT'] },
    async () => {
      const target = path.resolve(process.env['STEWARD_WEB_SCREENSHOT'] ?? '');
      const binaries = await binariesFor(line);
      const page = await openDashboard(context, healthyUrl);
      // Data arriving over a while (the history samples every second), and a few backups.
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 8; i++) {
          const value = 'v'.repeat(12_288 * (1 + i));
          await etcdctl(binaries, endpoints, ['put', `/greptime/metasrv/table/${round}-${i}`, value]);
          await new Promise((r) => setTimeout(r, 1500));
        }
        await page.locator('#create-backup').click();
        await waitForCount(page, 'tr[data-backup]', (n) => n >= round + 2);
      }
      const newest = page.locator('tr[data-backup]').first();
      await newest.getByRole('button', { name: 'Drill' }).click();
      await newest
        .locator('[data-outcome="drill"]')
        .filter({ hasText: /drill (ok|failed)/ })
        .waitFor();
      await page.reload();
      await page.locator('#charts svg').first().waitFor();
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.screenshot({ path: target, fullPage: true });
      console.log(`README screenshot: ${target}`);
      await page.close();
    },
  );
});
