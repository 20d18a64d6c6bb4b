/**
 * One tick of the model's accounting, shared by the engine and the oracle's
 * dynamic programme so that both count exactly alike: whatever runs first pays
 * what is left of its start's overhead, then makes progress, and stops the
 * moment the work is done (the last tick is prorated). Seconds throughout.
 */
export interface TickOutcome {
  /** Overhead paid in this tick (billed, no progress). */
  paid: number;
  /** Progress made in this tick. */
  progress: number;
  /** Billed seconds in this tick: `paid + progress`, or the whole tick. */
  billed: number;
  /** Whether the work is done within this tick (then `billed` seconds into it). */
  finished: boolean;
}

export function runTick(pending: number, done: number, work: number, gap: number): TickOutcome {
  const paid = Math.min(pending, gap);
  const progress = Math.min(gap - paid, work - done);
  const finished = done + progress >= work;
  return { paid, progress, billed: finished ? paid + progress : gap, finished };
}

/** USD for `seconds` at `usdPerHour`. */
export const costOf = (seconds: number, usdPerHour: number): number => (seconds * usdPerHour) / 3600;
