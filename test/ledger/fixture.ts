/**
 * A hand-made JobLedger (and FleetReport) with known figures, for the chart,
 * report and status page tests: three tasks (one interrupted in its first
 * hour then retried, one on demand, one still running), a hostile job name
 * and pool name. Times are from 2026-01-01T00:00:00Z.
 */
import type { AttemptBill, FleetReport, JobLedger, PoolLedger } from '../../services/ledger/types.js';

export const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number) => T0 + seconds * 1000;

export const HOSTILE_NAME = '<script>alert(1)</script>';
/** A pool whose type is markup: it must come out as text. */
export const HOSTILE_POOL = 'us-east-1b/<b onmouseover="x">c5</b>';

const bill = (b: Partial<AttemptBill> & Pick<AttemptBill, 'taskId' | 'n'>): AttemptBill => ({
  region: 'us-east-1',
  zone: 'us-east-1a',
  type: 'm5.large',
  market: 'spot',
  open: false,
  interrupted: false,
  rule: 'per-second',
  billedSeconds: 0,
  usd: 0,
  segments: [],
  ...b,
});

export function jobLedger(): JobLedger {
  const a1 = bill({ taskId: 't-0000', n: 1, requestedAt: s(0), runningAt: s(30), sshReadyAt: s(60), endedAt: s(1800), outcome: 'interrupted', interrupted: true, rule: 'interrupted-first-hour-free', billedSeconds: 0, usd: 0, onDemandUsd: 0.0472 });
  const a2 = bill({ taskId: 't-0000', n: 2, requestedAt: s(1900), runningAt: s(1930), sshReadyAt: s(1960), endedAt: s(5530), outcome: 'succeeded', billedSeconds: 3600, usd: 0.035, onDemandUsd: 0.096 });
  const b1 = bill({ taskId: 't-0001', n: 1, market: 'on-demand', zone: 'us-east-1b', type: '<b onmouseover="x">c5</b>', requestedAt: s(0), runningAt: s(20), sshReadyAt: s(50), endedAt: s(3620), outcome: 'succeeded', billedSeconds: 3600, usd: 0.085, onDemandUsd: 0.085 });
  const c1 = bill({ taskId: 't-0002', n: 1, zone: 'us-east-1c', requestedAt: s(100), runningAt: s(130), sshReadyAt: s(160), open: true, billedSeconds: 7070, usd: 0.06, onDemandUsd: 0.188 });
  const pools: PoolLedger[] = [
    { pool: 'us-east-1a/m5.large', region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large', market: 'spot', attempts: 2, interruptions: 1, usd: 0.035, wastedSeconds: 1740, wastedUsd: 0.0 },
    { pool: HOSTILE_POOL, region: 'us-east-1', zone: 'us-east-1b', type: '<b onmouseover="x">c5</b>', market: 'on-demand', attempts: 1, interruptions: 0, usd: 0.085, wastedSeconds: 0, wastedUsd: 0 },
    { pool: 'us-east-1c/m5.large', region: 'us-east-1', zone: 'us-east-1c', type: 'm5.large', market: 'spot', attempts: 1, interruptions: 0, usd: 0.06, wastedSeconds: 0, wastedUsd: 0 },
  ];
  return {
    jobId: 'job-ledger-1',
    name: HOSTILE_NAME,
    state: 'running',
    submittedAt: T0,
    computedAt: s(7200),
    usd: 0.18,
    spotUsd: 0.095,
    onDemandFallbackUsd: 0.085,
    onDemandUsd: 0.4162,
    savingsUsd: 0.2362,
    savingsPct: 56.8,
    tasks: [
      { taskId: 't-0000', state: 'succeeded', attempts: [a1, a2], usd: 0.035, onDemandUsd: 0.1432, interruptions: 1, time: { usefulSeconds: 3570, lostSeconds: 1740, bootSeconds: 120, idleSeconds: 0, duplicateSeconds: 0 } },
      { taskId: 't-0001', state: 'succeeded', attempts: [b1], usd: 0.085, onDemandUsd: 0.085, interruptions: 0, time: { usefulSeconds: 3570, lostSeconds: 0, bootSeconds: 50, idleSeconds: 0, duplicateSeconds: 0 } },
      { taskId: 't-0002', state: 'running', attempts: [c1], usd: 0.06, onDemandUsd: 0.188, interruptions: 0, time: { usefulSeconds: 7040, lostSeconds: 0, bootSeconds: 60, idleSeconds: 0, duplicateSeconds: 0 } },
    ],
    pools,
    time: { usefulSeconds: 14180, lostSeconds: 1740, bootSeconds: 230, idleSeconds: 600, duplicateSeconds: 300 },
    spendOverTime: [
      { at: s(20), usd: 0 },
      { at: s(1930), usd: 0.0451 },
      { at: s(3620), usd: 0.1361 },
      { at: s(5530), usd: 0.1578 },
      { at: s(7200), usd: 0.18 },
    ],
    launches: [
      { pool: 'us-east-1a/m5.large', seconds: 60 },
      { pool: 'us-east-1a/m5.large', seconds: 60 },
      { pool: HOSTILE_POOL, seconds: 50 },
      { pool: 'us-east-1c/m5.large', seconds: 180 },
    ],
    notes: ['pool us-east-1z/<i>x</i> has no price history'],
  };
}

export function fleetReport(): FleetReport {
  const l = jobLedger();
  return {
    since: T0,
    until: s(3 * 86_400),
    usd: 0.48,
    onDemandUsd: 1.2,
    savingsUsd: 0.72,
    jobs: [
      { jobId: l.jobId, name: HOSTILE_NAME, state: 'running', submittedAt: T0, usd: 0.18, onDemandUsd: 0.4162, interruptions: 1 },
      { jobId: 'job-2', state: 'succeeded', submittedAt: s(86_400), usd: 0.3, interruptions: 0 },
    ],
    pools: l.pools,
    days: [
      { day: '2026-01-01', usd: 0.18, onDemandUsd: 0.4162 },
      { day: '2026-01-02', usd: 0.3 },
      { day: '2026-01-03', usd: 0 },
    ],
    notes: [],
  };
}
