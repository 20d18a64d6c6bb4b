/**
 * `npm run bench -- lifecycle [--tasks 100]`
 *
 * A job of N tasks on the simulator with zero launch latency, through one
 * in-process dispatcher on the embedded emulators. Prints API calls per
 * successful task by service (EC2 from the simulator's /_sim/stats; SQS and
 * DynamoDB counted by SDK middleware on the fleet's own clients) and the time
 * from submit to every step started. Targets per task without interruption:
 * <= 15 SQS calls, <= 12 DynamoDB writes, <= 8 EC2 calls.
 */
import { parseArgs } from 'node:util';
import { startStack } from '../test/helpers/stack.js';
import { ensureDefaultBoundary } from '../services/security/boundary.js';

type Counted = { middlewareStack: { add: (mw: unknown, opts: { step: string; name: string }) => void } };

function count(client: Counted, into: Map<string, number>): void {
  client.middlewareStack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      into.set(name, (into.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'spotbatchBenchCounter' },
  );
}

export default async function lifecycleBench(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { tasks: { type: 'string', default: '100' }, concurrency: { type: 'string', default: '8' } } });
  const n = Number(values.tasks);
  const stack = await startStack({
    launchSeconds: 0,
    timeScale: 20,
    config: { dispatcher: { concurrency: Number(values.concurrency), batchSize: 10, visibilityTimeoutSeconds: 60, heartbeatSeconds: 20 } },
  });
  const sqs = new Map<string, number>();
  const ddb = new Map<string, number>();
  count(stack.fleet.clients.sqs as unknown as Counted, sqs);
  count(stack.fleet.clients.dynamodb as unknown as Counted, ddb);
  try {
    await stack.admin('/_sim/reset', {});
    // The reset wiped the simulator's IAM too: the fleet's boundary again (same name, same ARN), or every job fails at security.create.
    await ensureDefaultBoundary(stack.cloud.iam, stack.fleet.config.prefix);
    const t0 = Date.now();
    const jobId = await stack.submit({
      name: 'bench',
      tasks: { count: n },
      steps: [{ run: 'echo "task $SPOTBATCH_TASK_INDEX"; sleep 1' }],
      instances: { types: ['m5.large', 'c5.large', 'm5a.large', 'c5a.large'], regions: ['us-east-1'] },
    });
    let allStarted = 0;
    for (;;) {
      const tasks = await stack.tasks(jobId);
      if (!allStarted && tasks.length === n && tasks.every((t) => t.attempts.some((a) => a.startedAt))) allStarted = Date.now();
      const job = await stack.job(jobId);
      if (job && ['succeeded', 'failed', 'partially-failed', 'cancelled'].includes(job.state)) break;
      if (Date.now() - t0 > 20 * 60_000) throw new Error('benchmark job did not finish in 20 minutes');
      await new Promise((r) => setTimeout(r, 500));
    }
    const done = Date.now();
    const job = await stack.job(jobId);
    const succeeded = job?.succeededCount ?? 0;
    const stats = (await stack.stats()) as { calls: Record<string, Record<string, number>> };
    const ec2: Record<string, number> = {};
    for (const [action, byRegion] of Object.entries(stats.calls)) ec2[action] = Object.values(byRegion).reduce((a, b) => a + b, 0);
    const sum = (m: Map<string, number> | Record<string, number>, keep: (k: string) => boolean = () => true) =>
      [...(m instanceof Map ? m : new Map(Object.entries(m)))].filter(([k]) => keep(k)).reduce((a, [, v]) => a + v, 0);
    const iam = new Set(['CreateRole', 'GetRole', 'PutRolePolicy', 'DeleteRolePolicy', 'CreateInstanceProfile', 'GetInstanceProfile', 'AddRoleToInstanceProfile', 'RemoveRoleFromInstanceProfile', 'DeleteInstanceProfile', 'ListInstanceProfilesForRole', 'DeleteRole', 'ListRolePolicies', 'GetRolePolicy']);
    const writes = (k: string) => /^(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/.test(k);
    const per = (x: number) => (x / Math.max(1, succeeded)).toFixed(2);
    const fmt = (m: Map<string, number> | Record<string, number>) =>
      [...(m instanceof Map ? m : new Map(Object.entries(m)))].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`job: ${n} tasks, ${succeeded} succeeded, state ${job?.state}${job?.error ? ` (${job.error})` : ''}; emulators + simulator (launch latency 0), node ${process.version}`);
    console.log(`submit -> every step started: ${((allStarted - t0) / 1000).toFixed(1)} s; submit -> job closed: ${((done - t0) / 1000).toFixed(1)} s`);
    console.log(`SQS calls per task:            ${per(sum(sqs))}  (target <= 15)  [${fmt(sqs)}]`);
    console.log(`DynamoDB writes per task:      ${per(sum(ddb, writes))}  (target <= 12)  [all calls: ${fmt(ddb)}]`);
    console.log(`EC2 calls per task:            ${per(sum(ec2, (k) => !iam.has(k)))}  (target <= 8)  [${fmt(Object.fromEntries(Object.entries(ec2).filter(([k]) => !iam.has(k))))}]`);
    console.log(`IAM calls per job:             ${sum(ec2, (k) => iam.has(k))}`);
    // What the control plane is billed for (docs/operations.md#what-the-control-plane-costs): per 1,000 tasks.
    const reads = (k: string) => /^(GetItem|Query|Scan|BatchGetItem)$/.test(k);
    const receives = (k: string) => k === 'ReceiveMessage';
    const k = (x: number) => Math.round((x / Math.max(1, succeeded)) * 1000);
    console.log(`per 1,000 tasks: SQS requests ${k(sum(sqs))} (of which ReceiveMessage ${k(sum(sqs, receives))}), DynamoDB writes ${k(sum(ddb, writes))}, DynamoDB reads ${k(sum(ddb, reads))}`);
  } finally {
    await stack.close();
  }
}
