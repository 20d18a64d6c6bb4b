/**
 * Reaching a task attempt's instance: its run folder, and SSH sessions with
 * the job's key, kept open between messages. step.check reads every running
 * task's status every few seconds; a fresh SSH handshake each time costs more
 * CPU (key exchange on both ends) and round trips than the status read. So a
 * fleet keeps one connection per instance while it is in use and closes it
 * after a short idle time (its pool is one of the fleet's resources, closed
 * when the fleet stops). A reused connection that fails (the instance
 * went away, the link dropped) is dropped and the call tried once on a fresh
 * one, whose errors are the caller's as before.
 */
import { abortable } from '../../shared/abort.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { resource, type Resource } from '../../shared/resources.js';
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

export interface Entry {
  session: Promise<SshSession>;
  users: number;
  idle?: NodeJS.Timeout;
}

/** A fleet's open connections, one per instance, login and key (FleetDeps.resources: SSH_POOL). */
export class SshPool {
  readonly #entries = new Map<string, Entry>();

  drop(key: string, entry: Entry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    if (entry.idle) clearTimeout(entry.idle);
    entry.session.then((s) => s.close(), () => undefined);
  }

  acquire(key: string, target: SshTarget): { entry: Entry; reused: boolean } {
    const found = this.#entries.get(key);
    if (found) {
      found.users++;
      if (found.idle) clearTimeout(found.idle);
      found.idle = undefined;
      return { entry: found, reused: true };
    }
    const entry: Entry = { session: connectSsh(target), users: 1 };
    this.#entries.set(key, entry);
    entry.session.catch(() => this.drop(key, entry));
    return { entry, reused: false };
  }

  release(key: string, entry: Entry): void {
    entry.users = Math.max(0, entry.users - 1);
    if (entry.users > 0 || this.#entries.get(key) !== entry) return;
    entry.idle = setTimeout(() => this.drop(key, entry), IDLE_MS);
    entry.idle.unref();
  }

  /** Connections open now (tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Close every pooled connection (the fleet stops). */
  close(): void {
    for (const [key, entry] of [...this.#entries]) this.drop(key, entry);
  }
}

/** The fleet's SSH pool: made on first use, closed with the fleet. */
export const SSH_POOL: Resource<SshPool> = resource('ssh pool', () => new SshPool(), (pool) => pool.close());

class PooledSession implements SshSession {
  private released = false;

  constructor(
    private readonly pool: SshPool,
    private readonly key: string,
    private readonly target: SshTarget,
    private entry: Entry,
    private reused: boolean,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Run on the pooled connection, until the drain's signal; a reused one that fails with a transient error is replaced once. */
  private run<T>(op: (s: SshSession) => Promise<T>): Promise<T> {
    return abortable(this.runPooled(op), this.signal);
  }

  private async runPooled<T>(op: (s: SshSession) => Promise<T>): Promise<T> {
    try {
      return await op(await this.entry.session);
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      this.pool.drop(this.key, this.entry);
      if (!this.reused) throw err;
      const fresh = this.pool.acquire(this.key, this.target);
      this.entry.users = 0;
      this.entry = fresh.entry;
      this.reused = false;
      try {
        return await op(await this.entry.session);
      } catch (again) {
        if (again instanceof TransientError) this.pool.drop(this.key, this.entry);
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
    this.pool.release(this.key, this.entry);
  }
}

/**
 * An SSH session to the attempt's instance: TransientError while it cannot be
 * reached, PermanentError when it never will (as connectSsh). close() hands
 * the connection back to the fleet's pool. A drain (ctx.signal) ends the wait
 * for the connection and every call on it.
 */
export async function sshSessionFor(
  ctx: Pick<HandlerContext, 'config' | 'resources'> & Partial<Pick<HandlerContext, 'log' | 'signal'>>,
  job: JobRow,
  attempt: Attempt,
): Promise<SshSession> {
  const region = job.security?.regions[attempt.pool.region];
  if (!region || !attempt.ip) throw new PermanentError(`attempt ${attempt.n} has no instance address or key`);
  // Every connection checks the instance's host key against the one the attempt gave it (services/spot/host-keys.ts).
  if (!attempt.hostKey) throw new PermanentError(`attempt ${attempt.n} has no pinned host key: refusing to connect to ${attempt.instanceId ?? attempt.ip}`);
  const target: SshTarget = {
    hostPublicKey: attempt.hostKey,
    host: attempt.ip,
    port: ctx.config.lifecycle.sshPort,
    username: job.spec.instances.user,
    privateKey: secretBox(ctx.config, ctx.resources).decrypt(region.privateKey, privateKeyContext(job.jobId, attempt.pool.region)),
    readyTimeoutMs: 10_000,
  };
  // The instance id keeps two instances that had the same address apart.
  const key = `${attempt.instanceId ?? '-'}|${target.username}@${target.host}:${target.port}|${job.jobId}|${attempt.hostKey}`;
  const pool = ctx.resources.get(SSH_POOL);
  const { entry, reused } = pool.acquire(key, target);
  try {
    await abortable(entry.session, ctx.signal);
  } catch (err) {
    pool.release(key, entry);
    if (err instanceof HostKeyMismatchError) {
      ctx.log?.warn({ attempt: attempt.n, instanceId: attempt.instanceId, ip: attempt.ip, pinned: err.pinned, presented: err.presented }, 'SSH host key mismatch: not connecting to this instance');
    }
    throw err;
  }
  return new PooledSession(pool, key, target, entry, reused, ctx.signal);
}
