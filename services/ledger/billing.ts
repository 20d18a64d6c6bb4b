/**
 * An attempt's bill under EC2's rules for Linux instances (docs/ledger.md has
 * the AWS pages): billed per second from running to its end, with a minimum of
 * 60 seconds; a spot instance EC2 interrupts (reclaims: `endedBy: 'ec2'`) in its first hour costs nothing
 * (past the first hour, the seconds used; one the fleet terminated, the seconds used); spot pays the pool's price in
 * effect at each second (the newest price history point at or before it;
 * the seconds a minimum adds past the end at the price in effect at the end);
 * on demand pays the price it launched at. Pure: the price history is given.
 */
import type { Attempt } from '../model/model.js';
import type { AttemptBill, BillingRule, PriceSegment } from './types.js';

/** One point of a pool's price history: the price in effect from `at` (epoch ms) until the next point. */
export interface PricePoint {
  at: number;
  price: number;
}

export const MINIMUM_SECONDS = 60;
export const FREE_INTERRUPTION_SECONDS = 3600;

/** The points sorted by time, one per instant (the last one given wins). */
export function sortedHistory(points: readonly PricePoint[]): PricePoint[] {
  const byTime = new Map<number, number>();
  for (const p of points) if (Number.isFinite(p.at) && Number.isFinite(p.price) && p.price >= 0) byTime.set(p.at, p.price);
  return [...byTime].sort((a, b) => a[0] - b[0]).map(([at, price]) => ({ at, price }));
}

/** The price in effect at `t`: the newest point at or before it (undefined: the history starts later). */
export function priceAt(history: readonly PricePoint[], t: number): number | undefined {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (history[mid]!.at <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : history[lo - 1]!.price;
}

/**
 * The prices in effect over [from, to), one segment per price: from the history (sorted), and `fallback`
 * where the history has no point yet (and everywhere without history). A segment without any price is left out.
 */
export function priceSegments(history: readonly PricePoint[] | undefined, from: number, to: number, fallback: number | undefined): PriceSegment[] {
  if (!(to > from)) return [];
  const out: PriceSegment[] = [];
  const push = (a: number, b: number, price: number | undefined) => {
    if (price === undefined || !(b > a)) return;
    const last = out[out.length - 1];
    if (last && last.price === price && last.to === a) last.to = b;
    else out.push({ from: a, to: b, price });
  };
  if (!history?.length) {
    push(from, to, fallback);
    return out;
  }
  let cursor = from;
  let price = priceAt(history, from) ?? fallback;
  for (const p of history) {
    if (p.at <= from) continue;
    if (p.at >= to) break;
    push(cursor, p.at, price);
    cursor = p.at;
    price = p.price;
  }
  push(cursor, to, price);
  return out;
}

/** USD of the segments (prices per hour). */
export function segmentsUsd(segments: readonly PriceSegment[]): number {
  return segments.reduce((sum, s) => sum + (s.price * (s.to - s.from)) / 3_600_000, 0);
}

export interface BillInput {
  taskId: string;
  attempt: Attempt;
  /** The pool's price history over the attempt (spot); undefined when none is known. */
  history?: readonly PricePoint[];
  /** The on-demand list price of the attempt's region and type (USD/h), when known. */
  onDemandPrice?: number;
  /** Open attempts are billed up to here. */
  computedAt: number;
}

/** The attempt's running seconds so far (0 when it never ran). */
export function runningSeconds(a: Attempt, computedAt: number): number {
  if (a.runningAt === undefined) return 0;
  return Math.max(0, (a.endedAt ?? computedAt) - a.runningAt) / 1000;
}

/** Which rule bills the attempt and how many seconds. */
export function billedTime(a: Attempt, computedAt: number): { rule: BillingRule; billedSeconds: number } {
  if (a.runningAt === undefined) return { rule: 'not-running', billedSeconds: 0 };
  const open = a.endedAt === undefined;
  // EC2 bills in one-second increments.
  const seconds = Math.ceil(runningSeconds(a, computedAt) - 1e-9);
  const spot = (a.market ?? 'spot') === 'spot';
  // Free only when EC2 reclaimed it (seen ended with Server.SpotInstanceTermination); an instance the fleet
  // terminated, or one whose end nobody saw, pays its seconds.
  if (!open && spot && a.outcome === 'interrupted' && a.endedBy === 'ec2' && seconds < FREE_INTERRUPTION_SECONDS) return { rule: 'interrupted-first-hour-free', billedSeconds: 0 };
  if (!open && seconds < MINIMUM_SECONDS) return { rule: 'minimum-60s', billedSeconds: MINIMUM_SECONDS };
  return { rule: 'per-second', billedSeconds: seconds };
}

/** The attempt's bill: its rule, its billed seconds at the prices in effect over them, and the on-demand equivalent. */
export function billAttempt(input: BillInput): AttemptBill {
  const a = input.attempt;
  const market = a.market ?? 'spot';
  const { rule, billedSeconds } = billedTime(a, input.computedAt);
  const start = a.runningAt;
  let segments: PriceSegment[] = [];
  if (start !== undefined && billedSeconds > 0) {
    const end = start + billedSeconds * 1000;
    const ran = Math.min(end, a.endedAt ?? input.computedAt);
    segments = market === 'on-demand' ? priceSegments(undefined, start, end, a.price ?? input.onDemandPrice) : priceSegments(input.history, start, Math.max(ran, start + 1000), a.price);
    // The rest of a one-minute minimum (past the attempt's end) at the price in effect when it ended.
    const last = segments[segments.length - 1];
    if (last && last.to < end) last.to = end;
  }
  // What the same running time would cost on demand (never free, at least the minimum).
  const odSeconds = start === undefined ? 0 : Math.max(MINIMUM_SECONDS, Math.ceil(runningSeconds(a, input.computedAt) - 1e-9));
  const onDemandUsd = input.onDemandPrice === undefined ? undefined : start === undefined ? 0 : (input.onDemandPrice * odSeconds) / 3600;
  return {
    taskId: input.taskId,
    n: a.n,
    region: a.pool.region,
    zone: a.pool.zone,
    type: a.pool.type,
    market,
    ...(a.runningAt !== undefined ? { runningAt: a.runningAt } : {}),
    ...(a.endedAt !== undefined && a.runningAt !== undefined ? { endedAt: a.endedAt } : {}),
    open: a.runningAt !== undefined && a.endedAt === undefined,
    ...(a.outcome !== undefined ? { outcome: a.outcome } : {}),
    interrupted: a.outcome === 'interrupted',
    rule,
    billedSeconds,
    usd: segmentsUsd(segments),
    ...(onDemandUsd !== undefined ? { onDemandUsd } : {}),
    segments,
  };
}
