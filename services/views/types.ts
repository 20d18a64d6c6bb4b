/**
 * The read model's JSON shapes: what the status page's API sends and the CLI
 * prints (`--json` and the API say the same). Plain types with no runtime
 * imports, so the page's client script (services/status/client) can import
 * them too.
 */
import type { JobState, TaskState } from '../../shared/states.js';

export interface SpendView {
  /**
   * Spend so far, from the cost ledger (services/ledger): each attempt billed under EC2's rules (per second, a
   * one-minute minimum, a spot instance EC2 interrupted in its first hour free) at its pool's price history.
   */
  spotUsd: number;
  /** Attempts whose instance ran (the ones that cost anything). */
  attemptsRun: number;
  /**
   * What the same instance-hours cost at the on-demand list price, over the
   * attempts whose pool has one (`attemptsPriced`); null when none has.
   */
  onDemandUsd: number | null;
  /** Spot spend of those same attempts, to compare like with like. */
  spotUsdPriced: number;
  attemptsPriced: number;
  /** Pools (`region/type`) with no on-demand list price in the data shipped. */
  unpricedPools: string[];
  /** 1 - spot / on-demand over the priced attempts, when there is anything to compare. */
  savedFraction: number | null;
  /** What the ledger could not account for (no price history source, a pool without history). */
  notes?: string[];
}

export interface TaskCounts {
  total: number;
  succeeded: number;
  /** starting or running */
  running: number;
  failed: number;
  cancelled: number;
  /** pending, waiting for a spot instance, or interrupted and about to be placed again */
  waiting: number;
  byState: Partial<Record<TaskState, number>>;
}

export interface JobSummaryView {
  id: string;
  name: string;
  state: JobState;
  outcome?: string;
  error?: string;
  tags: Record<string, string>;
  submittedAt: string;
  endedAt?: string;
  updatedAt: string;
  ageSeconds: number;
  tasks: TaskCounts;
  attempts: number;
  interruptions: number;
  spend: SpendView;
  /** When the counts and spend were read from the task rows. */
  summaryAt: string;
}

export interface SpecView {
  command?: string[];
  steps?: Array<{ name?: string; run?: string; timeoutSeconds?: number }>;
  /** Names of the job-wide environment variables; their values are never shown. */
  envNames: string[];
  uploads: Array<{ from: string; to: string }>;
  instances: { types: string[]; regions: string[] | 'auto'; zones: string[] | 'auto'; image: string | { id: string; region: string }; user: string; maxPrice?: number };
  retry: { maxAttempts: number; retryExitCodes: number[]; failExitCodes: number[]; maxInterruptions: number };
  timeouts: { stepSeconds: number; heartbeatSeconds: number };
  budgetUsd?: number;
  deadline?: string;
}

export interface JobDetailView {
  job: JobSummaryView;
  spec: SpecView;
  /** Who may reach tcp/22 of the job's instances. */
  ingressCidr?: string;
  links: { tasks: string; events: string; page: string };
}

/** A pool as placement scored it. */
export interface ScoredPoolView {
  region: string;
  zone: string;
  type: string;
  /** Spot price, USD/h. */
  price: number;
  /** Spot placement score 1..10, when collected. */
  score?: number;
  /** Spot Instance Advisor interruption bucket 0..4 (<5%, 5-10%, 10-15%, 15-20%, >20% a month). */
  bucket?: number;
  launchP50Seconds?: number;
  /** Interruptions per instance-hour (the advisor's rate blended with the fleet's own record). */
  hazardPerHour: number;
  /** Expected USD to finish one task in the pool. */
  expectedCost: number;
}

/** Why placement chose an attempt's pool (services/spot/placement.ts, docs/placement.md). */
export interface PlacementDetailView {
  chosen: ScoredPoolView;
  runnerUp?: ScoredPoolView;
  /** 1 = the lowest expected cost; higher when the spread sent the task further down. */
  rank: number;
  candidates: number;
  spread: { pools: number; maxShare: number; reason?: string };
  excluded: Array<{ region: string; zone: string; type: string; reason: string }>;
  excludedCount: number;
  signals: string[];
  relaxed?: string;
}

export interface AttemptView {
  n: number;
  region: string;
  zone: string;
  type: string;
  /** `zone/type` */
  pool: string;
  /** Why placement chose the pool, in its words. */
  placement?: string;
  /**
   * The same, structured (services/spot/placement.ts): the chosen pool and its scores, the runner-up, the
   * excluded pools and why, the spread and the signals used.
   */
  placementDetail?: PlacementDetailView;
  /** How the instance was bought: spot, or on demand (a deadline's fallback). */
  market: 'spot' | 'on-demand';
  spotRequestId?: string;
  instanceId?: string;
  spotPriceUsdPerHour?: number;
  onDemandPriceUsdPerHour: number | null;
  requestedAt: string;
  fulfilledAt?: string;
  runningAt?: string;
  sshReadyAt?: string;
  startedAt?: string;
  endedAt?: string;
  exitCode?: number;
  /** How it ended; `open` while it has not. */
  outcome: string;
  reason?: string;
  interruptedBy?: string;
  noticeTime?: string;
  spotUsd: number;
  onDemandUsd: number | null;
}

export interface TaskView {
  taskId: string;
  index: number;
  state: TaskState;
  /** Number of the current (last) attempt; 0 before the first. */
  attempt: number;
  args: string[];
  pool?: string;
  region?: string;
  instanceId?: string;
  exitCode?: number;
  reason?: string;
  interruptions: number;
  failures: number;
  spotUsd: number;
  onDemandUsd: number | null;
  /** The last output the step left (at most 8 KiB each, as the lifecycle keeps it). */
  stdoutTail: string;
  stderrTail: string;
  updatedAt: string;
  attempts: AttemptView[];
}

export interface TaskPageView {
  jobId: string;
  totalTasks: number;
  limit: number;
  tasks: TaskView[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface EventView {
  at: string;
  type: string;
  taskId?: string;
  data?: Record<string, unknown>;
}

export interface EventPageView {
  jobId: string;
  order: 'newest' | 'oldest';
  limit: number;
  events: EventView[];
  nextCursor: string | null;
}

export interface JobListView {
  jobs: JobSummaryView[];
  limit: number;
  nextCursor: string | null;
}

/** The daily market summary of one UTC day, as stored by market.summary (docs/market.md#daily-summary). */
export interface MarketSummaryView {
  day: string;
  /** When the summary was built. */
  builtAt: string;
  /** The (region, type) pairs whose placement scores moved most that day (sum of the moves). */
  moved: Array<{ region: string; type: string; moved: number }>;
  /** The cheapest pool per type with advisor bucket 0 or 1, not ceased: spot price USD/h, bucket 0..4, placement score 1..10 when collected. */
  cheapestStable: Array<{ type: string; region: string; zone: string; price: number; bucket: number; score?: number }>;
  /** The fleet's own runs that day per pool that had interruptions, the most interrupted first. */
  interruptions: Array<{ region: string; zone: string; type: string; runs: number; interruptions: number }>;
  /** Interrupted pools left out of the stored summary (it keeps the 500 most interrupted). */
  interruptionsOmitted: number;
}

/** The last run of one kind of market collection (price, sps, if, ondemand). */
export interface MarketCollectionView {
  kind: string;
  at: string;
  ageSeconds: number;
  ok: boolean;
  /** Values looked at, change-log points written, pools newly ceased, API calls made. */
  points: number;
  changed: number;
  ceased: number;
  calls: number;
  /** Why it was skipped, or what went wrong (key-like strings removed). */
  note?: string;
}

/** The placement-score budget of one credential, by its configured name (never a key). */
export interface MarketBudgetView {
  credential: string;
  /** Distinct query configurations made in the rolling 24 h. */
  used: number;
  budget: number;
  /** AWS refused this credential for its budget until then. */
  spentUntil?: string;
}

/** What /market and /api/market show: a day's summary, the days stored, the collectors and the budget. */
export interface MarketView {
  /** The day shown: the newest stored unless another was asked; null when no summary is stored yet. */
  day: string | null;
  summary: MarketSummaryView | null;
  /** Days with a stored summary, newest first (the newest 30). */
  days: string[];
  /** One per collection kind that ran, by kind; empty when nothing was collected yet. */
  collections: MarketCollectionView[];
  budget: MarketBudgetView[];
  /** When this was read. */
  at: string;
}
