/**
 * A job's ledger: every attempt's bill (billing.ts) over its pool's price
 * history (history.ts), where each task's time went, the pools' share of the
 * spend and of the interruptions, launch times, spend over time.
 */
import pMap from 'p-map';
import { TransientError } from '../../shared/errors.js';
import type { JobEvent } from '../../shared/store/index.js';
import { poolKey, type Attempt, type Pool } from '../model/model.js';
import { billAttempt, billedTime, type PricePoint } from './billing.js';
import type { PriceSource } from './history.js';
import type { OnDemandPrices } from '../../shared/ondemand-prices.js';
import type { AttemptBill, JobLedger, PoolLedger, TaskLedger, TimeSplit } from './types.js';

export interface LedgerTask {
  taskId: string;
  state: string;
  attempts: readonly Attempt[];
}

export interface LedgerJob {
  jobId: string;
  name?: string;
  state: string;
  submittedAt: number;
  endedAt?: number;
}

export interface LedgerInput {
  job: LedgerJob;
  tasks: readonly LedgerTask[];
  /** The job's events (only `checkpoint.saved` is read). */
  events?: readonly Pick<JobEvent, 'type' | 'at' | 'taskId' | 'data'>[];
  /** Spot price history; without one, spot attempts are billed at their request price (and a note says so). */
  prices?: PriceSource;
  onDemand: OnDemandPrices;
  computedAt: number;
  /** A price history that cannot be read: bill at request prices with a note (default), or throw. */
  onPriceError?: 'note' | 'throw';
}

export const emptySplit = (): TimeSplit => ({ usefulSeconds: 0, lostSeconds: 0, bootSeconds: 0, idleSeconds: 0, duplicateSeconds: 0 });

export function addSplit(into: TimeSplit, s: TimeSplit): TimeSplit {
  into.usefulSeconds += s.usefulSeconds;
  into.lostSeconds += s.lostSeconds;
  into.bootSeconds += s.bootSeconds;
  into.idleSeconds += s.idleSeconds;
  into.duplicateSeconds += s.duplicateSeconds;
  return into;
}

const sec = (ms: number) => Math.max(0, ms) / 1000;
const attemptKey = (taskId: string, n: number) => `${taskId}#${n}`;

/** The pools' price histories over the spans their spot attempts were billed, fetched once per pool. */
async function histories(input: LedgerInput, notes: Set<string>): Promise<Map<string, PricePoint[] | undefined>> {
  const spans = new Map<string, { pool: Pool; from: number; to: number }>();
  for (const t of input.tasks) {
    for (const a of t.attempts) {
      if ((a.market ?? 'spot') !== 'spot' || a.runningAt === undefined) continue;
      const { billedSeconds } = billedTime(a, input.computedAt);
      if (!billedSeconds) continue;
      const key = `${a.pool.region}|${poolKey(a.pool)}`;
      const end = a.runningAt + billedSeconds * 1000;
      const span = spans.get(key);
      if (!span) spans.set(key, { pool: a.pool, from: a.runningAt, to: end });
      else {
        span.from = Math.min(span.from, a.runningAt);
        span.to = Math.max(span.to, end);
      }
    }
  }
  const out = new Map<string, PricePoint[] | undefined>();
  if (!input.prices) {
    if (spans.size) notes.add('no price history source: spot attempts are billed at the price they were requested at');
    return out;
  }
  const source = input.prices;
  await pMap(
    [...spans],
    async ([key, span]) => {
      try {
        const points = await source.history(span.pool, span.from, span.to);
        out.set(key, points?.length ? points : undefined);
        if (!points?.length) notes.add(`${span.pool.region} ${poolKey(span.pool)}: no spot price history; billed at the price its attempts were requested at`);
      } catch (err) {
        // Retryable whatever the cause: the caller completes without the history after a few tries.
        if (input.onPriceError === 'throw') throw new TransientError(`${span.pool.region} ${poolKey(span.pool)}: the spot price history could not be read`, { cause: err });
        notes.add(`${span.pool.region} ${poolKey(span.pool)}: its price history could not be read (${(err as Error).name}); billed at the price its attempts were requested at`);
      }
    },
    { concurrency: 4 },
  );
  return out;
}

/** Every attempt's bill, by task; the notes say what could not be priced. */
export async function billTasks(input: LedgerInput): Promise<{ bills: Map<string, AttemptBill[]>; notes: string[] }> {
  const notes = new Set<string>();
  const hist = await histories(input, notes);
  const bills = new Map<string, AttemptBill[]>();
  const unlisted = new Set<string>();
  for (const t of input.tasks) {
    bills.set(
      t.taskId,
      t.attempts.map((a) => {
        const od = input.onDemand(a.pool.region, a.pool.type);
        if (od === undefined && a.runningAt !== undefined) unlisted.add(`${a.pool.region}/${a.pool.type}`);
        if (a.priceAssumed && a.runningAt !== undefined) notes.add(`${t.taskId} attempt ${a.n}: on demand in ${a.pool.region}, where no on-demand list price is known; billed at the assumed ${a.price ?? 0} USD/h`);
        if (a.price === undefined && a.runningAt !== undefined && !hist.get(`${a.pool.region}|${poolKey(a.pool)}`)) notes.add(`${t.taskId} attempt ${a.n}: no price known; billed at 0`);
        return billAttempt({ taskId: t.taskId, attempt: a, history: hist.get(`${a.pool.region}|${poolKey(a.pool)}`), ...(od !== undefined ? { onDemandPrice: od } : {}), computedAt: input.computedAt });
      }),
    );
  }
  for (const p of [...unlisted].sort()) notes.add(`${p}: no on-demand list price shipped; left out of the on-demand equivalent`);
  return { bills, notes: [...notes] };
}

/** When each attempt's last checkpoint was saved (epoch ms), by `task#attempt`. */
export function checkpointSaves(events: LedgerInput['events']): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events ?? []) {
    if (e.type !== 'checkpoint.saved' || !e.taskId) continue;
    const n = e.data?.attempt;
    if (typeof n !== 'number') continue;
    const key = attemptKey(e.taskId, n);
    out.set(key, Math.max(out.get(key) ?? 0, e.at));
  }
  return out;
}

/**
 * Where one task's time went. Per attempt: boot is its request to SSH-ready (or to its end when it never got
 * there); its step time (start of the step to the attempt's end) is useful for the attempt that succeeded (and
 * for one still running), and for an ended one useful up to its last checkpoint and lost after it (all lost
 * without a checkpoint); idle is the rest of its running time. A standby that ran beside the attempt it
 * replaced (a rebalance migration) has that overlap as duplicate.
 */
export function taskSplit(t: LedgerTask, saves: Map<string, number>, computedAt: number): { split: TimeSplit; wasted: Map<number, number> } {
  const split = emptySplit();
  const wasted = new Map<number, number>();
  const attempts = t.attempts;
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i]!;
    const end = a.endedAt ?? computedAt;
    const ready = a.sshReadyAt !== undefined ? Math.min(a.sshReadyAt, end) : end;
    let boot = sec(ready - a.requestedAt);
    const afterReady = a.runningAt !== undefined ? sec(end - Math.max(ready, a.runningAt)) : 0;
    const stepStart = a.startedAt !== undefined ? Math.max(a.startedAt, ready) : undefined;
    const step = stepStart !== undefined ? Math.min(afterReady, sec(end - stepStart)) : 0;
    let idle = Math.max(0, afterReady - step);
    const saved = saves.get(attemptKey(t.taskId, a.n));
    const finished = a.endedAt === undefined || a.outcome === 'succeeded';
    const useful = finished ? step : saved !== undefined && stepStart !== undefined ? Math.min(step, sec(Math.min(saved, end) - stepStart)) : 0;
    const lost = step - useful;
    // A standby: the attempt before it was migrated away; their overlap is a duplicate run.
    let duplicate = 0;
    const prev = attempts[i - 1];
    if (prev?.outcome === 'migrated' && prev.runningAt !== undefined) {
      const from = Math.max(a.fulfilledAt ?? a.runningAt ?? end, prev.runningAt);
      const to = Math.min(end, prev.endedAt ?? computedAt);
      duplicate = sec(to - from);
      const fromBoot = Math.min(boot, duplicate);
      boot -= fromBoot;
      const fromIdle = Math.min(idle, duplicate - fromBoot);
      idle -= fromIdle;
      duplicate = fromBoot + fromIdle;
    }
    addSplit(split, { usefulSeconds: useful, lostSeconds: lost, bootSeconds: boot, idleSeconds: idle, duplicateSeconds: duplicate });
    if (a.outcome === 'interrupted' && a.runningAt !== undefined) wasted.set(a.n, Math.max(0, sec(end - a.runningAt) - useful));
  }
  return { split, wasted };
}

/** Cumulative spend over time: a point at every change of rate (attempt start, price change, attempt end). */
export function spendOverTime(bills: readonly AttemptBill[], maxPoints = 500): { at: number; usd: number }[] {
  const changes = new Map<number, { rate: number; lump: number }>();
  const at = (t: number) => {
    let c = changes.get(t);
    if (!c) changes.set(t, (c = { rate: 0, lump: 0 }));
    return c;
  };
  for (const b of bills) {
    if (!b.usd || b.runningAt === undefined) continue;
    if (b.rule === 'per-second') {
      for (const s of b.segments) {
        at(s.from).rate += s.price / 3_600_000;
        at(s.to).rate -= s.price / 3_600_000;
      }
    } else at((b.endedAt ?? b.runningAt) + 0).lump += b.usd;
  }
  const times = [...changes.keys()].sort((x, y) => x - y);
  const points: { at: number; usd: number }[] = [];
  let usd = 0;
  let rate = 0;
  let last = times[0] ?? 0;
  for (const t of times) {
    usd += rate * (t - last);
    const c = changes.get(t)!;
    usd += c.lump;
    rate += c.rate;
    last = t;
    points.push({ at: t, usd: round6(usd) });
  }
  if (points.length <= maxPoints) return points;
  const step = points.length / maxPoints;
  const out: { at: number; usd: number }[] = [];
  for (let i = 0; i < maxPoints - 1; i++) out.push(points[Math.floor(i * step)]!);
  out.push(points[points.length - 1]!);
  return out;
}

export const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** The job's ledger: bills, time split, pools, launches and spend over time. */
export async function computeJobLedger(input: LedgerInput): Promise<JobLedger> {
  const { bills, notes } = await billTasks(input);
  const saves = checkpointSaves(input.events);
  const pools = new Map<string, PoolLedger>();
  const launches: { pool: string; seconds: number }[] = [];
  const time = emptySplit();
  const tasks: TaskLedger[] = [];
  let usd = 0;
  let spotUsd = 0;
  let fallbackUsd = 0;
  let onDemandUsd: number | undefined = 0;
  for (const t of input.tasks) {
    const list = bills.get(t.taskId) ?? [];
    const { split, wasted } = taskSplit(t, saves, input.computedAt);
    addSplit(time, split);
    let taskUsd = 0;
    let taskOd: number | undefined = 0;
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!;
      const a = t.attempts[i]!;
      taskUsd += b.usd;
      if (b.market === 'on-demand') fallbackUsd += b.usd;
      else spotUsd += b.usd;
      if (a.runningAt !== undefined) taskOd = b.onDemandUsd === undefined || taskOd === undefined ? undefined : taskOd + b.onDemandUsd;
      const key = `${b.market === 'on-demand' ? 'on-demand:' : ''}${b.region}|${poolKey(a.pool)}`;
      let p = pools.get(key);
      if (!p) pools.set(key, (p = { pool: poolKey(a.pool), region: b.region, zone: b.zone, type: b.type, market: b.market, attempts: 0, interruptions: 0, usd: 0, wastedSeconds: 0, wastedUsd: 0 }));
      p.attempts++;
      p.usd += b.usd;
      if (b.interrupted) {
        p.interruptions++;
        const w = wasted.get(a.n) ?? 0;
        const run = a.runningAt !== undefined ? sec((a.endedAt ?? input.computedAt) - a.runningAt) : 0;
        p.wastedSeconds += w;
        p.wastedUsd += run > 0 ? (b.usd * w) / run : 0;
      }
      if (a.sshReadyAt !== undefined) launches.push({ pool: poolKey(a.pool), seconds: round3(sec(a.sshReadyAt - a.requestedAt)) });
    }
    usd += taskUsd;
    onDemandUsd = onDemandUsd === undefined || taskOd === undefined ? undefined : onDemandUsd + taskOd;
    tasks.push({
      taskId: t.taskId,
      state: t.state,
      attempts: list,
      usd: round6(taskUsd),
      ...(taskOd !== undefined ? { onDemandUsd: round6(taskOd) } : {}),
      interruptions: list.filter((b) => b.interrupted).length,
      time: roundSplit(split),
    });
  }
  const allBills = [...bills.values()].flat();
  return {
    jobId: input.job.jobId,
    ...(input.job.name !== undefined ? { name: input.job.name } : {}),
    state: input.job.state,
    submittedAt: input.job.submittedAt,
    ...(input.job.endedAt !== undefined ? { endedAt: input.job.endedAt } : {}),
    computedAt: input.computedAt,
    usd: round6(usd),
    spotUsd: round6(spotUsd),
    onDemandFallbackUsd: round6(fallbackUsd),
    ...savings(usd, onDemandUsd),
    tasks,
    pools: [...pools.values()].map((p) => ({ ...p, usd: round6(p.usd), wastedSeconds: round3(p.wastedSeconds), wastedUsd: round6(p.wastedUsd) })).sort((a, b) => b.usd - a.usd || a.pool.localeCompare(b.pool)),
    time: roundSplit(time),
    spendOverTime: spendOverTime(allBills),
    launches,
    notes,
  };
}

export function savings(usd: number, onDemandUsd: number | undefined): { onDemandUsd?: number; savingsUsd?: number; savingsPct?: number } {
  if (onDemandUsd === undefined) return {};
  return {
    onDemandUsd: round6(onDemandUsd),
    savingsUsd: round6(onDemandUsd - usd),
    ...(onDemandUsd > 0 ? { savingsPct: Math.round((1 - usd / onDemandUsd) * 1000) / 10 } : {}),
  };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
export const roundSplit = (s: TimeSplit): TimeSplit => ({
  usefulSeconds: round3(s.usefulSeconds),
  lostSeconds: round3(s.lostSeconds),
  bootSeconds: round3(s.bootSeconds),
  idleSeconds: round3(s.idleSeconds),
  duplicateSeconds: round3(s.duplicateSeconds),
});
