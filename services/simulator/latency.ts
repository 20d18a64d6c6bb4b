/** Launch latency: a configurable distribution of simulated seconds. */
import { z } from 'zod';
import { Prng, hash32 } from './random.js';

export const latencySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), seconds: z.number().nonnegative() }),
  z.object({ kind: z.literal('uniform'), min: z.number().nonnegative(), max: z.number().nonnegative() }),
  z.object({ kind: z.literal('lognormal'), median: z.number().positive(), sigma: z.number().nonnegative() }),
]);
export type LatencyDistribution = z.infer<typeof latencySchema>;

/** Default: median 20 s from fulfilment to running, most between 10 and 40 s. */
export const DEFAULT_LAUNCH_LATENCY: LatencyDistribution = { kind: 'lognormal', median: 20, sigma: 0.35 };

/** Simulated milliseconds for the `ordinal`-th draw under `seed`. */
export function drawLatencyMs(dist: LatencyDistribution, seed: number, ordinal: number): number {
  const rng = new Prng(hash32(seed, 'latency', ordinal));
  switch (dist.kind) {
    case 'fixed':
      return dist.seconds * 1000;
    case 'uniform':
      return (dist.min + (dist.max - dist.min) * rng.next()) * 1000;
    case 'lognormal':
      return dist.median * Math.exp(dist.sigma * rng.normal()) * 1000;
  }
}
