/**
 * Spot traces for the what-if planner, in the format of data/market/traces:
 * `{"metadata": {"gap_seconds": N}, "data": [...], "prices"?: [...]}`, one
 * value per tick of `gap_seconds`. A tick's value 0 means spot is available in
 * that tick, anything else not: how the traces' authors read them (their
 * simulator, skypilot-org's "Can't Be Late" code: `spot_available = not trace[tick]`).
 *
 * A FILE is one pool; a DIR is every `*.json` in it, sorted by name: several
 * pools a policy may choose between. Traces of different gaps are resampled to
 * the smallest (`resample`).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../../shared/errors.js';
import { issuesOf } from '../../shared/validation.js';

const TraceFileSchema = z
  .object({
    metadata: z.looseObject({
      gap_seconds: z.number().int().positive(),
      /** Optional: the instance type and zone when the file name does not say them. */
      instance_type: z.string().min(1).optional(),
      zone: z.string().min(1).optional(),
    }),
    data: z.array(z.number()).min(1),
    prices: z.array(z.number().nonnegative()).optional(),
  })
  .refine((t) => t.prices === undefined || t.prices.length === t.data.length, { message: 'must have one price per tick of "data"', path: ['prices'] });

export interface Trace {
  /** The pool's name: the file's name. */
  id: string;
  file: string;
  gapSeconds: number;
  /** Per tick: spot available (the file's value is 0). */
  available: boolean[];
  /** Per tick spot price, USD/h, when the file has them. */
  prices?: number[];
  /** From the file name (`<zone>_<gpu|intel>_<n>.json`) or metadata, when either says. */
  instanceType?: string;
  zone?: string;
}

/** `v100_1` and friends: the traces' naming of what they watched, as an EC2 instance type. */
const TYPE_OF: Record<string, string> = {
  v100_1: 'p3.2xlarge',
  v100_4: 'p3.8xlarge',
  v100_8: 'p3.16xlarge',
  k80_1: 'p2.xlarge',
  k80_8: 'p2.8xlarge',
  k80_16: 'p2.16xlarge',
  intel_2: 'r5.large',
  intel_4: 'r5.xlarge',
  intel_8: 'r5.2xlarge',
  intel_16: 'r5.4xlarge',
  intel_32: 'r5.8xlarge',
  intel_48: 'r5.12xlarge',
  intel_64: 'r5.16xlarge',
  intel_96: 'r5.24xlarge',
};

/** The zone and instance type a trace's file name says (`us-east-1b_intel_64.json`), if it follows the traces' naming. */
export function poolOfFileName(name: string): { zone?: string; instanceType?: string } {
  const m = /^([a-z]{2}(?:-gov)?-[a-z]+-\d[a-z])_([a-z0-9]+_\d+)\.json$/.exec(path.basename(name));
  if (!m) return {};
  const type = TYPE_OF[m[2]!];
  return type ? { zone: m[1]!, instanceType: type } : { zone: m[1]! };
}

export function parseTrace(file: string, text: string): Trace {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`trace ${file}`, [{ path: '', rule: `not JSON (${(err as Error).message})` }]);
  }
  const parsed = TraceFileSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(`trace ${file}`, issuesOf(parsed.error));
  const t = parsed.data;
  const named = poolOfFileName(file);
  const instanceType = t.metadata.instance_type ?? named.instanceType;
  const zone = t.metadata.zone ?? named.zone;
  return {
    id: path.basename(file),
    file,
    gapSeconds: t.metadata.gap_seconds,
    available: t.data.map((v) => v === 0),
    ...(t.prices ? { prices: t.prices } : {}),
    ...(instanceType ? { instanceType } : {}),
    ...(zone ? { zone } : {}),
  };
}

/** One trace from a FILE, or every `*.json` of a DIR sorted by name (the pools, in preference order). */
export function loadTraces(target: string): Trace[] {
  let st;
  try {
    st = statSync(target);
  } catch {
    throw new ValidationError('--trace', [{ path: target, rule: 'no such file or folder' }]);
  }
  const files = st.isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(target, f))
    : [target];
  if (!files.length) throw new ValidationError('--trace', [{ path: target, rule: 'a folder with no *.json trace' }]);
  return files.map((f) => parseTrace(f, readFileSync(f, 'utf8')));
}

/**
 * Traces on one clock: every trace resampled to the smallest gap of the set. The value of a new tick
 * is the value of the old tick that covers its start (`floor(t * gap / oldGap)`), its price likewise,
 * so a trace keeps its length in time (rounded up to whole new ticks).
 */
export function resample(traces: Trace[]): { gapSeconds: number; traces: Trace[] } {
  const gapSeconds = Math.min(...traces.map((t) => t.gapSeconds));
  return {
    gapSeconds,
    traces: traces.map((t) => {
      if (t.gapSeconds === gapSeconds) return t;
      const ticks = Math.ceil((t.available.length * t.gapSeconds) / gapSeconds);
      const src = (i: number): number => Math.floor((i * gapSeconds) / t.gapSeconds);
      const idx = Array.from({ length: ticks }, (_, i) => src(i));
      return {
        ...t,
        gapSeconds,
        available: idx.map((j) => t.available[j]!),
        ...(t.prices ? { prices: idx.map((j) => t.prices![j]!) } : {}),
      };
    }),
  };
}
