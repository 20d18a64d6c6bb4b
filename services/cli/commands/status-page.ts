/** `spotbatch status-page`: the HTML status page and its JSON API, against the configured fleet. */
import { Command } from 'commander';
import { createCloudClients, createCoreClients, destroyClients } from '../../../shared/aws.js';
import { startStatusServer } from '../../status/server.js';
import { ec2PriceSource } from '../../ledger/history.js';
import { UsageError, listening } from '../errors.js';
import { configFor, loggerFor, parsePort } from './common.js';

export const STATUS_TOKEN_ENV = 'SPOTBATCH_STATUS_TOKEN';

/** The token from --token or the environment; a short one is refused (it would be guessed). */
export function statusToken(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = flag ?? (env[STATUS_TOKEN_ENV] || undefined);
  if (token !== undefined && (token.length < 8 || /\s/.test(token))) {
    throw new UsageError(`${flag !== undefined ? '--token' : STATUS_TOKEN_ENV}: must be at least 8 characters with no spaces`);
  }
  return token;
}

export function statusPageCommand(): Command {
  return new Command('status-page')
    .description('serve the HTML status page and its JSON API (/api/jobs ...) for the configured fleet')
    .option('--port <port>', 'port to listen on (0: any free port)', '8080')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--token <token>', `require this bearer token on every route (also ${STATUS_TOKEN_ENV})`)
    .option('--poll <ms>', 'how often an open page refreshes itself, in ms (0: never)', '2000')
    .option('--json', 'once listening, print one JSON line {"url", "host", "port", "tokenRequired"} instead of the address line')
    .action(async (opts: { port: string; host: string; token?: string; poll: string; json?: boolean }, cmd: Command) => {
      const port = parsePort(opts.port, '--port');
      const token = statusToken(opts.token);
      if (!/^\d+$/.test(opts.poll)) throw new UsageError(`--poll: must be a whole number of ms, got ${JSON.stringify(opts.poll)}`);
      const config = configFor(cmd);
      const log = loggerFor(config, 'status-page', { stderr: opts.json === true });
      // Read-only: the page writes nothing, and its IAM policy grants only the reads (scripts/iam-actions.ts READ_ONLY_TABLES).
      const clients = createCoreClients({ region: config.region, readOnlyTables: true });
      const server = await listening({ host: opts.host, ports: { '--port': port } }, () =>
        startStatusServer({ ddb: clients.ddb, prefix: config.prefix, market: config.market, port, host: opts.host, ...(token ? { token } : {}), pollMs: Number(opts.poll), log, priceSource: ec2PriceSource(createCloudClients({ region: config.region })) }),
      ).catch((err: unknown) => {
        destroyClients(clients);
        throw err;
      });
      if (!token && !['127.0.0.1', 'localhost', '::1'].includes(opts.host)) {
        log.warn({ host: opts.host }, `the status page is reachable beyond this machine without a token: set --token or ${STATUS_TOKEN_ENV}`);
      }
      if (opts.json) console.log(JSON.stringify({ url: server.url, host: opts.host, port: server.port, tokenRequired: token !== undefined }));
      else console.log(`status page: ${server.url}/${token ? ' (token required: open it once as /?token=...)' : ''}`);
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping the status page');
        server.close().then(() => {
          destroyClients(clients);
          process.exit(0);
        }, () => process.exit(1));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      await new Promise(() => undefined); // until a signal
    });
}
