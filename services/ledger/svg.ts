/**
 * The cost ledger's charts as SVG: pure functions of a JobLedger (or a
 * FleetReport's rows) that return a self-contained <svg> (its own xmlns,
 * scaled by its viewBox, a <title> and <desc> for screen readers, no script,
 * no external font, colours as attributes). Every string from the data goes
 * through the escaping `html` template; numbers are rounded to 0.1 so the
 * same ledger always gives the same text. Used by the HTML report (html.ts)
 * and the status page's job view.
 *
 *   spendOverTimeSvg     cumulative spend, the on-demand equivalent dashed when known
 *   attemptTimelineSvg   a row per task, a bar per attempt (request to end, boot part lighter)
 *   launchHistogramSvg   request to SSH-ready, a histogram per pool
 *   moneySplitSvg        where the money went: useful / lost / boot / idle / duplicate
 *   poolSpendSvg         spend by pool, the part interruptions wasted darker
 *   dailySpendSvg        the fleet's spend by day (FleetReport.days)
 */
import { html, type Html, type Interpolation } from '../../shared/html.js';
import { money, OUTCOME_COLOURS, span, SPLIT_PARTS, splitSeconds } from './figures.js';
import type { AttemptBill, FleetReport, JobLedger, PoolLedger, TimeSplit } from './types.js';

/** Rounded to 0.1, never "-0". */
const fix = (v: number): number => {
  const r = Math.round(v * 10) / 10;
  return r === 0 ? 0 : r;
};
const FONT = 'sans-serif';
const MUTED = '#607d8b';
const GRID = '#eceff1';

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above v (an axis's top). */
function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

function frame(kind: string, width: number, height: number, title: string, desc: string, body: Interpolation): Html {
  return html`<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-${kind}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}" font-family="${FONT}"><title>${title}</title><desc>${desc}</desc>${body}</svg>`;
}

function empty(kind: string, title: string, message: string): Html {
  return frame(kind, 720, 40, title, message, html`<text class="empty" x="8" y="24" font-size="12" fill="${MUTED}">${message}</text>`);
}

/** The outline of an on-demand attempt (a deadline's fallback). */
const ON_DEMAND_COLOUR = '#ff8f00';

const jobLabel = (l: JobLedger) => l.name ?? l.jobId;

// ---- spend over time

/** The on-demand equivalent accrues evenly over each attempt's running time: its value at `t`. */
function onDemandAt(bills: AttemptBill[], end: number, t: number): number {
  let sum = 0;
  for (const b of bills) {
    if (b.runningAt === undefined || b.onDemandUsd === undefined) continue;
    const e = b.endedAt ?? end;
    if (t >= e) sum += b.onDemandUsd;
    else if (t > b.runningAt && e > b.runningAt) sum += (b.onDemandUsd * (t - b.runningAt)) / (e - b.runningAt);
  }
  return sum;
}

/** The dashed line's points: the on-demand equivalent at the start and at every attempt's start and end. */
export function onDemandOverTime(l: JobLedger): { at: number; usd: number }[] {
  const bills = l.tasks.flatMap((t) => t.attempts);
  const end = l.endedAt ?? l.computedAt;
  const times = new Set<number>([l.submittedAt]);
  for (const b of bills) {
    if (b.runningAt === undefined || b.onDemandUsd === undefined) continue;
    times.add(b.runningAt);
    times.add(b.endedAt ?? end);
  }
  return [...times].sort((a, b) => a - b).map((at) => ({ at, usd: onDemandAt(bills, end, at) }));
}

export function spendOverTimeSvg(l: JobLedger): Html {
  const title = `Spend over time of ${jobLabel(l)}`;
  const W = 720;
  const H = 260;
  const L = 72;
  const R = 16;
  const T = 16;
  const B = 30;
  const points = [...l.spendOverTime].sort((a, b) => a.at - b.at);
  const dashed = l.onDemandUsd !== undefined ? onDemandOverTime(l) : [];
  const t0 = Math.min(l.submittedAt, ...points.map((p) => p.at));
  const t1 = Math.max(t0 + 1000, l.endedAt ?? l.computedAt, ...points.map((p) => p.at), ...dashed.map((p) => p.at));
  const top = niceCeil(Math.max(l.usd, l.onDemandUsd ?? 0, ...points.map((p) => p.usd), ...dashed.map((p) => p.usd)));
  const x = (t: number) => fix(L + ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v: number) => fix(T + (1 - v / top) * (H - T - B));
  // A step at the start (nothing spent before the first point) and a flat end to the chart's right edge.
  const line = [...(points.length && points[0]!.at > t0 ? [{ at: t0, usd: 0 }] : []), ...points];
  const last = line[line.length - 1];
  if (last && last.at < t1) line.push({ at: t1, usd: last.usd });
  const path = (ps: { at: number; usd: number }[]) => ps.map((p, i) => `${i ? 'L' : 'M'}${x(p.at)},${y(p.usd)}`).join(' ');
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * top);
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0));
  const grid = [
    ...yTicks.map((v) => html`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="${GRID}"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10" fill="${MUTED}">${money(v)}</text>`),
    ...xTicks.map((t, i) => html`<text x="${x(t)}" y="${H - B + 16}" text-anchor="${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}" font-size="10" fill="${MUTED}">+${span((t - t0) / 1000)}</text>`),
  ];
  const desc = `Cumulative spend from submission: ${money(l.usd)}${l.onDemandUsd !== undefined ? `; the same running time on demand (dashed): ${money(l.onDemandUsd)}` : '; no on-demand equivalent (a region without list prices)'}.`;
  const body = [
    ...grid,
    html`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="${MUTED}"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="${MUTED}"/>`,
    dashed.length ? html`<path class="on-demand" d="${path(dashed)}" fill="none" stroke="${ON_DEMAND_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"><title>${`on-demand equivalent ${money(l.onDemandUsd ?? 0)}`}</title></path>` : html``,
    line.length ? html`<path class="spend" d="${path(line)}" fill="none" stroke="#1565c0" stroke-width="2"><title>${`spend ${money(l.usd)}`}</title></path>` : html`<text class="empty" x="${L + 8}" y="${T + 16}" font-size="12" fill="${MUTED}">Nothing spent yet.</text>`,
    html`<g class="legend" font-size="11"><line x1="${L + 8}" x2="${L + 28}" y1="${T + 6}" y2="${T + 6}" stroke="#1565c0" stroke-width="2"/><text x="${L + 32}" y="${T + 10}" fill="#263238">spend ${money(l.usd)}</text>${
      dashed.length
        ? html`<line x1="${L + 168}" x2="${L + 188}" y1="${T + 6}" y2="${T + 6}" stroke="${ON_DEMAND_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="${L + 192}" y="${T + 10}" fill="#263238">on demand ${money(l.onDemandUsd ?? 0)}</text>`
        : ''
    }</g>`,
  ];
  return frame('spend', W, H, title, desc, body);
}

// ---- attempt timeline

function attemptTitle(taskId: string, b: AttemptBill): string {
  const parts = [`task ${taskId} attempt ${b.n} on ${b.zone}/${b.type} (${b.region}, ${b.market})`, b.open ? 'still running' : (b.outcome ?? 'ended')];
  if (b.interrupted) parts.push('interrupted');
  if (b.runningAt !== undefined) parts.push(`billed ${span(b.billedSeconds)} (${b.rule}) ${money(b.usd)}`);
  else parts.push('never ran: nothing billed');
  return parts.join(' · ');
}

/** Rows beyond this are left out of the chart (the report's table has every task). */
const TIMELINE_MAX_ROWS = 200;

export function attemptTimelineSvg(l: JobLedger, maxRows = TIMELINE_MAX_ROWS): Html {
  const title = `Attempt timeline of ${jobLabel(l)}`;
  const tasks = l.tasks.slice(0, maxRows);
  const more = l.tasks.length - tasks.length;
  const W = 960;
  const LEFT = 104;
  const RIGHT = 12;
  const TOP = 24;
  const ROW = 16;
  const BAR = 10;
  const end = l.endedAt ?? l.computedAt;
  const startOf = (b: AttemptBill) => b.requestedAt ?? b.runningAt;
  const endOf = (b: AttemptBill) => b.endedAt ?? (b.open ? l.computedAt : (b.runningAt ?? startOf(b)));
  const bills = tasks.flatMap((t) => t.attempts);
  const t0 = Math.min(l.submittedAt, ...bills.map((b) => startOf(b) ?? l.submittedAt));
  const t1 = Math.max(t0 + 1000, end, ...bills.map((b) => endOf(b) ?? t0));
  const x = (t: number) => fix(LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT));
  const height = TOP + Math.max(1, tasks.length) * ROW + (more ? 20 : 6);
  const rows = tasks.map((t, i) => {
    const y = TOP + i * ROW;
    const label = t.taskId.length > 16 ? `${t.taskId.slice(0, 15)}…` : t.taskId;
    const bars = t.attempts.map((b) => {
      const s = startOf(b);
      if (s === undefined) return html``;
      const e = Math.max(s, endOf(b) ?? s);
      const bootEnd = Math.min(e, Math.max(s, b.sshReadyAt ?? b.runningAt ?? e));
      const colour = OUTCOME_COLOURS[b.open ? 'open' : (b.outcome ?? 'open')] ?? '#000000';
      const outline = b.market === 'on-demand' ? html` stroke="${ON_DEMAND_COLOUR}" stroke-width="1.5"` : '';
      const boot = html`<rect class="boot" x="${x(s)}" y="${y}" width="${Math.max(1, fix(x(bootEnd) - x(s)))}" height="${BAR}" fill="${colour}" fill-opacity="0.35"${outline}/>`;
      const run = e > bootEnd ? html`<rect class="run" x="${x(bootEnd)}" y="${y}" width="${Math.max(1, fix(x(e) - x(bootEnd)))}" height="${BAR}" fill="${colour}"${outline}/>` : '';
      const mark = b.interrupted ? html`<path class="interruption" d="M${fix(x(e) - 4)},${y - 5} h8 l-4,5 z" fill="${OUTCOME_COLOURS.interrupted}"/>` : '';
      return html`<g class="attempt" data-task="${t.taskId}" data-attempt="${b.n}" data-market="${b.market}" data-outcome="${b.open ? 'open' : (b.outcome ?? '')}"><title>${attemptTitle(t.taskId, b)}</title>${boot}${run}${mark}</g>`;
    });
    return html`<g class="task-row" data-task="${t.taskId}"><text x="${LEFT - 6}" y="${y + BAR - 1}" text-anchor="end" font-size="10" font-family="monospace" fill="#37474f">${label}</text>${bars}</g>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0));
  const axis = ticks.map(
    (t, i) =>
      html`<line x1="${x(t)}" x2="${x(t)}" y1="${TOP - 6}" y2="${height - 4}" stroke="${GRID}"/><text x="${x(t)}" y="${TOP - 10}" font-size="10" text-anchor="${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}" fill="${MUTED}">+${span((t - t0) / 1000)}</text>`,
  );
  const desc = `${tasks.length} task(s), ${bills.length} attempt(s): a bar from each attempt's request to its end, the boot part (request to SSH-ready) lighter, coloured by how it ended; on-demand attempts outlined in orange; a triangle marks an interruption.${more ? ` ${more} more task(s) not drawn.` : ''}`;
  const footer = more ? html`<text class="more" x="${LEFT}" y="${height - 6}" font-size="10" fill="${MUTED}">and ${more} more task(s), not drawn</text>` : '';
  return frame('timeline', W, height, title, desc, [...axis, ...rows, footer]);
}

// ---- launch times

/** Bin width for a histogram of values up to `max`: a round number of seconds giving at most `bins` bins. */
function binWidth(max: number, bins: number): number {
  for (const w of [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (max / w < bins) return w;
  return niceCeil(max / bins);
}

export function launchHistogramSvg(l: JobLedger): Html {
  const title = `Launch times by pool of ${jobLabel(l)}`;
  if (!l.launches.length) return empty('launches', title, 'No attempt has reached SSH yet.');
  const pools = [...new Set(l.launches.map((p) => p.pool))].sort();
  const max = Math.max(...l.launches.map((p) => p.seconds));
  const w = binWidth(max, 12);
  const nBins = Math.floor(max / w) + 1;
  const counts = pools.map((pool) => {
    const c = new Array<number>(nBins).fill(0);
    for (const p of l.launches) if (p.pool === pool) c[Math.min(nBins - 1, Math.max(0, Math.floor(p.seconds / w)))]!++;
    return c;
  });
  const cMax = Math.max(1, ...counts.flat());
  const W = 720;
  const L = 16;
  const R = 16;
  const PANEL = 84;
  const BARS = 54;
  const H = pools.length * PANEL + 24;
  const bw = (W - L - R) / nBins;
  const panels = pools.map((pool, i) => {
    const top = i * PANEL + 18;
    const base = top + BARS;
    const values = l.launches.filter((p) => p.pool === pool).map((p) => p.seconds).sort((a, b) => a - b);
    const median = values[Math.floor((values.length - 1) / 2)]!;
    const bars = counts[i]!.map((c, k) =>
      c
        ? html`<rect class="bin" data-pool="${pool}" data-from="${k * w}" data-count="${c}" x="${fix(L + k * bw + 1)}" y="${fix(base - (c / cMax) * BARS)}" width="${fix(Math.max(1, bw - 2))}" height="${fix((c / cMax) * BARS)}" fill="#1565c0"><title>${`${pool}: ${c} launch(es) of ${span(k * w)} to ${span((k + 1) * w)}`}</title></rect>`
        : '',
    );
    return html`<g class="pool" data-pool="${pool}"><text x="${L}" y="${top - 4}" font-size="11" fill="#263238">${pool}: ${values.length} launch(es), median ${span(median)}</text><line x1="${L}" x2="${W - R}" y1="${base}" y2="${base}" stroke="${MUTED}"/>${bars}</g>`;
  });
  const ticks = [0, Math.floor(nBins / 2), nBins].map((k) => html`<text x="${fix(L + k * bw)}" y="${H - 6}" font-size="10" text-anchor="${k === 0 ? 'start' : k === nBins ? 'end' : 'middle'}" fill="${MUTED}">${span(k * w)}</text>`);
  const desc = `From the spot request to the instance ready for SSH, ${l.launches.length} launch(es) in ${pools.length} pool(s), bins of ${span(w)}.`;
  return frame('launches', W, H, title, desc, [...panels, ...ticks]);
}

// ---- where the money went

export function moneySplitSvg(time: TimeSplit, usd: number, label: string): Html {
  const title = `Where the money went: ${label}`;
  const total = splitSeconds(time);
  if (!(total > 0)) return empty('split', title, 'No instance time yet.');
  const W = 720;
  const L = 8;
  const R = 8;
  const BAR = 28;
  let at = L;
  const segments = SPLIT_PARTS.map((p) => {
    const seconds = time[p.key];
    const width = ((W - L - R) * seconds) / total;
    const share = (usd * seconds) / total;
    const out = seconds
      ? html`<rect class="part part-${p.label}" data-seconds="${fix(seconds)}" data-usd="${share.toFixed(6)}" x="${fix(at)}" y="8" width="${fix(width)}" height="${BAR}" fill="${p.colour}"><title>${`${p.label}: ${span(seconds)}, ${money(share)} (${Math.round((seconds / total) * 100)}%)`}</title></rect>`
      : '';
    at += width;
    return out;
  });
  const legend = SPLIT_PARTS.map((p, i) => {
    const lx = L + i * 142;
    const share = (usd * time[p.key]) / total;
    return html`<rect x="${lx}" y="48" width="10" height="10" fill="${p.colour}"/><text x="${lx + 14}" y="57" font-size="11" fill="#263238">${p.label} ${money(share)}</text><text x="${lx + 14}" y="71" font-size="10" fill="${MUTED}">${span(time[p.key])}</text>`;
  });
  const desc = `${money(usd)} over ${span(total)} of instance time, in proportion to time: ${SPLIT_PARTS.map((p) => `${p.label} ${span(time[p.key])}`).join(', ')}.`;
  return frame('split', W, 80, title, desc, [...segments, ...legend]);
}

export function poolSpendSvg(pools: PoolLedger[], label: string): Html {
  const title = `Spend by pool: ${label}`;
  if (!pools.length) return empty('pools', title, 'No pool has been billed.');
  const rows = [...pools].sort((a, b) => b.usd - a.usd || a.pool.localeCompare(b.pool));
  const W = 720;
  const L = 200;
  const R = 120;
  const ROW = 22;
  const top = niceCeil(Math.max(...rows.map((p) => p.usd)));
  const bx = (v: number) => fix(((W - L - R) * v) / top);
  const H = rows.length * ROW + 12;
  const bars = rows.map((p, i) => {
    const y = 6 + i * ROW;
    const name = `${p.pool}${p.market === 'on-demand' ? ' (on demand)' : ''}`;
    return html`<g class="pool" data-pool="${p.pool}" data-market="${p.market}" data-usd="${p.usd.toFixed(6)}"><title>${`${p.pool} (${p.region}, ${p.market}): ${money(p.usd)} over ${p.attempts} attempt(s), ${p.interruptions} interruption(s) wasting ${span(p.wastedSeconds)} (${money(p.wastedUsd)})`}</title><text x="${L - 6}" y="${y + 12}" text-anchor="end" font-size="11" fill="#263238">${name.length > 30 ? `${name.slice(0, 29)}…` : name}</text><rect class="spend" x="${L}" y="${y}" width="${Math.max(1, bx(p.usd))}" height="16" fill="${p.market === 'on-demand' ? ON_DEMAND_COLOUR : '#1565c0'}"/>${
      p.wastedUsd > 0 ? html`<rect class="wasted" x="${L}" y="${y}" width="${Math.max(1, bx(Math.min(p.wastedUsd, p.usd)))}" height="16" fill="#c62828"/>` : ''
    }<text x="${fix(L + Math.max(1, bx(p.usd)) + 6)}" y="${y + 12}" font-size="11" fill="#263238">${money(p.usd)}${p.interruptions ? ` · ${p.interruptions} interrupted` : ''}</text></g>`;
  });
  const desc = `${rows.length} pool(s) by spend; the red part of a bar is what its interruptions wasted.`;
  return frame('pools', W, H, title, desc, bars);
}

// ---- the fleet

export function dailySpendSvg(days: FleetReport['days']): Html {
  const title = 'Spend by day';
  if (!days.length) return empty('days', title, 'Nothing spent in this period.');
  const rows = [...days].sort((a, b) => a.day.localeCompare(b.day));
  const W = 720;
  const H = 240;
  const L = 72;
  const R = 12;
  const T = 12;
  const B = 34;
  const top = niceCeil(Math.max(...rows.map((d) => Math.max(d.usd, d.onDemandUsd ?? 0))));
  const slot = (W - L - R) / rows.length;
  const y = (v: number) => fix(T + (1 - v / top) * (H - T - B));
  const every = Math.max(1, Math.ceil(rows.length / 8));
  const bars = rows.map((d, i) => {
    const x0 = L + i * slot;
    const bw = Math.max(1, slot * 0.7);
    const x1 = x0 + (slot - bw) / 2;
    return html`<g class="day" data-day="${d.day}" data-usd="${d.usd.toFixed(6)}"><title>${`${d.day}: ${money(d.usd)}${d.onDemandUsd !== undefined ? `, on demand ${money(d.onDemandUsd)}` : ''}`}</title><rect class="spend" x="${fix(x1)}" y="${y(d.usd)}" width="${fix(bw)}" height="${fix(y(0) - y(d.usd))}" fill="#1565c0"/>${
      d.onDemandUsd !== undefined ? html`<line class="on-demand" x1="${fix(x1)}" x2="${fix(x1 + bw)}" y1="${y(d.onDemandUsd)}" y2="${y(d.onDemandUsd)}" stroke="${ON_DEMAND_COLOUR}" stroke-width="2" stroke-dasharray="4 3"/>` : ''
    }${i % every === 0 ? html`<text x="${fix(x0 + slot / 2)}" y="${H - B + 14}" text-anchor="middle" font-size="10" fill="${MUTED}">${d.day.slice(5)}</text>` : ''}</g>`;
  });
  const grid = [0, 0.5, 1].map((f) => html`<line x1="${L}" x2="${W - R}" y1="${y(f * top)}" y2="${y(f * top)}" stroke="${GRID}"/><text x="${L - 6}" y="${y(f * top) + 4}" text-anchor="end" font-size="10" fill="${MUTED}">${money(f * top)}</text>`);
  const desc = `Spend per UTC day, ${rows[0]!.day} to ${rows[rows.length - 1]!.day}; a dashed mark is the day's on-demand equivalent where known.`;
  return frame('days', W, H, title, desc, [...grid, ...bars, html`<line x1="${L}" x2="${W - R}" y1="${y(0)}" y2="${y(0)}" stroke="${MUTED}"/>`]);
}
