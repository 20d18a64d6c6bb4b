/** plan: what a job would likely cost, and whether it meets its deadline, under each deadline policy over spot traces (docs/planner.md). */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { deadlineAt, parseJobSpec, type JobSpec } from '../../model/spec.js';
import { POLICIES } from '../../plan/policies.js';
import { POLICY_NAMES } from '../../plan/policy.js';
import { plan, type PlanReport } from '../../plan/run.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../format.js';

const UNIT = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** "48h", "3m", "90s", "2d", "1.5h" as seconds. */
export function parseDurationArg(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(value.trim());
  const n = m ? Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] : NaN;
  if (!(n > 0)) throw new UsageError(`${flag}: must be a duration such as "48h", "3m" or "90s", got ${JSON.stringify(value)}`);
  return n;
}

/** The compute a spec's task needs: its runtime, else each step's timeout (or the spec's step timeout) summed. */
export function specWork(spec: JobSpec): number {
  if (spec.runtime !== undefined) return spec.runtime;
  const steps = spec.steps ?? [{}];
  return steps.reduce((sum: number, s: { timeout?: number }) => sum + (s.timeout ?? spec.timeouts.step), 0);
}

function readSpecFile(file: string): JobSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: cannot be read as JSON (${(err as Error).message})`);
  }
  return parseJobSpec(raw);
}

interface PlanCliOptions {
  trace: string;
  duration?: string;
  deadline?: string;
  restartOverhead: string;
  policy: string;
  startHours: string[];
  prices?: string;
  json?: boolean;
}

const hours = (h: number): string => `${h.toFixed(2)} h`;

export function formatPlan(r: PlanReport): string {
  const out: string[] = [`pools: ${r.pools.join(', ')} (tick ${r.gapSeconds} s)`, `prices: ${r.pricesSource}`];
  if (r.skipped.length) out.push(`not built, skipped: ${r.skipped.join(', ')}`);
  for (const run of r.runs) {
    out.push('', `${run.trace}, start at ${run.startHours} h:`);
    const head = ['policy', 'cost USD', 'vs on-demand', 'finish', 'deadline', 'interruptions', 'restarts', 'work lost'];
    const rows = run.policies.map((p) => [p.name, p.cost.toFixed(2), `${(p.costRatio * 100).toFixed(1)}%`, hours(p.finishHours), p.deadlineMet ? 'met' : 'MISSED', String(p.interruptions), String(p.restarts), hours(p.workLostHours)]);
    out.push(formatTable(head, rows));
    const od = run.policies[0]?.onDemandCost;
    if (od !== undefined) out.push(`on demand, no overhead: ${od.toFixed(2)} USD`);
  }
  return out.join('\n');
}

export function planCommand(): Command {
  return new Command('plan')
    .description('what-if: the cost and finish of a job under each deadline policy over spot availability traces (docs/planner.md)')
    .argument('[spec]', 'a job spec: duration = its runtime (else step timeout x steps), deadline = its deadline')
    .requiredOption('--trace <path>', 'a trace file, or a folder of them (one pool each, in name order), as data/market/traces')
    .option('--duration <d>', 'compute the job needs ("48h")')
    .option('--deadline <d>', 'time from the start to the deadline ("52h")')
    .option('--restart-overhead <d>', 'billed time without progress per start or switch (default: 3m, the paper\'s smallest)', '3m')
    .option('--policy <name>', 'a policy, or all', 'all')
    .option('--start-hours <h...>', 'hours into the trace at which runs start', ['0'])
    .option('--prices <file>', 'spot prices: a DescribeSpotPriceHistory CSV or a Spot Instance Advisor JSON (default: the trace\'s own, else the type family\'s typical discount)')
    .option('--json', 'print {"runs": [{"trace", "startHours", "policies": [{"name", "cost", "onDemandCost", "costRatio", "finishHours", "deadlineMet", "interruptions", "restarts", "workLostHours"}]}]}')
    .action((specFile: string | undefined, opts: PlanCliOptions) => {
      let work: number | undefined = opts.duration !== undefined ? parseDurationArg(opts.duration, '--duration') : undefined;
      let deadline: number | undefined = opts.deadline !== undefined ? parseDurationArg(opts.deadline, '--deadline') : undefined;
      if (specFile !== undefined) {
        const spec = readSpecFile(specFile);
        work ??= specWork(spec);
        if (deadline === undefined) {
          const now = Date.now();
          const at = deadlineAt(spec, now);
          if (at === undefined) throw new UsageError(`${specFile}: the spec has no deadline: give --deadline`);
          deadline = (at - now) / 1000;
          if (deadline <= 0) throw new UsageError(`${specFile}: the deadline ${spec.deadline} has passed`);
        }
      }
      if (work === undefined) throw new UsageError('--duration: required without a job spec');
      if (deadline === undefined) throw new UsageError('--deadline: required without a job spec');
      const startHours = opts.startHours.flatMap((s) => s.split(',')).map((s) => {
        const h = Number(s);
        if (s.trim() === '' || !Number.isFinite(h) || h < 0) throw new UsageError(`--start-hours: must be hours >= 0, got ${JSON.stringify(s)}`);
        return h;
      });
      if (opts.policy !== 'all' && !(opts.policy in POLICIES)) {
        const known = (POLICY_NAMES as readonly string[]).includes(opts.policy);
        throw new UsageError(`--policy: ${known ? `${opts.policy} is not built yet` : `no policy ${JSON.stringify(opts.policy)}`}; one of all, ${Object.keys(POLICIES).join(', ')}`);
      }
      const report = plan({
          trace: opts.trace,
          work,
          deadline,
          overhead: parseDurationArg(opts.restartOverhead, '--restart-overhead'),
          policies: opts.policy === 'all' ? 'all' : [opts.policy],
          startHours,
          ...(opts.prices !== undefined ? { pricesFile: opts.prices } : {}),
      });
      if (opts.json) {
        console.log(JSON.stringify({ runs: report.runs.map((r) => ({ trace: r.trace, startHours: r.startHours, policies: r.policies.map((p) => ({ name: p.name, cost: p.cost, onDemandCost: p.onDemandCost, costRatio: p.costRatio, finishHours: p.finishHours, deadlineMet: p.deadlineMet, interruptions: p.interruptions, restarts: p.restarts, workLostHours: p.workLostHours })) })) }, null, 2));
        return;
      }
      console.log(formatPlan(report));
    });
}
