/**
 * The status page in a real browser: playwright-core driving Debian's
 * chromium (/usr/bin/chromium; .ci/run installs it) against the whole stack.
 * Waits are generous `eventually` polls on what the page shows; nothing
 * depends on how fast the machine is.
 *
 * The screenshot goes to a temporary folder, or to docs/images/status-page.png
 * when SPOTBATCH_UPDATE_SCREENSHOT=1 (so a test run leaves the tree alone).
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TaskPageView } from '../../services/views/index.js';
import { eventually } from '../helpers/fleet.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startTestStatus, type TestStatus } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Watched {
  page: Page;
  dialogs: string[];
  errors: string[];
  navigations: number;
}

async function open(ctx: BrowserContext, url: string): Promise<Watched> {
  const page = await ctx.newPage();
  // A busy 2-core machine can take its time; the waits below are the real limits.
  page.setDefaultTimeout(120_000);
  page.setDefaultNavigationTimeout(120_000);
  const w: Watched = { page, dialogs: [], errors: [], navigations: 0 };
  page.on('dialog', (d) => {
    w.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (err) => w.errors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(m.text());
  });
  await page.goto(url);
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) w.navigations++;
  });
  // A mark in this document: a reload would lose it.
  await page.evaluate(() => ((globalThis as unknown as { sameDocument: string }).sameDocument = 'yes'));
  return w;
}

/** Until job.submit has stored the job, its page is a 404. */
const stored = (status: TestStatus, jobId: string) => eventually(`job ${jobId} stored`, async () => (await status.get(`/api/jobs/${jobId}`)).status === 200, 120_000, 200);

const rowStates = (page: Page) => page.$$eval('#tasks-body tr', (trs) => trs.map((tr) => `${tr.getAttribute('data-task-id')}:${tr.getAttribute('data-state')}`));

describe('status page in a browser (playwright-core, Debian chromium), over the whole stack', function () {
  this.timeout(600_000);
  let stack: Stack;
  let status: TestStatus;
  let ctx: BrowserContext;
  let scratch: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium chromium-driver (.ci/run does)`);
    scratch = mkdtempSync(path.join(tmpdir(), 'spotbatch-browser-'));
    stack = await startStack();
    status = await startTestStatus(stack.emu, stack.fleet.config.prefix, { pollMs: 500 });
    ctx = await chromium.launchPersistentContext(mkdtempSync(path.join(scratch, 'profile-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
    });
  });
  after(async () => {
    await ctx?.close();
    await status?.close();
    await stack?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('during a running job, task rows change state without a reload; the timeline shows each attempt, the interruption marked', async () => {
    const gate = path.join(scratch, 'gate');
    const jobId = await stack.submit({
      name: 'browser live',
      tasks: [{ args: ['alpha'] }, { args: ['beta'] }, { args: ['gamma'] }],
      steps: [
        {
          run: [
            'echo "task $SPOTBATCH_TASK_INDEX attempt $SPOTBATCH_ATTEMPT started"',
            'if [ "$SPOTBATCH_TASK_INDEX" = 1 ] && [ "$SPOTBATCH_ATTEMPT" = 1 ]; then echo "first try fails" >&2; exit 3; fi',
            'while [ ! -e "$GATE" ]; do sleep 0.2; done',
            'echo "task $SPOTBATCH_TASK_INDEX done"',
          ].join('\n'),
        },
      ],
      env: { GATE: gate },
      retry: { maxAttempts: 3, retryExitCodes: [3] },
      instances: { types: ['m5.large', 'c5.large', 'm5a.large'], regions: ['us-east-1'] },
      tags: { purpose: 'screenshot' },
    });
    await stored(status, jobId);
    const w = await open(ctx, `${status.url}/jobs/${jobId}`);
    const jobsList = await open(ctx, `${status.url}/`);
    const { page } = w;

    // The steps wait for the gate: every row turns running in the open page, task 1 on its second attempt (exit code 3 retried).
    const attemptCell = (taskId: string) => page.textContent(`#tasks-body tr[data-task-id="${taskId}"] td:nth-child(3)`);
    await eventually(
      'all three rows running in the page, task 0001 on attempt 2',
      async () => (await rowStates(page)).join(' ') === '0000:running 0001:running 0002:running' && (await attemptCell('0001')) === '2',
      300_000,
      500,
    );
    const apiTasks = (await status.get(`/api/jobs/${jobId}/tasks`)).json<TaskPageView>();
    expect(apiTasks.tasks.map((t) => t.attempt)).to.deep.equal([1, 2, 1]);

    // Interrupt task 2's instance; the page shows its second attempt running.
    const victim = apiTasks.tasks[2]!.instanceId!;
    await stack.admin(`/_sim/instances/${victim}/interrupt`, {});
    await eventually(
      'task 0002 on its second attempt in the page',
      async () => (await attemptCell('0002')) === '2 (1 interrupted)' && (await rowStates(page))[2] === '0002:running',
      300_000,
      500,
    );

    writeFileSync(gate, 'go\n');
    await eventually('all three rows succeeded in the page', async () => (await rowStates(page)).join(' ') === '0000:succeeded 0001:succeeded 0002:succeeded', 300_000, 500);
    await eventually('the job shown succeeded', async () => (await page.textContent('[data-field="state"]'))?.trim() === 'succeeded', 300_000, 500);
    await eventually('the jobs list shows it succeeded', async () => (await jobsList.page.textContent(`#jobs-body tr[data-job-id="${jobId}"]`))?.includes('succeeded'), 120_000, 500);

    // No reload happened in either page.
    for (const x of [w, jobsList]) {
      expect(await x.page.evaluate(() => (globalThis as unknown as { sameDocument?: string }).sameDocument)).to.equal('yes');
      expect(x.navigations).to.equal(0);
    }

    // The timeline has a bar per attempt, coloured by outcome, with the interruption marked.
    await eventually('the timeline caught up', async () => !(await page.$$eval('#timeline g.attempt', (gs) => gs.some((g) => g.getAttribute('data-outcome') === 'open'))), 60_000, 500);
    const bars = await page.$$eval('#timeline g.attempt', (gs) => gs.map((g) => [g.getAttribute('data-task'), g.getAttribute('data-attempt'), g.getAttribute('data-outcome')]));
    const rows = await stack.tasks(jobId);
    expect(bars).to.deep.equal(rows.flatMap((t) => t.attempts.map((a) => [t.taskId, String(a.n), a.outcome])));
    expect(bars).to.deep.include.members([
      ['0001', '1', 'retry'],
      ['0001', '2', 'succeeded'],
      ['0002', '1', 'interrupted'],
      ['0002', '2', 'succeeded'],
    ]);
    expect(await page.$$('#timeline path.interruption')).to.have.length(1);

    // What the live updates wrote reads exactly like a freshly served page.
    const fresh = await open(ctx, `${status.url}/jobs/${jobId}`);
    for (const sel of ['#tasks-body', '[data-field="tasks"]', '[data-field="spend"]', '[data-field="ondemand"]', '[data-field="attempts"]']) {
      expect(await page.textContent(sel), sel).to.equal(await fresh.page.textContent(sel));
    }
    expect(await page.textContent('[data-field="interruptions"]')).to.equal('1');

    const shot = process.env.SPOTBATCH_UPDATE_SCREENSHOT === '1' ? path.join(repo, 'docs/images/status-page.png') : path.join(scratch, 'status-page.png');
    await fresh.page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).to.equal('PNG');
    for (const x of [w, jobsList, fresh]) {
      expect(x.dialogs).to.deep.equal([]);
      expect(x.errors).to.deep.equal([]);
    }
  });

  it('a job named <script>alert(1)</script> with HTML in its command, tags and output renders as text, and no script runs', async () => {
    const name = '<script>alert(1)</script>';
    const payload = '<img src=x onerror="window.pwned=1;alert(2)">';
    const jobId = await stack.submit({
      name,
      tasks: { count: 1 },
      command: ['sh', '-c', `echo '${payload}'; echo '<script>window.pwned=3</script>'`, '<svg onload=alert(4)>'],
      tags: { '<i onclick=alert(5)>k</i>': '"><script>alert(6)</script>' },
      instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
    });
    // Open while the job is young, so the output arrives through the live updates too.
    await stored(status, jobId);
    const jobsList = await open(ctx, `${status.url}/`);
    const w = await open(ctx, `${status.url}/jobs/${jobId}`);
    await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    await eventually('the output shown', async () => (await w.page.textContent('#tasks-body pre.out'))?.includes(payload), 120_000, 500);
    const fresh = await open(ctx, `${status.url}/jobs/${jobId}`);
    for (const x of [w, fresh]) {
      const p = x.page;
      expect(await p.textContent('#job-name')).to.equal(name);
      expect(await p.textContent('ul.tags')).to.equal('<i onclick=alert(5)>k</i>="><script>alert(6)</script>');
      expect(await p.textContent('#tasks-body pre.out')).to.equal(`${payload}\n<script>window.pwned=3</script>`);
      expect(await p.textContent('pre.spec')).to.contain('<svg onload=alert(4)>');
      expect(await p.title()).to.equal(`${name} · spotbatch`);
    }
    await eventually('the jobs list row', async () => (await jobsList.page.textContent(`#jobs-body tr[data-job-id="${jobId}"] a`)) === name, 60_000, 500);
    for (const x of [jobsList, w, fresh]) {
      const p = x.page;
      expect(await p.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned)).to.equal(undefined);
      expect(await p.$$eval('script', (s) => s.map((e) => e.getAttribute('src')))).to.deep.equal(['/static/status.js']);
      expect(await p.$$('img')).to.have.length(0);
      expect(await p.$$('i[onclick], svg[onload], [onerror]')).to.have.length(0);
      expect(x.dialogs).to.deep.equal([]);
      expect(x.errors).to.deep.equal([]);
    }
  });
});
