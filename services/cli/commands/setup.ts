import { Command } from 'commander';
import { createCloudClients, createCoreClients, destroyClients } from '../../../shared/aws.js';
import { setup } from '../../../shared/setup.js';
import { setupBoundary, type BoundarySetup } from '../../security/boundary.js';
import { configFor } from './common.js';

/** Whether IAM is an emulator (`spotbatch local`, the simulator): then setup makes the default boundary itself. */
const localIam = (env: NodeJS.ProcessEnv): boolean => Boolean(env.AWS_ENDPOINT_URL_IAM || env.AWS_ENDPOINT_URL);

export function setupCommand(): Command {
  return new Command('setup')
    .description('create the queues (each with a dead-letter queue), the tables and, locally, the job roles\' permissions boundary; safe to run again')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      const clients = createCoreClients({ region: config.region });
      try {
        const result = await setup(clients, config);
        // A configured boundary is checked; without one, the default is made where IAM is an emulator (on AWS the deploy template makes it).
        let boundary: BoundarySetup | undefined;
        if (config.security.permissionsBoundary || localIam(process.env)) {
          const cloud = createCloudClients({ region: config.region });
          try {
            boundary = await setupBoundary(cloud.iam, config);
          } finally {
            cloud.iam.destroy();
          }
        }
        if (opts.json) {
          console.log(JSON.stringify({ ...result, permissionsBoundary: boundary ?? null }, null, 2));
        } else {
          for (const [kind, url] of Object.entries(result.queues.main)) console.log(`queue ${kind}: ${url} (dead letters: ${result.queues.dlq[kind as keyof typeof result.queues.dlq]})`);
          console.log(result.createdTables.length ? `tables created: ${result.createdTables.join(', ')}` : 'tables: all present');
          if (!boundary) {
            console.log('permissions boundary: none configured; dispatchers make no job role until security.permissionsBoundary (SPOTBATCH_PERMISSIONS_BOUNDARY) names one (docs/operations.md)');
          } else if (boundary.configured) {
            console.log(`permissions boundary: ${boundary.arn} (configured, present)`);
          } else {
            console.log(`permissions boundary: ${boundary.arn} (${boundary.created ? 'created' : 'present'}); dispatchers need SPOTBATCH_PERMISSIONS_BOUNDARY=${boundary.arn}`);
          }
        }
      } finally {
        destroyClients(clients);
      }
    });
}
