/**
 * The market data shipped in data/market (see its SOURCES.md), loaded lazily
 * and once: the advisor snapshot, on-demand prices, the 2020 GPU spot price
 * history and the availability / preemption traces.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const advisorSchema = z.object({
  instance_types: z.record(z.string(), z.object({ cores: z.number(), ram_gb: z.number() })),
  ranges: z.array(z.object({ index: z.number(), label: z.string(), max: z.number() })),
  spot_advisor: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.object({ s: z.number(), r: z.number() })))),
});
export type Advisor = z.infer<typeof advisorSchema>;

const traceSchema = z.object({ metadata: z.object({ gap_seconds: z.number().positive() }), data: z.array(z.number()).min(1) });

/**
 * Whether a trace tick's value means spot is available (an availability trace) or the held instance is
 * alive (a preemption trace): the one place the project reads a tick. 0 means available, anything else
 * not, as the traces' authors read them in their simulator (github.com/Michaelvll/skypilot-spot-strategy,
 * sky_spot/env.py, TraceEnv.spot_available: `return not self.trace[self.tick]`), and as issue 15 adopts
 * for the planner. The spot-traces README's "number of available instances" wording says the opposite;
 * the authors' code is what produced the paper's results, so it decides (data/market/SOURCES.md).
 */
export function spotAvailable(tickValue: number): boolean {
  return tickValue === 0;
}

/** One availability / preemption series, tick length from the file. */
export interface Trace {
  gapMs: number;
  /** Per tick, 1 where spot is available (the instance alive), 0 where not: the file's values read by spotAvailable(). */
  available: Uint8Array;
  /** Share of ticks with spot available (the instance alive). */
  availability: number;
  kind: 'availability' | 'preemption';
}

/** Replayed price points of one pool, sorted by time. */
export interface PriceSeries {
  times: Float64Array;
  prices: Float64Array;
}

export class MarketData {
  private advisorCache?: Advisor;
  private onDemandCache?: Map<string, number>;
  private historyCache?: { series: Map<string, PriceSeries>; start: number; end: number };
  private traceCache?: Map<string, Trace>;

  constructor(readonly dir: string) {
    if (!existsSync(dir)) throw new Error(`market data folder not found: ${dir}`);
  }

  advisor(): Advisor {
    if (!this.advisorCache) {
      const folder = path.join(this.dir, 'spot-advisor');
      const file = readdirSync(folder).filter((f) => f.endsWith('.json')).sort().pop();
      if (!file) throw new Error(`no advisor snapshot in ${folder}`);
      this.advisorCache = advisorSchema.parse(JSON.parse(readFileSync(path.join(folder, file), 'utf8')));
    }
    return this.advisorCache;
  }

  /** us-east-1 on-demand USD per hour by instance type. */
  onDemand(): Map<string, number> {
    if (!this.onDemandCache) {
      const m = new Map<string, number>();
      const text = readFileSync(path.join(this.dir, 'prices', 'ondemand_prices.csv'), 'utf8');
      for (const line of text.split('\n').slice(1)) {
        const [region, type, price] = line.split(',');
        if (region === 'us-east-1' && type && price) m.set(type, Number(price));
      }
      this.onDemandCache = m;
    }
    return this.onDemandCache;
  }

  /** Price history keyed `zone|type` (Linux/UNIX), and the covered span. */
  history(): { series: Map<string, PriceSeries>; start: number; end: number } {
    if (!this.historyCache) {
      const rows = new Map<string, [number, number][]>();
      let start = Infinity;
      let end = -Infinity;
      const text = readFileSync(path.join(this.dir, 'prices', 'spot_price_history_2020_gpu.csv'), 'utf8');
      for (const line of text.split('\n').slice(1)) {
        const [ts, zone, type, product, price] = line.split(',');
        if (!ts || !zone || !type || !price || product !== 'Linux/UNIX') continue;
        const t = Date.parse(ts);
        const key = `${zone}|${type}`;
        let list = rows.get(key);
        if (!list) rows.set(key, (list = []));
        list.push([t, Number(price)]);
        start = Math.min(start, t);
        end = Math.max(end, t);
      }
      const series = new Map<string, PriceSeries>();
      for (const [key, list] of rows) {
        list.sort((a, b) => a[0] - b[0]);
        series.set(key, { times: Float64Array.from(list, (r) => r[0]), prices: Float64Array.from(list, (r) => r[1]) });
      }
      this.historyCache = { series, start, end };
    }
    return this.historyCache;
  }

  /** Availability / preemption traces keyed `zone|type`. */
  traces(): Map<string, Trace> {
    if (!this.traceCache) {
      const m = new Map<string, Trace>();
      const kinds: [Trace['kind'], string, (file: string) => string | undefined][] = [
        ['availability', 'availability', (f) => (f.includes('_v100_1') ? 'p3.2xlarge' : undefined)],
        ['preemption', 'preemption', (f) => (f.includes('_intel_64') ? 'r5.16xlarge' : undefined)],
      ];
      for (const [kind, folder, typeOf] of kinds) {
        const root = path.join(this.dir, 'traces', folder);
        if (!existsSync(root)) continue;
        for (const sub of readdirSync(root)) {
          for (const file of readdirSync(path.join(root, sub))) {
            const type = typeOf(file);
            const zone = file.split('_')[0];
            if (!type || !zone || !file.endsWith('.json')) continue;
            const parsed = traceSchema.parse(JSON.parse(readFileSync(path.join(root, sub, file), 'utf8')));
            const available = Uint8Array.from(parsed.data, (v) => (spotAvailable(v) ? 1 : 0));
            const availability = available.reduce((a, b) => a + b, 0) / available.length;
            m.set(`${zone}|${type}`, { gapMs: parsed.metadata.gap_seconds * 1000, available, availability, kind });
          }
        }
      }
      this.traceCache = m;
    }
    return this.traceCache;
  }
}
