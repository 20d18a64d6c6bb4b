import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { existsSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { createLogger } from '../../../shared/logger.js';
import { LOCAL_SIM_FAULTS } from '../../local/defaults.js';
import { runDemo } from '../demo.js';
import { UsageError, listening } from '../errors.js';
import { loadLocalMode } from '../local-mode.js';
import { parseCount, parsePort } from './common.js';
import { behaviourFaults, behaviourOptions, type BehaviourFlags } from './sim.js';
import { STATUS_TOKEN_ENV, statusToken } from './status-page.js';

const NO_AUTH_FLAG = '--i-know-the-emulators-have-no-auth';

/** Whether an address is this machine's loopback (127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
function loopbackAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1' || a === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(a);
}

/**
 * Whether --host reaches this machine only: an IP literal is looked at as it
 * is; a name when every address it resolves to is loopback. A name that does
 * not resolve: undefined (the bind then says so, naming --host).
 */
async function loopbackOnly(host: string): Promise<boolean | undefined> {
  const h = host.replace(/^\[|\]$/g, '');
  if (isIP(h)) return loopbackAddress(h);
  try {
    const all = await lookup(h, { all: true });
    return all.length > 0 && all.every((a) => loopbackAddress(a.address));
  } catch {
    return undefined;
  }
}

/** What --host exposes, said once for the refusal and the warning. */
function exposure(host: string): string {
  return (
    `spotbatch local would serve the SQS and DynamoDB emulators, the spot market simulator's EC2/IAM endpoint with its /_sim/ admin API, ` +
    `and the status page on ${host}, and the emulators and the simulator have no authentication (they accept any credentials): ` +
    'whoever reaches that address can read and change every queue and table, submit and cancel jobs, and start or terminate simulated instances ' +
    '(the simulated instances\' SSH and metadata stay on loopback addresses)'
  );
}

/** Where `local` writes the fleet's logs, in its data folder (the previous run's are kept as LOG_FILE.1). */
export const LOG_FILE = 'local.log';

/** The log file, opened for appending after moving the previous run's aside; written synchronously so no line is lost at exit. */
function openLogFile(dataDir: string): { path: string; stream: Writable } {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOG_FILE);
  if (existsSync(file)) renameSync(file, `${file}.1`);
  const fd = openSync(file, 'a', 0o600);
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        writeSync(fd, chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  return { path: file, stream };
}

export function localCommand(entry: string): Command {
  return behaviourOptions(new Command('local'), LOCAL_SIM_FAULTS)
    .description('run the whole fleet on this machine with embedded emulators (no AWS account); Ctrl-C stops it')
    .option('--data <dir>', 'folder for the emulators\' data', '.spotbatch')
    .option('--port <port>', 'port of the status page (/healthz answers there)', '8080')
    .option('--token <token>', `the status page wants this bearer token on every route (also ${STATUS_TOKEN_ENV})`)
    .option('--host <host>', `address the emulators, the simulator and the status page bind; anything but loopback needs ${NO_AUTH_FLAG}`, '127.0.0.1')
    .option(NO_AUTH_FLAG, 'allow a --host other than loopback although the emulators and the simulator have no authentication (warns on stderr)')
    .option('--sqs-port <port>', 'port of the SQS emulator', '9324')
    .option('--dynamodb-port <port>', 'port of the DynamoDB emulator', '8000')
    .option('--sim-port <port>', 'port of the simulator\'s EC2/IAM endpoint', '4566')
    .option('--ssh-port <port>', 'SSH port on every simulated instance', '2222')
    .option('--dispatchers <n>', 'dispatcher processes', '2')
    .option('--time-scale <n>', 'simulated seconds per real second in the spot market', '10')
    .option('--demo', 'submit examples/testsleep.json, show its progress and a summary')
    .option('--exit-when-done', 'with --demo: exit when the demo job ends (0 if it succeeded and left nothing behind)')
    .option('--json', 'once running, print one JSON line {"url", "endpoints", "sshPort", "dataDir", "dispatcherPids", "env", "logFile"} instead of the banner (--demo\'s lines go to stderr)')
    .option('--show-logs', `the fleet's logs (dispatchers, simulator) on this terminal instead of in <data>/${LOG_FILE}`)
    .action(async (opts: BehaviourFlags & { data: string; port: string; token?: string; host: string; iKnowTheEmulatorsHaveNoAuth?: boolean; sqsPort: string; dynamodbPort: string; simPort: string; sshPort: string; dispatchers: string; timeScale: string; demo?: boolean; exitWhenDone?: boolean; json?: boolean; showLogs?: boolean }) => {
      if (opts.exitWhenDone && !opts.demo) throw new UsageError('--exit-when-done: only with --demo');
      const { startLocal } = await loadLocalMode('local');
      const timeScale = Number(opts.timeScale);
      if (!(timeScale > 0)) throw new UsageError(`--time-scale: must be a number > 0, got ${JSON.stringify(opts.timeScale)}`);
      if ((await loopbackOnly(opts.host)) === false) {
        if (!opts.iKnowTheEmulatorsHaveNoAuth) {
          throw new UsageError(`--host ${opts.host} is not a loopback address: ${exposure(opts.host)}. Use --host 127.0.0.1 (the default), or give ${NO_AUTH_FLAG} on a network you trust entirely`);
        }
        console.error(`\nWARNING: --host ${opts.host} with ${NO_AUTH_FLAG}: ${exposure(opts.host)}. Give it a network you trust entirely, or a firewall.\n`);
      }
      const dataDir = path.resolve(opts.data);
      // The fleet's logs go to a file of the data folder: the screen keeps the banner, the demo's progress and its summary.
      const logFile = opts.showLogs ? undefined : openLogFile(dataDir);
      const log = logFile ? createLogger({ name: 'local', format: 'json', destination: logFile.stream }) : createLogger({ name: 'local', stderr: opts.json === true });
      const ports = {
        '--port': parsePort(opts.port, '--port'),
        '--sqs-port': parsePort(opts.sqsPort, '--sqs-port'),
        '--dynamodb-port': parsePort(opts.dynamodbPort, '--dynamodb-port'),
        '--sim-port': parsePort(opts.simPort, '--sim-port'),
        '--ssh-port': parsePort(opts.sshPort, '--ssh-port'),
      };
      const options = {
        dataDir,
        port: ports['--port'],
        statusToken: statusToken(opts.token),
        host: opts.host,
        sqsPort: ports['--sqs-port'],
        dynamodbPort: ports['--dynamodb-port'],
        dispatchers: parseCount(opts.dispatchers, '--dispatchers', 1, 16),
        simPort: ports['--sim-port'],
        timeScale,
        simFaults: behaviourFaults(opts),
        sshPort: ports['--ssh-port'],
        self: { execPath: process.execPath, execArgv: process.execArgv, entry },
        log,
        childEnv: logFile ? { SPOTBATCH_LOG_FORMAT: 'json' } : process.stdout.isTTY ? { SPOTBATCH_LOG_FORMAT: 'pretty' } : {},
        childLogsToStderr: opts.json === true,
        ...(logFile ? { logFile: logFile.path } : {}),
      };
      const fleet = await listening({ host: opts.host, ports }, () => startLocal(options));
      // With --json, stdout carries the one JSON line and nothing else.
      const say = opts.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
      if (opts.json) {
        console.log(JSON.stringify({ url: fleet.url, endpoints: fleet.endpoints, sshPort: fleet.sshPort, dataDir, dispatcherPids: fleet.dispatcherPids(), env: fleet.env, logFile: logFile?.path ?? null }));
      } else console.log(
        [
          '',
          `spotbatch local is running (data in ${dataDir})`,
          `  status page: ${fleet.url}/ (JSON API under ${fleet.url}/api/jobs; health: ${fleet.url}/healthz)`,
          `  spot market simulator: ${fleet.endpoints.ec2} (admin: ${fleet.endpoints.ec2}/_sim/inventory, SSH port ${fleet.sshPort})`,
          `  dispatchers: pids ${fleet.dispatcherPids().join(', ')}`,
          ...(logFile ? [`  logs: ${logFile.path} (--show-logs puts them on this screen)`] : []),
          '',
          'To use it from another shell:',
          ...fleet.exports.map((l) => `  ${l}`),
          '',
          'Ctrl-C stops everything.',
          '',
        ].join('\n'),
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(1);
        stopping = true;
        log.info({ signal }, 'stopping the local fleet');
        if (logFile) console.error('stopping the local fleet ...');
        fleet.stop().then(
          () => process.exit(0),
          (err) => {
            log.error({ err: String(err) }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      if (opts.demo) {
        const result = await runDemo(fleet, say);
        if (opts.exitWhenDone) {
          stopping = true;
          await fleet.stop();
          process.exit(result.state === 'succeeded' && result.leftovers === 0 ? 0 : 1);
        }
        say('The fleet keeps running; Ctrl-C stops it.');
      }
      await new Promise(() => undefined);
    });
}
