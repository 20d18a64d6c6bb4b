import { randomBytes } from 'node:crypto';
import path from 'node:path';
import ssh2, { type ClientChannel, type SFTPWrapper } from 'ssh2';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { classifyConnectError, classifySftpError, fingerprintOfBlob, HostKeyMismatchError } from './errors.js';
import { call, getTree, mkdirp, putTree, readRemote, writeRemote } from './sftp.js';

/**
 * The dispatcher's SSH client for instances: run commands and move files over
 * SFTP. Relative remote paths resolve against the login home (SFTP
 * realpath('.')); in commands refer to the same place as "$HOME/...".
 */

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** OpenSSH or PEM private key. Never logged, never in an error message. */
  privateKey: string;
  /** Handshake and authentication must finish within this; default 20 s. */
  readyTimeoutMs?: number;
  /**
   * The host key the instance must present (OpenSSH one-line `ssh-ed25519
   * AAAA...`): the attempt's pinned key (services/spot/host-keys.ts). Required:
   * no connection accepts any host key. Another key ends the handshake before
   * authentication (nothing is sent to the impostor) with a HostKeyMismatchError.
   */
  hostPublicKey: string;
}

export interface ExecResult {
  /** Exit status; null when the command died of a signal (`signal`, e.g. 'SIGKILL') or the server sent none. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface SshSession {
  /**
   * Run `command` under the login shell (`sh -c`). stdin: fed then closed (always closed). timeoutMs:
   * past it the command's process group is KILLed on the instance (a second command), then TransientError.
   */
  exec(command: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Write a file, creating its parent folders; `mode` is set whether or not the file existed. */
  putFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
  /** Upload a local file or a whole folder, recursively (modes kept, symlinks followed). */
  putLocal(localPath: string, remotePath: string): Promise<void>;
  /** Download a remote file or folder, recursively. */
  getLocal(remotePath: string, localPath: string): Promise<void>;
  /** A file's content, or undefined when it does not exist. */
  readFile(remotePath: string): Promise<Buffer | undefined>;
  mkdirp(remotePath: string): Promise<void>;
  close(): void;
}

const DEFAULT_READY_TIMEOUT_MS = 20_000;

/**
 * Connect and authenticate. Rejects with PermanentError when the key is
 * refused or unusable, TransientError when the instance cannot be reached
 * (yet): refused, timed out, unreachable, handshake not finished.
 */
export function connectSsh(target: SshTarget): Promise<SshSession> {
  return connectWith(target, (client, where) => new Session(client, where));
}

/**
 * Connect and authenticate as connectSsh does (same errors), but hand back the
 * ssh2 client itself, for callers that open channels of their own: an
 * interactive shell with a PTY, a command whose output is streamed. The caller
 * ends it (`client.end()`).
 */
export function openSshClient(target: SshTarget): Promise<ssh2.Client> {
  return connectWith(target, (client) => client);
}

function connectWith<T>(target: SshTarget, wrap: (client: ssh2.Client, where: string) => T): Promise<T> {
  const where = `${target.username}@${target.host}:${target.port}`;
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    let mismatch: HostKeyMismatchError | undefined;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      client.end();
      reject(mismatch ?? classifyConnectError(err, where));
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve(wrap(client, where));
    });
    client.on('error', fail);
    client.once('close', () => fail(new Error('connection closed before authentication')));
    try {
      const pin = pinnedHostKey(target.hostPublicKey, where);
      client.connect({
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey: target.privateKey,
        readyTimeout: target.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        // Ask only for the pinned key's type, so that a server with several host keys shows that one.
        ...(pin.algorithms ? { algorithms: { serverHostKey: pin.algorithms } } : {}),
        hostVerifier: (key: Buffer) => {
          const ok = pin.verify(key);
          if (!ok) mismatch = new HostKeyMismatchError(where, pin.fingerprint, fingerprintOfBlob(key));
          return ok;
        },
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
      });
    } catch (err) {
      // ssh2 throws synchronously for a key it cannot parse.
      fail(err);
    }
  });
}

/** Host key algorithms that present a key of this type (undefined: ssh2's defaults). */
const ALGORITHMS: Record<string, ssh2.ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/** A host verifier that accepts only this public key. */
function pinnedHostKey(line: string, where: string): { verify: (key: Buffer) => boolean; fingerprint: string; algorithms?: ssh2.ServerHostKeyAlgorithm[] } {
  const parsed = typeof line === 'string' && line.trim() !== '' ? ssh2.utils.parseKey(line) : undefined;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || key.isPrivateKey()) {
    throw new PermanentError(`SSH to ${where}: no pinned host key to check (hostPublicKey is not an OpenSSH public key line): refusing to connect`);
  }
  const expected = key.getPublicSSH();
  return { verify: (offered: Buffer) => offered.equals(expected), fingerprint: fingerprintOfBlob(expected), algorithms: ALGORITHMS[key.type] };
}

class Session implements SshSession {
  private sftpPromise: Promise<SFTPWrapper> | undefined;
  private homePromise: Promise<string> | undefined;
  private closed = false;

  constructor(
    private readonly client: ssh2.Client,
    private readonly where: string,
  ) {
    client.on('error', () => undefined); // reported through the pending calls
    client.once('close', () => {
      this.closed = true;
    });
  }

  exec(command: string, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.gone());
      // A bounded command first names its shell's pid on stderr (a line with a random marker, removed
      // from the result): the shell sshd starts is a session and process group leader, so on timeout a
      // second command KILLs that group. Closing the channel would not do it (sshd leaves a command
      // without a PTY running), nor would ssh2's signal() once the input is closed.
      const marker = opts.timeoutMs === undefined ? undefined : `spotbatch-exec-pid-${randomBytes(8).toString('hex')}`;
      const wrapped = marker === undefined ? command : `printf '%s %s\\n' ${marker} "$$" >&2\n${command}`;
      const onClose = (): void => reject(this.gone());
      this.client.once('close', onClose);
      this.client.exec(wrapped, (err, stream) => {
        if (err) {
          this.client.off('close', onClose);
          return reject(new TransientError(`SSH to ${this.where}: cannot start a command: ${err.message}`));
        }
        collect(stream, { ...opts, marker, kill: (pid) => this.killGroup(pid) }, this.where)
          .then(resolve, reject)
          .finally(() => this.client.off('close', onClose));
      });
    });
  }

  /** KILL a timed-out command's process group (else its pid), bounded; never fails. */
  private killGroup(pid: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const timer = setTimeout(resolve, KILL_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      try {
        this.client.exec(`kill -KILL -${pid} 2>/dev/null || kill -KILL ${pid} 2>/dev/null; true`, (err, stream) => {
          if (err) return done();
          stream.on('error', () => undefined);
          stream.resume();
          stream.stderr.resume();
          stream.once('close', done);
          stream.end();
        });
      } catch {
        done();
      }
    });
  }

  async putFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void> {
    await this.sftpOp(`upload to ${remotePath}`, async (sftp, p) => {
      await mkdirp(sftp, path.posix.dirname(p));
      await writeRemote(sftp, p, content, mode);
    }, remotePath);
  }

  async putLocal(localPath: string, remotePath: string): Promise<void> {
    await this.sftpOp(`upload of ${localPath} to ${remotePath}`, async (sftp, p) => {
      await mkdirp(sftp, path.posix.dirname(p));
      await putTree(sftp, localPath, p);
    }, remotePath);
  }

  async getLocal(remotePath: string, localPath: string): Promise<void> {
    await this.sftpOp(`download of ${remotePath} to ${localPath}`, (sftp, p) => getTree(sftp, p, localPath), remotePath);
  }

  readFile(remotePath: string): Promise<Buffer | undefined> {
    return this.sftpOp(`read of ${remotePath}`, (sftp, p) => readRemote(sftp, p), remotePath);
  }

  async mkdirp(remotePath: string): Promise<void> {
    await this.sftpOp(`mkdir ${remotePath}`, (sftp, p) => mkdirp(sftp, p), remotePath);
  }

  close(): void {
    this.closed = true;
    this.client.end();
  }

  private gone(): TransientError {
    return new TransientError(`SSH to ${this.where}: connection closed`);
  }

  private async sftpOp<T>(what: string, work: (sftp: SFTPWrapper, absolute: string) => Promise<T>, remotePath: string): Promise<T> {
    if (this.closed) throw this.gone();
    try {
      const sftp = await this.sftp();
      const absolute = path.posix.isAbsolute(remotePath) ? remotePath : path.posix.join(await this.home(sftp), remotePath);
      return await work(sftp, absolute);
    } catch (err) {
      if (this.closed) throw this.gone();
      throw classifySftpError(err, `SFTP ${what} on ${this.where}`);
    }
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpPromise ??= call<SFTPWrapper>((cb) => this.client.sftp(cb));
    this.sftpPromise.catch(() => (this.sftpPromise = undefined));
    return this.sftpPromise;
  }

  private home(sftp: SFTPWrapper): Promise<string> {
    this.homePromise ??= call<string>((cb) => sftp.realpath('.', cb));
    this.homePromise.catch(() => (this.homePromise = undefined));
    return this.homePromise;
  }
}

interface CollectOptions {
  stdin?: string;
  timeoutMs?: number;
  /** The marker of the line on stderr that names the command's pid (see exec). */
  marker?: string | undefined;
  kill?: (pid: number) => Promise<void>;
}

/** The pid line is looked for in this much of stderr (a login script may write before it). */
const PID_LINE_WINDOW = 64 * 1024;
const KILL_TIMEOUT_MS = 10_000;

function collect(stream: ClientChannel, opts: CollectOptions, where: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let errBytes = 0;
    let code: number | null = null;
    let signal: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let pid: number | undefined;
    const pidLine = opts.marker === undefined ? undefined : new RegExp(`(^|\\n)${opts.marker} (\\d+)\\n`);
    stream.on('data', (chunk: Buffer) => out.push(chunk));
    stream.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
      errBytes += chunk.length;
      if (pidLine && pid === undefined && errBytes - chunk.length < PID_LINE_WINDOW) {
        const found = pidLine.exec(Buffer.concat(err).toString('utf8'));
        if (found) pid = Number(found[2]);
      }
    });
    stream.on('exit', (exitCode: number | null, exitSignal?: string) => {
      if (typeof exitCode === 'number') code = exitCode;
      if (exitSignal) signal = exitSignal;
    });
    stream.on('error', () => undefined);
    stream.once('close', () => {
      if (timer) clearTimeout(timer);
      if (timedOut) return;
      let stderr = Buffer.concat(err).toString('utf8');
      if (pidLine) stderr = stderr.replace(pidLine, '$1');
      const result: ExecResult = { code, stdout: Buffer.concat(out).toString('utf8'), stderr };
      if (signal !== undefined) result.signal = signal;
      resolve(result);
    });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        const killed = pid !== undefined && opts.kill ? opts.kill(pid).then(() => true) : Promise.resolve(false);
        void killed.then((sent) => {
          stream.close();
          const what = sent ? 'its process group was killed' : 'no pid from it yet: the channel was closed, the command may run on';
          reject(new TransientError(`SSH to ${where}: command timed out after ${opts.timeoutMs} ms (${what})`));
        });
      }, opts.timeoutMs);
    }
    stream.end(opts.stdin ?? '');
  });
}
