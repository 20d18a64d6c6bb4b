import { randomBytes } from 'node:crypto';
import { PermanentError } from '../../shared/errors.js';
import { remoteDirRule } from '../model/checkpoint-spec.js';

export interface CheckpointKey {
  jobId: string;
  taskId: string;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Whether a name is a plain id part (as checkIdPart wants). */
export const isIdPart = (value: string): boolean => SEGMENT.test(value);

/** Job and task ids become folder names and key segments: plain ones only. */
export function checkIdPart(what: 'jobId' | 'taskId', value: string): string {
  if (!SEGMENT.test(value)) throw new PermanentError(`checkpoint ${what} ${JSON.stringify(value)} is not a plain name (letters, digits, ".", "_", "-")`);
  return value;
}

export function checkKey(key: CheckpointKey): CheckpointKey {
  return { jobId: checkIdPart('jobId', key.jobId), taskId: checkIdPart('taskId', key.taskId) };
}

/** The remote folder (relative to the login home, plain segments), or a PermanentError with the rule. */
export function checkRemoteDir(dir: string): string {
  const rule = remoteDirRule(dir);
  if (rule) throw new PermanentError(`checkpoint path ${JSON.stringify(dir)} ${rule}`);
  return dir;
}

/** A version name that sorts by the time its copy started: v<ms, 15 digits>-<random>. */
export function versionName(startedAt: number): string {
  return `v${String(Math.max(0, Math.floor(startedAt))).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
}

export const VERSION = /^v\d{15}-[0-9a-f]{8}$/;
