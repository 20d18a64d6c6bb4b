/**
 * The whole stack for end-to-end tests: SQS and DynamoDB emulators, the spot
 * market simulator, and dispatchers with the production handlers, all on
 * 127.0.0.1 and port 0. Tests talk to it through public interfaces only: the
 * submit message, the store, the simulator's /_sim/ admin API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createCloudClients, type CloudClients } from '../../shared/aws.js';
import { generateSecretKey } from '../../shared/secrets.js';
import type { JobState } from '../../shared/states.js';
import type { Emulators } from '../../services/local/emulators.js';
import { catalog } from '../../services/catalog.js';
import { handlers } from '../../services/handlers.js';
import type { JobSpecInput } from '../../services/model/spec.js';
import { jobs, allTasks, type JobRow, type TaskRow } from '../../services/model/repo.js';
import { startSimulator, type Simulator } from '@spotbatch/simulator';
import { TEST_CREDENTIALS, clientsFor, eventually, testConfig, testEmulators, testFleet, uniquePrefix, type TestFleet } from './fleet.js';
import { destroyClients } from '../../shared/aws.js';
import { setup } from '../../shared/setup.js';
import { ensureDefaultBoundary } from '../../services/security/boundary.js';
import type { HandlerMap } from '../../services/dispatcher/registry.js';

export interface Stack {
  emu: Emulators;
  sim: Simulator;
  cloud: CloudClients;
  fleet: TestFleet<typeof catalog>;
  submit(spec: JobSpecInput): Promise<string>;
  job(jobId: string): Promise<JobRow | undefined>;
  tasks(jobId: string): Promise<TaskRow[]>;
  waitJob(jobId: string, states: JobState[], timeoutMs?: number): Promise<JobRow>;
  inventory(): Promise<Record<string, Array<{ tags?: Record<string, string>; [k: string]: unknown }>>>;
  stats(): Promise<Record<string, unknown>>;
  admin(pathname: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Wrap the production handlers (e.g. deliver every message twice). */
  handlers?: HandlerMap<typeof catalog>;
  config?: Record<string, unknown>;
  timeScale?: number;
  seed?: number;
  dispatchers?: number;
  /** Simulated seconds from fulfilment to running (default 2). */
  launchSeconds?: number;
  /** Whether the simulator sends its EventBridge-shaped events to the events queue (default true). */
  events?: boolean;
  /**
   * SQS and DynamoDB emulators shared with other stacks (see sharedEmulators): this stack's own queue and
   * table prefix keeps it apart, and close() leaves them running. Omitted: the stack starts and stops its own.
   */
  emulators?: Emulators;
}

let counter = 0;

/**
 * One set of SQS and DynamoDB emulators for the tests of a describe block (started in its `before`, stopped
 * in its `after`); pass `emulators: get()` to startStack. Each stack still has its own prefix, simulator and
 * dispatchers, so no test sees another's queues, rows or instances.
 */
export function sharedEmulators(): () => Emulators {
  let emu: Emulators | undefined;
  before(async () => {
    emu = await testEmulators();
  });
  after(async () => {
    await emu?.stop();
    emu = undefined;
  });
  return () => {
    if (!emu) throw new Error('sharedEmulators: used outside the tests of the describe block that called it');
    return emu;
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const ownEmulators = options.emulators === undefined;
  const emu = options.emulators ?? (await testEmulators());
  const sandbox = mkdtempSync(path.join(tmpdir(), 'spotbatch-e2e-'));
  const prefix = uniquePrefix();
  // The queues first, so the simulator can send its events where EventBridge would.
  const setupClients = clientsFor(emu);
  const { queues } = await setup(setupClients, testConfig(prefix));
  destroyClients(setupClients);
  const sim = await startSimulator({
    ...(options.events === false ? {} : { eventsQueueUrl: queues.main.events }),
    port: 0,
    sshPort: 0,
    timeScale: options.timeScale ?? 20,
    seed: options.seed ?? 42,
    sandboxRoot: sandbox,
    launchLatency: { kind: 'fixed', seconds: options.launchSeconds ?? 2 },
  });
  const cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: sim.endpoint, iam: sim.endpoint }, credentials: TEST_CREDENTIALS });
  // Job roles get the fleet's permissions boundary: the default one, as `spotbatch setup` makes it locally.
  const { arn: permissionsBoundary } = await ensureDefaultBoundary(cloud.iam, prefix);
  const fleet = await testFleet(emu, catalog, options.handlers ?? handlers, {
    prefix,
    config: {
      dispatcher: { concurrency: 4, batchSize: 10, visibilityTimeoutSeconds: 30, heartbeatSeconds: 10 },
      ...options.config,
      security: { permissionsBoundary, ...(options.config?.security as Record<string, unknown> | undefined) },
      // A test's lifecycle settings go over these (the simulator's SSH port is always this one).
      lifecycle: {
        pollSeconds: 1,
        metadataPollSeconds: 1,
        sshIngressCidr: '127.0.0.1/32',
        secretKey: generateSecretKey(),
        ...(options.config?.lifecycle as Record<string, unknown> | undefined),
        sshPort: sim.sshPort,
      },
    },
  });
  fleet.deps.cloud = cloud;
  for (let i = 0; i < (options.dispatchers ?? 1); i++) await fleet.start(`e2e-${i}`);
  const admin = async (pathname: string, body?: unknown) => {
    const res = await fetch(`${sim.endpoint}${pathname}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.json();
  };
  return {
    emu,
    sim,
    cloud,
    fleet,
    async submit(spec) {
      const id = spec.id ?? `e2e-${process.pid}-${++counter}`;
      await fleet.deps.bus.send('job.submit', { ...spec, id });
      return id;
    },
    job: (jobId) => jobs(fleet.deps).get({ jobId }),
    tasks: (jobId) => allTasks(fleet.deps, jobId),
    async waitJob(jobId, states, timeoutMs = 120_000) {
      return eventually(`job ${jobId} in ${states.join('|')}`, async () => {
        const j = await jobs(fleet.deps).get({ jobId });
        return j && states.includes(j.state) ? j : undefined;
      }, timeoutMs, 250);
    },
    inventory: () => admin('/_sim/inventory') as ReturnType<Stack['inventory']>,
    stats: () => admin('/_sim/stats') as Promise<Record<string, unknown>>,
    admin,
    async close() {
      // Stops the dispatchers and closes the fleet's resources (its SSH pool among them).
      await fleet.close();
      await sim.stop();
      if (ownEmulators) await emu.stop();
      rmSync(sandbox, { recursive: true, force: true });
    },
  };
}

/** Everything in the simulator's inventory tagged with the job. */
export async function leftovers(stack: Stack, jobId: string): Promise<string[]> {
  const inv = await stack.inventory();
  const out: string[] = [];
  for (const [kind, items] of Object.entries(inv)) {
    for (const item of items) if (item.tags?.['spotbatch:job'] === jobId) out.push(`${kind}:${JSON.stringify(item)}`);
  }
  return out;
}

/** Send a spec as any SQS client would (no client-side checks), so that the fleet's own refusal is what a test sees. */
export async function rawSubmit(stack: Stack, spec: unknown): Promise<void> {
  await stack.fleet.clients.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.fleet.deps.queues.main.master,
      MessageBody: JSON.stringify(spec),
      MessageAttributes: { service: { DataType: 'String', StringValue: 'job.submit' } },
    }),
  );
}
