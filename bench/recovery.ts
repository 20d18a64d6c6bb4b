/**
 * `npm run bench -- recovery [--interruptions 50] [--concurrent 10] [--path agent|events|reconcile|all] [--poll 5] [--time-scale 20] [--spacing-ms 250]`
 *
 * Time from the interruption notice appearing (the simulator's metadata
 * service answers spot/instance-action from the moment of the admin
 * interrupt call) to the replacement spot request being sent (the next
 * attempt's requestedAt), median and p99 over N interruptions, per detection
 * path, each path alone:
 * - `agent`: no events queue; the agent's metadata watcher (polling every
 *   `--poll` seconds) sees the notice, the next step.check (every `--poll`
 *   seconds) reads it over SSH.
 * - `events`: the watcher off (AWS_EC2_METADATA_DISABLED); the simulator sends
 *   EventBridge-shaped warnings to the events queue.
 * - `reconcile`: neither; detection waits for the instance to be reclaimed
 *   (two simulated minutes after the notice) and for SSH to fail.
 * `--poll` sets both poll intervals (lifecycle.pollSeconds and
 * metadataPollSeconds); the default, 5, is the production default of both.
 * The interruptions are spread `--spacing-ms` apart, as a market's are, in
 * rounds of `--concurrent` running tasks (every simulated instance is real
 * processes on this machine: its agent, its metadata polls).
 */
import { parseArgs } from 'node:util';
import { startStack } from '../test/helpers/stack.js';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

type Path = 'agent' | 'events' | 'reconcile';

/** One round: `n` tasks running at once, each interrupted; the notice -> replacement latencies and who saw it. */
interface Round {
  latencies: number[];
  /** notice -> the attempt marked interrupted (detection), and from there -> the replacement request. */
  detect: number[];
  replace: number[];
  by: Record<string, number>;
}

async function round(path: Path, n: number, timeScale: number, spacingMs: number, poll: number): Promise<Round> {
  const stack = await startStack({
    events: path === 'events',
    timeScale,
    launchSeconds: 0,
    // Batches of one: local-aws-sqs answers a receive only when it has the whole batch or the wait is
    // over (SQS answers as soon as it has messages), which would add up to a second to every hop.
    config: {
      dispatcher: { concurrency: 8, batchSize: 1, visibilityTimeoutSeconds: 60, heartbeatSeconds: 20 },
      lifecycle: { pollSeconds: poll, metadataPollSeconds: poll },
    },
  });
  try {
    const jobId = await stack.submit({
      name: `recovery-${path}`,
      tasks: { count: n },
      steps: [{ run: 'if [ "$SPOTBATCH_ATTEMPT" = 1 ]; then sleep 600; fi; echo done' }],
      ...(path === 'agent' ? {} : { env: { AWS_EC2_METADATA_DISABLED: 'true' } }),
      instances: { types: ['m5.large', 'c5.large', 'm5a.large', 'c5a.large'], regions: ['us-east-1'] },
      retry: { maxInterruptions: 3 },
    });
    const t0 = Date.now();
    for (;;) {
      const tasks = await stack.tasks(jobId);
      if (tasks.length === n && tasks.every((t) => t.state === 'running' && t.attempts.length === 1)) break;
      if (Date.now() - t0 > 10 * 60_000) throw new Error('tasks did not all start in 10 minutes');
      await new Promise((r) => setTimeout(r, 250));
    }
    const noticeAt = new Map<string, number>();
    for (const t of await stack.tasks(jobId)) {
      const id = t.attempts[0]!.instanceId!;
      noticeAt.set(t.taskId, Date.now());
      await stack.admin(`/_sim/instances/${id}/interrupt`, {});
      await new Promise((r) => setTimeout(r, spacingMs));
    }
    for (;;) {
      const tasks = await stack.tasks(jobId);
      if (tasks.every((t) => t.attempts.length >= 2)) {
        const by: Record<string, number> = {};
        for (const t of tasks) by[t.attempts[0]!.interruptedBy ?? 'other'] = (by[t.attempts[0]!.interruptedBy ?? 'other'] ?? 0) + 1;
        return {
          latencies: tasks.map((t) => t.attempts[1]!.requestedAt - noticeAt.get(t.taskId)!),
          detect: tasks.map((t) => t.attempts[0]!.endedAt! - noticeAt.get(t.taskId)!),
          replace: tasks.map((t) => t.attempts[1]!.requestedAt - t.attempts[0]!.endedAt!),
          by,
        };
      }
      if (Date.now() - t0 > 15 * 60_000) {
        const stuck = tasks.filter((t) => t.attempts.length < 2).map((t) => `${t.taskId} ${t.state} ${JSON.stringify(t.attempts.map((a) => [a.outcome, a.interruptedBy, a.reason]))}`);
        throw new Error(`replacements not all requested in time; without one: ${stuck.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await stack.close();
  }
}

async function measure(path: Path, total: number, concurrent: number, timeScale: number, spacingMs: number, poll: number): Promise<void> {
  const latencies: number[] = [];
  const detect: number[] = [];
  const replace: number[] = [];
  const by: Record<string, number> = {};
  while (latencies.length < total) {
    const r = await round(path, Math.min(concurrent, total - latencies.length), timeScale, spacingMs, poll);
    latencies.push(...r.latencies);
    detect.push(...r.detect);
    replace.push(...r.replace);
    for (const [k, v] of Object.entries(r.by)) by[k] = (by[k] ?? 0) + v;
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `${path.padEnd(9)}: ${total} interruptions, notice -> replacement request: median ${s(quantile(latencies, 0.5))}, p99 ${s(quantile(latencies, 0.99))}, max ${s(Math.max(...latencies))} (median detection ${s(quantile(detect, 0.5))}, then replacement ${s(quantile(replace, 0.5))}); detected by ${JSON.stringify(by)}`,
  );
}

export default async function recoveryBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      interruptions: { type: 'string', default: '50' },
      path: { type: 'string', default: 'all' },
      'time-scale': { type: 'string', default: '20' },
      'spacing-ms': { type: 'string', default: '250' },
      concurrent: { type: 'string', default: '10' },
      poll: { type: 'string', default: '5' },
    },
  });
  const n = Number(values.interruptions);
  const timeScale = Number(values['time-scale']);
  const spacing = Number(values['spacing-ms']);
  const concurrent = Number(values.concurrent);
  const poll = Number(values.poll);
  if (!Number.isInteger(poll) || poll < 1) throw new Error('--poll must be a whole number of seconds >= 1');
  const all: Path[] = ['agent', 'events', 'reconcile'];
  if (values.path !== 'all' && !all.includes(values.path as Path)) throw new Error(`--path must be one of ${all.join(', ')} or all`);
  console.log(
    `poll interval ${poll} s (step.check, spot.check, the agent's metadata watcher), receive batches of 1, time scale ${timeScale} (the notice's two minutes last ${(120 / timeScale).toFixed(1)} real s), ${concurrent} tasks running at a time, interruptions ${spacing} ms apart, node ${process.version}`,
  );
  const paths = values.path === 'all' ? all : [values.path as Path];
  for (const p of paths) await measure(p, n, concurrent, timeScale, spacing, poll);
}
