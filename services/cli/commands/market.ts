/** spotbatch market status | collect: the fleet's own market data. */
import { Command } from 'commander';
import { COLLECTION_KINDS, type CollectionKind } from '../../market/collect.js';
import { formatMarketStatus, marketStatus } from '../../market/status.js';
import { marketSignals } from '../../market/store.js';
import { UsageError } from '../errors.js';
import { connect } from './connect.js';

const SERVICE: Record<CollectionKind, 'market.collect.price' | 'market.collect.sps' | 'market.collect.if' | 'market.collect.ondemand'> = {
  price: 'market.collect.price',
  sps: 'market.collect.sps',
  if: 'market.collect.if',
  ondemand: 'market.collect.ondemand',
};

export function marketCommand(): Command {
  const market = new Command('market').description("the fleet's own market data: spot prices, placement scores, advisor buckets, on-demand prices (docs/market.md)");
  market
    .command('status')
    .description('what was collected and when, and the placement-score budget used in the last 24 h per credential')
    .option('--json', 'print JSON: {"collections": [...], "budget": [...]}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const c = connect(cmd);
      try {
        const now = Date.now();
        const status = await marketStatus(marketSignals({ clients: c.clients, config: c.config, clock: { now: () => now } }), c.config, now);
        console.log(opts.json ? JSON.stringify(status) : formatMarketStatus(status, now));
      } finally {
        c.close();
      }
    });
  market
    .command('collect')
    .description('run a collection now: sends its message to the fleet (a dispatcher runs it; `market status` shows the result)')
    .option('--kind <kind>', `one of ${COLLECTION_KINDS.join(', ')}; default all`)
    .action(async (opts: { kind?: string }, cmd: Command) => {
      if (opts.kind !== undefined && !(COLLECTION_KINDS as readonly string[]).includes(opts.kind)) throw new UsageError(`--kind: must be one of ${COLLECTION_KINDS.join(', ')}, got ${JSON.stringify(opts.kind)}`);
      const kinds = opts.kind ? [opts.kind as CollectionKind] : [...COLLECTION_KINDS];
      const c = connect(cmd);
      try {
        const bus = await c.bus();
        for (const kind of kinds) {
          await bus.send(SERVICE[kind], {});
          console.log(`sent ${SERVICE[kind]}`);
        }
      } finally {
        c.close();
      }
    });
  return market;
}
