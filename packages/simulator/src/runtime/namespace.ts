import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Optional: run each command in its own mount namespace where the sandbox's
 * home/ and tmp/ are bind-mounted over /home and /tmp, so that commands see
 * `/home/ec2-user` and `/tmp` as on a real instance. Needs util-linux
 * `unshare` and the right to create a mount namespace (root, or unprivileged
 * user namespaces, in which case the command runs as uid 0 of its namespace).
 * Process ids, groups and signals are those of the host, so stop() works the
 * same.
 */

/** Inside the namespace: mount, go home, run the command ("$@"). */
const SETUP =
  'mount --bind "$SPOTBATCH_SANDBOX/home" /home && mount --bind "$SPOTBATCH_SANDBOX/tmp" /tmp && cd "$HOME" && exec "$@"';

function prefix(): string[] {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return ['unshare', ...(root ? [] : ['--map-root-user']), '--mount', '--propagation', 'private', '/bin/sh', '-c', SETUP, 'spotbatch-sandbox'];
}

/** The argv that runs `argv` inside a fresh mount namespace over the sandbox. */
export function inMountNamespace(argv: [string, ...string[]]): [string, ...string[]] {
  const [first, ...rest] = prefix();
  return [first ?? 'unshare', ...rest, ...argv];
}

/** Whether commands can be run that way here: tries it once on a throwaway sandbox. */
export async function mountNamespaceWorks(): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  const dir = await mkdtemp(path.join(tmpdir(), 'spotbatch-nsprobe-'));
  try {
    await mkdir(path.join(dir, 'home', 'probe'), { recursive: true });
    await mkdir(path.join(dir, 'tmp'), { recursive: true });
    await writeFile(path.join(dir, 'tmp', 'marker'), 'ok');
    const [file, ...args] = inMountNamespace(['/bin/sh', '-c', 'test -d /home/probe && cat /tmp/marker']);
    return await new Promise<boolean>((resolve) => {
      const child = spawn(file, args, {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SPOTBATCH_SANDBOX: dir, HOME: '/home/probe' },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0 && out === 'ok'));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
