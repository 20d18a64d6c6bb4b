/**
 * Faults and AWS behaviours (POST /_sim/faults): injected throttling, capacity,
 * added latency; standing request limits (token buckets), EC2 eventual
 * consistency and IAM propagation windows.
 */
import { z } from 'zod';
import { DEFAULT_SPS_CONFIG_LIMIT } from './market/sps-budget.js';
import { Prng } from './random.js';

export const faultsSchema = z
  .object({
    /** Share of API calls answered RequestLimitExceeded (0..1). */
    throttleRate: z.number().min(0).max(1).optional(),
    /** Only throttle these actions (all when absent). */
    throttleActions: z.array(z.string().min(1)).optional(),
    /** Pools without capacity: each field narrows the match; {} matches every pool. */
    insufficientCapacity: z
      .array(z.object({ region: z.string().optional(), availabilityZone: z.string().optional(), instanceType: z.string().optional() }).strict())
      .optional(),
    /**
     * Instances started while set ignore the host keys of their user data
     * (cloud-init ssh_keys) and present one of their own: an impostor at the
     * instance's address, for tests of host key pinning.
     */
    forgedHostKeys: z.boolean().optional(),
    /** Milliseconds added (real time) before every API answer. */
    latencyMs: z.number().int().min(0).max(60_000).optional(),
    /**
     * EC2 request rate limits: token buckets per region and action with AWS's
     * sizes and refill rates times this factor (1 = AWS's defaults, 0.1 = a
     * tenth); 0 or absent: none. Real time (see throttle.ts).
     */
    requestLimits: z.number().min(0).max(100).optional(),
    /** Real seconds after a create during which EC2 calls naming the new instance, spot request or security group answer NotFound. */
    notFoundSeconds: z.number().min(0).max(600).optional(),
    /** Real seconds after an instance profile is created or gets its role during which EC2 launch calls refuse it. */
    iamPropagationSeconds: z.number().min(0).max(600).optional(),
    /**
     * GetSpotPlacementScores: new request configurations an account (access key id) may ask in a rolling
     * 24 simulated hours before MaxConfigLimitExceeded. Default 50.
     */
    placementScoreConfigLimit: z.number().int().min(0).max(1_000_000).optional(),
    /**
     * Spot vCPU quota per region ("All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"):
     * `{"us-east-1": 16}`; the key `*` sets it for every region not named. Absent: no quota.
     */
    spotVcpuQuota: z.record(z.string().min(1), z.number().int().min(0)).optional(),
    /** Simulated seconds a CopyImage copy stays `pending` before `available`. Default 300. */
    imageCopySeconds: z.number().min(0).max(86_400).optional(),
    /** Regions where a CopyImage copy ends `failed` (StateReason Client.InternalError) instead of `available`, after imageCopySeconds. */
    imageCopyFailRegions: z.array(z.string().min(1)).optional(),
    /**
     * Opt-in regions this account has not enabled: left out of DescribeRegions (listed `not-opted-in` with
     * AllRegions), and EC2 calls in them answer AuthFailure.
     */
    disabledRegions: z.array(z.string().min(1)).optional(),
    /**
     * Actions this endpoint answers as AWS answers one it does not serve (an older or partial EC2, a
     * region that lacks the API): InvalidAction, HTTP 400, in every region. EC2 and IAM action names.
     */
    unsupportedActions: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type FaultSettings = z.infer<typeof faultsSchema>;

/** A pool match: each field narrows it; {} matches every pool. */
export interface PoolMatch {
  region?: string;
  availabilityZone?: string;
  instanceType?: string;
}

/** A timed pool event from POST /_sim/pools/interrupt: no capacity and/or interrupting until (simulated ms). */
export interface PoolOutage {
  match: PoolMatch;
  noCapacityUntil?: number;
  interruptingUntil?: number;
}

const matches = (f: PoolMatch, region: string, zone: string, type: string): boolean =>
  (f.region === undefined || f.region === region) &&
  (f.availabilityZone === undefined || f.availabilityZone === zone) &&
  (f.instanceType === undefined || f.instanceType === type);

/** Families counted by the "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests" quota. */
export function standardFamily(type: string): boolean {
  const family = type.split('.')[0] ?? '';
  if (family.startsWith('inf') || family.startsWith('trn') || family.startsWith('dl')) return false;
  return /^[acdhimrtz]/.test(family);
}

export class Faults {
  private settings: FaultSettings;
  private readonly rng: Prng;

  /** `initial`: the start-up settings (simulator options), which POST /_sim/reset restores. */
  /** Timed pool outages (admin), in simulated time; cleared by reset. */
  private outages: PoolOutage[] = [];

  constructor(
    seed: number,
    private readonly initial: FaultSettings = {},
    /** Simulated now (epoch ms), for the timed pool outages. */
    private readonly now: () => number = Date.now,
  ) {
    this.rng = new Prng(seed ^ 0x5eed);
    this.settings = { ...initial };
  }

  set(settings: FaultSettings): void {
    this.settings = settings;
  }

  current(): FaultSettings {
    return this.settings;
  }

  /** Back to the start-up settings. */
  reset(): void {
    this.settings = { ...this.initial };
    this.outages = [];
  }

  addOutage(outage: PoolOutage): void {
    this.outages.push(outage);
  }

  /** Whether instances of the pool are being interrupted as soon as they run (an admin outage). */
  interrupting(region: string, zone: string, type: string): boolean {
    const now = this.now();
    return this.outages.some((o) => o.interruptingUntil !== undefined && o.interruptingUntil > now && matches(o.match, region, zone, type));
  }

  placementScoreConfigLimit(): number {
    return this.settings.placementScoreConfigLimit ?? DEFAULT_SPS_CONFIG_LIMIT;
  }

  /** The region's standard spot vCPU quota, when one is set. */
  spotVcpuQuota(region: string): number | undefined {
    const q = this.settings.spotVcpuQuota;
    if (!q) return undefined;
    return Object.hasOwn(q, region) ? q[region] : q['*'];
  }

  imageCopySeconds(): number {
    return this.settings.imageCopySeconds ?? 300;
  }

  /** Whether a copy into `region` fails (the fault imageCopyFailRegions). */
  imageCopyFails(region: string): boolean {
    return (this.settings.imageCopyFailRegions ?? []).includes(region);
  }

  regionDisabled(region: string): boolean {
    return (this.settings.disabledRegions ?? []).includes(region);
  }

  unsupported(action: string): boolean {
    return (this.settings.unsupportedActions ?? []).includes(action);
  }

  throttled(action: string): boolean {
    const rate = this.settings.throttleRate ?? 0;
    if (rate <= 0) return false;
    if (this.settings.throttleActions && !this.settings.throttleActions.includes(action)) return false;
    return rate >= 1 || this.rng.next() < rate;
  }

  noCapacity(region: string, zone: string, instanceType: string): boolean {
    if ((this.settings.insufficientCapacity ?? []).some((f) => matches(f, region, zone, instanceType))) return true;
    if (this.outages.length === 0) return false;
    const now = this.now();
    this.outages = this.outages.filter((o) => Math.max(o.noCapacityUntil ?? 0, o.interruptingUntil ?? 0) > now);
    return this.outages.some((o) => o.noCapacityUntil !== undefined && o.noCapacityUntil > now && matches(o.match, region, zone, instanceType));
  }

  /**
   * Whether an on-demand launch in the pool finds no capacity: the `insufficientCapacity` fault only. A pool
   * outage (POST /_sim/pools/interrupt) takes the pool's spot capacity, the spare capacity EC2 reclaims;
   * on-demand launches there go on.
   */
  noOnDemandCapacity(region: string, zone: string, instanceType: string): boolean {
    return (this.settings.insufficientCapacity ?? []).some((f) => matches(f, region, zone, instanceType));
  }

  forgedHostKeys(): boolean {
    return this.settings.forgedHostKeys === true;
  }

  latencyMs(): number {
    return this.settings.latencyMs ?? 0;
  }

  requestLimits(): number {
    return this.settings.requestLimits ?? 0;
  }
}
