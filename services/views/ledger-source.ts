/**
 * Where the status page gets a job's cost ledger (services/ledger/types.ts):
 * JobViews computes it (with a price source) and implements this; the page
 * and its JSON API only read through it. Undefined when the job has no
 * ledger to show (no source configured).
 */
import { LRUCache } from 'lru-cache';
import type { JobLedger } from '../ledger/types.js';

export interface JobLedgerSource {
  jobLedger(jobId: string): Promise<JobLedger | undefined>;
}

/**
 * One computation per job per `ttlMs` (the page's poll interval): the job page, its JSON and its chart routes
 * read the same ledger, and concurrent asks share the one in flight. A failed computation is not kept.
 */
export function sharedLedgers(source: JobLedgerSource, ttlMs: number, entries = 100): JobLedgerSource {
  const kept = new LRUCache<string, Promise<JobLedger | undefined>>({ max: entries, ttl: Math.max(1, ttlMs) });
  return {
    jobLedger(jobId: string): Promise<JobLedger | undefined> {
      const hit = kept.get(jobId);
      if (hit) return hit;
      const work = source.jobLedger(jobId);
      kept.set(jobId, work);
      work.catch(() => {
        if (kept.get(jobId) === work) kept.delete(jobId);
      });
      return work;
    },
  };
}
