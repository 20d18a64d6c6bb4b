import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, rmdir, stat, truncate, unlink, utimes, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import ssh2, { type Attributes, type FileEntry, type SFTPWrapper } from 'ssh2';
import { confine, normaliseRemotePath, type Sandbox } from './sandbox.js';

/**
 * An SFTP (v3) server over one instance's sandbox: every remote path is mapped
 * onto the sandbox (`/home/ec2-user/x` -> `<sandbox>/home/ec2-user/x`), and a
 * path that climbs out of it (`..` above `/`, or a symlink that points
 * outside) is refused with PERMISSION_DENIED.
 */

const { STATUS_CODE, flagsToString } = ssh2.utils.sftp;

type OpenEntry = { kind: 'file'; file: FileHandle } | { kind: 'dir'; hostPath: string; done: boolean };

class Refused extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export function serveSftp(sftp: SFTPWrapper, sandbox: Sandbox, user: string): void {
  const handles = new Map<number, OpenEntry>();
  let nextHandle = 1;

  const newHandle = (entry: OpenEntry): Buffer => {
    const id = nextHandle++;
    handles.set(id, entry);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id);
    return buf;
  };
  const lookup = (handle: Buffer): [number, OpenEntry] => {
    const id = handle.length === 4 ? handle.readUInt32BE(0) : -1;
    const entry = handles.get(id);
    if (!entry) throw new Refused(STATUS_CODE.FAILURE, 'invalid handle');
    return [id, entry];
  };
  const hostPath = async (remotePath: string, followLast = true): Promise<string> => {
    const mapped = await confine(sandbox, remotePath, followLast);
    if (mapped === undefined) throw new Refused(STATUS_CODE.PERMISSION_DENIED, 'permission denied: outside the instance sandbox');
    return mapped;
  };
  /** Run a request; answer its error as an SFTP status. */
  const serve = (reqId: number, work: () => Promise<void>): void => {
    work().catch((err: unknown) => {
      const [code, message] = statusOf(err);
      sftp.status(reqId, code, message);
    });
  };
  const ok = (reqId: number): void => void sftp.status(reqId, STATUS_CODE.OK);

  sftp.on('OPEN', (reqId, filename, flags, attrs) =>
    serve(reqId, async () => {
      const mode = flagsToString(flags);
      if (mode === null) throw new Refused(STATUS_CODE.OP_UNSUPPORTED, 'unsupported open flags');
      const target = await hostPath(filename);
      const file = await open(target, mode, typeof attrs?.mode === 'number' ? attrs.mode & 0o7777 : 0o644);
      sftp.handle(reqId, newHandle({ kind: 'file', file }));
    }),
  );
  sftp.on('READ', (reqId, handle, offset, length) =>
    serve(reqId, async () => {
      const [, entry] = lookup(handle);
      if (entry.kind !== 'file') throw new Refused(STATUS_CODE.FAILURE, 'not a file handle');
      const buffer = Buffer.alloc(Math.min(length, 256 * 1024));
      const { bytesRead } = await entry.file.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return void sftp.status(reqId, STATUS_CODE.EOF);
      sftp.data(reqId, buffer.subarray(0, bytesRead));
    }),
  );
  sftp.on('WRITE', (reqId, handle, offset, data) =>
    serve(reqId, async () => {
      const [, entry] = lookup(handle);
      if (entry.kind !== 'file') throw new Refused(STATUS_CODE.FAILURE, 'not a file handle');
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await entry.file.write(data, written, data.length - written, offset + written);
        written += bytesWritten;
      }
      ok(reqId);
    }),
  );
  sftp.on('FSTAT', (reqId, handle) =>
    serve(reqId, async () => {
      const [, entry] = lookup(handle);
      const stats = entry.kind === 'file' ? await entry.file.stat() : await stat(entry.hostPath);
      sftp.attrs(reqId, attributesOf(stats));
    }),
  );
  sftp.on('FSETSTAT', (reqId, handle, attrs) =>
    serve(reqId, async () => {
      const [, entry] = lookup(handle);
      if (entry.kind === 'file') {
        if (typeof attrs.mode === 'number') await entry.file.chmod(attrs.mode & 0o7777);
        if (typeof attrs.size === 'number') await entry.file.truncate(attrs.size);
        if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') await entry.file.utimes(attrs.atime, attrs.mtime);
      } else {
        await applyAttributes(entry.hostPath, attrs);
      }
      ok(reqId);
    }),
  );
  sftp.on('CLOSE', (reqId, handle) =>
    serve(reqId, async () => {
      const [id, entry] = lookup(handle);
      handles.delete(id);
      if (entry.kind === 'file') await entry.file.close();
      ok(reqId);
    }),
  );
  sftp.on('OPENDIR', (reqId, remotePath) =>
    serve(reqId, async () => {
      const target = await hostPath(remotePath);
      const stats = await stat(target);
      if (!stats.isDirectory()) throw new Refused(STATUS_CODE.FAILURE, 'not a directory');
      sftp.handle(reqId, newHandle({ kind: 'dir', hostPath: target, done: false }));
    }),
  );
  sftp.on('READDIR', (reqId, handle) =>
    serve(reqId, async () => {
      const [, entry] = lookup(handle);
      if (entry.kind !== 'dir') throw new Refused(STATUS_CODE.FAILURE, 'not a directory handle');
      if (entry.done) return void sftp.status(reqId, STATUS_CODE.EOF);
      entry.done = true;
      const names = ['.', '..', ...(await readdir(entry.hostPath))];
      const list: FileEntry[] = [];
      for (const name of names) {
        try {
          const attrs = attributesOf(await lstat(path.join(entry.hostPath, name)));
          list.push({ filename: name, longname: longname(name, attrs, user), attrs });
        } catch {
          // vanished meanwhile
        }
      }
      sftp.name(reqId, list);
    }),
  );
  sftp.on('STAT', (reqId, remotePath) =>
    serve(reqId, async () => void sftp.attrs(reqId, attributesOf(await stat(await hostPath(remotePath))))),
  );
  sftp.on('LSTAT', (reqId, remotePath) =>
    serve(reqId, async () => void sftp.attrs(reqId, attributesOf(await lstat(await hostPath(remotePath, false))))),
  );
  sftp.on('SETSTAT', (reqId, remotePath, attrs) =>
    serve(reqId, async () => {
      await applyAttributes(await hostPath(remotePath), attrs);
      ok(reqId);
    }),
  );
  sftp.on('REMOVE', (reqId, remotePath) =>
    serve(reqId, async () => {
      await unlink(await hostPath(remotePath, false));
      ok(reqId);
    }),
  );
  sftp.on('RMDIR', (reqId, remotePath) =>
    serve(reqId, async () => {
      await rmdir(await hostPath(remotePath, false));
      ok(reqId);
    }),
  );
  sftp.on('MKDIR', (reqId, remotePath, attrs) =>
    serve(reqId, async () => {
      await mkdir(await hostPath(remotePath, false), { mode: typeof attrs?.mode === 'number' ? attrs.mode & 0o7777 : 0o755 });
      ok(reqId);
    }),
  );
  sftp.on('RENAME', (reqId, from, to) =>
    serve(reqId, async () => {
      const source = await hostPath(from, false);
      const target = await hostPath(to, false);
      // SFTP v3 (as OpenSSH serves it): renaming onto an existing name fails.
      if (await exists(target)) throw new Refused(STATUS_CODE.FAILURE, 'target exists');
      await rename(source, target);
      ok(reqId);
    }),
  );
  sftp.on('REALPATH', (reqId, remotePath) =>
    serve(reqId, async () => {
      const remote = normaliseRemotePath(sandbox, remotePath === '' ? '.' : remotePath);
      if (remote === undefined) throw new Refused(STATUS_CODE.PERMISSION_DENIED, 'permission denied: outside the instance sandbox');
      sftp.name(reqId, [{ filename: remote, longname: remote, attrs: {} as Attributes }]);
    }),
  );
  for (const unsupported of ['READLINK', 'SYMLINK', 'EXTENDED'] as const) {
    sftp.on(unsupported, (reqId: number) => sftp.status(reqId, STATUS_CODE.OP_UNSUPPORTED, `${unsupported} is not supported`));
  }

  sftp.on('close', () => {
    for (const entry of handles.values()) if (entry.kind === 'file') void entry.file.close().catch(() => undefined);
    handles.clear();
  });
}

async function exists(hostPath: string): Promise<boolean> {
  try {
    await lstat(hostPath);
    return true;
  } catch {
    return false;
  }
}

async function applyAttributes(hostPath: string, attrs: Partial<Attributes>): Promise<void> {
  if (typeof attrs.mode === 'number') await chmod(hostPath, attrs.mode & 0o7777);
  if (typeof attrs.size === 'number') await truncate(hostPath, attrs.size);
  if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') await utimes(hostPath, attrs.atime, attrs.mtime);
}

function attributesOf(stats: Stats): Attributes {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    atime: Math.floor(stats.atimeMs / 1000),
    mtime: Math.floor(stats.mtimeMs / 1000),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `ls -l` style line, as OpenSSH's sftp-server writes it. */
function longname(name: string, attrs: Attributes, user: string): string {
  const type = (attrs.mode & 0o170000) === 0o040000 ? 'd' : (attrs.mode & 0o170000) === 0o120000 ? 'l' : '-';
  const bits = 'rwxrwxrwx'
    .split('')
    .map((ch, i) => (attrs.mode & (1 << (8 - i)) ? ch : '-'))
    .join('');
  const date = new Date(attrs.mtime * 1000);
  const when = `${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')}`;
  return `${type}${bits}    1 ${user.padEnd(8)} ${user.padEnd(8)} ${String(attrs.size).padStart(8)} ${when} ${name}`;
}

function statusOf(err: unknown): [number, string] {
  if (err instanceof Refused) return [err.code, err.message];
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return [STATUS_CODE.NO_SUCH_FILE, 'No such file'];
    case 'EACCES':
    case 'EPERM':
      return [STATUS_CODE.PERMISSION_DENIED, 'Permission denied'];
    default:
      return [STATUS_CODE.FAILURE, code ? `Failure (${code})` : 'Failure'];
  }
}
