import type { Server, Socket } from 'node:net';
import ssh2, { type ParsedKey } from 'ssh2';
import { silentLogger, type Logger } from '../logger.js';
import { hostKeysFromUserData } from './cloud-init.js';
import { createImds } from './imds.js';
import { mountNamespaceWorks } from './namespace.js';
import { closeServer, listen, reservePort, trackedServer } from './listeners.js';
import type { MetadataSource } from './metadata.js';
import { ProcessTable } from './processes.js';
import { createSandbox, removeSandbox, type Sandbox } from './sandbox.js';
import { serveSshConnection, type SshShared } from './ssh-server.js';
import type { InstanceRuntime, InstanceSpec, InterruptionNotice } from './types.js';

export type { InstanceRuntime, InstanceSpec } from './types.js';

export interface InstanceRuntimeOptions {
  /** Folder under which each instance gets `<instanceId>/` (its `/`: home/<user>, tmp). */
  sandboxRoot: string;
  /** SSH port on every instance address; default 2222; 0 = pick one free port and use it everywhere. */
  sshPort?: number;
  /** Metadata service port on every instance address; default 8009; 0 = pick one free port. */
  imdsPort?: number;
  logger?: Logger;
  /**
   * Run each command in a mount namespace where /home and /tmp are the sandbox's, so that
   * `/home/ec2-user/...` works in commands as on a real instance. true: required (creation fails
   * when unshare cannot do it here); 'auto': when it works; false (default): plain processes.
   */
  mountNamespace?: boolean | 'auto';
}

/** The runtime as createInstanceRuntime returns it: the contract plus what a local caller may want to show. */
export interface LocalInstanceRuntime extends InstanceRuntime {
  /** Whether commands run in a mount namespace (see InstanceRuntimeOptions.mountNamespace). */
  readonly mountNamespace: boolean;
}

export const DEFAULT_SSH_PORT = 2222;
export const DEFAULT_IMDS_PORT = 8009;

const LOOPBACK_INSTANCE_IP = /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/;

interface InstanceState extends MetadataSource {
  /** The host keys its SSH server presents: from the user data's cloud-init ssh_keys, else one of its own. */
  hostKeys: ParsedKey[];
  sandbox?: Sandbox;
  ssh?: { server: Server; sockets: Set<Socket> };
  imds?: { server: Server; sockets: Set<Socket> };
  started: Promise<void>;
  stopped?: Promise<void>;
}

/**
 * ssh2's generateKeyPairSync('ed25519') strips leading zero bytes from the
 * public key, so about 1 pair in 256 does not parse back (mscdex/ssh2#1390,
 * #1513): draw again until both halves parse.
 */
export function generateEd25519KeyPair(): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
  throw new Error('could not generate a well-formed ed25519 key pair');
}

function generatedHostKey(): ParsedKey {
  const parsed = ssh2.utils.parseKey(generateEd25519KeyPair().private);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (!key || key instanceof Error) throw new Error('could not parse a generated host key');
  return key;
}

const publicLine = (key: ParsedKey): string => `${key.type} ${key.getPublicSSH().toString('base64')}`;

/**
 * The instance runtime: per instance an SSH server and a metadata service on
 * the instance's own loopback address, commands as local processes in a
 * sandbox folder. See docs/simulator.md, "Instance runtime".
 */
export async function createInstanceRuntime(opts: InstanceRuntimeOptions): Promise<LocalInstanceRuntime> {
  const logger = (opts.logger ?? silentLogger()).child({ component: 'instance-runtime' });
  const reservations: Array<() => Promise<void>> = [];
  const portFor = async (requested: number | undefined, fallback: number): Promise<number> => {
    if (requested !== 0) return requested ?? fallback;
    const reserved = await reservePort();
    reservations.push(reserved.release);
    return reserved.port;
  };
  const sshPort = await portFor(opts.sshPort, DEFAULT_SSH_PORT);
  const imdsPort = await portFor(opts.imdsPort, DEFAULT_IMDS_PORT);

  let mountNamespace = false;
  if (opts.mountNamespace === true || opts.mountNamespace === 'auto') {
    mountNamespace = await mountNamespaceWorks();
    if (!mountNamespace && opts.mountNamespace === true) {
      await Promise.all(reservations.map((release) => release()));
      throw new Error('mountNamespace: unshare cannot create a mount namespace with bind mounts here');
    }
    logger.info({ mountNamespace }, 'instance commands run in a mount namespace: %s', mountNamespace ? 'yes' : 'no');
  }

  const byId = new Map<string, InstanceState>();
  const byIp = new Map<string, InstanceState>();
  /** Addresses whose listeners are still closing: a new instance on one waits for it. */
  const releasing = new Map<string, Promise<void>>();
  const processes = new ProcessTable();
  const imds = createImds((address) => byIp.get(address));
  const shared: SshShared = { processes, logger, imdsPort, mountNamespace };
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
      serveSshConnection(shared, { spec, sandbox, hostKeys: state.hostKeys }, socket);
    });
    state.imds = trackedServer((socket) => imds.acceptConnection(socket));
    for (const { server } of [state.ssh, state.imds]) {
      server.on('error', (err) => logger.warn({ instanceId: spec.instanceId, err: err.message }, 'instance listener error'));
    }
    await listen(state.ssh.server, sshPort, spec.ip);
    await listen(state.imds.server, imdsPort, spec.ip);
    logger.debug({ instanceId: spec.instanceId, ip: spec.ip }, 'instance runtime started');
  }

  /** Stop answering: forget the address, close both listeners, cut every connection. Resolves once unbound. */
  function cutOff(state: InstanceState): Promise<void> {
    const { spec } = state;
    if (byIp.get(spec.ip) === state) byIp.delete(spec.ip);
    const closing: Promise<void>[] = [];
    for (const listener of [state.ssh, state.imds]) {
      if (!listener) continue;
      closing.push(closeServer(listener.server));
      for (const socket of listener.sockets) socket.destroy();
    }
    const released = Promise.all(closing).then(() => {
      if (releasing.get(spec.ip) === released) releasing.delete(spec.ip);
    });
    releasing.set(spec.ip, released);
    return released;
  }

  /** Cut off, then one process sweep for all of them, then delete the sandboxes. */
  async function tearDown(states: InstanceState[]): Promise<void> {
    await Promise.all(states.map((state) => state.started.catch(() => undefined)));
    const released = states.map(cutOff);
    await processes.killInstances(states.map((state) => state.spec.instanceId));
    await Promise.all(released);
    await Promise.all(
      states.map(async (state) => {
        if (state.sandbox) await removeSandbox(state.sandbox);
        if (byId.get(state.spec.instanceId) === state) byId.delete(state.spec.instanceId);
        logger.debug({ instanceId: state.spec.instanceId }, 'instance runtime stopped');
      }),
    );
  }

  const runtime: LocalInstanceRuntime = {
    sshPort,
    imdsPort,
    mountNamespace,

    hostPublicKey(instanceId: string): string | undefined {
      const key = byId.get(instanceId)?.hostKeys[0];
      return key ? publicLine(key) : undefined;
    },

    replaceHostKey(instanceId: string): string | undefined {
      const state = byId.get(instanceId);
      if (!state || state.stopped) return undefined;
      const key = generatedHostKey();
      state.hostKeys = [key];
      logger.info({ instanceId }, 'instance host key replaced: SSH clients that pinned the old key must refuse it');
      return publicLine(key);
    },

    async start(spec: InstanceSpec): Promise<void> {
      if (closed) throw new Error('the instance runtime is closed');
      if (!LOOPBACK_INSTANCE_IP.test(spec.ip) || spec.ip === '127.0.0.1') {
        throw new Error(`instance ${spec.instanceId}: ip must be a 127.x.y.z address other than 127.0.0.1, got ${spec.ip}`);
      }
      if (byId.has(spec.instanceId)) throw new Error(`instance ${spec.instanceId} is already started`);
      if (byIp.has(spec.ip)) throw new Error(`address ${spec.ip} is already used by instance ${byIp.get(spec.ip)?.spec.instanceId}`);
      // cloud-init's SSH module: the user data's ssh_keys are the host keys; without them, one of its own.
      const fromUserData = hostKeysFromUserData(spec.userData);
      for (const why of fromUserData.skipped) logger.warn({ instanceId: spec.instanceId }, 'cloud-init: %s', why);
      const state: InstanceState = { spec, hostKeys: fromUserData.keys.length ? fromUserData.keys : [generatedHostKey()], started: Promise.resolve() };
      byId.set(spec.instanceId, state);
      byIp.set(spec.ip, state);
      const previous = releasing.get(spec.ip);
      state.started = (previous ?? Promise.resolve()).then(() => bringUp(state));
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
      state.stopped ??= tearDown([state]);
      return state.stopped;
    },

    async close(): Promise<void> {
      closed = true;
      const states = [...byId.values()];
      const pending = states.filter((state) => !state.stopped);
      const all = tearDown(pending);
      for (const state of pending) state.stopped = all;
      await Promise.all(states.flatMap((state) => state.stopped ?? []));
      imds.close();
      processes.dispose();
      await Promise.all(reservations.splice(0).map((release) => release()));
    },
  };
  return runtime;
}
