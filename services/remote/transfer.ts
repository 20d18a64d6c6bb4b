/**
 * Files to and from a task's instance over SFTP, as scp -r does: a file or a
 * whole folder; when the destination is an existing folder the copy goes
 * inside it under the source's name, otherwise it takes the destination's
 * name. Missing parent folders of the destination are made. Relative remote
 * paths (and `~/...`) are below the login home.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { PermanentError } from '../../shared/errors.js';
import { call, getTree, mkdirp, putTree, statOrUndefined } from '../ssh/sftp.js';
import { classifySftpError } from '../ssh/errors.js';

/** A path the person named does not exist (or is not what it must be): bad input. */
export class MissingPathError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'MissingPathError';
  }
}

export interface TransferResult {
  /** Where the copy is, absolute (remote for an upload, local for a download). */
  to: string;
  files: number;
  bytes: number;
}

/** Files and bytes below a local path (following symlinks, as the copy does). */
export async function localTreeSize(p: string): Promise<{ files: number; bytes: number }> {
  const info = await stat(p);
  if (info.isDirectory()) {
    let files = 0;
    let bytes = 0;
    for (const entry of await readdir(p)) {
      const sub = await localTreeSize(path.join(p, entry));
      files += sub.files;
      bytes += sub.bytes;
    }
    return { files, bytes };
  }
  return info.isFile() ? { files: 1, bytes: info.size } : { files: 0, bytes: 0 };
}

async function localKind(p: string): Promise<'file' | 'dir' | undefined> {
  try {
    const info = await stat(p);
    return info.isDirectory() ? 'dir' : 'file';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function absoluteRemote(sftp: SFTPWrapper, p: string): Promise<string> {
  if (path.posix.isAbsolute(p)) return path.posix.normalize(p);
  const home = await call<string>((cb) => sftp.realpath('.', cb));
  const rel = p === '~' ? '.' : p.startsWith('~/') ? p.slice(2) : p;
  return path.posix.join(home, rel);
}

async function withSftp<T>(client: ssh2.Client, what: string, work: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
  const sftp = await call<SFTPWrapper>((cb) => client.sftp(cb)).catch((err: unknown) => {
    throw classifySftpError(err, `${what}: cannot open SFTP`);
  });
  try {
    return await work(sftp);
  } catch (err) {
    if (err instanceof MissingPathError) throw err;
    throw classifySftpError(err, what);
  } finally {
    sftp.end();
  }
}

/** Copy a local file or folder to the instance. */
export async function upload(client: ssh2.Client, where: string, localPath: string, remotePath: string): Promise<TransferResult> {
  const source = path.resolve(localPath);
  if (!(await localKind(source))) throw new MissingPathError(`${localPath}: no such file or folder here (nothing uploaded)`);
  return withSftp(client, `upload of ${localPath} to ${where}:${remotePath}`, async (sftp) => {
    let dest = await absoluteRemote(sftp, remotePath);
    const existing = await statOrUndefined(sftp, dest);
    if (existing?.isDirectory()) dest = path.posix.join(dest, path.basename(source));
    await mkdirp(sftp, path.posix.dirname(dest));
    await putTree(sftp, source, dest);
    return { to: dest, ...(await localTreeSize(source)) };
  });
}

/** Copy a file or folder of the instance here. */
export async function download(client: ssh2.Client, where: string, remotePath: string, localPath: string): Promise<TransferResult> {
  return withSftp(client, `download of ${where}:${remotePath} to ${localPath}`, async (sftp) => {
    const source = await absoluteRemote(sftp, remotePath);
    if (!(await statOrUndefined(sftp, source))) throw new MissingPathError(`${remotePath}: no such file or folder on the instance (${source}; nothing downloaded)`);
    let dest = path.resolve(localPath);
    if ((await localKind(dest)) === 'dir') dest = path.join(dest, path.posix.basename(source));
    await getTree(sftp, source, dest);
    return { to: dest, ...(await localTreeSize(dest)) };
  });
}
