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

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}

/**
 * A path below the login home made of plain segments (letters, digits, `.`,
 * `_`, `-`; no `..`, not absolute), safe to use in commands and on SFTP.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.length > 512 || p.startsWith('/')) return false;
  return p.split('/').every((seg) => /^[A-Za-z0-9._-]+$/.test(seg) && seg !== '.' && seg !== '..');
}
