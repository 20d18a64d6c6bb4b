/** Hand-made traces for the planner's tests: "1" a tick with spot, "0" one without (the files say it the other way round: 0 = available). */
import { parseTrace, type Trace } from '../../services/plan/trace.js';
import type { RunPrices } from '../../services/plan/prices.js';
import type { SimInput } from '../../services/plan/engine.js';

export function trace(id: string, ticks: string, gap = 60): Trace {
  const data = [...ticks].map((c) => (c === '1' ? 0 : 1));
  return parseTrace(id, JSON.stringify({ metadata: { gap_seconds: gap }, data }));
}

export const SPOT = 1;
export const OD = 3;

export function input(traces: Trace[], o: Partial<Omit<SimInput, 'traces'>> & { spot?: Array<number | number[]> } = {}): SimInput {
  const prices: RunPrices = o.prices ?? { onDemand: OD, spot: o.spot ?? traces.map(() => SPOT), source: 'test' };
  return { traces, startTick: o.startTick ?? 0, work: o.work ?? 600, deadline: o.deadline ?? 1800, overhead: o.overhead ?? 60, prices };
}
