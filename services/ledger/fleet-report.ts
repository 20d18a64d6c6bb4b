/** `spotbatch report --all`: the fleet's totals by job, by pool and by day, from the summaries on the job rows. */
import type { LedgerSummary } from '../model/model.js';
import { round6 } from './ledger.js';
import type { FleetReport, PoolLedger } from './types.js';

export interface ReportedJob {
  jobId: string;
  name?: string;
  state: string;
  submittedAt: number;
  summary: LedgerSummary;
}

/** The totals of the jobs given (the caller picks them by submission time); days outside [since, until) are left out. */
export function fleetReport(jobs: readonly ReportedJob[], since: number, until: number, notes: string[] = []): FleetReport {
  const pools = new Map<string, PoolLedger>();
  const days = new Map<string, { usd: number; onDemandUsd?: number }>();
  let usd = 0;
  let onDemandUsd: number | undefined = 0;
  const firstDay = new Date(since).toISOString().slice(0, 10);
  const lastDay = new Date(until - 1).toISOString().slice(0, 10);
  for (const j of jobs) {
    const s = j.summary;
    usd += s.usd;
    onDemandUsd = onDemandUsd === undefined || s.onDemandUsd === undefined ? undefined : onDemandUsd + s.onDemandUsd;
    for (const p of s.pools) {
      const key = `${p.market}|${p.region}|${p.pool}`;
      const into = pools.get(key) ?? { ...p, attempts: 0, interruptions: 0, usd: 0, wastedSeconds: 0, wastedUsd: 0 };
      into.attempts += p.attempts;
      into.interruptions += p.interruptions;
      into.usd += p.usd;
      into.wastedSeconds += p.wastedSeconds;
      into.wastedUsd += p.wastedUsd;
      pools.set(key, into);
    }
    for (const d of s.days) {
      if (d.day < firstDay || d.day > lastDay) continue;
      const into = days.get(d.day) ?? { usd: 0, onDemandUsd: 0 };
      into.usd += d.usd;
      into.onDemandUsd = into.onDemandUsd === undefined || d.onDemandUsd === undefined ? undefined : into.onDemandUsd + d.onDemandUsd;
      days.set(d.day, into);
    }
  }
  return {
    since,
    until,
    usd: round6(usd),
    ...(onDemandUsd !== undefined && jobs.length ? { onDemandUsd: round6(onDemandUsd), savingsUsd: round6(onDemandUsd - usd) } : {}),
    jobs: jobs.map((j) => ({
      jobId: j.jobId,
      ...(j.name !== undefined ? { name: j.name } : {}),
      state: j.state,
      submittedAt: j.submittedAt,
      usd: j.summary.usd,
      ...(j.summary.onDemandUsd !== undefined ? { onDemandUsd: j.summary.onDemandUsd } : {}),
      interruptions: j.summary.interruptions,
    })),
    pools: [...pools.values()].map((p) => ({ ...p, usd: round6(p.usd), wastedUsd: round6(p.wastedUsd) })).sort((a, b) => b.usd - a.usd || a.pool.localeCompare(b.pool)),
    days: [...days].sort((a, b) => a[0].localeCompare(b[0])).map(([day, d]) => ({ day, usd: round6(d.usd), ...(d.onDemandUsd !== undefined ? { onDemandUsd: round6(d.onDemandUsd) } : {}) })),
    notes,
  };
}
