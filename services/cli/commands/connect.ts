/** What a client command needs of the fleet: its queues, its store, a bus. */
import type { Command } from 'commander';
import { createCoreClients, destroyClients, type CoreClients } from '../../../shared/aws.js';
import type { Config } from '../../../shared/config.js';
import { MessageBus } from '../../../shared/envelope.js';
import { resolveQueueUrls } from '../../../shared/queues.js';
import { Store } from '../../../shared/store/index.js';
import { catalog, type FleetCatalog } from '../../catalog.js';
import { NotFound, JobViews } from '../../views/index.js';
import { UsageError } from '../errors.js';
import { configFor } from './common.js';

export interface Connection {
  config: Config;
  clients: CoreClients;
  store: Store;
  bus(): Promise<MessageBus<FleetCatalog>>;
  /** The status page's views: the JSON shapes the CLI prints, the same as the API's. */
  views(): JobViews;
  close(): void;
}

/** A job or task the views do not know: bad input (exit 2), with where to look. */
export async function orUnknown<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof NotFound) throw new UsageError(`${err.message} (see \`spotbatch status\` for the list)`);
    throw err;
  }
}

export function connect(cmd: Command): Connection {
  const config = configFor(cmd);
  const clients = createCoreClients({ region: config.region });
  const store = new Store(clients.ddb, config.prefix);
  let views: JobViews | undefined;
  return {
    config,
    clients,
    store,
    async bus() {
      return new MessageBus(clients.sqs, await resolveQueueUrls(clients.sqs, config.prefix), catalog);
    },
    views: () => (views ??= new JobViews({ ddb: clients.ddb, prefix: config.prefix })),
    close: () => destroyClients(clients),
  };
}
