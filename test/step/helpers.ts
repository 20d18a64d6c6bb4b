import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { createInstanceRuntime, generateEd25519KeyPair, type LocalInstanceRuntime } from '@spotbatch/simulator';
import { hostKeyUserData } from '../../services/spot/host-keys.js';
import type { SshTarget } from '../../services/ssh/ssh.js';

export const BOUND_MS = 15_000;

let nextHost = 1;
const subnet = (process.pid % 200) + 20;
/** A distinct 127.88.x.y per instance, different in each test process. */
export function nextIp(): string {
  return `127.88.${subnet}.${nextHost++}`;
}

export interface TestInstance {
  runtime: LocalInstanceRuntime;
  /** Where and how to log in; hostPublicKey is the host key given in the instance's user data. */
  target: SshTarget;
  publicKey: string;
  instanceId: string;
  sandboxRoot: string;
  close(): Promise<void>;
}

/** User data (decoded) that gives an instance this host key, as the dispatcher does (cloud-init ssh_keys). */
export function hostKeyCloudConfig(hostKey: { private: string; public: string }): string {
  return Buffer.from(hostKeyUserData(hostKey), 'base64').toString('utf8');
}

/** A runtime with one running instance reachable as ec2-user with a fresh key; its host key given in its user data. */
export async function startInstance(): Promise<TestInstance> {
  const sandboxRoot = await mkdtemp(path.join(tmpdir(), 'spotbatch-step-'));
  const runtime = await createInstanceRuntime({ sandboxRoot, sshPort: 0, imdsPort: 0 });
  const pair = generateEd25519KeyPair();
  const hostKey = generateEd25519KeyPair();
  const ip = nextIp();
  const instanceId = `i-${Math.random().toString(16).slice(2, 14)}`;
  await runtime.start({
    instanceId,
    userData: hostKeyCloudConfig(hostKey),
    region: 'us-east-1',
    availabilityZone: 'us-east-1a',
    instanceType: 't3.micro',
    imageId: 'ami-12345678',
    ip,
    authorizedKeys: [pair.public],
    loginUser: 'ec2-user',
    spot: true,
    launchTime: new Date(),
  });
  return {
    runtime,
    publicKey: pair.public,
    instanceId,
    sandboxRoot,
    target: { host: ip, port: runtime.sshPort, username: 'ec2-user', privateKey: pair.private, hostPublicKey: hostKey.public, readyTimeoutMs: BOUND_MS },
    async close() {
      await runtime.close();
      await rm(sandboxRoot, { recursive: true, force: true });
    },
  };
}

/** Poll until probe gives a value (not undefined/false), at most `ms`. */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = BOUND_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A tree a FakeSsh server serves over SFTP: a folder lists names (any names, even hostile ones); a file has content. */
export type FakeNode = { dir: string[] } | { file: string };

export interface FakeSsh {
  host: string;
  port: number;
  /** The host key it presents (its own, never an instance's). */
  hostPublicKey: string;
  /** Authentication requests it received. */
  authAttempts: number;
  close(): Promise<void>;
}

/**
 * Another SSH server at an address: its own host key, any client key
 * accepted, and an SFTP subsystem serving `tree` (absolute paths; a path not
 * in it is served as a file whose content is `PWNED <path>`, so whatever a
 * client asks for arrives). What a hostile instance or an impostor can do.
 */
export async function startForger(tree: Record<string, FakeNode> = {}): Promise<FakeSsh> {
  const hostKey = generateEd25519KeyPair();
  const host = nextIp();
  const state = { authAttempts: 0 };
  const { STATUS_CODE } = ssh2.utils.sftp;
  const attrsOf = (node: FakeNode): ssh2.Attributes => ({
    mode: 'dir' in node ? 0o040755 : 0o100644,
    uid: 0,
    gid: 0,
    size: 'dir' in node ? 0 : Buffer.byteLength(node.file),
    atime: 0,
    mtime: 0,
  });
  const nodeAt = (p: string): FakeNode => tree[p] ?? { file: `PWNED ${p}\n` };
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      state.authAttempts++;
      if (ctx.method === 'publickey') ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          const handles = new Map<string, { path: string; listed?: boolean }>();
          let next = 0;
          const handle = (p: string): Buffer => {
            const h = String(next++);
            handles.set(h, { path: p });
            return Buffer.from(h);
          };
          sftp.on('REALPATH', (id, p) => sftp.name(id, [{ filename: p === '.' ? '/home/ec2-user' : p, longname: '', attrs: attrsOf({ dir: [] }) }]));
          const stat = (id: number, p: string): void => {
            sftp.attrs(id, attrsOf(nodeAt(p)));
          };
          sftp.on('STAT', stat);
          sftp.on('LSTAT', stat);
          sftp.on('OPENDIR', (id, p) => sftp.handle(id, handle(p)));
          sftp.on('READDIR', (id, h) => {
            const entry = handles.get(h.toString());
            const node = entry ? nodeAt(entry.path) : undefined;
            if (!entry || !node || !('dir' in node) || entry.listed) return sftp.status(id, STATUS_CODE.EOF);
            entry.listed = true;
            sftp.name(
              id,
              node.dir.map((filename) => ({ filename, longname: filename, attrs: attrsOf(nodeAt(`${entry.path}/${filename}`)) })),
            );
          });
          sftp.on('OPEN', (id, p) => sftp.handle(id, handle(p)));
          sftp.on('FSTAT', (id, h) => sftp.attrs(id, attrsOf(nodeAt(handles.get(h.toString())?.path ?? ''))));
          sftp.on('READ', (id, h, offset, length) => {
            const node = nodeAt(handles.get(h.toString())?.path ?? '');
            const data = Buffer.from('file' in node ? node.file : '');
            if (offset >= data.length) return sftp.status(id, STATUS_CODE.EOF);
            sftp.data(id, data.subarray(offset, offset + length));
          });
          sftp.on('CLOSE', (id, h) => {
            handles.delete(h.toString());
            sftp.status(id, STATUS_CODE.OK);
          });
        });
      });
    });
  });
  return listenFake(server, host, hostKey.public, state);
}

/** The shells the agent is tested under: /bin/sh is dash on Debian and Ubuntu images, bash on Amazon Linux and RHEL. */
export const AGENT_SHELLS = ['dash', 'bash'] as const;

/**
 * Make `sh` on the simulator instances' PATH (which is this process's PATH) be `shell`, as if it were
 * the image's /bin/sh: the agent is started as `sh plan/agent.sh` and runs its steps with the `sh` it
 * finds there. Call the result to restore PATH.
 */
export function shOnPath(shell: string): () => void {
  const saved = process.env.PATH;
  const dir = mkdtempSync(path.join(tmpdir(), `spotbatch-sh-${shell}-`));
  const target = ['/usr/bin', '/bin'].map((d) => path.join(d, shell)).find((f) => existsSync(f));
  if (!target) throw new Error(`${shell} is not installed (apt-get install -y ${shell})`);
  symlinkSync(target, path.join(dir, 'sh'));
  process.env.PATH = `${dir}:${saved ?? '/usr/bin:/bin'}`;
  return () => {
    process.env.PATH = saved;
    rmSync(dir, { recursive: true, force: true });
  };
}

/** Whether a local process (an instance's command: the simulator runs them here) is alive and not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * An SSH server whose SFTP cannot work, as on some images: `no-subsystem` refuses the subsystem
 * request (no `Subsystem sftp` in sshd_config); `chatty-login` starts it but a login script prints
 * to stdout first (a .bashrc that talks), which corrupts the SFTP stream; `missing-server` starts it
 * and the shell exits 127 (the sftp-server program is not there). Any client key is accepted.
 */
export async function startBrokenSftp(mode: 'no-subsystem' | 'chatty-login' | 'missing-server'): Promise<FakeSsh> {
  const hostKey = generateEd25519KeyPair();
  const host = nextIp();
  const state = { authAttempts: 0 };
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      state.authAttempts++;
      if (ctx.method === 'publickey') ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        // No 'sftp' listener: ssh2 then hands the raw channel of the sftp subsystem to 'subsystem'.
        session.on('subsystem', (accept, reject) => {
          if (mode === 'no-subsystem') return reject();
          const channel = accept();
          channel.on('error', () => undefined);
          if (mode === 'chatty-login') {
            channel.write('Welcome to the box! Today is a good day.\n');
          } else {
            channel.stderr.write('sh: 1: /usr/lib/openssh/sftp-server: not found\n');
            channel.exit(127);
            channel.end();
          }
        });
      });
    });
  });
  return listenFake(server, host, hostKey.public, state);
}

/** Listen on a free port of `host` and describe the fake server as tests use it. */
async function listenFake(server: ssh2.Server, host: string, hostPublicKey: string, state: { authAttempts: number }): Promise<FakeSsh> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    host,
    port,
    hostPublicKey,
    get authAttempts() {
      return state.authAttempts;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
