/**
 * The timeline of one page of tasks as SVG: a row per task, a bar per
 * attempt (a thin segment while it waited for its instance, a thick one
 * while the instance ran), coloured by how the attempt ended, a mark where
 * an interruption ended it. Served inline in the job page and on its own
 * (image/svg+xml) for the page's live updates. Colours are attributes, so
 * the SVG reads the same with or without the page's stylesheet.
 */
import { duration } from './format.js';
import { html, type Html } from '../../shared/html.js';
import type { AttemptView, TaskView } from '../views/types.js';
import { OUTCOME_COLOURS } from '../ledger/figures.js';

export { OUTCOME_COLOURS };

const WAIT_COLOUR = '#b0bec5';

const W = 960;
const LEFT = 56;
const RIGHT = 12;
const TOP = 22;
const ROW = 14;
const BAR = 8;

export interface TimelineSpan {
  /** Epoch ms: the job's submission. */
  start: number;
  /** Epoch ms: the job's end, or now while it runs. */
  end: number;
  now: number;
}

const ms = (isoTime: string | undefined) => (isoTime ? Date.parse(isoTime) : undefined);
const fix = (v: number) => Math.round(v * 10) / 10;

function attemptTitle(t: TaskView, a: AttemptView): string {
  const parts = [`task ${t.taskId} attempt ${a.n} on ${a.pool} (${a.region}${a.market === 'on-demand' ? ', on demand' : ''})`, a.outcome === 'open' ? 'still open' : a.outcome];
  if (a.instanceId) parts.push(a.instanceId);
  if (a.exitCode !== undefined) parts.push(`exit ${a.exitCode}`);
  if (a.interruptedBy) parts.push(`interruption seen by ${a.interruptedBy}`);
  if (a.reason) parts.push(a.reason);
  return parts.join(' · ');
}

export function timelineSvg(taskList: TaskView[], span: TimelineSpan, standalone = false): Html {
  let end = span.end;
  for (const t of taskList) for (const a of t.attempts) end = Math.max(end, ms(a.endedAt) ?? (a.outcome === 'open' ? span.now : 0));
  const start = Math.min(span.start, ...taskList.flatMap((t) => t.attempts.map((a) => ms(a.requestedAt)!)));
  const width = Math.max(1, end - start);
  const x = (t: number) => fix(LEFT + ((t - start) / width) * (W - LEFT - RIGHT));
  const height = TOP + Math.max(1, taskList.length) * ROW + 6;
  const ticks = Array.from({ length: 5 }, (_, i) => start + (width * i) / 4);
  const rows = taskList.map((t, i) => {
    const y = TOP + i * ROW;
    const bars = t.attempts.map((a) => {
      const requested = ms(a.requestedAt)!;
      const running = ms(a.runningAt);
      const ended = ms(a.endedAt) ?? span.now;
      const waitEnd = running ?? ended;
      const colour = OUTCOME_COLOURS[a.outcome] ?? '#000000';
      const mark = a.outcome === 'interrupted' ? ms(a.endedAt) : undefined;
      return html`<g class="attempt" data-task="${t.taskId}" data-attempt="${a.n}" data-outcome="${a.outcome}"><title>${attemptTitle(t, a)}</title><rect class="wait" x="${x(requested)}" y="${y + BAR / 2 - 1}" width="${Math.max(1, fix(x(waitEnd) - x(requested)))}" height="2" fill="${running === undefined ? colour : WAIT_COLOUR}"/>${
        running !== undefined ? html`<rect class="run" x="${x(running)}" y="${y}" width="${Math.max(2, fix(x(ended) - x(running)))}" height="${BAR}" rx="1.5" fill="${colour}"/>` : ''
      }${mark !== undefined ? html`<path class="interruption" d="M${x(mark) - 4},${y - 4} h8 l-4,5 z" fill="${OUTCOME_COLOURS.interrupted}"/>` : ''}</g>`;
    });
    return html`<g class="task-row" data-task="${t.taskId}"><text x="${LEFT - 6}" y="${y + BAR}" text-anchor="end" font-size="10" font-family="monospace" fill="#37474f">${t.taskId}</text>${bars}</g>`;
  });
  const axis = ticks.map(
    (t, i) =>
      html`<line x1="${x(t)}" x2="${x(t)}" y1="${TOP - 6}" y2="${height - 4}" stroke="#eceff1"/><text x="${x(t)}" y="${TOP - 9}" font-size="10" font-family="sans-serif" text-anchor="${i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle'}" fill="#607d8b">+${duration((t - start) / 1000)}</text>`,
  );
  const label = taskList.length ? `Attempts of tasks ${taskList[0]!.taskId} to ${taskList[taskList.length - 1]!.taskId}` : 'No tasks on this page';
  return html`<svg ${standalone ? html`xmlns="http://www.w3.org/2000/svg" ` : ''}id="timeline" class="timeline" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${label}"><title>${label}</title>${axis}${rows}</svg>`;
}
