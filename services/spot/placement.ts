/**
 * Where a task's next attempt goes. For now: the cheapest current price among
 * the spec's candidates, skipping pools that failed this task and pools over
 * the max price. The planner will replace the scoring with market signals
 * (placement scores, interruption frequency); callers keep this signature.
 */
import { PermanentError } from '../../shared/errors.js';
import { poolKey, type Pool } from '../model/model.js';
import type { PoolPrice } from './pricing.js';

export interface PlacementInput {
  candidates: PoolPrice[];
  /** Allowed zones, or 'auto' for any of the regions' zones. */
  zones: string[] | 'auto';
  /** Pool keys (zone/type) not to use. */
  avoid: string[];
  maxPrice?: number;
}

export interface Placement {
  pool: Pool;
  price: number;
  /** In words, for the status page: why this pool. */
  why: string;
}

export function choosePool(input: PlacementInput): Placement {
  const allowed = input.candidates.filter((c) => input.zones === 'auto' || input.zones.includes(c.zone));
  const fresh = allowed.filter((c) => !input.avoid.includes(poolKey(c)));
  const affordable = fresh.filter((c) => input.maxPrice === undefined || c.price <= input.maxPrice);
  // When every pool has failed this task once, start over rather than give up.
  const pool = affordable.length ? affordable : allowed.filter((c) => input.maxPrice === undefined || c.price <= input.maxPrice);
  if (!pool.length) {
    throw new PermanentError(
      input.candidates.length
        ? `no pool within max price ${input.maxPrice} USD/h (cheapest: ${Math.min(...input.candidates.map((c) => c.price)).toFixed(4)})`
        : 'no spot price for any candidate instance type in the candidate regions and zones',
    );
  }
  const sorted = [...pool].sort((a, b) => a.price - b.price || poolKey(a).localeCompare(poolKey(b)));
  const best = sorted[0]!;
  const skipped = allowed.length - fresh.length;
  return {
    pool: { region: best.region, zone: best.zone, type: best.type },
    price: best.price,
    why: `cheapest of ${pool.length} pool(s) at ${best.price.toFixed(4)} USD/h${skipped ? `; ${skipped} pool(s) avoided after failing this task` : ''}${affordable.length ? '' : '; every pool had failed, trying again'}`,
  };
}
