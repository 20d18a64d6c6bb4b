import { Command } from 'commander';
import { createCoreClients, destroyClients } from '../../../shared/aws.js';
import { setup } from '../../../shared/setup.js';
import { configFor } from './common.js';

export function setupCommand(): Command {
  return new Command('setup')
    .description('create the queues (each with a dead-letter queue) and the tables; safe to run again')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      const clients = createCoreClients({ region: config.region });
      try {
        const result = await setup(clients, config);
        if (opts.json) {
          console.log(JSON.stringify(result, null, 2));
        } else {
          for (const [kind, url] of Object.entries(result.queues.main)) console.log(`queue ${kind}: ${url} (dead letters: ${result.queues.dlq[kind as keyof typeof result.queues.dlq]})`);
          console.log(result.createdTables.length ? `tables created: ${result.createdTables.join(', ')}` : 'tables: all present');
        }
      } finally {
        destroyClients(clients);
      }
    });
}
