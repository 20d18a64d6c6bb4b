import type { Server, Socket } from 'node:net';
import ssh2, { type ParsedKey } from 'ssh2';
import { silentLogger, type Logger } from '../../../shared/logger.js';
import { createImds } from './imds.js';
import { closeServer, listen, reservePort, trackedServer } from './listeners.js';
import type { MetadataSource } from './metadata.js';
import { ProcessTable } from './processes.js';
import { createSandbox, removeSandbox, type Sandbox } from './sandbox.js';
import { serveSshConnection, type SshShared } from './ssh-server.js';
import type { InstanceRuntime, InstanceSpec, InterruptionNotice } from './types.js';

export type { InstanceRuntime, InstanceSpec, InterruptionNotice } from './types.js';

export interface InstanceRuntimeOptions {
  /** Folder under which each instance gets `<instanceId>/` (its `/`: home/<user>, tmp). */
  sandboxRoot: string;
  /** SSH port on every instance address; default 2222; 0 = pick one free port and use it everywhere. */
  sshPort?: number;
  /** Metadata service port on every instance address; default 8009; 0 = pick one free port. */
  imdsPort?: number;
  logger?: Logger;
  /** Private host key (OpenSSH or PEM) shared by every instance; an ed25519 key is generated when absent. */
  hostKey?: string;
}

export const DEFAULT_SSH_PORT = 2222;
export const DEFAULT_IMDS_PORT = 8009;

const LOOPBACK_INSTANCE_IP = /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/;

interface InstanceState extends MetadataSource {
  sandbox?: Sandbox;
  ssh?: { server: Server; sockets: Set<Socket> };
  imds?: { server: Server; sockets: Set<Socket> };
  started: Promise<void>;
  stopped?: Promise<void>;
}

function parseHostKey(hostKey: string | undefined): ParsedKey {
  const source = hostKey ?? ssh2.utils.generateKeyPairSync('ed25519').private;
  const parsed = ssh2.utils.parseKey(source);
  if (parsed instanceof Error) throw new Error(`invalid SSH host key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (!key || !key.isPrivateKey()) throw new Error('the SSH host key must be a private key');
  return key;
}

/**
 * The instance runtime: per instance an SSH server and a metadata service on
 * the instance's own loopback address, commands as local processes in a
 * sandbox folder. See docs/simulator.md, "Instance runtime".
 */
export async function createInstanceRuntime(opts: InstanceRuntimeOptions): Promise<InstanceRuntime> {
  const logger = (opts.logger ?? silentLogger()).child({ component: 'instance-runtime' });
  const hostKey = parseHostKey(opts.hostKey);
  const reservations: Array<() => Promise<void>> = [];
  const portFor = async (requested: number | undefined, fallback: number): Promise<number> => {
    if (requested !== 0) return requested ?? fallback;
    const reserved = await reservePort();
    reservations.push(reserved.release);
    return reserved.port;
  };
  const sshPort = await portFor(opts.sshPort, DEFAULT_SSH_PORT);
  const imdsPort = await portFor(opts.imdsPort, DEFAULT_IMDS_PORT);

  const byId = new Map<string, InstanceState>();
  const byIp = new Map<string, InstanceState>();
  const processes = new ProcessTable();
  const imds = createImds((address) => byIp.get(address));
  const shared: SshShared = { hostKey, processes, logger, imdsPort };
  let closed = false;

  async function bringUp(state: InstanceState): Promise<void> {
    const { spec } = state;
    state.sandbox = await createSandbox(opts.sandboxRoot, spec.instanceId, spec.loginUser);
    const sandbox = state.sandbox;
    state.ssh = trackedServer((socket) => {
      const remote = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      if (spec.allowIngress && !spec.allowIngress(remote, 22)) {
        logger.debug({ instanceId: spec.instanceId, remote }, 'ssh connection dropped by the security groups');
        socket.destroy();
        return;
      }
      serveSshConnection(shared, { spec, sandbox }, socket);
    });
    state.imds = trackedServer((socket) => imds.acceptConnection(socket));
    for (const { server } of [state.ssh, state.imds]) {
      server.on('error', (err) => logger.warn({ instanceId: spec.instanceId, err: err.message }, 'instance listener error'));
    }
    await listen(state.ssh.server, sshPort, spec.ip);
    await listen(state.imds.server, imdsPort, spec.ip);
    logger.debug({ instanceId: spec.instanceId, ip: spec.ip }, 'instance runtime started');
  }

  async function tearDown(state: InstanceState, killProcesses: boolean): Promise<void> {
    await state.started.catch(() => undefined);
    const { spec } = state;
    if (byIp.get(spec.ip) === state) byIp.delete(spec.ip);
    const closing: Promise<void>[] = [];
    for (const listener of [state.ssh, state.imds]) {
      if (!listener) continue;
      closing.push(closeServer(listener.server));
      for (const socket of listener.sockets) socket.destroy();
    }
    if (killProcesses) await processes.killInstances([spec.instanceId]);
    await Promise.all(closing);
    if (state.sandbox) await removeSandbox(state.sandbox);
    if (byId.get(spec.instanceId) === state) byId.delete(spec.instanceId);
    logger.debug({ instanceId: spec.instanceId }, 'instance runtime stopped');
  }

  const runtime: InstanceRuntime = {
    sshPort,
    imdsPort,

    async start(spec: InstanceSpec): Promise<void> {
      if (closed) throw new Error('the instance runtime is closed');
      if (!LOOPBACK_INSTANCE_IP.test(spec.ip) || spec.ip === '127.0.0.1') {
        throw new Error(`instance ${spec.instanceId}: ip must be a 127.x.y.z address other than 127.0.0.1, got ${spec.ip}`);
      }
      if (byId.has(spec.instanceId)) throw new Error(`instance ${spec.instanceId} is already started`);
      if (byIp.has(spec.ip)) throw new Error(`address ${spec.ip} is already used by instance ${byIp.get(spec.ip)?.spec.instanceId}`);
      const state: InstanceState = { spec, started: Promise.resolve() };
      byId.set(spec.instanceId, state);
      byIp.set(spec.ip, state);
      state.started = bringUp(state);
      try {
        await state.started;
      } catch (err) {
        await runtime.stop(spec.instanceId);
        throw err;
      }
    },

    notice(instanceId: string, notice: InterruptionNotice): void {
      const state = byId.get(instanceId);
      if (state && !state.stopped) state.notice = notice;
    },

    rebalance(instanceId: string, noticeTime: Date): void {
      const state = byId.get(instanceId);
      if (state && !state.stopped) state.rebalanceAt = noticeTime;
    },

    stop(instanceId: string): Promise<void> {
      const state = byId.get(instanceId);
      if (!state) return Promise.resolve();
      state.stopped ??= tearDown(state, true);
      return state.stopped;
    },

    async close(): Promise<void> {
      closed = true;
      const states = [...byId.values()];
      // One process sweep for every instance, then the rest of each teardown.
      await processes.killInstances(states.map((state) => state.spec.instanceId));
      await Promise.all(states.map((state) => (state.stopped ??= tearDown(state, false))));
      imds.close();
      await Promise.all(reservations.splice(0).map((release) => release()));
    },
  };
  return runtime;
}
