import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { spendOverTimeSvg } from '../../services/ledger/svg.js';
import type { JobLedger } from '../../services/ledger/types.js';
import { chartShape } from '../../services/ledger/figures.js';
import type { JobLedgerSource } from '../../services/views/index.js';
import { destroyClients } from '../../shared/aws.js';
import { Store } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { HOSTILE_NAME, jobLedger } from '../ledger/fixture.js';
import { byClass, elements } from '../ledger/xml.js';
import { startTestStatus, type TestStatus } from './helpers.js';
import { seedJob } from './seed.js';

const svgs = (doc: string) => [...doc.matchAll(/<svg xmlns[\s\S]*?<\/svg>/g)].map((m) => m[0]);

describe("status page: the job view's cost ledger (emulators)", function () {
  this.timeout(120_000);
  let emu: Emulators;
  let prefix: string;
  let close: () => void;
  const jobId = 'ledger-job';
  const plain = 'plain-job';
  let ledger: JobLedger;
  /** What the page asked the source for: the ledger source JobViews will be at merge. */
  const asked: string[] = [];
  const source: JobLedgerSource = {
    jobLedger: (id) => {
      asked.push(id);
      return Promise.resolve(id === jobId ? ledger : undefined);
    },
  };

  before(async () => {
    emu = await testEmulators();
    prefix = uniquePrefix();
    const clients = clientsFor(emu);
    close = () => destroyClients(clients);
    await ensureTables(clients.dynamodb, prefix);
    const store = new Store(clients.ddb, prefix);
    await seedJob(store, clients.ddb, { jobId, tasks: 3, name: HOSTILE_NAME });
    await seedJob(store, clients.ddb, { jobId: plain, tasks: 2 });
    ledger = { ...jobLedger(), jobId };
  });
  after(async () => {
    close?.();
    await emu?.stop();
  });

  describe('with a ledger source', () => {
    let status: TestStatus;
    before(async () => {
      status = await startTestStatus(emu, prefix, { ledger: source });
    });
    after(() => status.close());

    it("shows the ledger's figures, the per-task split, interruptions by pool and the charts on the job page", async () => {
      const r = await status.get(`/jobs/${jobId}`);
      expect(r.status).to.equal(200);
      const page = r.text;
      expect(page).to.contain('<section id="ledger"><h2>Cost</h2>');
      expect(page).to.contain('data-ledger="1"');
      expect(page).to.contain('<dd data-figure="usd">$0.1800 so far</dd>');
      expect(page).to.contain('<dd data-figure="on-demand">$0.4162</dd>');
      expect(page).to.contain('<dd data-figure="savings">$0.2362 (56.8%)</dd>');
      // The summary's spend is the ledger's, not the estimate.
      expect(page).to.contain('<span data-field="spend">$0.1800 so far ($0.0950 on spot, $0.0850 on demand as the deadline&#39;s fallback).</span>');
      expect(page).to.not.contain('Spend is an estimate');
      // The per-task time split and the pool whose interruption wasted compute.
      expect(page.match(/<tr data-task-id="t-000\d"><td class="mono">t-000\d<\/td><td class="num">\$/g)).to.have.length(3);
      expect(page).to.contain('<tr data-pool="us-east-1a/m5.large"><td class="mono">us-east-1a/m5.large</td><td>spot</td><td class="num">2</td><td class="num">1</td><td class="num">29m 00s</td>');
      // The charts, inline: the cost report's own, well formed, with the attempts' bars.
      const charts = svgs(page).map((s) => elements(s));
      expect(charts.map((c) => c[0]!.attrs.class)).to.deep.equal(['chart chart-spend', 'chart chart-split', 'chart chart-pools', 'chart chart-launches', 'chart chart-timeline']);
      expect(byClass(charts[4]!, 'g', 'attempt')).to.have.length(4);
      expect(byClass(charts[3]!, 'rect', 'bin').length).to.be.greaterThan(0);
      expect(page).to.contain(spendOverTimeSvg(ledger).text);
      // Escaped like the rest of the page.
      expect(page).to.not.contain(HOSTILE_NAME);
      expect(page).to.not.contain('<b onmouseover');
      expect(asked).to.include(jobId);
    });

    it('serves each chart on its own as SVG, and the ledger as JSON', async () => {
      const r = await status.get(`/jobs/${jobId}/charts/spend.svg`);
      expect(r.status).to.equal(200);
      expect(r.headers.get('content-type')).to.equal('image/svg+xml; charset=utf-8');
      expect(r.headers.get('content-security-policy')).to.contain("default-src 'none'");
      expect(r.text).to.equal(`<?xml version="1.0" encoding="UTF-8"?>\n${spendOverTimeSvg(ledger).text}\n`);
      for (const name of ['split', 'pools', 'launches', 'attempts']) {
        const c = await status.get(`/jobs/${jobId}/charts/${name}.svg`);
        expect(c.status, name).to.equal(200);
        expect(elements(c.text.replace(/^<\?xml[^>]*\?>/, ''))[0]!.name).to.equal('svg');
      }
      const api = await status.get(`/api/jobs/${jobId}/ledger`);
      expect(api.status).to.equal(200);
      expect(api.json()).to.deep.equal(JSON.parse(JSON.stringify(ledger)));
      expect(api.text).to.not.contain('<');
    });

    it('answers 404 for an unknown chart, an unknown job and a job without a ledger', async () => {
      expect((await status.get(`/jobs/${jobId}/charts/nope.svg`)).status).to.equal(404);
      expect((await status.get(`/jobs/${jobId}/charts/constructor.svg`)).status).to.equal(404);
      expect((await status.get('/jobs/no-such-job/charts/spend.svg')).status).to.equal(404);
      expect((await status.get('/api/jobs/no-such-job/ledger')).status).to.equal(404);
      expect((await status.get(`/jobs/${plain}/charts/spend.svg`)).status).to.equal(404);
      const api = await status.get(`/api/jobs/${plain}/ledger`);
      expect(api.status).to.equal(404);
      expect(api.json<{ error: string }>().error).to.contain('no cost ledger');
      // That job's page has no Cost section; its note says how spend is billed.
      const page = await status.get(`/jobs/${plain}`);
      expect(page.status).to.equal(200);
      expect(page.text).to.not.contain('id="ledger"');
      expect(page.text).to.match(/Spend is the cost ledger(&#39;|&#x27;|')s: each attempt billed as EC2 bills Linux instances/);
    });
  });

  it('computes an open job\'s ledger once per poll interval for the page, its JSON and its charts', async () => {
    let computed = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: JobLedgerSource = {
      jobLedger: async (id) => {
        computed++;
        await gate;
        return id === jobId ? ledger : undefined;
      },
    };
    const status = await startTestStatus(emu, prefix, { ledger: slow, pollMs: 60_000 });
    try {
      // Concurrent asks share the computation in flight.
      const first = Promise.all([status.get(`/jobs/${jobId}`), ...['spend', 'split', 'pools', 'launches', 'attempts'].map((c) => status.get(`/jobs/${jobId}/charts/${c}.svg`))]);
      await new Promise((r) => setTimeout(r, 200));
      release();
      expect((await first).map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200, 200]);
      // Within the interval, later asks reuse it.
      expect((await status.get(`/api/jobs/${jobId}/ledger`)).status).to.equal(200);
      expect((await status.get(`/jobs/${jobId}/charts/spend.svg`)).status).to.equal(200);
      expect(computed).to.equal(1);
    } finally {
      await status.close();
    }
  });

  it('redraws the charts when an attempt or a price segment changes, not when only the spend rises', () => {
    const base = chartShape(ledger);
    const richer: JobLedger = { ...ledger, usd: ledger.usd + 1, spotUsd: ledger.spotUsd + 1, spendOverTime: [...ledger.spendOverTime, { at: ledger.computedAt + 2000, usd: ledger.usd + 1 }] };
    expect(chartShape(richer)).to.equal(base);
    const withSegment = structuredClone(ledger);
    const a = withSegment.tasks[0]!.attempts[0]!;
    a.segments = [...a.segments, { from: ledger.computedAt, to: ledger.computedAt + 1000, price: 0.5 }];
    expect(chartShape(withSegment)).to.not.equal(base);
    const withAttempt = structuredClone(ledger);
    withAttempt.tasks[0]!.attempts.push({ ...withAttempt.tasks[0]!.attempts[0]!, n: 9 });
    expect(chartShape(withAttempt)).to.not.equal(base);
  });

  it('keeps the charts and the ledger behind the token', async () => {
    const token = 'ledger-token-123';
    const status = await startTestStatus(emu, prefix, { ledger: source, token });
    try {
      for (const path of [`/jobs/${jobId}/charts/spend.svg`, `/api/jobs/${jobId}/ledger`, `/jobs/${jobId}`]) {
        expect((await status.get(path)).status, path).to.equal(401);
        const ok = await status.get(path, { headers: { authorization: `Bearer ${token}` } });
        expect(ok.status, path).to.equal(200);
        expect(ok.text).to.not.contain(token);
      }
    } finally {
      await status.close();
    }
  });

  it('leaves out the Cost section when the ledger cannot be computed; without a source of its own the page asks the job views', async () => {
    const failing = await startTestStatus(emu, prefix, { ledger: { jobLedger: () => Promise.reject(new Error('no price history')) } });
    const views = await startTestStatus(emu, prefix);
    try {
      const page = await failing.get(`/jobs/${jobId}`);
      expect(page.status).to.equal(200);
      expect(page.text).to.not.contain('id="ledger"');
      expect(page.text).to.contain('data-ledger="0"');
      expect(page.text).to.not.contain('no price history');
      expect((await failing.get(`/api/jobs/${jobId}/ledger`)).status).to.equal(500);
      // The job views compute the ledger from the job's rows (at request prices without a price source, and say so).
      const own = await views.get(`/api/jobs/${jobId}/ledger`);
      expect(own.status).to.equal(200);
      const l = own.json<{ jobId: string; notes: string[] }>();
      expect(l.jobId).to.equal(jobId);
      expect(l.notes.join(' ')).to.match(/billed at the price they were requested at/);
      expect((await views.get(`/jobs/${jobId}`)).text).to.contain('id="ledger"');
    } finally {
      await failing.close();
      await views.close();
    }
  });
});
