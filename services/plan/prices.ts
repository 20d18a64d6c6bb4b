/**
 * Spot and on-demand prices (USD per hour) for a planner run, and where they
 * came from. Spot, per pool, first of:
 * - `--prices FILE`: a DescribeSpotPriceHistory CSV (the mean price of the
 *   pool's zone and type) or the Spot Instance Advisor JSON (on-demand x
 *   (1 - savings) of the pool's region and type, Linux);
 * - the trace's own `prices` list, per tick;
 * - the default: on-demand x (1 - the median savings of the type's family in
 *   the pool's region) from the shipped advisor snapshot.
 * On demand: the list price of the type in us-east-1 from the shipped
 * data/market/prices/ondemand_prices.csv (its only commercial region).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ValidationError } from '../../shared/errors.js';
import { loadOnDemandPrices, type OnDemandPrices } from '../../shared/ondemand-prices.js';
import { issuesOf } from '../../shared/validation.js';
import type { Trace } from './trace.js';

export interface RunPrices {
  /** USD/h on demand. */
  onDemand: number;
  /** Per trace, in the traces' order: one USD/h, or one per tick of the (resampled) trace. */
  spot: Array<number | number[]>;
  /** Where the prices came from, in words. */
  source: string;
}

function shipped(relative: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../..', relative), path.resolve(here, '../../..', relative)];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

export const ON_DEMAND_FILE = 'data/market/prices/ondemand_prices.csv';
export const ADVISOR_FILE = 'data/market/spot-advisor/spot-advisor-data.2025-06-28.json';
const ON_DEMAND_REGION = 'us-east-1';

const AdvisorSchema = z.object({
  spot_advisor: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.object({ s: z.number(), r: z.number() })))),
});
type Advisor = z.infer<typeof AdvisorSchema>;

function readAdvisor(file: string): Advisor {
  const parsed = AdvisorSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new ValidationError(`advisor file ${file}`, issuesOf(parsed.error));
  return parsed.data;
}

/** The region of a zone (`us-east-1b` -> `us-east-1`); us-east-1 for a pool whose zone is unknown. */
export const regionOf = (zone: string | undefined): string => (zone ? zone.replace(/[a-z]$/, '') : ON_DEMAND_REGION);

/** The shipped list, read once (a run asks for every pool's type). */
let shippedList: OnDemandPrices | undefined;

export function onDemandPrice(type: string, list: OnDemandPrices = (shippedList ??= loadOnDemandPrices(shipped(ON_DEMAND_FILE)))): number {
  const price = list(ON_DEMAND_REGION, type);
  if (price === undefined) throw new ValidationError('on-demand price', [{ path: type, rule: `no ${ON_DEMAND_REGION} row in ${ON_DEMAND_FILE}` }]);
  return price;
}

/** The median advisor savings (a fraction) of a type's family (`p3` of `p3.2xlarge`) in a region, Linux. */
export function familySavings(advisor: Advisor, region: string, type: string): number {
  const family = type.split('.')[0]!;
  const rows = advisor.spot_advisor[region]?.['Linux'] ?? {};
  const s = Object.entries(rows)
    .filter(([t]) => t.split('.')[0] === family)
    .map(([, v]) => v.s)
    .sort((a, b) => a - b);
  if (!s.length) throw new ValidationError('spot price', [{ path: `${region}/${type}`, rule: `the advisor has no ${family} type in ${region}: give --prices` }]);
  const mid = Math.floor(s.length / 2);
  return (s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2) / 100;
}

function typeOf(t: Trace): string {
  if (!t.instanceType) throw new ValidationError(`trace ${t.file}`, [{ path: 'metadata.instance_type', rule: 'the instance type is unknown: name the file <zone>_<v100|intel>_<n>.json or set metadata.instance_type' }]);
  return t.instanceType;
}

function zoneOf(t: Trace, what: string): string {
  if (!t.zone) throw new ValidationError(`trace ${t.file}`, [{ path: 'metadata.zone', rule: `the zone is unknown, and ${what} needs it: name the file <zone>_<v100|intel>_<n>.json or set metadata.zone` }]);
  return t.zone;
}

function historyMeans(file: string): Map<string, { sum: number; n: number }> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const head = (lines[0] ?? '').trim().split(',');
  const [zi, ti, pi] = ['AvailabilityZone', 'InstanceType', 'SpotPrice'].map((h) => head.indexOf(h));
  if (zi! < 0 || ti! < 0 || pi! < 0) throw new ValidationError(`prices file ${file}`, [{ path: 'header', rule: 'a DescribeSpotPriceHistory CSV needs AvailabilityZone, InstanceType and SpotPrice columns' }]);
  const acc = new Map<string, { sum: number; n: number }>();
  for (const line of lines.slice(1)) {
    const cells = line.trim().split(',');
    const price = Number(cells[pi!]);
    if (cells.length < head.length || !Number.isFinite(price)) continue;
    const key = `${cells[zi!]}|${cells[ti!]}`;
    const a = acc.get(key) ?? { sum: 0, n: 0 };
    a.sum += price;
    a.n += 1;
    acc.set(key, a);
  }
  return acc;
}

/** The prices of a run over `traces` (resampled: a trace's own prices are per tick of the common gap). */
export function resolvePrices(traces: Trace[], opts: { pricesFile?: string } = {}): RunPrices {
  const types = traces.map(typeOf);
  const onDemand = onDemandPrice(types[0]!);
  const mixed = new Set(types).size > 1 ? ` (the pools are of ${[...new Set(types)].join(', ')}: the first one's price is the run's)` : '';
  const odSource = `on-demand: the ${ON_DEMAND_REGION} list price of ${types[0]} (${ON_DEMAND_FILE})${mixed}`;
  if (opts.pricesFile) {
    const file = opts.pricesFile;
    if (!existsSync(file)) throw new ValidationError('--prices', [{ path: file, rule: 'no such file' }]);
    if (file.endsWith('.json')) {
      const advisor = readAdvisor(file);
      const spot = traces.map((t, i) => {
        const region = regionOf(t.zone);
        const row = advisor.spot_advisor[region]?.['Linux']?.[types[i]!];
        if (!row) throw new ValidationError('--prices', [{ path: `${region}/${types[i]}`, rule: `no Linux row in ${file}` }]);
        return onDemandPrice(types[i]!) * (1 - row.s / 100);
      });
      return { onDemand, spot, source: `spot: on-demand x (1 - the advisor's savings of the pool's region and type) (${file}); ${odSource}` };
    }
    const means = historyMeans(file);
    const spot = traces.map((t, i) => {
      const zone = zoneOf(t, '--prices (a price history)');
      const m = means.get(`${zone}|${types[i]}`);
      if (!m) throw new ValidationError('--prices', [{ path: `${zone}/${types[i]}`, rule: `no price of this zone and type in ${file}` }]);
      return m.sum / m.n;
    });
    return { onDemand, spot, source: `spot: the mean price of the pool's zone and type in ${file}; ${odSource}` };
  }
  if (traces.every((t) => t.prices)) {
    return { onDemand, spot: traces.map((t) => t.prices!), source: `spot: the traces' own per-tick prices; ${odSource}` };
  }
  const advisor = readAdvisor(shipped(ADVISOR_FILE));
  const spot = traces.map((t, i) => t.prices ?? onDemandPrice(types[i]!) * (1 - familySavings(advisor, regionOf(t.zone), types[i]!)));
  const some = traces.some((t) => t.prices) ? ' (the traces with their own per-tick prices use them)' : '';
  return { onDemand, spot, source: `spot: on-demand x (1 - the median advisor savings of the type's family in the pool's region, ${ADVISOR_FILE})${some}; ${odSource}` };
}
