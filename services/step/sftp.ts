import type { Dirent } from 'node:fs';
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Attributes, FileEntry, SFTPWrapper, Stats } from 'ssh2';

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

/** Copy a local file or folder (recursively, following symlinks) to an absolute remote path; modes kept. */
export async function putTree(sftp: SFTPWrapper, localPath: string, remotePath: string): Promise<void> {
  const info = await stat(localPath);
  if (info.isDirectory()) {
    await mkdirp(sftp, remotePath);
    const entries: Dirent[] = await readdir(localPath, { withFileTypes: true });
    for (const entry of entries) {
      await putTree(sftp, path.join(localPath, entry.name), path.posix.join(remotePath, entry.name));
    }
    return;
  }
  if (!info.isFile()) return; // sockets, fifos, devices: nothing to copy
  await call((cb) => sftp.fastPut(localPath, remotePath, { mode: info.mode & 0o7777 }, cb));
  await call((cb) => sftp.chmod(remotePath, info.mode & 0o7777, cb));
}

/** Copy a remote file or folder (recursively) to a local path; modes kept. */
export async function getTree(sftp: SFTPWrapper, remotePath: string, localPath: string): Promise<void> {
  const attrs = await call<Stats>((cb) => sftp.stat(remotePath, cb));
  await mkdir(path.dirname(localPath), { recursive: true });
  await getEntry(sftp, remotePath, localPath, attrs);
}

async function getEntry(sftp: SFTPWrapper, remotePath: string, localPath: string, attrs: Attributes): Promise<void> {
  let kind = attrs.mode & S_IFMT;
  if (kind === S_IFLNK) {
    attrs = await call<Stats>((cb) => sftp.stat(remotePath, cb));
    kind = attrs.mode & S_IFMT;
  }
  if (kind === S_IFDIR) {
    await mkdir(localPath, { recursive: true });
    const entries = await call<FileEntry[]>((cb) => sftp.readdir(remotePath, cb));
    for (const entry of entries) {
      if (entry.filename === '.' || entry.filename === '..') continue;
      await getEntry(sftp, path.posix.join(remotePath, entry.filename), path.join(localPath, entry.filename), entry.attrs);
    }
    return;
  }
  if (kind !== S_IFREG) return;
  await call((cb) => sftp.fastGet(remotePath, localPath, cb));
  await chmod(localPath, attrs.mode & 0o7777);
}
