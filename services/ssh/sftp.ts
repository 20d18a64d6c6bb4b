import type { Dirent } from 'node:fs';
import { chmod, lstat, mkdir, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Attributes, FileEntry, SFTPWrapper, Stats } from 'ssh2';
import { PermanentError } from '../../shared/errors.js';

/** Promise wrappers over ssh2's callback SFTP client, and whole-tree copies. */

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const NO_SUCH_FILE = 2;

export function call<T = void>(run: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

export function isMissing(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === NO_SUCH_FILE;
}

export async function statOrUndefined(sftp: SFTPWrapper, p: string): Promise<Stats | undefined> {
  try {
    return await call<Stats>((cb) => sftp.stat(p, cb));
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** mkdir -p for an absolute remote path. */
export async function mkdirp(sftp: SFTPWrapper, p: string): Promise<void> {
  const existing = await statOrUndefined(sftp, p);
  if (existing) {
    if (!existing.isDirectory()) throw Object.assign(new Error(`${p} exists and is not a directory`), { code: 'ENOTDIR' });
    return;
  }
  const parent = path.posix.dirname(p);
  if (parent !== p) await mkdirp(sftp, parent);
  try {
    await call((cb) => sftp.mkdir(p, cb));
  } catch (err) {
    // Someone else made it in the meantime: fine when it is a directory.
    if (!(await statOrUndefined(sftp, p))?.isDirectory()) throw err;
  }
}

export async function writeRemote(sftp: SFTPWrapper, p: string, content: string | Buffer, mode?: number): Promise<void> {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  await call((cb) => sftp.writeFile(p, data, mode === undefined ? {} : { mode }, cb));
  // writeFile's mode applies only when the file is created: set it either way.
  if (mode !== undefined) await call((cb) => sftp.chmod(p, mode, cb));
}

export async function readRemote(sftp: SFTPWrapper, p: string): Promise<Buffer | undefined> {
  try {
    return await call<Buffer>((cb) => sftp.readFile(p, cb));
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** How deep a tree copy goes: deeper is a symlink loop or a hostile server, not a checkpoint. */
export const MAX_TREE_DEPTH = 64;

/** A name in a folder listing that would leave the folder: refused, nothing of it copied. */
export class UnsafeNameError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeNameError';
  }
}

/**
 * A name from a folder listing must be one path component: not empty, not
 * `.` or `..`, no `/` (so not absolute either) and no NUL. Anything else is
 * refused, naming the entry (JSON-quoted, so a NUL or a newline shows).
 */
export function checkEntryName(name: string, folder: string): string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new UnsafeNameError(`the listing of ${folder} has an entry named ${JSON.stringify(name)}: a name must be one path component (no "/", "..", "." or NUL); nothing of it is copied`);
  }
  return name;
}

function tooDeep(where: string): UnsafeNameError {
  return new UnsafeNameError(`${where} is more than ${MAX_TREE_DEPTH} folders deep (a symbolic link loop?); copy refused there`);
}

function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Copy a local file or folder (recursively) to an absolute remote path; modes
 * kept. Symbolic links are followed when they stay inside the folder copied;
 * one that leads out of it is refused (PermanentError naming it), so a tree
 * cannot carry files from elsewhere on this host.
 */
export async function putTree(sftp: SFTPWrapper, localPath: string, remotePath: string): Promise<void> {
  const root = await realpath(localPath);
  await putEntry(sftp, localPath, remotePath, root, 0);
}

async function putEntry(sftp: SFTPWrapper, localPath: string, remotePath: string, root: string, depth: number): Promise<void> {
  if (depth > MAX_TREE_DEPTH) throw tooDeep(localPath);
  if (depth > 0 && (await lstat(localPath)).isSymbolicLink()) {
    const target = await realpath(localPath);
    if (!within(root, target)) throw new UnsafeNameError(`${localPath} is a symbolic link out of the folder being copied; refused (nothing copied from there)`);
  }
  const info = await stat(localPath);
  if (info.isDirectory()) {
    await mkdirp(sftp, remotePath);
    const entries: Dirent[] = await readdir(localPath, { withFileTypes: true });
    for (const entry of entries) {
      const name = checkEntryName(entry.name, localPath);
      await putEntry(sftp, path.join(localPath, name), path.posix.join(remotePath, name), root, depth + 1);
    }
    return;
  }
  if (!info.isFile()) return; // sockets, fifos, devices: nothing to copy
  await call((cb) => sftp.fastPut(localPath, remotePath, { mode: info.mode & 0o7777 }, cb));
  await call((cb) => sftp.chmod(remotePath, info.mode & 0o7777, cb));
}

/**
 * Copy a remote file or folder (recursively) to a local path; modes kept.
 * The server's names are checked (checkEntryName) and nothing is written
 * through a symbolic link below `localPath`: every file lands inside it.
 */
export async function getTree(sftp: SFTPWrapper, remotePath: string, localPath: string): Promise<void> {
  const attrs = await call<Stats>((cb) => sftp.stat(remotePath, cb));
  await mkdir(path.dirname(localPath), { recursive: true });
  await getEntry(sftp, remotePath, localPath, attrs, 0);
}

/** Below the copy's root, a local path must not exist as a symbolic link (writing through it would land elsewhere). */
async function refuseLocalLink(localPath: string): Promise<void> {
  try {
    if ((await lstat(localPath)).isSymbolicLink()) {
      throw new UnsafeNameError(`${localPath} is a symbolic link here; refusing to write through it`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function getEntry(sftp: SFTPWrapper, remotePath: string, localPath: string, attrs: Attributes, depth: number): Promise<void> {
  if (depth > MAX_TREE_DEPTH) throw tooDeep(remotePath);
  if (depth > 0) await refuseLocalLink(localPath);
  let kind = attrs.mode & S_IFMT;
  if (kind === S_IFLNK) {
    attrs = await call<Stats>((cb) => sftp.stat(remotePath, cb));
    kind = attrs.mode & S_IFMT;
  }
  if (kind === S_IFDIR) {
    await mkdir(localPath, { recursive: true });
    const entries = await call<FileEntry[]>((cb) => sftp.readdir(remotePath, cb));
    // Every name first: a listing with one bad name copies nothing of that folder.
    for (const entry of entries) checkEntryName(entry.filename, remotePath);
    for (const entry of entries) {
      await getEntry(sftp, path.posix.join(remotePath, entry.filename), path.join(localPath, entry.filename), entry.attrs, depth + 1);
    }
    return;
  }
  if (kind !== S_IFREG) return;
  await call((cb) => sftp.fastGet(remotePath, localPath, cb));
  // The server's mode, without setuid/setgid/sticky or group/other write: a file an instance sends never
  // lands on this machine as something other local users could change or run as this user.
  await chmod(localPath, attrs.mode & LOCAL_MODE_MASK);
}

/** What of a remote file's mode a local copy keeps (rwxr-xr-x at most). */
export const LOCAL_MODE_MASK = 0o755;
