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

/**
 * A distribution written on a command line: `N` (fixed seconds), `MIN..MAX` (uniform) or
 * `lognormal:MEDIAN,SIGMA`. Throws an error that names the forms.
 */
export function parseLatency(text: string): LatencyDistribution {
  const num = (s: string | undefined): number => (s !== undefined && s.trim() !== '' ? Number(s) : NaN);
  const t = text.trim();
  let candidate: unknown;
  let m: RegExpMatchArray | null;
  if ((m = /^lognormal:([^,]+),(.+)$/.exec(t))) candidate = { kind: 'lognormal', median: num(m[1]), sigma: num(m[2]) };
  else if ((m = /^(.+?)\.\.(.+)$/.exec(t))) candidate = { kind: 'uniform', min: num(m[1]), max: num(m[2]) };
  else candidate = { kind: 'fixed', seconds: num(t) };
  const parsed = latencySchema.safeParse(candidate);
  const ok = parsed.success && (parsed.data.kind !== 'uniform' || parsed.data.min <= parsed.data.max);
  if (!parsed.success || !ok) {
    throw new Error(`must be N (fixed seconds), MIN..MAX (uniform) or lognormal:MEDIAN,SIGMA with seconds >= 0 (median > 0), got ${JSON.stringify(text)}`);
  }
  return parsed.data;
}

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
