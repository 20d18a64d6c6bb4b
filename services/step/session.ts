/** Reaching a task attempt's instance: its run folder and an SSH session with the job's key. */
import { PermanentError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { Attempt } from '../job/model.js';
import type { JobRow } from '../job/repo.js';
import { secretBox } from '../job/secrets.js';
import { connectSsh, type SshSession } from './ssh.js';

/** The attempt's run folder on the instance, relative to the login home. */
export const taskDir = (jobId: string, taskId: string, attempt: number): string => `.spotbatch/tasks/${jobId}/${taskId}/${attempt}`;

/** An SSH session to the attempt's instance (TransientError while it cannot be reached, PermanentError when it never will). */
export async function sshSessionFor(ctx: Pick<HandlerContext, 'config'>, job: JobRow, attempt: Attempt): Promise<SshSession> {
  const region = job.security?.regions[attempt.pool.region];
  if (!region || !attempt.ip) throw new PermanentError(`attempt ${attempt.n} has no instance address or key`);
  return connectSsh({
    host: attempt.ip,
    port: ctx.config.lifecycle.sshPort,
    username: job.spec.instances.user,
    privateKey: secretBox(ctx.config).decrypt(region.privateKey),
    readyTimeoutMs: 10_000,
  });
}
