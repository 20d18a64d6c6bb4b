import { randomBytes } from 'node:crypto';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { shellQuote } from '../../shared/shell.js';
import type { SshSession } from '../ssh/ssh.js';

/**
 * The instance side of a checkpoint: whether there is anything to save, and
 * putting a checkpoint in place so that the step never sees half of one.
 * Remote paths are relative to the login home; commands run from "$HOME" so
 * they mean the same place as over SFTP.
 */

const COMMAND_TIMEOUT_MS = 60_000;

export type RemoteDirState = 'missing' | 'empty' | 'present';

export async function probeRemoteDir(session: SshSession, dir: string): Promise<RemoteDirState> {
  const q = shellQuote(dir);
  const result = await session.exec(
    `cd "$HOME" || exit 90; if [ ! -d ${q} ]; then echo missing; elif [ -z "$(ls -A ${q})" ]; then echo empty; else echo present; fi`,
    { timeoutMs: COMMAND_TIMEOUT_MS },
  );
  const answer = result.stdout.trim();
  if (result.code === 0 && (answer === 'missing' || answer === 'empty' || answer === 'present')) return answer;
  throw new TransientError(`cannot inspect checkpoint folder ${dir}: exit ${String(result.code)} ${firstLine(result.stderr)}`);
}

/**
 * Upload `localDir` next to `remoteDir`, then swap it in with rm + mv. Until
 * the mv, `remoteDir` is untouched; a failed upload removes its staging copy.
 */
export async function replaceRemoteDir(session: SshSession, localDir: string, remoteDir: string): Promise<void> {
  const staging = `${remoteDir}.restoring-${randomBytes(4).toString('hex')}`;
  try {
    await session.putLocal(localDir, staging);
    const result = await session.exec(`cd "$HOME" && rm -rf -- ${shellQuote(remoteDir)} && mv -- ${shellQuote(staging)} ${shellQuote(remoteDir)}`, {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    if (result.code !== 0) {
      const message = `cannot put the checkpoint in place at ${remoteDir}: exit ${String(result.code)} ${firstLine(result.stderr)}`;
      throw /Permission denied|Not a directory/.test(result.stderr) ? new PermanentError(message) : new TransientError(message);
    }
  } catch (err) {
    await session.exec(`cd "$HOME" && rm -rf -- ${shellQuote(staging)}`, { timeoutMs: COMMAND_TIMEOUT_MS }).catch(() => undefined);
    throw err;
  }
}

function firstLine(s: string): string {
  return (s.split('\n', 1)[0] ?? '').slice(0, 300);
}
