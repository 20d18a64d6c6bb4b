import type { SshSession } from '../ssh/ssh.js';
import type { CheckpointKey } from './keys.js';

export interface SavedCheckpoint {
  files: number;
  bytes: number;
  /** When the checkpoint became the one a restore gets (ms since the epoch). */
  savedAt: number;
}

export interface CheckpointStore {
  /**
   * Copy the remote folder (relative to the login home) to the store under
   * jobId/taskId, replacing the previous checkpoint atomically (a half-copied
   * checkpoint is never restored). Returns files and bytes copied; a missing
   * or empty remote folder saves nothing and returns undefined.
   */
  save(session: SshSession, remoteDir: string, key: CheckpointKey): Promise<SavedCheckpoint | undefined>;
  /** Put the latest checkpoint (if any) into remoteDir on the new instance, replacing what was there; returns whether there was one. */
  restore(session: SshSession, remoteDir: string, key: CheckpointKey): Promise<boolean>;
  /** Remove a job's checkpoints (on job end). */
  remove(jobId: string): Promise<void>;
}

export interface StoreDeps {
  now: () => number;
  tmpDir: string;
}
