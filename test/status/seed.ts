/**
 * Rows of a job written straight to the store (no fleet): a job of many
 * tasks in mixed states with realistic attempts, for the pagination tests and
 * the status benchmark. Deterministic for a given seed.
 */
import { randomBytes } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretBox } from '../../shared/secrets.js';
import type { Store } from '../../shared/store/index.js';
import { isTerminal, taskMachine, type TaskState } from '../../shared/states.js';
import { JOB_LIST_PK } from '../../shared/store/tables.js';
import type { Attempt, AttemptOutcome, TaskAttrs } from '../../services/model/model.js';
import pMap from 'p-map';
import { jobs } from '../../services/model/repo.js';
import { parseJobSpec, taskId, type JobSpecInput } from '../../services/model/spec.js';

/** An encrypted private key as a job row holds one (never to be shown). */
export const FAKE_SEALED_KEY = new SecretBox(randomBytes(32)).encrypt('-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n', 'spotbatch:job-key:seed:us-east-1');

export interface SeedOptions {
  jobId: string;
  tasks: number;
  name?: string;
  spec?: Partial<JobSpecInput>;
  /** Epoch ms the job was submitted (default: an hour ago). */
  submittedAt?: number;
  concurrency?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4_294_967_296;
  };
}

const POOLS = [
  { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large', price: 0.035 },
  { region: 'us-east-1', zone: 'us-east-1b', type: 'c5.large', price: 0.031 },
  { region: 'us-east-1', zone: 'us-east-1c', type: 'm5a.large', price: 0.038 },
];

/** One task's row: a few attempts ending as `state` says. */
function taskRow(index: number, state: TaskState, t0: number, rand: () => number): TaskAttrs {
  const attempts: Attempt[] = [];
  const interrupted = rand() < 0.15 ? 1 : 0;
  const n = 1 + interrupted + (state === 'failed' ? 1 : 0);
  let at = t0 + Math.floor(rand() * 600_000);
  for (let i = 1; i <= n; i++) {
    const p = POOLS[(index + i) % POOLS.length]!;
    const last = i === n;
    const open = last && (state === 'running' || state === 'starting' || state === 'waiting' || state === 'pending');
    const outcome: AttemptOutcome | undefined = !last ? (i <= interrupted ? 'interrupted' : 'retry') : open ? undefined : state === 'failed' ? 'failed' : state === 'cancelled' ? 'cancelled' : 'succeeded';
    const a: Attempt = { n: i, pool: { region: p.region, zone: p.zone, type: p.type }, price: p.price, spotRequestId: `sir-${index}x${i}`, requestedAt: at, placement: 'cheapest current price' };
    if (state !== 'pending' && state !== 'waiting') {
      a.fulfilledAt = at + 2000;
      a.runningAt = at + 4000;
      a.instanceId = `i-${(index * 7 + i).toString(16).padStart(17, '0')}`;
      a.startedAt = at + 6000;
      if (!open) {
        a.endedAt = at + 6000 + Math.floor(rand() * 300_000);
        a.outcome = outcome!;
        if (outcome === 'interrupted') {
          a.interruptedBy = 'agent';
          a.endedBy = 'ec2';
          a.reason = 'instance-terminated-by-service';
        } else a.exitCode = outcome === 'succeeded' ? 0 : 3;
      }
    }
    attempts.push(a);
    at = (a.endedAt ?? at) + 5000;
  }
  const last = attempts[attempts.length - 1]!;
  return {
    index,
    args: [`input-${index}.dat`],
    env: { SEED_SECRET: 'do-not-show-this-value' },
    attempts,
    failures: state === 'failed' ? 1 : 0,
    interruptions: interrupted,
    avoid: [],
    ...(last.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    ...(state === 'failed' ? { reason: 'exit code 3 on 2 attempt(s)' } : {}),
    ...(last.endedAt ? { stdoutTail: `processing input-${index}.dat\nwrote output-${index}.dat\ndone ${index}\n`, stderrTail: '', endedAt: last.endedAt } : {}),
  };
}

/** A state for task `i` of `n`: most succeeded, some running, a few failed or waiting. */
function stateFor(rand: () => number): TaskState {
  const r = rand();
  if (r < 0.7) return 'succeeded';
  if (r < 0.85) return 'running';
  if (r < 0.9) return 'failed';
  if (r < 0.95) return 'waiting';
  return 'pending';
}

export async function seedJob(store: Store, ddb: DynamoDBDocumentClient, o: SeedOptions): Promise<void> {
  const rand = rng(o.tasks * 31 + o.jobId.length);
  const submittedAt = o.submittedAt ?? Date.now() - 3_600_000;
  const spec = parseJobSpec({
    name: o.name ?? `seeded ${o.tasks}`,
    tasks: { count: o.tasks },
    steps: [{ run: 'echo "task $SPOTBATCH_TASK_INDEX"' }],
    instances: { types: ['m5.large', 'c5.large', 'm5a.large'], regions: ['us-east-1'] },
    env: { API_TOKEN: 'do-not-show-this-value' },
    ...o.spec,
  });
  await jobs({ store }).create(
    { jobId: o.jobId },
    {
      name: spec.name,
      spec,
      taskCount: o.tasks,
      submittedAt,
      listPk: JOB_LIST_PK,
      tags: spec.tags,
      ingressCidr: '127.0.0.1/32',
      security: {
        jobId: o.jobId,
        roleName: `spotbatch-${o.jobId}`,
        instanceProfileName: `spotbatch-${o.jobId}`,
        instanceProfileArn: `arn:aws:iam::000000000000:instance-profile/spotbatch-${o.jobId}`,
        regions: { 'us-east-1': { region: 'us-east-1', keyName: `spotbatch-${o.jobId}`, keyPairId: 'key-0123456789abcdef0', securityGroupId: 'sg-0123456789abcdef0', privateKey: FAKE_SEALED_KEY } },
      },
      keyPairs: { 'us-east-1': { region: 'us-east-1', keyName: `spotbatch-${o.jobId}`, keyPairId: 'key-0123456789abcdef0', privateKey: FAKE_SEALED_KEY } },
    },
    'running',
  );
  const rows = Array.from({ length: o.tasks }, (_, i) => {
    const state = stateFor(rand);
    return { i, state, attrs: taskRow(i, state, submittedAt, rand) };
  });
  // The rows as EntityStore.create writes them, 25 to a BatchWriteItem (10,000 single puts crawl on a busy machine).
  const now = Date.now();
  const items = rows.map(({ i, state, attrs }) => ({
    ...attrs,
    jobId: o.jobId,
    taskId: taskId(i),
    state,
    version: 1,
    createdAt: now,
    updatedAt: now,
    dueAt: isTerminal(taskMachine, state) ? now : store.tasks.dueAtFor(state, now),
    ...(isTerminal(taskMachine, state) ? {} : { openPk: 'open' }),
  }));
  const batches = Array.from({ length: Math.ceil(items.length / 25) }, (_, b) => items.slice(b * 25, b * 25 + 25));
  await pMap(batches, async (batch) => {
    let pending: Record<string, unknown>[] = batch;
    for (let round = 0; pending.length; round++) {
      if (round > 20) throw new Error('seed: BatchWriteItem keeps leaving items unprocessed');
      const out = await ddb.send(new BatchWriteCommand({ RequestItems: { [store.tasks.table]: pending.map((Item) => ({ PutRequest: { Item } })) } }));
      pending = (out.UnprocessedItems?.[store.tasks.table] ?? []).map((r) => r.PutRequest!.Item!);
    }
  }, { concurrency: o.concurrency ?? 4 });
  await store.events.append(o.jobId, 'job.submitted', { data: { name: spec.name, tasks: o.tasks } });
  await store.events.append(o.jobId, 'job.running', { data: { regions: ['us-east-1'] } });
}
