/**
 * The market model. A pool is (region, zone, instance type). Every answer is a
 * pure function of (seed, pool, simulated time), so the same seed gives the
 * same market and no pool keeps state: memory stays small however many pools
 * are asked about.
 *
 * - price: replayed from the 2020 GPU history (time-shifted, looped) where the
 *   pool is in it; else on-demand x (1 - advisor savings) moved by a seeded,
 *   mean-reverting hourly walk (±12%) with a small per-zone offset.
 * - capacity: replayed from the availability / preemption traces (gap_seconds
 *   per file; a tick of 0 is capacity, read once by data.ts's spotAvailable)
 *   where the pool is in one; else always available.
 * - interruptions: at the next trace outage for trace pools; else an
 *   exponential draw from the advisor bucket's monthly interruption rate.
 */
import type { Catalog } from './catalog.js';
import type { MarketData, PriceSeries, Trace } from './data.js';
import { unit } from '../random.js';
import type { InterruptionLog } from './interruptions.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONTH = 30 * DAY;
/** Monthly interruption probability per advisor bucket (<5%, 5-10%, 10-15%, 15-20%, >20%). */
const BUCKET_MONTHLY = [0.03, 0.08, 0.13, 0.18, 0.25];
/** Fixed origin that the replayed data is shifted onto. */
const ANCHOR = Date.UTC(2024, 0, 1);

export interface Pool {
  region: string;
  zone: string;
  type: string;
}

export interface PricePoint {
  time: number;
  price: number;
}

export class Market {
  constructor(
    readonly seed: number,
    readonly data: MarketData,
    readonly catalog: Catalog,
    /** The pools' recent interruptions: a pool that has been interrupting shows less availability. */
    readonly interruptions?: InterruptionLog,
  ) {}

  private advisorEntry(region: string, type: string): { s: number; r: number } | undefined {
    return this.data.advisor().spot_advisor[region]?.Linux?.[type];
  }

  /** Advisor bucket index 0..4 (defaults to the middle bucket when unknown). */
  bucket(region: string, type: string): number {
    return this.advisorEntry(region, type)?.r ?? 2;
  }

  onDemand(region: string, type: string): number {
    return this.catalog.onDemandPrice(region, type);
  }

  private replaySeries(p: Pool): PriceSeries | undefined {
    return this.data.history().series.get(`${p.zone}|${p.type}`);
  }

  /** Seed-dependent offset so that different seeds replay different windows. */
  private shift(span: number): number {
    return (unit(this.seed, 'shift') * span) | 0;
  }

  private replayTime(t: number): number {
    const h = this.data.history();
    const span = h.end - h.start;
    return h.start + ((((t - ANCHOR + this.shift(span)) % span) + span) % span);
  }

  private derivedPrice(p: Pool, hour: number): number {
    const od = this.onDemand(p.region, p.type);
    const savings = (this.advisorEntry(p.region, p.type)?.s ?? 65) / 100;
    const base = od * (1 - savings);
    const zoneFactor = 1 + 0.08 * (unit(this.seed, 'zone', p.zone, p.type) - 0.5);
    // mean-reverting walk: smooth value noise over 6-hour knots plus hourly jitter
    const knot = Math.floor(hour / 6);
    const frac = (hour - knot * 6) / 6;
    const a = unit(this.seed, p.zone, p.type, knot) * 2 - 1;
    const b = unit(this.seed, p.zone, p.type, knot + 1) * 2 - 1;
    const smooth = a + (b - a) * (frac * frac * (3 - 2 * frac));
    const jitter = unit(this.seed, p.zone, p.type, 'h', hour) * 2 - 1;
    const factor = 1 + 0.1 * smooth + 0.02 * jitter;
    return Math.max(0.0001, Math.round(base * zoneFactor * factor * 1e4) / 1e4);
  }

  /** Spot price (USD/hour) of the pool at simulated time t. */
  price(p: Pool, t: number): number {
    const series = this.replaySeries(p);
    if (series) {
      const rt = this.replayTime(t);
      const i = upperBound(series.times, rt) - 1;
      return series.prices[i >= 0 ? i : series.prices.length - 1]!;
    }
    return this.derivedPrice(p, Math.floor(t / HOUR));
  }

  /** The points where the pool's price changed in [from, to], plus the one in effect at `from`, newest first. */
  history(p: Pool, from: number, to: number, limit = 2000): PricePoint[] {
    const out: PricePoint[] = [];
    const series = this.replaySeries(p);
    if (series) {
      // walk replay points mapped back onto simulated time
      const span = this.data.history().end - this.data.history().start;
      let cursor = to;
      while (cursor >= from && out.length < limit) {
        const rt = this.replayTime(cursor);
        let i = upperBound(series.times, rt) - 1;
        if (i < 0) i = series.times.length - 1;
        const changedAt = cursor - (((rt - series.times[i]!) % span) + span) % span;
        out.push({ time: Math.max(changedAt, Math.min(from, cursor)), price: series.prices[i]! });
        if (changedAt <= from) break;
        cursor = changedAt - 1;
      }
      return out;
    }
    for (let h = Math.floor(to / HOUR); h >= Math.floor(from / HOUR) && out.length < limit; h--) {
      const price = this.derivedPrice(p, h);
      const prev = this.derivedPrice(p, h - 1);
      const start = h * HOUR;
      if (start <= from) {
        out.push({ time: start, price });
        break;
      }
      if (price !== prev) out.push({ time: start, price });
    }
    return out;
  }

  private trace(p: Pool): Trace | undefined {
    return this.data.traces().get(`${p.zone}|${p.type}`);
  }

  private traceIndex(tr: Trace, t: number): number {
    const len = tr.available.length;
    const shift = Math.floor(unit(this.seed, 'trace') * len);
    const tick = Math.floor((t - ANCHOR) / tr.gapMs) + shift;
    return ((tick % len) + len) % len;
  }

  /** Whether the pool can launch a spot instance now. */
  hasCapacity(p: Pool, t: number): boolean {
    const tr = this.trace(p);
    if (!tr) return true;
    return tr.available[this.traceIndex(tr, t)] === 1;
  }

  /**
   * The pool's availability signal at t: the share of time it had capacity over the day before t (1 for
   * pools without a trace), times exp(-pressure), the pressure being its recent interruptions (each 1 when
   * it happens, halving every 6 simulated hours, gone after 24): one fresh interruption leaves 37 %, three 5 %.
   */
  availability(p: Pool, t: number): number {
    const pressure = this.interruptions?.pressure(p, t) ?? 0;
    return this.traceAvailability(p, t) * Math.exp(-pressure);
  }

  /** Share of time the pool had capacity over the day before t (1 for pools without a trace). */
  private traceAvailability(p: Pool, t: number): number {
    const tr = this.trace(p);
    if (!tr) return 1;
    const ticks = Math.max(1, Math.floor(DAY / tr.gapMs));
    const start = this.traceIndex(tr, t - DAY);
    let sum = 0;
    for (let i = 0; i < ticks; i++) sum += tr.available[(start + i) % tr.available.length]!;
    return sum / ticks;
  }

  /**
   * When an instance launched at t in this pool will be interrupted (simulated
   * epoch ms), drawn deterministically from the seed and the launch ordinal.
   */
  interruptionTime(p: Pool, t: number, ordinal: number): number {
    const tr = this.trace(p);
    if (tr) {
      const i0 = this.traceIndex(tr, t);
      for (let k = 1; k < tr.available.length; k++) {
        if (tr.available[(i0 + k) % tr.available.length] === 0) {
          const tickStart = Math.floor((t - ANCHOR) / tr.gapMs) * tr.gapMs + ANCHOR;
          return tickStart + k * tr.gapMs;
        }
      }
      return Infinity;
    }
    const monthly = BUCKET_MONTHLY[this.bucket(p.region, p.type)] ?? 0.13;
    const mean = MONTH / -Math.log(1 - monthly);
    const u = unit(this.seed, 'interrupt', p.zone, p.type, ordinal);
    return t - Math.log(1 - u) * mean;
  }

  /** First time in (t, t + horizon] when the price exceeds maxPrice, if any (hourly resolution). */
  priceExceeds(p: Pool, t: number, maxPrice: number, horizon = 7 * DAY): number | undefined {
    if (this.replaySeries(p)) {
      for (const pt of this.history(p, t, t + horizon, 500).reverse()) {
        if (pt.price > maxPrice && pt.time > t) return pt.time;
      }
      return undefined;
    }
    for (let h = Math.floor(t / HOUR) + 1; h <= Math.floor((t + horizon) / HOUR); h++) {
      if (this.derivedPrice(p, h) > maxPrice) return h * HOUR;
    }
    return undefined;
  }

  /**
   * Spot placement score 1..10 for launching `target` instances of `types` in
   * the given zones. Each pool counts by its availability signal (trace and
   * recent interruptions, see availability()) and advisor bucket; the score grows with the number of good pools and falls with the
   * target, so one type in one zone scores 1 to 3 (as AWS answers single-type
   * queries in practice) and a diversified request up to 10. A seeded daily
   * nudge of under one point keeps neighbours apart.
   */
  placementScore(region: string, zones: string[], types: string[], target: number, t: number): number {
    let pools = 0;
    for (const zone of zones) {
      for (const type of types) {
        const p = { region, zone, type };
        pools += this.availability(p, t) * (1 - this.bucket(region, type) * 0.15);
      }
    }
    const effective = pools / (1 + Math.max(0, target - 1) / 20);
    const day = Math.floor(t / DAY);
    const nudge = unit(this.seed, 'sps', region, zones.join(','), types.join(','), day) - 0.5;
    const score = 1 + 9 * (1 - Math.exp(-effective / 3)) + nudge;
    return Math.max(1, Math.min(10, Math.round(score)));
  }
}

function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
