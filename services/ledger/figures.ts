/**
 * The ledger's figures in words: money, durations, and the lines the HTML
 * report and the status page's job view show (the page's client script
 * rewrites them from the JSON with the same function, so a live figure reads
 * like a served one). No runtime imports: this file goes into the browser bundle.
 */
import type { JobLedger, TimeSplit } from './types.js';

/** USD as the status page writes it: 4 decimals under $100, 2 from there. */
export function money(v: number): string {
  return `$${v >= 100 ? v.toFixed(2) : v.toFixed(4)}`;
}

/** How each attempt ended, as a colour: the report's charts and the status page's timeline use the same. */
export const OUTCOME_COLOURS: Record<string, string> = {
  open: '#1565c0',
  succeeded: '#2e7d32',
  failed: '#c62828',
  retry: '#ef6c00',
  replaced: '#9e9e9e',
  interrupted: '#6a1b9a',
  lost: '#8d6e63',
  cancelled: '#455a64',
};

/** Seconds as "12.3 s", "4m 05s", "2h 03m" or "3d 04h". */
export function span(s: number): string {
  if (!Number.isFinite(s)) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s.toFixed(1)} s`;
  const t = Math.floor(s);
  if (t < 3600) return `${Math.floor(t / 60)}m ${pad(t % 60)}s`;
  if (t < 86_400) return `${Math.floor(t / 3600)}h ${pad(Math.floor((t % 3600) / 60))}m`;
  return `${Math.floor(t / 86_400)}d ${pad(Math.floor((t % 86_400) / 3600))}h`;
}

/** Where the time went, in the order the stacked bar draws it. */
export const SPLIT_PARTS: { key: keyof TimeSplit; label: string; colour: string }[] = [
  { key: 'usefulSeconds', label: 'useful', colour: '#2e7d32' },
  { key: 'lostSeconds', label: 'lost', colour: '#c62828' },
  { key: 'bootSeconds', label: 'boot', colour: '#90a4ae' },
  { key: 'idleSeconds', label: 'idle', colour: '#ffb300' },
  { key: 'duplicateSeconds', label: 'duplicate', colour: '#8e24aa' },
];

export const splitSeconds = (t: TimeSplit): number => SPLIT_PARTS.reduce((s, p) => s + t[p.key], 0);

/** The job's figures, each with its key (the `data-figure` of the element that shows it), label and text. */
export function ledgerFigures(l: JobLedger): { key: string; label: string; text: string }[] {
  const open = l.tasks.some((t) => t.attempts.some((a) => a.open));
  const interruptions = l.tasks.reduce((s, t) => s + t.interruptions, 0);
  return [
    { key: 'usd', label: 'Spend', text: `${money(l.usd)}${open ? ' so far' : ''}` },
    { key: 'spot', label: 'On spot', text: money(l.spotUsd) },
    { key: 'fallback', label: 'On demand (deadline fallback)', text: money(l.onDemandFallbackUsd) },
    { key: 'on-demand', label: 'On-demand equivalent', text: l.onDemandUsd === undefined ? 'not available (see the notes)' : money(l.onDemandUsd) },
    { key: 'savings', label: 'Savings', text: l.savingsUsd === undefined ? 'n/a' : `${money(l.savingsUsd)}${l.savingsPct === undefined ? '' : ` (${l.savingsPct.toFixed(1)}%)`}` },
    { key: 'interruptions', label: 'Interruptions', text: String(interruptions) },
    { key: 'time', label: 'Instance time', text: `${span(splitSeconds(l.time))}: ${SPLIT_PARTS.map((p) => `${p.label} ${span(l.time[p.key])}`).join(', ')}` },
  ];
}

/**
 * What the charts are drawn from, short of the running spend: the attempts (each one's outcome, rule and
 * whether it runs) and their price segments. The status page redraws the charts when this changes, not at
 * every poll's higher spend.
 */
export function chartShape(l: JobLedger): string {
  return JSON.stringify([l.state, l.tasks.map((t) => [t.taskId, t.attempts.map((b) => [b.n, b.outcome ?? '', b.open, b.rule, b.endedAt ?? 0, b.segments.map((s) => [s.from, s.price])])])]);
}
