/**
 * Wiring: from configuration to a running dispatcher (consumers, reconciler,
 * health endpoint) and back down on SIGTERM/SIGINT.
 */
import type { Logger } from '../../shared/logger.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Config } from '../../shared/config.js';
import { createCloudClients, createCoreClients, type CloudClients, type CoreClients } from '../../shared/aws.js';
import { MessageBus, type Catalog } from '../../shared/envelope.js';
import { messageSigner } from '../../shared/message-auth.js';
import { resolveQueueUrls, type QueueUrls } from '../../shared/queues.js';
import { FleetResources } from '../../shared/resources.js';
import { Store } from '../../shared/store/index.js';
import type { FleetDeps } from './context.js';
import { Dispatcher } from './dispatcher.js';
import { startHealthServer, type HealthServer } from './health.js';
import { Reconciler } from './reconciler.js';
import type { Registry } from './registry.js';

export interface FleetOptions {
  config: Config;
  log: Logger;
  catalog: Catalog;
  clients?: CoreClients;
  cloud?: CloudClients;
  queues?: QueueUrls;
  clock?: Clock;
}

export async function buildDeps(o: FleetOptions): Promise<FleetDeps> {
  const clients = o.clients ?? createCoreClients({ region: o.config.region });
  const queues = o.queues ?? (await resolveQueueUrls(clients.sqs, o.config.prefix));
  const clock = o.clock ?? systemClock;
  return {
    config: o.config,
    log: o.log,
    clock,
    clients,
    cloud: o.cloud ?? createCloudClients({ region: o.config.region }),
    queues,
    store: new Store(clients.ddb, o.config.prefix, clock),
    // Signs every message with the fleet's key (internal services need it: shared/message-auth.ts).
    bus: new MessageBus(clients.sqs, queues, o.catalog, messageSigner(o.config)),
    // Caches and pools of this fleet alone, closed when its last dispatcher stops.
    resources: new FleetResources(),
  };
}

export interface RunningDispatcher {
  dispatcher: Dispatcher;
  reconciler: Reconciler | undefined;
  health: HealthServer | undefined;
  /**
   * Graceful stop: no new messages, in-flight finish (past the grace, the drain's signal stops them and their
   * messages go back), lease released, and, when no other dispatcher runs on the same deps, the fleet's
   * resources closed. True when nothing was cut short.
   */
  stop(): Promise<boolean>;
}

export async function startDispatcher(deps: FleetDeps, registry: Registry, id?: string): Promise<RunningDispatcher> {
  const dispatcher = new Dispatcher(deps, registry, id);
  const reconciler = deps.config.reconciler.enabled ? new Reconciler(deps, dispatcher.id) : undefined;
  let stopping = false;
  const d = deps.config.dispatcher;
  const health =
    d.healthPort >= 0
      ? await startHealthServer(d.healthHost, d.healthPort, () => ({
          ok: !stopping,
          status: stopping ? 'stopping' : 'ok',
          dispatcher: dispatcher.id,
          services: registry.services(),
          reconcilerLeaseHolder: reconciler?.holder ?? false,
          stats: dispatcher.stats,
        }))
      : undefined;
  deps.resources.retain();
  dispatcher.start();
  reconciler?.start();
  let stopped: Promise<boolean> | undefined;
  return {
    dispatcher,
    reconciler,
    health,
    stop() {
      stopping = true;
      stopped ??= (async () => {
        const [finished] = await Promise.all([dispatcher.stop(), reconciler?.stop(true)]);
        await health?.close();
        await deps.resources.release();
        return finished;
      })();
      return stopped;
    },
  };
}

/** Stop gracefully on SIGTERM or SIGINT (or when a parent's IPC channel closes), then exit 0 (1 if in-flight work had to be cut short). */
export function stopOnSignals(running: { stop(): Promise<boolean> }, log: Logger): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'stopping: finishing in-flight messages');
    running.stop().then(
      (finished) => process.exit(finished ? 0 : 1),
      (err) => {
        log.error({ err: String(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Started by `spotbatch local` with an IPC channel: when the parent goes away, stop too.
  if (process.send) {
    process.once('disconnect', () => {
      if (!signalled) onSignal('SIGHUP');
    });
  }
}
