import { createHash } from 'node:crypto';
import { PermanentError, TransientError } from '../../shared/errors.js';

/**
 * The instance presented a host key other than the attempt's pinned one: the
 * handshake was ended before authentication. Permanent for that attempt (an
 * impostor at the address, or an instance that is not the one launched); the
 * message names both fingerprints, nothing secret.
 */
export class HostKeyMismatchError extends PermanentError {
  constructor(
    where: string,
    readonly pinned: string,
    readonly presented: string,
  ) {
    super(`SSH to ${where}: host key mismatch: the server presented ${presented}, the attempt's pinned host key is ${pinned}; refusing to connect`);
    this.name = 'HostKeyMismatchError';
  }
}

/** The SHA256 fingerprint of a public key blob, as ssh-keygen -l prints it. */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * How a failed SSH connection attempt is classified. Whatever the cause, the
 * message names the target (user@host:port) and the reason, never the key.
 *
 * - authentication refused: PermanentError (the key will not start working later);
 * - a private key that does not parse, a host key other than the pinned one: PermanentError;
 * - everything else (refused, timed out, unreachable, reset, handshake not
 *   finished, closed before ready): TransientError, the instance may still be booting.
 */
export function classifyConnectError(err: unknown, where: string): PermanentError | TransientError {
  const e = (err ?? {}) as { level?: unknown; code?: unknown; message?: unknown };
  const level = typeof e.level === 'string' ? e.level : '';
  const code = typeof e.code === 'string' ? e.code : '';
  if (level === 'client-authentication') {
    return new PermanentError(`SSH authentication failed for ${where}: the server refused the key`);
  }
  if (err instanceof PermanentError) return err;
  if (typeof e.message === 'string' && /host denied/i.test(e.message)) {
    return new PermanentError(`SSH to ${where}: host key mismatch: the server's host key is not the attempt's pinned one; refusing to connect`);
  }
  if (typeof e.message === 'string' && /cannot parse privatekey|unsupported key format|encrypted private key/i.test(e.message)) {
    return new PermanentError(`SSH private key for ${where} cannot be used: not an unencrypted OpenSSH or PEM private key`);
  }
  if (level === 'client-timeout') return new TransientError(`SSH to ${where}: timed out before the handshake finished`);
  const reason = code || (typeof e.message === 'string' ? firstLine(e.message) : 'unknown error');
  return new TransientError(`SSH to ${where}: ${reason}`);
}

/**
 * An SFTP failure. Permanent: a missing or forbidden path, a name or link refused by the copy, and
 * an SFTP the image can never give (retrying cannot help, so the task ends with the reason): the
 * server refuses the sftp subsystem, the sftp-server program exits at once, or the stream is corrupt
 * (a login script that prints to stdout). Anything else (connection gone) is transient.
 */
export function classifySftpError(err: unknown, what: string): PermanentError | TransientError {
  // Already decided (an unsafe name, a refused link): keep the verdict, say where.
  if (err instanceof PermanentError) return new PermanentError(`${what}: ${err.message}`, { cause: err });
  const e = (err ?? {}) as { code?: unknown; message?: unknown; level?: unknown };
  const message = typeof e.message === 'string' ? firstLine(e.message) : String(err);
  const hopeless = hopelessSftp(e.level, message);
  if (hopeless) return new PermanentError(`${what}: ${hopeless} (${message})`, { cause: err });
  // SFTP status codes: 2 NO_SUCH_FILE, 3 PERMISSION_DENIED; local fs: ENOENT, EACCES, ENOTDIR, EISDIR.
  if (e.code === 2 || e.code === 3 || e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ENOTDIR' || e.code === 'EISDIR') {
    return new PermanentError(`${what}: ${message}`, { cause: err });
  }
  return new TransientError(`${what}: ${message}`, { cause: err });
}

/** Why SFTP can never work on this image, from ssh2's error; undefined when retrying may help. */
function hopelessSftp(level: unknown, message: string): string | undefined {
  if (/^Unable to start subsystem: sftp/.test(message)) {
    return 'the server refused the sftp subsystem (the image has no `Subsystem sftp` in its sshd_config): install or enable an SFTP server on the image';
  }
  const exited = /^Received exit code (\d+) while establishing SFTP session/.exec(message);
  if (exited) {
    return `the sftp server exited with status ${exited[1]} before answering (its program is missing or broken on the image; 127: not found)`;
  }
  if (level === 'sftp-protocol') {
    return 'the SFTP stream is corrupt: most likely a login script (.bashrc, .profile) prints to stdout for non-interactive sessions; make it print only when interactive';
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}
