/**
 * A job's ledger, bounded for its row (a DynamoDB item holds at most 400 KB):
 * totals, per pool, per UTC day; never every attempt.
 */
import type { LedgerSummary } from '../model/model.js';
import type { AttemptBill, JobLedger } from './types.js';
import { round6 } from './ledger.js';

export const SUMMARY_POOLS = 100;
export const SUMMARY_DAYS = 400;
export const SUMMARY_NOTES = 20;

const DAY = 86_400_000;
const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);

/** The bills' spend by UTC day: per-second bills split at midnight, a minimum on the day it ended. */
export function spendByDay(bills: readonly AttemptBill[]): Map<string, { usd: number; onDemandUsd?: number }> {
  const out = new Map<string, { usd: number; onDemandUsd?: number }>();
  const add = (day: string, usd: number, od: number | undefined) => {
    const d = out.get(day) ?? { usd: 0, onDemandUsd: 0 };
    d.usd += usd;
    d.onDemandUsd = d.onDemandUsd === undefined || od === undefined ? undefined : d.onDemandUsd + od;
    out.set(day, d);
  };
  for (const b of bills) {
    if (b.runningAt === undefined) continue;
    if (b.rule !== 'per-second' || !b.segments.length) {
      add(dayOf(b.endedAt ?? b.runningAt), b.usd, b.onDemandUsd);
      continue;
    }
    const total = b.segments.reduce((s, x) => s + (x.to - x.from), 0);
    for (const s of b.segments) {
      for (let from = s.from; from < s.to; ) {
        const to = Math.min(s.to, (Math.floor(from / DAY) + 1) * DAY);
        const usd = (s.price * (to - from)) / 3_600_000;
        add(dayOf(from), usd, b.onDemandUsd === undefined ? undefined : (b.onDemandUsd * (to - from)) / total);
        from = to;
      }
    }
  }
  return out;
}

export function summarize(l: JobLedger): LedgerSummary {
  const bills = l.tasks.flatMap((t) => t.attempts);
  const days = [...spendByDay(bills)].sort((a, b) => a[0].localeCompare(b[0]));
  const notes = [...l.notes];
  if (l.pools.length > SUMMARY_POOLS) notes.push(`${l.pools.length - SUMMARY_POOLS} more pools left out of the summary (the smallest)`);
  return {
    computedAt: l.computedAt,
    usd: l.usd,
    spotUsd: l.spotUsd,
    onDemandFallbackUsd: l.onDemandFallbackUsd,
    ...(l.onDemandUsd !== undefined ? { onDemandUsd: l.onDemandUsd } : {}),
    attempts: bills.length,
    interruptions: l.tasks.reduce((s, t) => s + t.interruptions, 0),
    time: l.time,
    pools: l.pools.slice(0, SUMMARY_POOLS),
    days: days.slice(-SUMMARY_DAYS).map(([day, d]) => ({ day, usd: round6(d.usd), ...(d.onDemandUsd !== undefined ? { onDemandUsd: round6(d.onDemandUsd) } : {}) })),
    notes: notes.slice(0, SUMMARY_NOTES),
  };
}
