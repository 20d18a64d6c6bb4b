/**
 * Faults and AWS behaviours (POST /_sim/faults): injected throttling, capacity,
 * added latency; standing request limits (token buckets), EC2 eventual
 * consistency and IAM propagation windows.
 */
import { z } from 'zod';
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
  })
  .strict();
export type FaultSettings = z.infer<typeof faultsSchema>;

export class Faults {
  private settings: FaultSettings;
  private readonly rng: Prng;

  /** `initial`: the start-up settings (simulator options), which POST /_sim/reset restores. */
  constructor(
    seed: number,
    private readonly initial: FaultSettings = {},
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
  }

  throttled(action: string): boolean {
    const rate = this.settings.throttleRate ?? 0;
    if (rate <= 0) return false;
    if (this.settings.throttleActions && !this.settings.throttleActions.includes(action)) return false;
    return rate >= 1 || this.rng.next() < rate;
  }

  noCapacity(region: string, zone: string, instanceType: string): boolean {
    return (this.settings.insufficientCapacity ?? []).some(
      (f) =>
        (f.region === undefined || f.region === region) &&
        (f.availabilityZone === undefined || f.availabilityZone === zone) &&
        (f.instanceType === undefined || f.instanceType === instanceType),
    );
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
