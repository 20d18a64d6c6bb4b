/** advisor: the candidate pools ranked as placement ranks them, with why. */
import { Command } from 'commander';
import { createCloudClients, createCoreClients, destroyClients } from '../../../shared/aws.js';
import { systemClock } from '../../../shared/clock.js';
import { FleetResources } from '../../../shared/resources.js';
import { regionSchema } from '../../../shared/validation.js';
import { marketSignals } from '../../market/store.js';
import { advise } from '../../spot/advisor.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../format.js';
import { configFor } from './common.js';

const list = (value: string, flag: string, rule: (s: string) => boolean, what: string): string[] => {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.find((s) => !rule(s));
  if (!items.length || bad !== undefined) throw new UsageError(`${flag}: must be a comma-separated list of ${what}${bad !== undefined ? `; got ${JSON.stringify(bad)}` : ''}`);
  return [...new Set(items)];
};

export function advisorCommand(): Command {
  return new Command('advisor')
    .description('rank the spot pools (region, zone, type) of some instance types as placement would: price, placement score, interruption bucket, launch p50, expected cost per task-hour, and why')
    .requiredOption('--types <list>', 'instance types, comma-separated (m5.large,c5.large)')
    .option('--regions <list>', 'regions, comma-separated; default: the fleet\'s configured regions')
    .option('--limit <n>', 'print at most this many pools', '20')
    .option('--json', 'print {"pools": [{"region", "zone", "type", "price", "score", "interruption", "launchP50Seconds", "expectedCostPerHour", "why"}]}, best first')
    .action(async (opts: { types: string; regions?: string; limit: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      const types = list(opts.types, '--types', (s) => /^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(s), 'instance types such as m5.large');
      const regions = opts.regions ? list(opts.regions, '--regions', (s) => regionSchema.safeParse(s).success, 'regions such as us-east-1') : config.lifecycle.regions;
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: must be a whole number of at least 1, got ${JSON.stringify(opts.limit)}`);
      const clients = createCoreClients({ region: config.region });
      const cloud = createCloudClients({ region: config.region });
      const resources = new FleetResources();
      try {
        const clock = systemClock;
        const advice = await advise({ cloud, resources, market: marketSignals({ clients, config, clock }) }, { regions, types, now: clock.now() });
        if (advice.warning) process.stderr.write(`warning: ${advice.warning}\n`);
        if (opts.json) {
          console.log(JSON.stringify({ pools: advice.pools }, null, 2));
          return;
        }
        if (!advice.pools.length) {
          console.log(`no usable pool for ${types.join(', ')} in ${regions.join(', ')}${advice.excluded.length ? ` (${advice.excluded.length} excluded)` : ''}`);
        } else {
          const head = ['#', 'pool', 'region', 'USD/h', 'score', 'interruptions', 'launch p50', 'USD per task-hour'];
          const rows = advice.pools.slice(0, limit).map((p, i) => [String(i + 1), `${p.zone}/${p.type}`, p.region, p.price.toFixed(4), p.score === null ? '-' : String(p.score), p.interruption ?? '-', p.launchP50Seconds === null ? '-' : `${Math.round(p.launchP50Seconds)} s`, p.expectedCostPerHour.toFixed(4)]);
          console.log(formatTable(head, rows));
          console.log('');
          for (const [i, p] of advice.pools.slice(0, 3).entries()) console.log(`${i + 1}. ${p.zone}/${p.type}: ${p.why}`);
        }
        for (const e of advice.excluded.slice(0, 10)) console.log(`excluded ${e.zone}/${e.type}: ${e.reason}`);
      } finally {
        destroyClients(clients);
        cloud.iam.destroy();
        await resources.close();
      }
    });
}
