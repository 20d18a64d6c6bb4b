import { mkdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * One instance's private folder on this machine. The instance's file system
 * root `/` is `dir`: `/home/ec2-user/x` lives at `dir/home/ec2-user/x`,
 * `/tmp/x` at `dir/tmp/x`.
 */
export interface Sandbox {
  /** Host folder that stands for the instance's `/` (already resolved through symlinks). */
  readonly dir: string;
  /** Host folder of the login user's home (`dir/home/<user>`). */
  readonly home: string;
  /** Host folder of the instance's /tmp. */
  readonly tmp: string;
  /** The home as the instance sees it: `/home/<user>`. */
  readonly remoteHome: string;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Create `sandboxRoot/<instanceId>/{home/<user>,tmp}`. */
export async function createSandbox(sandboxRoot: string, instanceId: string, loginUser: string): Promise<Sandbox> {
  if (!SAFE_ID.test(instanceId) || instanceId.includes('..')) throw new Error(`unsafe instance id for a sandbox folder: ${instanceId}`);
  if (!SAFE_ID.test(loginUser) || loginUser.includes('..')) throw new Error(`unsafe login user for a sandbox folder: ${loginUser}`);
  await mkdir(sandboxRoot, { recursive: true });
  const root = await realpath(sandboxRoot);
  const dir = path.join(root, instanceId);
  const home = path.join(dir, 'home', loginUser);
  const tmp = path.join(dir, 'tmp');
  await mkdir(home, { recursive: true, mode: 0o700 });
  await mkdir(tmp, { recursive: true, mode: 0o1777 });
  return { dir, home, tmp, remoteHome: `/home/${loginUser}` };
}

export async function removeSandbox(sandbox: Sandbox): Promise<void> {
  await rm(sandbox.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
}

/**
 * Normalise a path as the instance sees it (relative paths start at the home)
 * into an absolute remote path. Returns undefined when `..` climbs above `/`.
 */
export function normaliseRemotePath(sandbox: Sandbox, remotePath: string): string | undefined {
  if (remotePath.includes('\0')) return undefined;
  const start = remotePath.startsWith('/') ? remotePath : `${sandbox.remoteHome}/${remotePath}`;
  const parts: string[] = [];
  for (const part of start.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** The host path of an absolute remote path (from normaliseRemotePath). */
export function hostPathOf(sandbox: Sandbox, remoteAbsolute: string): string {
  return remoteAbsolute === '/' ? sandbox.dir : path.join(sandbox.dir, ...remoteAbsolute.slice(1).split('/'));
}

function inside(sandbox: Sandbox, hostPath: string): boolean {
  return hostPath === sandbox.dir || hostPath.startsWith(sandbox.dir + path.sep);
}

/** realpath of the path, or of its deepest existing ancestor when it does not exist yet. */
async function realpathOfExisting(hostPath: string): Promise<string> {
  let current = hostPath;
  for (;;) {
    try {
      return await realpath(current);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = path.dirname(current);
      if (parent === current) throw err;
      current = parent;
    }
  }
}

/**
 * Map a remote path onto the sandbox and check that it stays inside, symlinks
 * included. `followLast: false` checks only the parent folder (lstat, remove,
 * rename act on a symlink itself). Returns undefined for an escape.
 */
export async function confine(sandbox: Sandbox, remotePath: string, followLast = true): Promise<string | undefined> {
  const remote = normaliseRemotePath(sandbox, remotePath);
  if (remote === undefined) return undefined;
  const hostPath = hostPathOf(sandbox, remote);
  const checked = followLast || remote === '/' ? hostPath : path.dirname(hostPath);
  const real = await realpathOfExisting(checked);
  return inside(sandbox, real) ? hostPath : undefined;
}
