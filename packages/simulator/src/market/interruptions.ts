/**
 * Interruptions per pool, as they happen in the simulator (the market's own,
 * those forced through the admin API, and a pool's forced outages): what
 * placement scores remember. A pool's "pressure" is the number of its recent
 * interruptions, each one fading with a half-life of PRESSURE_HALF_LIFE_MS of
 * simulated time; it is ignored after PRESSURE_WINDOW_MS.
 */
import type { Pool } from './market.js';

export const PRESSURE_HALF_LIFE_MS = 6 * 3_600_000;
export const PRESSURE_WINDOW_MS = 24 * 3_600_000;

const key = (p: Pool): string => `${p.region}|${p.zone}|${p.type}`;

export class InterruptionLog {
  /** Interruption times (simulated ms, ascending) per pool key. */
  private readonly byPool = new Map<string, number[]>();
  /** Every interruption ever recorded per pool key (for /_sim/stats). */
  private readonly totals = new Map<string, number>();

  record(p: Pool, t: number): void {
    const k = key(p);
    let list = this.byPool.get(k);
    if (!list) this.byPool.set(k, (list = []));
    list.push(t);
    // keep only the window (interruptions arrive in time order)
    while (list.length > 0 && list[0]! < t - PRESSURE_WINDOW_MS) list.shift();
    this.totals.set(k, (this.totals.get(k) ?? 0) + 1);
  }

  /** Recent interruptions of the pool at t, each weighted by how recent it is (1 now, 0.5 after a half-life). */
  pressure(p: Pool, t: number): number {
    const list = this.byPool.get(key(p));
    if (!list) return 0;
    let sum = 0;
    for (const at of list) {
      const age = t - at;
      if (age < 0 || age > PRESSURE_WINDOW_MS) continue;
      sum += Math.pow(0.5, age / PRESSURE_HALF_LIFE_MS);
    }
    return sum;
  }

  clear(): void {
    this.byPool.clear();
    this.totals.clear();
  }

  /** `{"us-east-1|us-east-1a|m5.large": 3}`: interruptions (notices) per pool since start or reset. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.totals].sort((a, b) => a[0].localeCompare(b[0])));
  }
}
