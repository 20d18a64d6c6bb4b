/**
 * Where the status page gets a job's cost ledger (services/ledger/types.ts):
 * JobViews computes it (with a price source) and implements this; the page
 * and its JSON API only read through it. Undefined when the job has no
 * ledger to show (no source configured).
 */
import type { JobLedger } from '../ledger/types.js';

export interface JobLedgerSource {
  jobLedger(jobId: string): Promise<JobLedger | undefined>;
}
