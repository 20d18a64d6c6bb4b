/**
 * Reaching a task attempt's instance: its run folder, and SSH sessions with
 * the job's key, kept open between messages. step.check reads every running
 * task's status every few seconds; a fresh SSH handshake each time costs more
 * CPU (key exchange on both ends) and round trips than the status read. So a
 * dispatcher keeps one connection per instance while it is in use and closes
 * it after a short idle time. A reused connection that fails (the instance
 * went away, the link dropped) is dropped and the call tried once on a fresh
 * one, whose errors are the caller's as before.
 */
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { Attempt } from '../model/model.js';
import type { JobRow } from '../model/repo.js';
import { privateKeyContext, secretBox } from '../model/secrets.js';
import { connectSsh, type ExecResult, type SshSession, type SshTarget } from './ssh.js';
import { HostKeyMismatchError } from './errors.js';

/** The attempt's run folder on the instance, relative to the login home. */
export const taskDir = (jobId: string, taskId: string, attempt: number): string => `.spotbatch/tasks/${jobId}/${taskId}/${attempt}`;

/** How long an unused connection stays open. */
const IDLE_MS = 20_000;

interface Entry {
  session: Promise<SshSession>;
  users: number;
  idle?: NodeJS.Timeout;
}

const pool = new Map<string, Entry>();

function drop(key: string, entry: Entry): void {
  if (pool.get(key) === entry) pool.delete(key);
  if (entry.idle) clearTimeout(entry.idle);
  entry.session.then((s) => s.close(), () => undefined);
}

function acquire(key: string, target: SshTarget): { entry: Entry; reused: boolean } {
  const found = pool.get(key);
  if (found) {
    found.users++;
    if (found.idle) clearTimeout(found.idle);
    found.idle = undefined;
    return { entry: found, reused: true };
  }
  const entry: Entry = { session: connectSsh(target), users: 1 };
  pool.set(key, entry);
  entry.session.catch(() => drop(key, entry));
  return { entry, reused: false };
}

function release(key: string, entry: Entry): void {
  entry.users = Math.max(0, entry.users - 1);
  if (entry.users > 0 || pool.get(key) !== entry) return;
  entry.idle = setTimeout(() => drop(key, entry), IDLE_MS);
  entry.idle.unref();
}

/** Close every pooled connection (dispatcher shutdown, tests). */
export function closeSshPool(): void {
  for (const [key, entry] of [...pool]) drop(key, entry);
}

class PooledSession implements SshSession {
  private released = false;

  constructor(
    private readonly key: string,
    private readonly target: SshTarget,
    private entry: Entry,
    private reused: boolean,
  ) {}

  /** Run on the pooled connection; a reused one that fails with a transient error is replaced once. */
  private async run<T>(op: (s: SshSession) => Promise<T>): Promise<T> {
    try {
      return await op(await this.entry.session);
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      drop(this.key, this.entry);
      if (!this.reused) throw err;
      const fresh = acquire(this.key, this.target);
      this.entry.users = 0;
      this.entry = fresh.entry;
      this.reused = false;
      try {
        return await op(await this.entry.session);
      } catch (again) {
        if (again instanceof TransientError) drop(this.key, this.entry);
        throw again;
      }
    }
  }

  exec(command: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<ExecResult> {
    return this.run((s) => s.exec(command, opts));
  }
  putFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void> {
    return this.run((s) => s.putFile(remotePath, content, mode));
  }
  putLocal(localPath: string, remotePath: string): Promise<void> {
    return this.run((s) => s.putLocal(localPath, remotePath));
  }
  getLocal(remotePath: string, localPath: string): Promise<void> {
    return this.run((s) => s.getLocal(remotePath, localPath));
  }
  readFile(remotePath: string): Promise<Buffer | undefined> {
    return this.run((s) => s.readFile(remotePath));
  }
  mkdirp(remotePath: string): Promise<void> {
    return this.run((s) => s.mkdirp(remotePath));
  }
  /** Give the connection back to the pool (it stays open a little while for the next message). */
  close(): void {
    if (this.released) return;
    this.released = true;
    release(this.key, this.entry);
  }
}

/**
 * An SSH session to the attempt's instance: TransientError while it cannot be
 * reached, PermanentError when it never will (as connectSsh). close() hands
 * the connection back to the dispatcher's pool.
 */
export async function sshSessionFor(ctx: Pick<HandlerContext, 'config'> & Partial<Pick<HandlerContext, 'log'>>, job: JobRow, attempt: Attempt): Promise<SshSession> {
  const region = job.security?.regions[attempt.pool.region];
  if (!region || !attempt.ip) throw new PermanentError(`attempt ${attempt.n} has no instance address or key`);
  // Every connection checks the instance's host key against the one the attempt gave it (services/spot/host-keys.ts).
  if (!attempt.hostKey) throw new PermanentError(`attempt ${attempt.n} has no pinned host key: refusing to connect to ${attempt.instanceId ?? attempt.ip}`);
  const target: SshTarget = {
    hostPublicKey: attempt.hostKey,
    host: attempt.ip,
    port: ctx.config.lifecycle.sshPort,
    username: job.spec.instances.user,
    privateKey: secretBox(ctx.config).decrypt(region.privateKey, privateKeyContext(job.jobId, attempt.pool.region)),
    readyTimeoutMs: 10_000,
  };
  // The instance id keeps two instances that had the same address apart.
  const key = `${attempt.instanceId ?? '-'}|${target.username}@${target.host}:${target.port}|${job.jobId}|${attempt.hostKey}`;
  const { entry, reused } = acquire(key, target);
  try {
    await entry.session;
  } catch (err) {
    release(key, entry);
    if (err instanceof HostKeyMismatchError) {
      ctx.log?.warn({ attempt: attempt.n, instanceId: attempt.instanceId, ip: attempt.ip, pinned: err.pinned, presented: err.presented }, 'SSH host key mismatch: not connecting to this instance');
    }
    throw err;
  }
  return new PooledSession(key, target, entry, reused);
}
