/** What a client command needs of the fleet: its queues, its store, a bus. */
import type { Command } from 'commander';
import { createCoreClients, destroyClients, type CoreClients } from '../../../shared/aws.js';
import type { Config } from '../../../shared/config.js';
import { MessageBus } from '../../../shared/envelope.js';
import { resolveQueueUrls } from '../../../shared/queues.js';
import { Store } from '../../../shared/store/index.js';
import { catalog, type FleetCatalog } from '../../catalog.js';
import { configFor } from './common.js';

export interface Connection {
  config: Config;
  clients: CoreClients;
  store: Store;
  bus(): Promise<MessageBus<FleetCatalog>>;
  close(): void;
}

export function connect(cmd: Command): Connection {
  const config = configFor(cmd);
  const clients = createCoreClients({ region: config.region });
  const store = new Store(clients.ddb, config.prefix);
  return {
    config,
    clients,
    store,
    async bus() {
      return new MessageBus(clients.sqs, await resolveQueueUrls(clients.sqs, config.prefix), catalog);
    },
    close: () => destroyClients(clients),
  };
}
