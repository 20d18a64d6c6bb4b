/**
 * What placement reads of the market, and what the lifecycle tells it back:
 * the contract between the market store (services/market/store.ts, written by
 * the collectors) and the placement policy (services/spot/placement.ts).
 *
 * A pool is (region, zone, instance type). Every field of PoolSignals is
 * optional: a signal nobody collected yet is absent, never a made-up value,
 * and placement says in its reasons which signals it had.
 */
import type { Pool } from '../model/model.js';

export interface LaunchTimeline {
  /** Fleet clock ms: RequestSpotInstances sent. */
  requestedAt: number;
  /** The request was fulfilled (an instance id). */
  fulfilledAt?: number;
  /** The instance was running with an address. */
  runningAt?: number;
  /** SSH answered with the pinned host key. */
  readyAt?: number;
}

export interface PoolSignals extends Pool {
  /** Newest spot price seen by the collectors (USD/h) and when it took effect (ms). */
  price?: number;
  priceAt?: number;
  /** On-demand price of the type in the region (USD/h). */
  onDemand?: number;
  /** Spot placement score 1..10 for this pool (single-AZ scores when collected so, else the region's), the target capacity asked and when. */
  score?: number;
  scoreTarget?: number;
  scoreAt?: number;
  /** Spot Instance Advisor interruption-frequency bucket 0..4 (<5%, 5-10%, 10-15%, 15-20%, >20% a month) of the region and type. */
  bucket?: number;
  /** Advisor savings over on-demand, percent. */
  savings?: number;
  /** This fleet's own record in the pool over the last 30 days: attempts that got an instance, how many EC2 interrupted, instance-hours. */
  observed?: { runs: number; interruptions: number; hours: number };
  /** Median seconds from request to SSH-ready over the pool's recorded launches, and how many there were. */
  launchP50Seconds?: number;
  launchSamples?: number;
  /** The pool answered InsufficientInstanceCapacity (or capacity-not-available): not to be used before this time (ms). */
  noCapacityUntil?: number;
  /** The collectors no longer see the pool (no price for it in its region). */
  ceased?: boolean;
}

export interface RegionBlock {
  /** Not to be used before this time (ms). */
  until: number;
  /** AWS's words: MaxSpotInstanceCountExceeded, a vCPU limit. */
  reason: string;
}

export interface MarketSignals {
  /** What the store knows of every (zone, type) of `types` in `regions`; pools it never saw are absent. */
  pools(regions: readonly string[], types: readonly string[], now: number): Promise<PoolSignals[]>;
  /** Regions whose spot quota is exhausted now (keyed by region). */
  blockedRegions(now: number): Promise<Map<string, RegionBlock>>;
  /** A launch of the fleet's own in the pool (every attempt), for launch-time medians. */
  recordLaunch(pool: Pool, timeline: LaunchTimeline): Promise<void>;
  /** An attempt that had an instance ended: how long it ran and whether EC2 interrupted it. */
  recordRun(pool: Pool, run: { hours: number; interrupted: boolean; at: number }): Promise<void>;
  /** The pool is out of capacity until `until` (the InsufficientInstanceCapacity cache, fleet-wide). */
  markNoCapacity(pool: Pool, until: number, reason: string): Promise<void>;
  /** The region's spot quota is exhausted until `until`. */
  markRegionBlocked(region: string, block: RegionBlock): Promise<void>;
}
