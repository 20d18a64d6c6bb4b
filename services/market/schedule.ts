/**
 * The internal market schedule (`spotbatch local`, or any dispatcher with
 * market.schedule.enabled): every minute, the dispatcher that holds the
 * `market-schedule` lease sends the collections that are due (from each kind's
 * last collection in the store) and the daily summary once a day. The deploy
 * template uses it too (SPOTBATCH_MARKET_SCHEDULE=true): EventBridge Scheduler
 * cannot sign the internal `market.*` messages (deploy/README.md, "Market schedules").
 */
import type { Config } from '../../shared/config.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../shared/store/index.js';
import type { CoreClients } from '../../shared/aws.js';
import { dayOf, marketSignals } from './store.js';

export type ScheduledService = 'market.collect.price' | 'market.collect.sps' | 'market.collect.if' | 'market.collect.ondemand' | 'market.summary';

const H = 3600_000;

/** The messages due at `now`: a kind whose last collection is older than its period (or never ran); the summary once a UTC day after its hour. */
export async function dueMessages(deps: { config: Config; clients: Pick<CoreClients, 'ddb'>; clock: Clock; store: Store }, now: number): Promise<ScheduledService[]> {
  const s = deps.config.market.schedule;
  const periods: Array<[string, ScheduledService, number]> = [
    ['price', 'market.collect.price', s.priceMinutes * 60_000],
    ['sps', 'market.collect.sps', deps.config.market.sps.everyHours * H],
    ['if', 'market.collect.if', s.ifHours * H],
    ['ondemand', 'market.collect.ondemand', s.onDemandHours * H],
  ];
  const last = new Map((await marketSignals(deps).collections()).map((c) => [c.kind, c.at]));
  const due: ScheduledService[] = periods.filter(([kind, , every]) => now - (last.get(kind) ?? -Infinity) >= every).map(([, service]) => service);
  const today = dayOf(now);
  if (new Date(now).getUTCHours() >= s.summaryHour) {
    const sent = await deps.store.leases.get('market-summary-sent');
    if (sent?.holder !== today && (await deps.store.leases.acquire('market-summary-sent', today, Math.max(1, (Math.floor(now / 86_400_000) + 1) * 86_400_000 - deps.clock.now())))) due.push('market.summary');
  }
  return due;
}

export interface MarketScheduleDeps {
  config: Config;
  clients: CoreClients;
  clock: Clock;
  log: Logger;
  store: Store;
  bus: { send(service: ScheduledService, body: Record<string, never>): Promise<unknown> };
}

/** Start the timer; returns its stop. Only the lease holder sends, so two dispatchers never send the same collection twice. */
export function startMarketSchedule(deps: MarketScheduleDeps, holder: string, everyMs = 60_000): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    try {
      if (!(await deps.store.leases.acquire('market-schedule', holder, Math.max(3 * everyMs, 30_000)))) return;
      for (const service of await dueMessages(deps, deps.clock.now())) {
        await deps.bus.send(service, {});
        deps.log.debug({ service }, 'market schedule: sent');
      }
    } catch (err) {
      deps.log.warn({ err }, 'market schedule: tick failed; trying again at the next');
    }
  };
  const timer = setInterval(() => {
    running = running.then(tick);
  }, everyMs);
  timer.unref();
  running = running.then(tick);
  return async () => {
    clearInterval(timer);
    await running;
    await deps.store.leases.release('market-schedule', holder).catch(() => undefined);
  };
}
