/**
 * Quoting for POSIX sh. Everything the dispatcher puts into a remote shell
 * string goes through shellQuote: inside single quotes sh takes every byte
 * literally (newlines, $, backticks, `;`, unicode) except the single quote
 * itself, which is closed, escaped and reopened: ' -> '\''.
 * NUL cannot be passed to a program as an argument or variable at all, so it
 * is refused rather than silently cut.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new RangeError('a shell word cannot contain a NUL character');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `a b c` as separately quoted words. */
export function shellWords(values: readonly string[]): string {
  return values.map(shellQuote).join(' ');
}

/*
 * The rules for what the agent can carry, shared by the job spec's schema
 * (services/model/spec.ts, refused at submit with the field path) and checkPlan
 * (agent-files.ts, refused at step.run): one definition, so a spec that passes
 * submit never fails at the instance for a reason submit could have seen.
 */

/** A variable name sh can assign and export. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENV_NAME_RULE = 'must be an environment variable name (letters, digits, _; not starting with a digit)';

export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}

/** Variables spotbatch sets for the step (SPOTBATCH_JOB_ID, SPOTBATCH_TASK_DIR ...): a user's env may not name one. */
export const RESERVED_ENV_PREFIX = 'SPOTBATCH_';
export const RESERVED_ENV_RULE = `must not start with "${RESERVED_ENV_PREFIX}" (reserved for the variables spotbatch sets)`;

export function isReservedEnvName(name: string): boolean {
  return name.startsWith(RESERVED_ENV_PREFIX);
}

/** No program can receive a NUL in an argument, a variable or a name. */
export const NUL_RULE = 'must not contain a NUL character';

export function hasNul(value: string): boolean {
  return value.includes('\0');
}

/**
 * The most bytes of arguments and environment one step may get: Linux refuses
 * an exec whose arguments and environment pass ARG_MAX (2 MiB with the default
 * 8 MiB stack); this leaves room for the login environment.
 */
export const MAX_EXEC_BYTES = 1024 * 1024;

/** Bytes exec needs for these words and variables (each NUL-terminated, NAME=value). */
export function execBytes(words: readonly string[], env: Record<string, string>): number {
  let n = 0;
  for (const w of words) n += Buffer.byteLength(w) + 1;
  for (const [k, v] of Object.entries(env)) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  return n;
}

/**
 * A path below the login home made of plain segments (letters, digits, `.`,
 * `_`, `-`; no `..`, not absolute), safe to use in commands and on SFTP.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.length > 512 || p.startsWith('/')) return false;
  return p.split('/').every((seg) => /^[A-Za-z0-9._-]+$/.test(seg) && seg !== '.' && seg !== '..');
}
