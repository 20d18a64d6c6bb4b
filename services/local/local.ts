/**
 * `spotbatch local`: the whole fleet on one machine, no AWS account. The
 * emulators and the spot market simulator run in this process; the
 * dispatchers are child processes (so one
 * can be killed and is restarted, as a container would be), all on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { generateSecretKey } from '../../shared/secrets.js';
import type { Logger } from '../../shared/logger.js';
import { createCloudClients, createCoreClients, destroyClients } from '../../shared/aws.js';
import { loadConfig, type Config } from '../../shared/config.js';
import { setup } from '../../shared/setup.js';
import { ensureDefaultBoundary, fleetBuckets } from '../security/boundary.js';
import { startSimulator, type FaultSettings, type Simulator } from '@spotbatch/simulator';
import { LOCAL_CREDENTIALS, LOCAL_SIM_FAULTS } from './defaults.js';
import { backoffDelay, equalJitter } from '../../shared/backoff.js';
import { startStatusServer, type StatusServer } from '../status/server.js';
import { ec2PriceSource } from '../ledger/history.js';
import { startEmulators, type Emulators } from './emulators.js';

export interface LocalOptions {
  /** Folder for the emulators' data. */
  dataDir: string;
  /** Status page port (its /healthz tells how the dispatchers are). 0 picks a free one. */
  port: number;
  /** Bearer token the status page wants on every route, if any. */
  statusToken?: string;
  host: string;
  sqsPort: number;
  dynamodbPort: number;
  dispatchers: number;
  /** Port of the simulator's EC2/IAM endpoint and the instances' SSH port (0: free ones). */
  simPort: number;
  sshPort: number;
  timeScale?: number;
  seed?: number;
  /** The simulator's AWS behaviours from the start (POST /_sim/faults body); default LOCAL_SIM_FAULTS. */
  simFaults?: FaultSettings;
  /** How to run this CLI again for a child: node, its flags, the entry script. */
  self: { execPath: string; execArgv: string[]; entry: string };
  log: Logger;
  /** Extra environment for the children (log format, ...). */
  childEnv?: NodeJS.ProcessEnv;
  /** The children's output (their logs) to our stderr, not stdout (which carries `local --json`'s line). */
  childLogsToStderr?: boolean;
  /** The children's output (their logs) appended to this file instead (`log` should write there too). */
  logFile?: string;
}

export interface LocalFleet {
  endpoints: Emulators['endpoints'] & { ec2: string; iam: string };
  sshPort: number;
  url: string;
  config: Config;
  /**
   * What another shell needs to talk to this fleet: endpoints, credentials the emulators accept, prefix, SSH port,
   * the artifact store, and the file that holds the secret key (SPOTBATCH_SECRET_KEY_FILE; never the key itself).
   */
  env: Record<string, string>;
  /** The same as `export NAME=value` lines. */
  exports: string[];
  dispatcherPids(): number[];
  restarts(): number;
  stop(): Promise<void>;
}

/** The file of the data folder that holds the key that encrypts job private keys at rest (0600). */
export const secretKeyFile = (dataDir: string): string => path.resolve(dataDir, 'secret.key');

/** The key that encrypts job private keys at rest, kept in a 0600 file of the data folder (made on first use). */
export function localSecretKey(dataDir: string): string {
  const file = secretKeyFile(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = generateSecretKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}


/** Credentials the emulators accept (they check none); the SDK needs some to sign. */

interface Child {
  index: number;
  proc: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
}

export async function startLocal(o: LocalOptions): Promise<LocalFleet> {
  const emulators = await startEmulators({
    host: o.host,
    sqsPort: o.sqsPort,
    dynamodbPort: o.dynamodbPort,
    dynamodbPath: path.join(o.dataDir, 'dynamodb'),
  });
  localSecretKey(o.dataDir); // made now, if this data folder has none yet
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_SQS: emulators.endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: emulators.endpoints.dynamodb,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    // The fleet's artifact store (uploads, large scripts and specs): a folder of its data dir, exported so a CLI in another shell stages there.
    SPOTBATCH_ARTIFACTS: process.env.SPOTBATCH_ARTIFACTS || `local:${path.resolve(o.dataDir, 'artifacts')}`,
  };
  // The local emulator answers a receive only when the batch is full or the wait ends: short waits.
  const fleetEnv: NodeJS.ProcessEnv = {
    SPOTBATCH_WAIT_TIME_SECONDS: '1',
    SPOTBATCH_RETRY_BACKOFF_MAX_SECONDS: '0',
    SPOTBATCH_POLL_SECONDS: process.env.SPOTBATCH_POLL_SECONDS ?? '1',
    SPOTBATCH_METADATA_POLL_SECONDS: process.env.SPOTBATCH_METADATA_POLL_SECONDS ?? '1',
    SPOTBATCH_SSH_INGRESS_CIDR: '127.0.0.1/32',
    // The market collectors on the internal timer (docs/market.md#schedule).
    SPOTBATCH_MARKET_SCHEDULE: process.env.SPOTBATCH_MARKET_SCHEDULE ?? 'true',
    // The key stays in its file: the children read it from there (and a key exported in this shell is not theirs).
    SPOTBATCH_SECRET_KEY: '',
    SPOTBATCH_SECRET_KEY_FILE: secretKeyFile(o.dataDir),
    // Checkpoints go to a folder the fleet owns under its data folder: the "default" store a spec names (or gets).
    SPOTBATCH_CHECKPOINT_STORES:
      process.env.SPOTBATCH_CHECKPOINT_STORES || JSON.stringify({ default: { type: 'local', dir: path.join(path.resolve(o.dataDir), 'checkpoints') } }),
  };
  let config: Config;
  let sim: Simulator;
  try {
    config = loadConfig({ env: { ...process.env, ...env, ...fleetEnv } });
    const clients = createCoreClients({ region: config.region, endpoints: emulators.endpoints, credentials: LOCAL_CREDENTIALS });
    let eventsQueueUrl: string;
    try {
      eventsQueueUrl = (await setup(clients, config)).queues.main.events;
    } finally {
      destroyClients(clients);
    }
    // The simulator sends its EventBridge-shaped EC2 events where EventBridge would: the events queue.
    sim = await startSimulator({
      port: o.simPort,
      host: o.host,
      sshPort: o.sshPort,
      eventsQueueUrl,
      sandboxRoot: path.join(o.dataDir, 'instances'),
      ...(o.timeScale ? { timeScale: o.timeScale } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      faults: o.simFaults ?? LOCAL_SIM_FAULTS,
      logger: o.log.child({ component: 'sim' }),
    });
  } catch (err) {
    await emulators.stop();
    throw err;
  }
  // Job roles get a permissions boundary: the fleet's default one, made in the simulator's IAM (fresh at every start,
  // so a boundary configured for another account could not exist there).
  const iam = createCloudClients({ region: config.region, endpoints: { iam: sim.endpoint }, credentials: LOCAL_CREDENTIALS }).iam;
  try {
    fleetEnv.SPOTBATCH_PERMISSIONS_BOUNDARY = (await ensureDefaultBoundary(iam, config.prefix, fleetBuckets(config), o.log)).arn;
  } catch (err) {
    await sim.stop();
    await emulators.stop();
    throw err;
  } finally {
    iam.destroy();
  }
  env.AWS_ENDPOINT_URL_EC2 = sim.endpoint;
  env.AWS_ENDPOINT_URL_IAM = sim.endpoint;
  fleetEnv.SPOTBATCH_SSH_PORT = String(sim.sshPort);

  let stopping = false;
  const children: Child[] = [];
  // The children's logs: one append-only file (each child writes whole lines), or our stdout / stderr.
  const logFd = o.logFile ? openSync(o.logFile, 'a', 0o600) : undefined;
  const childOut = logFd ?? (o.childLogsToStderr ? 2 : 'inherit');
  const childErr = logFd ?? 'inherit';
  const spawnChild = (child: Child) => {
    const proc = spawn(o.self.execPath, [...o.self.execArgv, o.self.entry, 'dispatcher'], {
      env: {
        ...process.env,
        ...o.childEnv,
        ...env,
        ...fleetEnv,
        SPOTBATCH_PREFIX: config.prefix,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      // Own process group, so a Ctrl-C in the terminal reaches only us and we stop the
      // children in order; the IPC channel tells a child when we are gone.
      stdio: ['ignore', childOut, childErr, 'ipc'],
      detached: true,
    });
    child.proc = proc;
    child.startedAt = Date.now();
    proc.on('exit', (code, signal) => {
      if (stopping) return;
      child.restarts++;
      // Restart at once after a long run; back off when it keeps dying.
      const delay = Date.now() - child.startedAt > 10_000 ? 200 : Math.round(backoffDelay(child.restarts, equalJitter({ base: 500, cap: 10_000 })));
      o.log.warn({ dispatcher: child.index, pid: proc.pid, code, signal, restartInMs: delay }, 'dispatcher exited: restarting it');
      setTimeout(() => {
        if (!stopping) spawnChild(child);
      }, delay).unref();
    });
  };
  for (let i = 0; i < o.dispatchers; i++) {
    const child: Child = { index: i + 1, proc: undefined, startedAt: 0, restarts: 0 };
    children.push(child);
    spawnChild(child);
  }
  const alive = (c: Child) => c.proc !== undefined && c.proc.exitCode === null && c.proc.signalCode === null;

  const health = () => {
    const dispatchers = children.map((c) => ({ index: c.index, pid: c.proc?.pid, alive: alive(c), restarts: c.restarts }));
    const ok = !stopping && dispatchers.some((d) => d.alive);
    return {
      status: ok ? 200 : 503,
      body: {
        status: ok ? 'ok' : 'degraded',
        dispatchers,
        endpoints: { ...emulators.endpoints, ec2: sim.endpoint, iam: sim.endpoint },
        sshPort: sim.sshPort,
        prefix: config.prefix,
      },
    };
  };
  // The status page reads the fleet's tables like any other client.
  const statusClients = createCoreClients({ region: config.region, endpoints: emulators.endpoints, credentials: LOCAL_CREDENTIALS });
  let status: StatusServer;
  try {
    status = await startStatusServer({
      ddb: statusClients.ddb,
      prefix: config.prefix,
      market: config.market,
      port: o.port,
      host: o.host,
      ...(o.statusToken ? { token: o.statusToken } : {}),
      health,
      log: o.log.child({ component: 'status-page' }),
      // Spend from the cost ledger over the simulator's spot price history.
      priceSource: ec2PriceSource(createCloudClients({ region: config.region, endpoints: { ec2: sim.endpoint }, credentials: LOCAL_CREDENTIALS })),
    });
  } catch (err) {
    stopping = true;
    for (const c of children) c.proc?.kill('SIGTERM');
    if (logFd !== undefined) closeSync(logFd);
    destroyClients(statusClients);
    await sim.stop();
    await emulators.stop();
    throw err;
  }
  const url = status.url;

  const shellEnv: Record<string, string> = {
    ...env,
    SPOTBATCH_PREFIX: config.prefix,
    SPOTBATCH_SSH_PORT: String(sim.sshPort),
    // ssh, exec, upload, download and live logs decrypt the job's key with the fleet's: the file, not the key, goes on the screen.
    SPOTBATCH_SECRET_KEY_FILE: secretKeyFile(o.dataDir),
  };
  // Quoted for the shell when a value needs it (a data folder with a space in its path).
  const exports = Object.entries(shellEnv).map(([k, v]) => `export ${k}=${/^[\w@%+=:,./-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`}`);

  return {
    endpoints: { ...emulators.endpoints, ec2: sim.endpoint, iam: sim.endpoint },
    sshPort: sim.sshPort,
    url,
    config,
    env: shellEnv,
    exports,
    dispatcherPids: () => children.filter(alive).map((c) => c.proc!.pid!),
    restarts: () => children.reduce((n, c) => n + c.restarts, 0),
    async stop() {
      stopping = true;
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (!c.proc || !alive(c)) return resolve();
              const killer = setTimeout(() => c.proc?.kill('SIGKILL'), (config.dispatcher.shutdownTimeoutSeconds + 5) * 1000);
              c.proc.once('exit', () => {
                clearTimeout(killer);
                resolve();
              });
              c.proc.kill('SIGTERM');
            }),
        ),
      );
      await status.close();
      destroyClients(statusClients);
      await sim.stop();
      await emulators.stop();
      if (logFd !== undefined) closeSync(logFd);
    },
  };
}
