import { Command } from 'commander';
import { buildDeps, startDispatcher, stopOnSignals } from '../../dispatcher/fleet.js';
import { catalog } from '../../catalog.js';
import { fleetRegistry } from '../../handlers.js';
import { listening } from '../errors.js';
import { startMarketSchedule } from '../../market/schedule.js';
import { configFor, loggerFor, parseCount, parsePort } from './common.js';

export function dispatcherCommand(): Command {
  return new Command('dispatcher')
    .description('run one dispatcher against the configured endpoints (what a container runs); stops gracefully on SIGTERM')
    .option('--health-port <port>', 'serve GET /healthz on this port (0: any free port)')
    .option('--concurrency <n>', 'receive loops per queue')
    .action(async (opts: { healthPort?: string; concurrency?: string }, cmd: Command) => {
      const overrides: Record<string, unknown> = {};
      const dispatcher: Record<string, unknown> = {};
      if (opts.healthPort !== undefined) dispatcher.healthPort = parsePort(opts.healthPort, '--health-port');
      if (opts.concurrency !== undefined) dispatcher.concurrency = parseCount(opts.concurrency, '--concurrency', 1, 100);
      if (Object.keys(dispatcher).length) overrides.dispatcher = dispatcher;
      const config = configFor(cmd, overrides);
      const log = loggerFor(config, 'dispatcher');
      const deps = await buildDeps({ config, log, catalog });
      const { healthHost, healthPort } = config.dispatcher;
      const running = await listening(
        { host: healthHost, hostFlag: 'SPOTBATCH_HEALTH_HOST', ports: { [opts.healthPort !== undefined ? '--health-port' : 'SPOTBATCH_HEALTH_PORT']: healthPort } },
        () => startDispatcher(deps, fleetRegistry()),
      );
      if (running.health) log.info({ url: `${running.health.url}/healthz` }, 'health endpoint');
      // The market collectors' timer where no EventBridge Scheduler sends them (spotbatch local turns it on).
      const stopSchedule = config.market.schedule.enabled ? startMarketSchedule({ ...deps, bus: deps.bus }, `dispatcher-${process.pid}-${Date.now()}`) : undefined;
      // On a signal the timer stops first (and gives its lease up, so another dispatcher's timer takes over at once), then the drain.
      stopOnSignals(
        {
          stop: async () => {
            await stopSchedule?.().catch((err: unknown) => log.warn({ err: String(err) }, 'market schedule: stopping failed'));
            return running.stop();
          },
        },
        log,
      );
      await new Promise(() => undefined); // until a signal
    });
}
