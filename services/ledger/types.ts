/**
 * The cost ledger's shapes: what a job's attempts cost under EC2's billing
 * rules, where the time went, and the fleet's totals. Computed by
 * services/ledger (from the attempts and the pools' price history), rendered
 * by `spotbatch report` (json, md, html with SVG charts) and the status page's
 * job view. Times are epoch ms, durations seconds, money USD.
 */

/** How an attempt's billed seconds were counted (EC2's rules for Linux instances). */
export type BillingRule =
  /** Per second of the running time. */
  | 'per-second'
  /** Ran under a minute: billed the one-minute minimum. */
  | 'minimum-60s'
  /** Spot instance interrupted by EC2 in its first hour: no charge. */
  | 'interrupted-first-hour-free'
  /** Never reached running: nothing billed. */
  | 'not-running';

export interface PriceSegment {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  /** USD per hour in effect over [from, to). */
  price: number;
}

export interface AttemptBill {
  taskId: string;
  /** The attempt's number in its task (Attempt.n). */
  n: number;
  region: string;
  zone: string;
  type: string;
  market: 'spot' | 'on-demand';
  /** When the attempt was requested and when its instance was ready for SSH (Attempt.requestedAt, sshReadyAt): the attempt timeline's bar and its boot part. */
  requestedAt?: number;
  sshReadyAt?: number;
  /** When the instance was running (billing starts) and when it ended (billing stops); absent when it never ran. */
  runningAt?: number;
  endedAt?: number;
  /** Whether it is still running (the bill is so far, up to computedAt). */
  open: boolean;
  outcome?: string;
  /** Ended by a spot interruption (EC2 reclaimed it). */
  interrupted: boolean;
  rule: BillingRule;
  billedSeconds: number;
  usd: number;
  /** The same running time at the on-demand list price; absent when no list price is known for the region. */
  onDemandUsd?: number;
  /** The prices the bill integrated (spot: from the pool's price history; on-demand: one segment at the list price). */
  segments: PriceSegment[];
}

/** Where a task's (or job's) instance time went, in seconds; the parts add up to the instances' running time plus launch waits. */
export interface TimeSplit {
  /** Compute that counted: the attempt that finished, and work kept by a checkpoint. */
  usefulSeconds: number;
  /** Work an interruption or a failure threw away: since the last checkpoint (all of it without checkpoints). */
  lostSeconds: number;
  /** From the request to the instance ready for SSH (launch wait and boot). */
  bootSeconds: number;
  /** Running but doing no step (between steps, after the end, waiting on the fleet). */
  idleSeconds: number;
  /** A second instance running the same task at once (a standby during a migration). */
  duplicateSeconds: number;
}

export interface TaskLedger {
  taskId: string;
  state: string;
  attempts: AttemptBill[];
  usd: number;
  onDemandUsd?: number;
  interruptions: number;
  time: TimeSplit;
}

/** One pool's share of a job's (or the fleet's) spend and interruptions. */
export interface PoolLedger {
  /** `zone/type` (model.ts poolKey). */
  pool: string;
  region: string;
  zone: string;
  type: string;
  market: 'spot' | 'on-demand';
  attempts: number;
  interruptions: number;
  usd: number;
  /** Compute the pool's interruptions threw away, and what it cost. */
  wastedSeconds: number;
  wastedUsd: number;
}

export interface JobLedger {
  jobId: string;
  name?: string;
  state: string;
  submittedAt: number;
  endedAt?: number;
  /** When the ledger was computed (the bill of open attempts runs to here). */
  computedAt: number;
  usd: number;
  /** The spot attempts' share, and the on-demand fallback's (a deadline's). */
  spotUsd: number;
  onDemandFallbackUsd: number;
  /** The same running time at on-demand list prices, and what spot saved; absent when a region has no list price. */
  onDemandUsd?: number;
  savingsUsd?: number;
  savingsPct?: number;
  tasks: TaskLedger[];
  pools: PoolLedger[];
  time: TimeSplit;
  /** Cumulative spend, a point per change (attempt start, price change, attempt end). */
  spendOverTime: { at: number; usd: number }[];
  /** Request to SSH-ready per attempt that got there, by pool: the launch-time histogram's data. */
  launches: { pool: string; seconds: number }[];
  /** What the figures could not account for (a pool without price history, a region without list prices). */
  notes: string[];
}

/** `spotbatch report --all --since DATE`: the fleet's totals. */
export interface FleetReport {
  since: number;
  until: number;
  usd: number;
  onDemandUsd?: number;
  savingsUsd?: number;
  jobs: { jobId: string; name?: string; state: string; submittedAt: number; usd: number; onDemandUsd?: number; interruptions: number }[];
  pools: PoolLedger[];
  days: { day: string; usd: number; onDemandUsd?: number }[];
  notes: string[];
}
