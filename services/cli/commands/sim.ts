import path from 'node:path';
import { Command } from 'commander';
import { createLogger } from '../../../shared/logger.js';
import { startSimulator } from '../../simulator/index.js';
import { UsageError } from '../errors.js';
import { parsePort } from './common.js';

function parseNumber(value: string, flag: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || (!integer && n <= 0)) {
    throw new UsageError(`${flag}: must be ${integer ? 'an integer' : 'a number > 0'}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function simCommand(): Command {
  return new Command('sim')
    .description('run the spot market simulator: EC2 and IAM endpoints, SSH-reachable instances, interruptions')
    .option('--port <port>', 'port of the EC2/IAM endpoint', '4566')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--time-scale <n>', 'simulated seconds per real second', '1')
    .option('--seed <n>', 'market seed (same seed, same market)', '1')
    .option('--data <dir>', 'market data folder (default: the data/market the project ships)')
    .option('--events-queue <url>', 'SQS queue URL for EventBridge-shaped EC2 events')
    .option('--ssh-port <port>', 'SSH port on every instance address', '2222')
    .option('--json', 'print the endpoints as one JSON line ({"endpoint", "sshPort", "imdsPort", "admin"}) instead of the banner')
    .action(async (opts: { port: string; host: string; timeScale: string; seed: string; data?: string; eventsQueue?: string; sshPort: string; json?: boolean }) => {
      const logger = createLogger({ name: 'sim' });
      const sim = await startSimulator({
        port: parsePort(opts.port, '--port'),
        host: opts.host,
        timeScale: parseNumber(opts.timeScale, '--time-scale', false),
        seed: parseNumber(opts.seed, '--seed', true),
        ...(opts.data ? { dataDir: path.resolve(opts.data) } : {}),
        ...(opts.eventsQueue ? { eventsQueueUrl: opts.eventsQueue } : {}),
        sshPort: parsePort(opts.sshPort, '--ssh-port'),
        logger,
      });
      if (opts.json) console.log(JSON.stringify({ endpoint: sim.endpoint, sshPort: sim.sshPort, imdsPort: sim.imdsPort, admin: `${sim.endpoint}/_sim/` }));
      else console.log(
        [
          '',
          `spot market simulator on ${sim.endpoint} (SSH port ${sim.sshPort}, metadata port ${sim.imdsPort})`,
          `  export AWS_ENDPOINT_URL_EC2=${sim.endpoint}`,
          `  export AWS_ENDPOINT_URL_IAM=${sim.endpoint}`,
          `  admin: ${sim.endpoint}/_sim/inventory`,
          '',
        ].join('\n'),
      );
      const stop = () => {
        void sim.stop().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => undefined);
    });
}
