/**
 * How the page shows numbers and times: the server's pages and the client
 * script's live updates (client/main.ts, bundled) both import these; the
 * browser test checks that a live-updated table reads exactly like a freshly
 * served one. No runtime imports: this file goes into the browser bundle.
 */
import { span } from '../ledger/figures.js';
import type { JobLedger } from '../ledger/types.js';
import type { AttemptView, SpendView, TaskCounts } from '../views/types.js';

export function usd(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'n/a';
  return `$${v >= 100 ? v.toFixed(2) : v.toFixed(4)}`;
}

/** Seconds as "12.3 s", "4m 05s", "2h 03m" or "3d 04h" (the ledger's span); nothing for no value. */
export function duration(s: number | null | undefined): string {
  return s === null || s === undefined ? '' : span(s);
}

/** Seconds between two ISO times, or undefined when either is missing. */
export function between(from: string | undefined, to: string | undefined): number | undefined {
  if (!from || !to) return undefined;
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

/** An ISO time as "2026-11-22 10:01:02 UTC". */
export function when(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : '';
}

/** The last `n` lines of an output tail. */
export function lastLines(text: string | undefined, n: number): string {
  if (!text) return '';
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

/** An age in whole seconds: "42 s", then as duration(). */
export function age(s: number): string {
  return s < 60 ? `${Math.max(0, Math.floor(s))} s` : duration(s);
}

export function tasksText(c: TaskCounts): string {
  return `${c.succeeded} succeeded, ${c.running} running, ${c.failed} failed, ${c.waiting} waiting${c.cancelled ? `, ${c.cancelled} cancelled` : ''} of ${c.total}`;
}

/** The current attempt's launch timings, from its spot request. */
export function launchText(a: Pick<AttemptView, 'requestedAt' | 'runningAt' | 'startedAt' | 'endedAt'> | undefined): string {
  if (!a) return '';
  const parts: string[] = [];
  if (a.runningAt) parts.push(`running +${duration(between(a.requestedAt, a.runningAt))}`);
  if (a.startedAt) parts.push(`step +${duration(between(a.requestedAt, a.startedAt))}`);
  if (a.startedAt && a.endedAt) parts.push(`ran ${duration(between(a.startedAt, a.endedAt))}`);
  return parts.length ? parts.join(' · ') : `requested ${when(a.requestedAt)}`;
}

/** Two sentences: spot spend so far, and the on-demand equivalent or why there is none. */
export function spendText(s: SpendView): [string, string] {
  const spot = `${usd(s.spotUsd)} on spot so far, over ${s.attemptsRun} attempt(s) whose instance ran.`;
  if (s.attemptsRun === 0) return [spot, 'On-demand equivalent: nothing has run yet.'];
  if (s.onDemandUsd === null) return [spot, `On-demand equivalent: not available (no on-demand list price shipped for ${s.unpricedPools.join(', ')}).`];
  const part = s.attemptsPriced < s.attemptsRun ? ` for the ${s.attemptsPriced} of ${s.attemptsRun} attempts with a list price (spot for those: ${usd(s.spotUsdPriced)}; none for ${s.unpricedPools.join(', ')})` : '';
  const saved = s.savedFraction !== null ? `; spot saved ${Math.round(s.savedFraction * 100)}%` : '';
  return [spot, `The same instance-hours on demand: ${usd(s.onDemandUsd)}${part}${saved}.`];
}

/** The summary's two spend sentences from the cost ledger (when the page has one) instead of the estimate. */
export function ledgerSpendText(l: JobLedger): [string, string] {
  const open = l.tasks.some((t) => t.attempts.some((a) => a.open));
  const spot = `${usd(l.usd)}${open ? ' so far' : ''} (${usd(l.spotUsd)} on spot${l.onDemandFallbackUsd ? `, ${usd(l.onDemandFallbackUsd)} on demand as the deadline's fallback` : ''}).`;
  if (l.onDemandUsd === undefined) return [spot, 'On-demand equivalent: not available (see the notes below).'];
  const saved = l.savingsUsd !== undefined ? `; spot saved ${usd(l.savingsUsd)}${l.savingsPct !== undefined ? ` (${Math.round(l.savingsPct)}%)` : ''}` : '';
  return [spot, `The same running time on demand: ${usd(l.onDemandUsd)}${saved}.`];
}
