/**
 * `npm run bench -- policies [--trace DIR_OR_FILE ...] [--durations 48,8] [--starts 3] [--policies a,b] [--json]`
 *
 * Every deadline policy (services/plan/policies.ts and spotbatch.ts) on every
 * trace in data/market/traces, through the what-if planner's engine
 * (services/plan/engine.ts, the same simulation as `spotbatch plan`): each
 * zone file as a single-pool run, and each trace folder as one multi-pool run.
 * The grid (issue 15): durations 48 h and 8 h; deadlines with 4 h and 22 h of
 * slack over 48 h (52 h, 70 h) and, for 8 h, the same fractions of the work
 * (8 h x 52/48 = 8.67 h and 8 h x 70/48 = 11.67 h: the slack a deadline
 * leaves matters relative to the work, and 4 h or 22 h over an 8 h task would
 * be two other problems); restart overheads 3 min and 12 min; start times
 * every 12 h along the trace (only starts whose deadline falls inside the
 * trace, so nothing wraps around). Prices are the planner's defaults for the
 * trace's instance type (resolvePrices).
 *
 * Each (trace, duration, deadline, overhead, start) point runs every policy
 * once, the oracle included. The oracle (the exact DP over ticks) is the costly
 * part, a second or more per 48 h point on a slow core, and the full grid has
 * about 7,000 points: so by default `--starts 3` keeps 3 of the 12-hourly
 * start times per (trace, duration, deadline, overhead), spread evenly along
 * the trace (first, middle, last), and every policy runs on that same sample
 * so the ratios compare; `--starts all` runs the whole grid (hours).
 *
 * Prints per policy the mean and worst cost ratio (cost / the work on demand)
 * and deadlines met; per trace, spotbatch vs uniform-progress vs oracle and
 * the share of the UP-oracle gap spotbatch closes; and whether issue 15's
 * target holds: spotbatch meets every deadline, costs no more than
 * uniform-progress on every trace (mean over the trace's grid), and closes at
 * least half of the gap on average (mean over traces of each trace's share).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync, statSync } from 'node:fs';
import { simulate, type SimInput, type SimResult } from '../services/plan/engine.js';
import { POLICIES } from '../services/plan/policies.js';
import { POLICY_NAMES, type Policy, type PolicyName } from '../services/plan/policy.js';
import { resolvePrices } from '../services/plan/prices.js';
import { loadTraces, resample, type Trace } from '../services/plan/trace.js';

const HOUR = 3600;
const here = path.dirname(fileURLToPath(import.meta.url));
const TRACES = path.resolve(here, '../data/market/traces');
/** Slack over a 48 h task (issue 15): 4 h and 22 h; other durations keep the same ratios of deadline to work. */
const DEADLINE_RATIOS = [52 / 48, 70 / 48];
const OVERHEADS = [3 * 60, 12 * 60];
const START_EVERY = 12 * HOUR;

interface Case {
  name: string;
  traces: Trace[];
}

/** Every trace folder under data/market/traces: each file alone, then the folder as one multi-pool run. */
function defaultCases(): Case[] {
  const cases: Case[] = [];
  for (const kind of readdirSync(TRACES).sort()) {
    const kindDir = path.join(TRACES, kind);
    if (!statSync(kindDir).isDirectory()) continue;
    for (const folder of readdirSync(kindDir).sort()) {
      const dir = path.join(kindDir, folder);
      if (!statSync(dir).isDirectory()) continue;
      cases.push(...casesOf(dir, `${kind}/${folder}`));
    }
  }
  return cases;
}

function casesOf(target: string, label: string): Case[] {
  const all = resample(loadTraces(target)).traces;
  if (all.length === 1) return [{ name: label, traces: all }];
  return [...all.map((t) => ({ name: `${label}/${t.id.replace(/\.json$/, '')}`, traces: [t] })), { name: `${label} (${all.length} pools)`, traces: all }];
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

interface Point {
  policies: Map<PolicyName, SimResult>;
}

/** At most `n` of `xs`, evenly spaced, the first and the last included. */
function spread<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  if (n === 1) return [xs[0]!];
  return Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (n - 1))]!);
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');

export default async function policies(args: string[]): Promise<void> {
  const traceArgs = args.flatMap((a, i) => (args[i - 1] === '--trace' ? [a] : []));
  const cases = traceArgs.length ? traceArgs.flatMap((t) => casesOf(t, t)) : defaultCases();
  const durations = (option(args, '--durations') ?? '48,8').split(',').map((h) => Number(h) * HOUR);
  const startsOpt = option(args, '--starts') ?? '3';
  const maxStarts = startsOpt === 'all' ? Number.POSITIVE_INFINITY : Math.max(1, Number(startsOpt));
  const names = (option(args, '--policies')?.split(',') ?? POLICY_NAMES).filter((n): n is PolicyName => (POLICIES as Record<string, Policy | undefined>)[n] !== undefined);
  const started = Date.now();
  const perCase = new Map<string, Point[]>();
  for (const c of cases) {
    const prices = resolvePrices(c.traces);
    const gap = c.traces[0]!.gapSeconds;
    const length = Math.min(...c.traces.map((t) => t.available.length)) * gap;
    const points: Point[] = [];
    for (const work of durations)
      for (const ratio of DEADLINE_RATIOS)
        for (const overhead of OVERHEADS) {
          const deadline = Math.round(work * ratio);
          const starts: number[] = [];
          for (let s = 0; s + deadline <= length; s += START_EVERY) starts.push(s);
          for (const s of spread(starts, maxStarts)) {
            const input: SimInput = { traces: c.traces, startTick: Math.round(s / gap), work, deadline, overhead, prices };
            points.push({ policies: new Map(names.map((name) => [name, simulate(POLICIES[name]!, input)])) });
          }
        }
    perCase.set(c.name, points);
    process.stderr.write(`  ${c.name}: ${points.length} points, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const all = [...perCase.values()].flat();

  console.log(`\npolicies over ${cases.length} traces, ${all.length} points (durations ${durations.map((d) => d / HOUR).join(', ')} h; deadline/work ${DEADLINE_RATIOS.map((r) => r.toFixed(3)).join(', ')}; overheads ${OVERHEADS.map((o) => o / 60).join(', ')} min; starts every 12 h${Number.isFinite(maxStarts) ? `, ${maxStarts} of them per trace and setting, spread evenly` : ''}), ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  console.log('| policy | mean cost ratio | worst cost ratio | deadlines met |');
  console.log('|---|---|---|---|');
  for (const name of names) {
    const rs = all.map((p) => p.policies.get(name)!);
    const met = rs.filter((r) => r.deadlineMet).length;
    console.log(`| ${name} | ${f3(mean(rs.map((r) => r.costRatio)))} | ${f3(Math.max(...rs.map((r) => r.costRatio)))} | ${met}/${rs.length} |`);
  }
  const has = (n: PolicyName): boolean => names.includes(n);
  if (!has('spotbatch') || !has('uniform-progress') || !has('oracle')) return;
  console.log('\n| trace | points | uniform-progress | spotbatch | oracle | gap closed | spotbatch <= UP | deadlines met |');
  console.log('|---|---|---|---|---|---|---|---|');
  const shares: number[] = [];
  let allMet = true;
  let neverAbove = true;
  for (const [name, points] of perCase) {
    if (!points.length) continue;
    const m = (n: PolicyName): number => mean(points.map((p) => p.policies.get(n)!.costRatio));
    const up = m('uniform-progress');
    const sb = m('spotbatch');
    const or = m('oracle');
    const share = up - or > 1e-9 ? (up - sb) / (up - or) : 1;
    shares.push(share);
    const met = points.filter((p) => p.policies.get('spotbatch')!.deadlineMet).length;
    allMet &&= met === points.length;
    neverAbove &&= sb <= up + 1e-9;
    console.log(`| ${name} | ${points.length} | ${f3(up)} | ${f3(sb)} | ${f3(or)} | ${(share * 100).toFixed(0)}% | ${sb <= up + 1e-9 ? 'yes' : 'NO'} | ${met}/${points.length} |`);
  }
  const closed = mean(shares);
  const runsAbove = all.filter((p) => p.policies.get('spotbatch')!.cost > p.policies.get('uniform-progress')!.cost + 1e-9).length;
  console.log(`\nspotbatch above uniform-progress in ${runsAbove} of ${all.length} single runs (the target is per trace, on the mean).`);
  console.log(`target: every deadline met: ${allMet ? 'yes' : 'NO'}; no more than uniform-progress on every trace: ${neverAbove ? 'yes' : 'NO'}; gap closed on average ${(closed * 100).toFixed(0)}% (>= 50%: ${closed >= 0.5 ? 'yes' : 'NO'}) => ${allMet && neverAbove && closed >= 0.5 ? 'MET' : 'NOT MET'}`);
}
