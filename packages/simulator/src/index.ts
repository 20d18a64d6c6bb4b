/**
 * The spot market simulator (the package's public entry): EC2 and IAM wire-compatible endpoint on one
 * port, instances through the instance runtime, market from a data/market folder.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { silentLogger } from './logger.js';
import type { Logger } from './logger.js';
import { SimClock } from './clock.js';
import { simulatorClock } from './client-clock.js';
import type { SimulatorClock } from './client-clock.js';
import type { SimContext } from './context.js';
import { EventSink } from './events.js';
import { Consistency } from './consistency.js';
import { Faults, faultsSchema } from './faults.js';
import type { FaultSettings } from './faults.js';
import { DEFAULT_LAUNCH_LATENCY, latencySchema } from './latency.js';
import type { LatencyDistribution } from './latency.js';
import { Lifecycle } from './lifecycle.js';
import { Catalog } from './market/catalog.js';
import { MarketData } from './market/data.js';
import { Market } from './market/market.js';
import { InterruptionLog } from './market/interruptions.js';
import { PlacementBudget } from './market/sps-budget.js';
import { createInstanceRuntime } from './runtime/index.js';
import { createSimServer } from './server.js';
import { World } from './state/world.js';
import { Stats } from './stats.js';
import { RequestLimiter } from './throttle.js';

export { fetchSimulatorClock, simulatorClock } from './client-clock.js';
export { parseLatency } from './latency.js';
export type { ClockOrigin, SimulatorClock } from './client-clock.js';
export type { FaultSettings } from './faults.js';
export type { LatencyDistribution } from './latency.js';
export { silentLogger } from './logger.js';
export type { LogFn, Logger } from './logger.js';
export { createInstanceRuntime, generateEd25519KeyPair, DEFAULT_IMDS_PORT, DEFAULT_SSH_PORT } from './runtime/index.js';
export type { InstanceRuntime, InstanceRuntimeOptions, InstanceSpec, LocalInstanceRuntime } from './runtime/index.js';

export interface SimulatorOptions {
  /** HTTP port; 0 = a free one. Default 4566. */
  port?: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Simulated seconds per real second; default 1. */
  timeScale?: number;
  /** Market seed; default 1. */
  seed?: number;
  /**
   * Where the simulated clock starts (epoch ms); default the real time at start-up. With the same seed and
   * the same start, two runs see the same market: prices, capacity traces and interruption hazards are
   * functions of simulated time.
   */
  start?: number;
  /** Market data folder; default the nearest data/market above the package (this repository's). */
  dataDir?: string;
  /** SQS queue URL that receives the EventBridge-shaped EC2 events. */
  eventsQueueUrl?: string;
  /** SSH port on every instance address; default 2222; 0 = a free one. */
  sshPort?: number;
  /** Instance metadata port on every instance address; default: the runtime's (8009), 0 when sshPort is 0. */
  imdsPort?: number;
  /** Folder for instance sandboxes; default a fresh temporary folder, removed on stop. */
  sandboxRoot?: string;
  /** Launch latency (fulfilment to running), simulated seconds. */
  launchLatency?: LatencyDistribution;
  /**
   * Faults and AWS behaviours from the start (the body of POST /_sim/faults), restored by POST /_sim/reset:
   * `requestLimits` (EC2 token buckets, 1 = AWS's), `notFoundSeconds`, `iamPropagationSeconds`, ... Default none.
   */
  faults?: FaultSettings;
  logger?: Logger;
}

export interface Simulator {
  /** http://host:port: the endpoint for both EC2 and IAM clients. */
  endpoint: string;
  sshPort: number;
  imdsPort: number;
  /** The simulated clock (`now()` in epoch ms): hand it to code that computes absolute times when timeScale > 1. */
  clock: SimulatorClock;
  stop(): Promise<void>;
}

const optionsSchema = z.object({
  port: z.number().int().min(0).max(65535).default(4566),
  host: z.string().min(1).default('127.0.0.1'),
  timeScale: z.number().positive().max(1_000_000).default(1),
  seed: z.number().int().default(1),
  start: z.number().int().min(0).optional(),
  dataDir: z.string().min(1).optional(),
  eventsQueueUrl: z.url().optional(),
  sshPort: z.number().int().min(0).max(65535).optional(),
  imdsPort: z.number().int().min(0).max(65535).optional(),
  sandboxRoot: z.string().min(1).optional(),
  launchLatency: latencySchema.optional(),
  faults: faultsSchema.optional(),
});

/** The nearest data/market above this file: from src/ or dist/ of packages/simulator, the repository's. */
function defaultDataDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'data', 'market');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve('data', 'market');
    dir = parent;
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const parsed = optionsSchema.safeParse({ ...opts, logger: undefined });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid simulator option ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const o = parsed.data;
  const logger = opts.logger ?? silentLogger();
  const data = new MarketData(o.dataDir ?? defaultDataDir());
  const catalog = new Catalog(data);
  const ownSandbox = o.sandboxRoot === undefined;
  const sandboxRoot = o.sandboxRoot ?? (await mkdtemp(path.join(os.tmpdir(), 'spotbatch-sim-')));
  const runtime = await createInstanceRuntime({
    sandboxRoot,
    sshPort: o.sshPort,
    imdsPort: o.imdsPort ?? (o.sshPort === 0 ? 0 : undefined),
    logger,
  });
  const clock = new SimClock(o.timeScale, o.start);
  const interruptions = new InterruptionLog();
  const sim = {
    seed: o.seed,
    world: new World(),
    catalog,
    market: new Market(o.seed, data, catalog, interruptions),
    clock,
    faults: new Faults(o.seed, o.faults ?? {}, () => clock.now()),
    interruptions,
    spsBudget: new PlacementBudget(),
    limiter: new RequestLimiter(),
    events: new EventSink(o.eventsQueueUrl, logger),
    runtime,
    launchLatency: o.launchLatency ?? DEFAULT_LAUNCH_LATENCY,
    logger,
  } as Omit<SimContext, 'lifecycle' | 'consistency'> as SimContext;
  sim.consistency = new Consistency(() => sim.faults.current());
  sim.lifecycle = new Lifecycle(sim);
  const stats = new Stats();

  async function stopAllInstances(): Promise<void> {
    const live = [...sim.world.instances.values()].filter((i) => i.state !== 'terminated');
    await Promise.all(live.map((i) => sim.lifecycle.terminate(i, 'user')));
    for (const r of sim.world.spotRequests.values()) for (const t of r.timers) sim.clock.cancel(t);
  }

  const server = createSimServer(sim, stats, {
    async reset() {
      await stopAllInstances();
      sim.clock.cancelAll();
      sim.world.clear();
      sim.faults.reset();
      sim.consistency.clear();
      sim.limiter.clear();
      sim.interruptions.clear();
      sim.spsBudget.clear();
      sim.lifecycle.spotQuotaRefusals = 0;
      stats.clear();
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // the port is taken (or the host is wrong): release what was set up
    await runtime.close();
    if (ownSandbox) await rm(sandboxRoot, { recursive: true, force: true });
    throw err;
  }
  const address = server.address() as AddressInfo;
  const hostForUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const endpoint = `http://${hostForUrl}:${address.port}`;
  logger.info({ endpoint, sshPort: runtime.sshPort, imdsPort: runtime.imdsPort, timeScale: o.timeScale, seed: o.seed }, 'spot market simulator listening');
  if (!['127.0.0.1', 'localhost', '::1'].includes(o.host)) {
    logger.warn({ host: o.host }, 'the simulator accepts any credentials and its /_sim/ admin API has no authentication: bind it to loopback only');
  }

  let stopped = false;
  return {
    endpoint,
    sshPort: runtime.sshPort,
    imdsPort: runtime.imdsPort,
    clock: simulatorClock(sim.clock.origin()),
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await stopAllInstances();
      sim.clock.cancelAll();
      await runtime.close();
      await sim.events.flush();
      sim.events.close();
      if (ownSandbox) await rm(sandboxRoot, { recursive: true, force: true });
    },
  };
}
