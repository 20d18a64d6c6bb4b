/**
 * The simulator's clock for its clients. With timeScale > 1 simulated time
 * runs ahead of every real clock, so code that computes absolute times
 * (ValidUntil, price history windows, notice deadlines) must read "now" from
 * the simulator: in-process from `Simulator.clock`, from another process
 * through `fetchSimulatorClock(endpoint)` (GET /_sim/healthz once, then
 * extrapolated locally).
 */
import { z } from 'zod';
import type { ClockOrigin } from './clock.js';

export type { ClockOrigin } from './clock.js';

/** A clock in the product's shape (`now()`, epoch ms) that follows simulated time. */
export interface SimulatorClock extends ClockOrigin {
  now(): number;
}

/** A Clock that follows the simulated timeline described by `origin`. */
export function simulatorClock(origin: ClockOrigin): SimulatorClock {
  const { realStart, simStart, timeScale } = origin;
  return { realStart, simStart, timeScale, now: () => simStart + (Date.now() - realStart) * timeScale };
}

const healthSchema = z.object({ clock: z.object({ realStart: z.number(), simStart: z.number(), timeScale: z.number().positive() }) });

/** The clock of the simulator at `endpoint` (its EC2/IAM endpoint URL). */
export async function fetchSimulatorClock(endpoint: string): Promise<SimulatorClock> {
  const res = await fetch(new URL('/_sim/healthz', endpoint));
  if (!res.ok) throw new Error(`simulator clock: GET /_sim/healthz answered HTTP ${res.status}`);
  return simulatorClock(healthSchema.parse(await res.json()).clock);
}
