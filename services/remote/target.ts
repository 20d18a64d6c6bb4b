/**
 * Which instance a person reaches for a task: the task's current attempt, its
 * address, the SSH port of the fleet, the job's login user, and the job's
 * private key decrypted in this process with the fleet's secret key (as the
 * dispatchers do). The key never leaves the returned target: not logged, not
 * printed, not in an error message.
 */
import { ConfigError, PermanentError } from '../../shared/errors.js';
import type { Config } from '../../shared/config.js';
import { UnknownKeyIdError, type EncryptedSecret } from '../../shared/secrets.js';
import type { Store } from '../../shared/store/index.js';
import { currentAttempt, type Attempt } from '../model/model.js';
import { jobs, tasks, type JobRow, type TaskRow } from '../model/repo.js';
import { privateKeyContext, secretBox } from '../model/secrets.js';
import { taskId as taskIdOf } from '../model/spec.js';
import type { SshTarget } from '../ssh/ssh.js';

/** A job or task id that names nothing: bad input. */
export class NotFoundError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The task exists but no instance of it can be reached now. */
export class NoInstanceError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'NoInstanceError';
  }
}

/** The attempt has no host key to check the instance against: no connection is made. */
export class HostKeyMissingError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'HostKeyMissingError';
  }
}

/** States in which the current attempt may have a live instance. */
const LIVE_STATES = new Set(['starting', 'running', 'interrupted']);

const WHY_NOT: Record<string, string> = {
  pending: 'it waits to be placed on a spot instance',
  waiting: 'its spot request is not fulfilled yet; try again in a moment',
  succeeded: 'it has ended and its instance is terminated',
  failed: 'it has ended and its instance is terminated',
  cancelled: 'it was cancelled and its instance is terminated',
};

/**
 * The task row a person means: its id as shown by `spotbatch tasks`
 * (`0002`), or its index (`2`).
 */
export async function findTask(store: Store, jobId: string, ref: string): Promise<{ job: JobRow; task: TaskRow }> {
  const job = await jobs({ store }).get({ jobId });
  if (!job) throw new NotFoundError(`no job ${jobId} (see \`spotbatch status\` for the list)`);
  const candidates = /^\d+$/.test(ref) ? [...new Set([ref, taskIdOf(Number(ref))])] : [ref];
  for (const taskId of candidates) {
    const task = await tasks({ store }).get({ jobId, taskId });
    if (task) return { job, task };
  }
  throw new NotFoundError(`no task ${ref} in job ${jobId} (task ids run from ${taskIdOf(0)} to ${taskIdOf(Math.max(0, job.taskCount - 1))}; see \`spotbatch tasks ${jobId}\`)`);
}

/** The current attempt when its instance may be up, or the reason in words when not. */
export function liveAttempt(job: JobRow, task: TaskRow): Attempt | string {
  const attempt = currentAttempt(task);
  if (!LIVE_STATES.has(task.state)) return `state ${task.state}: ${WHY_NOT[task.state] ?? 'no instance'}`;
  if (!attempt?.ip) return `state ${task.state}: attempt ${attempt?.n ?? 0} has no instance address yet; try again in a moment`;
  if (attempt.endedAt !== undefined) return `state ${task.state}: attempt ${attempt.n} has ended (${attempt.outcome ?? 'no outcome'})`;
  if (!job.security?.regions[attempt.pool.region]) return `state ${task.state}: the job has no key pair in ${attempt.pool.region} (job state ${job.state})`;
  return attempt;
}

export interface TaskInstance {
  job: JobRow;
  task: TaskRow;
  attempt: Attempt;
  /** Where to connect, with the decrypted private key. */
  target: SshTarget;
}

/** Resolve a task's running instance and how to log in to it. */
export async function taskInstance(store: Store, config: Config, jobId: string, ref: string): Promise<TaskInstance> {
  const { job, task } = await findTask(store, jobId, ref);
  const attempt = liveAttempt(job, task);
  if (typeof attempt === 'string') {
    throw new NoInstanceError(`task ${task.taskId} of job ${jobId} has no running instance (${attempt}); its last output: \`spotbatch logs ${jobId} ${task.taskId}\``);
  }
  if (!attempt.hostKey) {
    // Attempts requested before host keys were pinned: no way to tell the instance from an impostor.
    throw new HostKeyMissingError(`task ${task.taskId} of job ${jobId}: attempt ${attempt.n} has no pinned host key, so its instance cannot be told from an impostor: refusing to connect`);
  }
  const region = job.security!.regions[attempt.pool.region]!;
  return {
    job,
    task,
    attempt,
    target: {
      hostPublicKey: attempt.hostKey,
      host: attempt.ip!,
      port: config.lifecycle.sshPort,
      username: job.spec.instances.user,
      privateKey: decryptKey(config, region.privateKey, privateKeyContext(job.jobId, attempt.pool.region)),
      readyTimeoutMs: 20_000,
    },
  };
}

function decryptKey(config: Config, secret: EncryptedSecret, context: string): string {
  if (!config.lifecycle.secretKey) {
    throw new ConfigError([
      {
        path: 'SPOTBATCH_SECRET_KEY (lifecycle.secretKey)',
        rule: "is not set: the job's private key is kept encrypted with the fleet's secret key; set the one the dispatchers use (with `spotbatch local`: the export lines it prints set SPOTBATCH_SECRET_KEY_FILE=.spotbatch/secret.key)",
      },
    ]);
  }
  try {
    return secretBox(config).decrypt(secret, context);
  } catch (err) {
    // The box's messages name key ids and the job, never a key.
    const why = err instanceof UnknownKeyIdError ? 'it is not the secret key of the fleet that ran the job' : 'the stored key is not readable';
    throw new ConfigError([{ path: 'SPOTBATCH_SECRET_KEY (lifecycle.secretKey)', rule: `cannot decrypt the job's private key: ${why} (${(err as Error).message})` }]);
  }
}
