/**
 * Test set-up: real emulators on port 0, a fresh queue and table prefix per
 * test, real dispatchers in this process.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { createCoreClients, destroyClients, type CoreClients } from '../../shared/aws.js';
import type { Clock } from '../../shared/clock.js';
import { loadConfig, type Config } from '../../shared/config.js';
import type { Catalog } from '../../shared/envelope.js';
import { silentLogger, createLogger, type Logger } from '../../shared/logger.js';
import type { QueueKind } from '../../shared/queues.js';
import { setup } from '../../shared/setup.js';
import { buildDeps, startDispatcher, type RunningDispatcher } from '../../services/dispatcher/fleet.js';
import type { FleetDeps } from '../../services/dispatcher/context.js';
import { Registry, type HandlerMap } from '../../services/dispatcher/registry.js';
import { startEmulators, type Emulators } from '../../services/local/emulators.js';

export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

export function testLogger(): Logger {
  return process.env.TEST_LOG ? createLogger({ level: process.env.TEST_LOG, format: 'json' }) : silentLogger();
}

export async function testEmulators(): Promise<Emulators> {
  return startEmulators({});
}

export function clientsFor(emu: Emulators): CoreClients {
  return createCoreClients({ region: 'us-east-1', endpoints: emu.endpoints, credentials: TEST_CREDENTIALS });
}

/**
 * The fleet secret key of test fleets: fixed, so that a dispatcher in a child process (testConfig with the
 * same prefix) checks the signatures of what the test process sends. A stack uses a fresh one of its own.
 */
export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

/** Settings that keep tests quick on the local emulators. */
export function testConfig(prefix: string, overrides: Record<string, unknown> = {}): Config {
  const base = {
    prefix,
    dispatcher: {
      concurrency: 2,
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 4,
      heartbeatSeconds: 2,
      // local-aws-sqs counts ChangeMessageVisibility as a receive: no backoff, as `spotbatch local` does.
      retryBackoffMaxSeconds: 0,
      maxReceiveCount: 3,
      shutdownTimeoutSeconds: 15,
    },
    reconciler: { enabled: false, intervalSeconds: 1, leaseSeconds: 3 },
    lifecycle: { secretKey: TEST_SECRET_KEY },
  };
  return loadConfig({ env: {}, overrides: deepMerge(base, overrides) });
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? deepMerge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface TestFleet<C extends Catalog> {
  config: Config;
  clients: CoreClients;
  deps: FleetDeps<C>;
  registry: Registry;
  start(id?: string): Promise<RunningDispatcher>;
  /** Messages now in the dead-letter queue of `kind` (received and left invisible briefly). */
  drainDlq(kind: QueueKind, waitSeconds?: number): Promise<Message[]>;
  queueDepth(kind: QueueKind, dlq?: boolean): Promise<{ visible: number; inFlight: number; delayed: number }>;
  close(): Promise<void>;
}

export async function testFleet<C extends Catalog>(
  emu: Emulators,
  catalog: C,
  handlers: HandlerMap<C>,
  options: { config?: Record<string, unknown>; clock?: Clock; prefix?: string } = {},
): Promise<TestFleet<C>> {
  const config = testConfig(options.prefix ?? uniquePrefix(), options.config);
  const clients = clientsFor(emu);
  const { queues } = await setup(clients, config);
  const deps = (await buildDeps({ config, log: testLogger(), catalog, clients, queues, clock: options.clock })) as FleetDeps<C>;
  const registry = Registry.of(catalog, handlers);
  const running: RunningDispatcher[] = [];
  return {
    config,
    clients,
    deps,
    registry,
    async start(id?: string) {
      const r = await startDispatcher(deps, registry, id);
      running.push(r);
      return r;
    },
    async drainDlq(kind, waitSeconds = 1) {
      const out = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queues.dlq[kind],
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: waitSeconds,
          MessageAttributeNames: ['All'],
          VisibilityTimeout: 30,
        }),
      );
      return out.Messages ?? [];
    },
    async queueDepth(kind, dlq = false) {
      const out = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: dlq ? queues.dlq[kind] : queues.main[kind],
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
        }),
      );
      const a = out.Attributes ?? {};
      return {
        visible: Number(a.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
        delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
      };
    },
    async close() {
      await Promise.all(running.map((r) => r.stop()));
      // The last stop closed them; also when no dispatcher ran (a test used the deps alone).
      await deps.resources.close();
      destroyClients(clients);
    },
  };
}

/** Poll `probe` until it returns a truthy value or `timeoutMs` passes (then throw with `what`). */
export async function eventually<T>(what: string, probe: () => Promise<T> | T, timeoutMs = 20_000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A manual clock for tests that must not depend on real time. */
export class TestClock implements Clock {
  constructor(private t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const keySchema = z.object({ jobId: z.string().min(1) }).strict();
export const taskKeySchema = z.object({ jobId: z.string().min(1), taskId: z.string().min(1) }).strict();

