import path from 'node:path';
import { Command } from 'commander';
import { createLogger } from '../../../shared/logger.js';
import type { FaultSettings } from '../../local/defaults.js';
import { UsageError, listening } from '../errors.js';
import { loadLocalMode } from '../local-mode.js';
import { parsePort } from './common.js';

function parseNumber(value: string, flag: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || (!integer && n <= 0)) {
    throw new UsageError(`${flag}: must be ${integer ? 'an integer' : 'a number > 0'}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--start`: an ISO 8601 time or epoch milliseconds. */
function parseStart(value: string): number {
  const t = /^\d+$/.test(value.trim()) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t) || t < 0) throw new UsageError(`--start: must be an ISO 8601 time (2026-06-01T00:00:00Z) or epoch milliseconds, got ${JSON.stringify(value)}`);
  return t;
}

type LocalMode = Awaited<ReturnType<typeof loadLocalMode>>;

function parseLaunchLatency(parseLatency: LocalMode['parseLatency'], value: string): ReturnType<LocalMode['parseLatency']> {
  try {
    return parseLatency(value);
  } catch (err) {
    throw new UsageError(`--launch-latency: ${(err as Error).message}`);
  }
}

/** The AWS behaviour flags of `sim` and `local` (docs/simulator.md). */
export interface BehaviourFlags {
  requestLimits: string;
  notFoundSeconds: string;
  iamPropagationSeconds: string;
}

/** Add the AWS behaviour flags to a command, with its defaults. */
export function behaviourOptions(cmd: Command, defaults: FaultSettings): Command {
  return cmd
    .option('--request-limits <x>', 'EC2 request limits: AWS\'s token buckets times x (1 = AWS\'s, 0 = none)', String(defaults.requestLimits ?? 0))
    .option('--not-found-seconds <s>', 'after a create, calls naming the new instance, spot request or security group answer NotFound for s real seconds', String(defaults.notFoundSeconds ?? 0))
    .option('--iam-propagation-seconds <s>', 'a new instance profile is refused by EC2 launches for s real seconds', String(defaults.iamPropagationSeconds ?? 0));
}

/** The faults the behaviour flags ask for (zero values left out). */
export function behaviourFaults(opts: BehaviourFlags): FaultSettings {
  const read = (value: string, flag: string, max: number): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new UsageError(`${flag}: must be a number from 0 to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
  const requestLimits = read(opts.requestLimits, '--request-limits', 100);
  const notFoundSeconds = read(opts.notFoundSeconds, '--not-found-seconds', 600);
  const iamPropagationSeconds = read(opts.iamPropagationSeconds, '--iam-propagation-seconds', 600);
  return {
    ...(requestLimits > 0 ? { requestLimits } : {}),
    ...(notFoundSeconds > 0 ? { notFoundSeconds } : {}),
    ...(iamPropagationSeconds > 0 ? { iamPropagationSeconds } : {}),
  };
}

export function simCommand(): Command {
  return behaviourOptions(new Command('sim'), {})
    .description('run the spot market simulator: EC2 and IAM endpoints, SSH-reachable instances, interruptions')
    .option('--port <port>', 'port of the EC2/IAM endpoint', '4566')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--time-scale <n>', 'simulated seconds per real second', '1')
    .option('--seed <n>', 'market seed (same seed and --start, same market)', '1')
    .option('--start <time>', 'simulated time at start-up, ISO 8601 or epoch ms (default: now)')
    .option('--launch-latency <dist>', 'fulfilment to running, simulated seconds: N, MIN..MAX or lognormal:MEDIAN,SIGMA', 'lognormal:20,0.35')
    .option('--data <dir>', 'market data folder (default: the data/market the project ships)')
    .option('--events-queue <url>', 'SQS queue URL for EventBridge-shaped EC2 events')
    .option('--ssh-port <port>', 'SSH port on every instance address', '2222')
    .option('--json', 'print the endpoints as one JSON line ({"endpoint", "sshPort", "imdsPort", "admin"}) instead of the banner')
    .action(async (opts: BehaviourFlags & { port: string; host: string; timeScale: string; seed: string; start?: string; launchLatency: string; data?: string; eventsQueue?: string; sshPort: string; json?: boolean }) => {
      const { parseLatency, startSimulator } = await loadLocalMode('sim');
      const logger = createLogger({ name: 'sim', stderr: opts.json === true });
      const port = parsePort(opts.port, '--port');
      const sshPort = parsePort(opts.sshPort, '--ssh-port');
      const options = {
        port,
        host: opts.host,
        timeScale: parseNumber(opts.timeScale, '--time-scale', false),
        seed: parseNumber(opts.seed, '--seed', true),
        ...(opts.start ? { start: parseStart(opts.start) } : {}),
        launchLatency: parseLaunchLatency(parseLatency, opts.launchLatency),
        ...(opts.data ? { dataDir: path.resolve(opts.data) } : {}),
        ...(opts.eventsQueue ? { eventsQueueUrl: opts.eventsQueue } : {}),
        sshPort,
        faults: behaviourFaults(opts),
        logger,
      };
      const sim = await listening({ host: opts.host, ports: { '--port': port, '--ssh-port': sshPort } }, () => startSimulator(options));
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
