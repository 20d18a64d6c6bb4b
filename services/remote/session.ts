/** Open an SSH connection to a task's running instance for the length of some work. */
import type ssh2 from 'ssh2';
import { SpotbatchError } from '../../shared/errors.js';
import type { Config } from '../../shared/config.js';
import type { Store } from '../../shared/store/index.js';
import { openSshClient } from '../ssh/ssh.js';
import { taskInstance, type TaskInstance } from './target.js';

/** How a task's instance is named in messages: its id and address. */
export function instanceName(inst: TaskInstance): string {
  return `${inst.attempt.instanceId ?? 'instance'} (${inst.target.host}:${inst.target.port})`;
}

export async function withTaskInstance<T>(
  store: Store,
  config: Config,
  jobId: string,
  taskRef: string,
  work: (client: ssh2.Client, where: string, inst: TaskInstance) => Promise<T>,
): Promise<T> {
  const inst = await taskInstance(store, config, jobId, taskRef);
  const where = instanceName(inst);
  let client: ssh2.Client;
  try {
    client = await openSshClient(inst.target);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const retry = err instanceof SpotbatchError ? err.retryable : true;
    throw new SpotbatchError(`cannot connect to task ${inst.task.taskId}'s instance ${where}: ${message}${retry ? ' (it may be starting or going away; try again)' : ''}`, retry, { cause: err });
  }
  try {
    return await work(client, where, inst);
  } finally {
    client.end();
  }
}
