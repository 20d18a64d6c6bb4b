import { expect } from 'chai';
import { billAttempt, priceAt, priceSegments } from '../../services/ledger/billing.js';
import { computeJobLedger } from '../../services/ledger/ledger.js';
import { summarize } from '../../services/ledger/summary.js';
import { fleetReport } from '../../services/ledger/fleet-report.js';
import { renderers } from '../../services/ledger/render.js';
import type { Attempt } from '../../services/model/model.js';
import { LEDGER_PRICE_TRIES, priceErrorMode } from '../../services/job/lifecycle.js';

const T0 = Date.parse('2025-03-01T10:00:00Z');
const S = 1000;
const pool = { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' };
const attempt = (over: Partial<Attempt>): Attempt => ({ n: 1, pool, price: 0.05, requestedAt: T0 - 30 * S, runningAt: T0, ...over });
const bill = (a: Attempt, history = [{ at: T0 - 3600 * S, price: 0.036 }], od: number | undefined = 0.096) =>
  billAttempt({ taskId: '0001', attempt: a, history, ...(od !== undefined ? { onDemandPrice: od } : {}), computedAt: T0 + 10_000 * S });

describe('ledger billing (EC2 rules for Linux)', () => {
  it('bills the seconds from running to the end at the price in effect', () => {
    const b = bill(attempt({ endedAt: T0 + 600 * S, outcome: 'succeeded' }));
    expect(b.rule).to.equal('per-second');
    expect(b.billedSeconds).to.equal(600);
    expect(b.usd).to.be.closeTo((0.036 * 600) / 3600, 1e-12);
    expect(b.onDemandUsd).to.be.closeTo((0.096 * 600) / 3600, 1e-12);
  });

  it('rounds a part second up and bills at least one minute', () => {
    expect(bill(attempt({ endedAt: T0 + 600.2 * S, outcome: 'succeeded' })).billedSeconds).to.equal(601);
    const short = bill(attempt({ endedAt: T0 + 20 * S, outcome: 'failed' }));
    expect(short.rule).to.equal('minimum-60s');
    expect(short.billedSeconds).to.equal(60);
    expect(short.usd).to.be.closeTo((0.036 * 60) / 3600, 1e-12);
  });

  it('a spot instance EC2 interrupted in its first hour is free; after the first hour its seconds are billed', () => {
    const early = bill(attempt({ endedAt: T0 + 3599 * S, outcome: 'interrupted', endedBy: 'ec2' }));
    expect(early.rule).to.equal('interrupted-first-hour-free');
    expect(early.usd).to.equal(0);
    expect(early.interrupted).to.equal(true);
    // The on-demand equivalent of the same time is not free.
    expect(early.onDemandUsd).to.be.greaterThan(0);
    const late = bill(attempt({ endedAt: T0 + 3700 * S, outcome: 'interrupted', endedBy: 'ec2' }));
    expect(late.rule).to.equal('per-second');
    expect(late.usd).to.be.closeTo((0.036 * 3700) / 3600, 1e-12);
    // Stopped by the fleet (not EC2) in the first hour: billed.
    expect(bill(attempt({ endedAt: T0 + 600 * S, outcome: 'cancelled' })).usd).to.be.greaterThan(0);
  });

  it('an interrupted instance the fleet terminated, or whose end nobody saw, pays its seconds even in its first hour', () => {
    const fleet = bill(attempt({ endedAt: T0 + 600 * S, outcome: 'interrupted', endedBy: 'fleet' }));
    expect(fleet.rule).to.equal('per-second');
    expect(fleet.interrupted).to.equal(true);
    expect(fleet.usd).to.be.closeTo((0.036 * 600) / 3600, 1e-12);
    const unseen = bill(attempt({ endedAt: T0 + 30 * S, outcome: 'interrupted' }));
    expect(unseen.rule).to.equal('minimum-60s');
    expect(unseen.usd).to.be.closeTo((0.036 * 60) / 3600, 1e-12);
  });

  it('integrates a price change in the middle of the attempt', () => {
    const history = [
      { at: T0 - 7200 * S, price: 0.03 },
      { at: T0 + 300 * S, price: 0.06 },
      { at: T0 + 100_000 * S, price: 1 },
    ];
    const b = bill(attempt({ endedAt: T0 + 900 * S, outcome: 'succeeded' }), history);
    expect(b.segments).to.deep.equal([
      { from: T0, to: T0 + 300 * S, price: 0.03 },
      { from: T0 + 300 * S, to: T0 + 900 * S, price: 0.06 },
    ]);
    expect(b.usd).to.be.closeTo((0.03 * 300 + 0.06 * 600) / 3600, 1e-12);
    expect(priceAt(history, T0 + 300 * S)).to.equal(0.06);
    expect(priceAt(history, T0 - 8000 * S)).to.equal(undefined);
    // Before the history's first point, the request price stands in.
    expect(priceSegments([{ at: T0 + 60 * S, price: 0.2 }], T0, T0 + 120 * S, 0.05)).to.deep.equal([
      { from: T0, to: T0 + 60 * S, price: 0.05 },
      { from: T0 + 60 * S, to: T0 + 120 * S, price: 0.2 },
    ]);
  });

  it('bills on-demand attempts at the price they launched at, interrupted or not', () => {
    const b = bill(attempt({ market: 'on-demand', price: 0.1, endedAt: T0 + 1800 * S, outcome: 'interrupted' }));
    expect(b.market).to.equal('on-demand');
    expect(b.rule).to.equal('per-second');
    expect(b.usd).to.be.closeTo((0.1 * 1800) / 3600, 1e-12);
  });

  it('an attempt that never ran costs nothing; an open one is billed up to computedAt', () => {
    const none = bill(attempt({ runningAt: undefined, endedAt: T0, outcome: 'replaced' }));
    expect(none.rule).to.equal('not-running');
    expect(none.usd).to.equal(0);
    const open = bill(attempt({}));
    expect(open.open).to.equal(true);
    expect(open.billedSeconds).to.equal(10_000);
  });
});

describe('ledger: a job', () => {
  const job = { jobId: 'j1', name: 'demo', state: 'succeeded', submittedAt: T0 - 60 * S, endedAt: T0 + 4000 * S };
  const tasks = [
    {
      taskId: '0001',
      state: 'succeeded',
      attempts: [
        // Interrupted after 20 min, a checkpoint saved at 15 min into its step.
        attempt({ n: 1, sshReadyAt: T0 + 40 * S, startedAt: T0 + 60 * S, endedAt: T0 + 1260 * S, outcome: 'interrupted', endedBy: 'ec2' }),
        attempt({ n: 2, pool: { ...pool, zone: 'us-east-1b' }, requestedAt: T0 + 1270 * S, runningAt: T0 + 1300 * S, sshReadyAt: T0 + 1330 * S, startedAt: T0 + 1340 * S, endedAt: T0 + 2340 * S, outcome: 'succeeded' }),
      ],
    },
  ];
  const events = [{ type: 'checkpoint.saved', at: T0 + 960 * S, taskId: '0001', data: { attempt: 1 } }];

  it('splits the time and counts the interruption against its pool', async () => {
    const l = await computeJobLedger({ job, tasks, events, onDemand: () => 0.096, computedAt: T0 + 5000 * S });
    const t = l.tasks[0]!;
    expect(t.attempts.map((b) => b.rule)).to.deep.equal(['interrupted-first-hour-free', 'per-second']);
    // Attempt 1 billed nothing (free); attempt 2 at its request price (no history source), which a note says.
    expect(l.usd).to.be.closeTo((0.05 * 1040) / 3600, 1e-6);
    expect(l.notes.join(' ')).to.contain('request');
    // Boot: 70 s + 60 s; useful: 900 s kept by the checkpoint + 1000 s; lost: 300 s after it; idle: 20 s + 10 s.
    expect(t.time).to.deep.equal({ usefulSeconds: 1900, lostSeconds: 300, bootSeconds: 130, idleSeconds: 30, duplicateSeconds: 0 });
    const p = l.pools.find((x) => x.zone === 'us-east-1a')!;
    expect(p.interruptions).to.equal(1);
    expect(p.wastedSeconds).to.equal(1260 - 900);
    expect(l.launches).to.deep.equal([
      { pool: 'us-east-1a/m5.large', seconds: 70 },
      { pool: 'us-east-1b/m5.large', seconds: 60 },
    ]);
    expect(l.spendOverTime[l.spendOverTime.length - 1]!.usd).to.be.closeTo(l.usd, 1e-6);
    expect(l.onDemandUsd).to.be.closeTo((0.096 * (1260 + 1040)) / 3600, 1e-6);

    const s = summarize(l);
    expect(s.days).to.deep.equal([{ day: '2025-03-01', usd: l.usd, onDemandUsd: l.onDemandUsd }]);
    const fleet = fleetReport([{ ...job, summary: s }], Date.parse('2025-03-01'), Date.parse('2025-03-02'));
    expect(fleet.usd).to.equal(l.usd);
    expect(fleet.pools.reduce((x, q) => x + q.interruptions, 0)).to.equal(1);
    const md = renderers.md!.job(l);
    expect(md).to.contain('| 0001 | succeeded | 2 | 1 |');
    expect(md).to.contain('interrupted-first-hour-free');
    expect(renderers.md!.fleet(fleet)).to.contain('| 2025-03-01 |');
  });

  it('counts a standby beside the attempt it replaced as duplicate', async () => {
    const migrated = [
      {
        taskId: '0002',
        state: 'succeeded',
        attempts: [
          attempt({ n: 1, sshReadyAt: T0 + 30 * S, startedAt: T0 + 30 * S, endedAt: T0 + 600 * S, outcome: 'migrated' }),
          attempt({ n: 2, requestedAt: T0 + 400 * S, fulfilledAt: T0 + 450 * S, runningAt: T0 + 600 * S, sshReadyAt: T0 + 620 * S, startedAt: T0 + 620 * S, endedAt: T0 + 900 * S, outcome: 'succeeded' }),
        ],
      },
    ];
    const l = await computeJobLedger({ job, tasks: migrated, onDemand: () => undefined, computedAt: T0 + 5000 * S });
    // The standby's instance was up from 450 s while attempt 1 ran to 600 s.
    expect(l.tasks[0]!.time.duplicateSeconds).to.equal(150);
    expect(l.onDemandUsd).to.equal(undefined);
  });
});

describe('ledger: a price history that cannot be read', () => {
  const job = { jobId: 'j2', state: 'succeeded', submittedAt: T0 };
  const tasks = [{ taskId: '0001', state: 'succeeded', attempts: [attempt({ endedAt: T0 + 120 * S, outcome: 'succeeded' })] }];
  const failing = { history: () => Promise.reject(Object.assign(new Error('boom'), { name: 'RequestLimitExceeded' })) };

  it('fails as retryable when asked to (job.complete before its last tries)', async () => {
    let caught: unknown;
    try {
      await computeJobLedger({ job, tasks, prices: failing, onDemand: () => undefined, computedAt: T0 + 200 * S, onPriceError: 'throw' });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(Error);
    expect((caught as { retryable?: boolean }).retryable).to.equal(true);
  });

  it('job.complete retries a price history at most until its last delivery before the dead letter', () => {
    expect(LEDGER_PRICE_TRIES).to.equal(3);
    expect([1, 2, 3].map((n) => priceErrorMode(n, 5))).to.deep.equal(['throw', 'throw', 'note']);
    // A queue dead-lettering after 2 deliveries: the second completes with a note, never dead-letters.
    expect([1, 2].map((n) => priceErrorMode(n, 2))).to.deep.equal(['throw', 'note']);
    expect(priceErrorMode(1, 1)).to.equal('note');
  });

  it('otherwise bills at the request price and says so in a note', async () => {
    const l = await computeJobLedger({ job, tasks, prices: failing, onDemand: () => undefined, computedAt: T0 + 200 * S });
    expect(l.usd).to.be.closeTo((0.05 * 120) / 3600, 1e-6);
    expect(l.notes.join(' ')).to.match(/us-east-1a\/m5.large: its price history could not be read \(RequestLimitExceeded\)/);
  });
});

describe('ledger: the one-minute minimum past a price change', () => {
  it('bills the seconds past the end at the price in effect when the attempt ended', () => {
    const b = billAttempt({
      taskId: '0001',
      attempt: attempt({ endedAt: T0 + 20 * S, outcome: 'succeeded' }),
      history: [
        { at: T0 - 10 * S, price: 0.036 },
        { at: T0 + 10 * S, price: 0.072 },
        { at: T0 + 30 * S, price: 1 },
      ],
      computedAt: T0 + 100 * S,
    });
    expect(b.segments).to.deep.equal([
      { from: T0, to: T0 + 10 * S, price: 0.036 },
      { from: T0 + 10 * S, to: T0 + 60 * S, price: 0.072 },
    ]);
  });
});
