/** `spotbatch setup`: the queues (each with its dead-letter queue) and the tables, idempotently. */
import type { Config } from './config.js';
import type { CoreClients } from './aws.js';
import { ensureQueues, type QueueUrls } from './queues.js';
import { ensureTables } from './store/tables.js';

export interface SetupResult {
  queues: QueueUrls;
  /** Tables this run created (empty on a second run). */
  createdTables: string[];
}

export async function setup(clients: CoreClients, config: Config): Promise<SetupResult> {
  const queues = await ensureQueues(clients.sqs, config.prefix, {
    maxReceiveCount: config.dispatcher.maxReceiveCount,
    visibilityTimeoutSeconds: config.dispatcher.visibilityTimeoutSeconds,
  });
  const createdTables = await ensureTables(clients.dynamodb, config.prefix);
  return { queues, createdTables };
}
