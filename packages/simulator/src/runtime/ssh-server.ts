import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Socket } from 'node:net';
import ssh2, { type Connection, type ParsedKey, type PseudoTtyInfo, type ServerChannel, type Session } from 'ssh2';
import type { Logger } from '../logger.js';
import { type ProcessTable, signalFromName } from './processes.js';
import type { Sandbox } from './sandbox.js';
import { inMountNamespace } from './namespace.js';
import { serveSftp } from './sftp.js';
import { PipeTerminal } from './terminal.js';
import type { InstanceSpec } from './types.js';

/** What SSH needs from the runtime, shared by every instance. */
export interface SshShared {
  processes: ProcessTable;
  logger: Logger;
  imdsPort: number;
  /** Run commands in a mount namespace where /home and /tmp are the sandbox's (see namespace.ts). */
  mountNamespace: boolean;
}

/** One instance as SSH sees it. */
export interface SshInstance {
  spec: InstanceSpec;
  sandbox: Sandbox;
  /** The host keys this instance presents (its own: from its user data, or generated at launch). */
  hostKeys: ParsedKey[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names a client's `env` request may not change: the runtime relies on them. */
const PROTECTED_ENV = new Set(['SPOTBATCH_INSTANCE_ID', 'SPOTBATCH_SANDBOX']);

/**
 * Serve SSH on a socket accepted on the instance's address. An ssh2 Server is
 * made per connection with the instance's own host keys, so an instance with
 * no connection holds no SSH objects at all.
 */
export function serveSshConnection(shared: SshShared, instance: SshInstance, socket: Socket): void {
  const server = new ssh2.Server({ hostKeys: instance.hostKeys.map((key) => ({ key })), ident: 'OpenSSH_8.7' }, (client) =>
    handleClient(shared, instance, client),
  );
  server.on('error', () => socket.destroy());
  server.injectSocket(socket);
}

function handleClient(shared: SshShared, instance: SshInstance, client: Connection): void {
  const { spec } = instance;
  const log = shared.logger.child({ instanceId: spec.instanceId, component: 'ssh' });
  client.on('error', (err) => log.debug({ err: err.message }, 'ssh connection error'));

  client.on('authentication', (ctx) => {
    if (ctx.method !== 'publickey' || ctx.username !== spec.loginUser) return ctx.reject(['publickey']);
    const key = matchingKey(spec.authorizedKeys, ctx.key.data);
    if (!key) {
      log.info({ user: ctx.username }, 'ssh key refused');
      return ctx.reject(['publickey']);
    }
    // No signature: the client only asks whether this key would do (it would).
    if (ctx.signature !== undefined) {
      if (ctx.blob === undefined || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
        log.info({ user: ctx.username }, 'ssh signature refused');
        return ctx.reject(['publickey']);
      }
    }
    ctx.accept();
  });

  client.on('ready', () => {
    log.debug('ssh session authenticated');
    client.on('session', (acceptSession) => handleSession(shared, instance, acceptSession(), log));
  });
  client.on('request', (accept, reject) => reject?.());
}

function matchingKey(authorizedKeys: string[], offered: Buffer): ParsedKey | undefined {
  for (const line of authorizedKeys) {
    const parsed = ssh2.utils.parseKey(line);
    if (parsed instanceof Error) continue;
    const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
    if (key && key.getPublicSSH().equals(offered)) return key;
  }
  return undefined;
}

function handleSession(shared: SshShared, instance: SshInstance, session: Session, log: Logger): void {
  const requested: Record<string, string> = {};
  let pty: PseudoTtyInfo | undefined;
  let running: ChildProcessWithoutNullStreams | undefined;

  session.on('env', (accept, reject, info) => {
    if (!ENV_NAME.test(info.key) || PROTECTED_ENV.has(info.key)) return reject?.();
    requested[info.key] = info.val;
    accept?.();
  });
  // A pipe-backed pty has no kernel window size; the size the client asked for (and each change of it)
  // is written where the session's programs can read it, as `stty size` would tell them.
  let sizeFile: string | undefined;
  const writeSize = (rows: number, cols: number): void => {
    if (sizeFile) writeFileSync(sizeFile, `${rows} ${cols}\n`);
  };
  session.on('pty', (accept, _reject, info) => {
    pty = info;
    sizeFile = path.join(instance.sandbox.tmp, `.tty-size-${randomUUID()}`);
    writeSize(info.rows, info.cols);
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    writeSize(info.rows, info.cols);
    accept?.();
  });
  session.on('close', () => {
    if (sizeFile) rmSync(sizeFile, { force: true });
  });
  session.on('signal', (accept, reject, info) => {
    const signal = signalFromName(info.name);
    if (!signal || !running || !shared.processes.signalGroup(running, signal)) return reject?.();
    accept?.();
  });

  const start = (channel: ServerChannel, argv: [string, ...string[]]): void => {
    running = runProcess(shared, instance, channel, argv, { ...requested, ...(pty && sizeFile ? ttyEnv(shared, instance, pty, sizeFile) : {}) }, pty, log);
  };
  session.on('exec', (accept, reject, info) => {
    if (running) return reject?.();
    start(accept(), ['/bin/sh', '-c', info.command]);
  });
  session.on('shell', (accept, reject) => {
    if (running) return reject?.();
    // With a (pipe-backed) pty the shell is interactive and prompts; without one, as sshd does, it just reads commands.
    start(accept(), pty ? ['/bin/sh', '-i'] : ['/bin/sh']);
  });
  session.on('sftp', (accept) => {
    serveSftp(accept(), instance.sandbox, instance.spec.loginUser);
  });
  session.on('subsystem', (_accept, reject) => reject?.());
}

/** What a program behind the pipe-backed pty learns of its window: the size asked for, and where the current one is. */
function ttyEnv(shared: SshShared, instance: SshInstance, pty: PseudoTtyInfo, sizeFile: string): Record<string, string> {
  const file = shared.mountNamespace ? path.posix.join('/tmp', path.basename(sizeFile)) : sizeFile;
  return { COLUMNS: String(pty.cols), LINES: String(pty.rows), SPOTBATCH_TTY_SIZE: file };
}

/** The environment of a command: a login-like minimum, never the simulator's own (credentials, endpoints). */
function commandEnv(shared: SshShared, instance: SshInstance, requested: Record<string, string>, pty: PseudoTtyInfo | undefined): Record<string, string> {
  const { spec, sandbox } = instance;
  // In a mount namespace the instance's own paths exist; otherwise the sandbox's host paths stand in.
  const home = shared.mountNamespace ? sandbox.remoteHome : sandbox.home;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    PWD: home,
    USER: spec.loginUser,
    LOGNAME: spec.loginUser,
    SHELL: '/bin/sh',
    TMPDIR: shared.mountNamespace ? '/tmp' : sandbox.tmp,
    LANG: process.env.LANG ?? 'C.UTF-8',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://${spec.ip}:${shared.imdsPort}/`,
    SPOTBATCH_SANDBOX: sandbox.dir,
  };
  if (pty) env.TERM = pty.term || 'xterm';
  return { ...env, ...requested };
}

function runProcess(
  shared: SshShared,
  instance: SshInstance,
  channel: ServerChannel,
  argv: [string, ...string[]],
  requested: Record<string, string>,
  pty: PseudoTtyInfo | undefined,
  log: Logger,
): ChildProcessWithoutNullStreams {
  const child = shared.processes.spawn({
    instanceId: instance.spec.instanceId,
    argv: shared.mountNamespace ? inMountNamespace(argv) : argv,
    cwd: instance.sandbox.home,
    env: commandEnv(shared, instance, requested, pty),
  });
  log.debug({ pid: child.pid, pty: pty !== undefined }, 'process started');
  let finished = false;
  const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
    if (finished) return;
    finished = true;
    if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 0);
    channel.end();
  };
  channel.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  child.on('error', (err) => {
    channel.stderr.write(`spotbatch: cannot start the command: ${err.message}\n`);
    finish(127, null);
  });

  if (pty) {
    const terminal = new PipeTerminal(channel, child, (signal) => shared.processes.signalGroup(child, signal));
    terminal.attach();
  } else {
    child.stdout.pipe(channel, { end: false });
    child.stderr.pipe(channel.stderr, { end: false });
    channel.pipe(child.stdin);
  }
  // Once the channel is gone, close our ends of the pipes, as sshd does: a command that keeps writing
  // gets SIGPIPE; one that does not (sleep, a redirected background job) runs on until it ends or stop().
  channel.on('close', () => {
    child.stdout.destroy();
    child.stderr.destroy();
    child.stdin.destroy();
  });
  // 'close': the process exited and its output is drained (a background job holding stdout keeps
  // the channel open, as with OpenSSH).
  child.on('close', (code, signal) => finish(code, signal));
  return child;
}
