import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { TransientError } from '../../shared/errors.js';
import type { SshSession } from '../step/ssh.js';
import { checkIdPart, checkKey, checkRemoteDir, VERSION, versionName, type CheckpointKey } from './keys.js';
import { probeRemoteDir, replaceRemoteDir } from './remote.js';
import { walkTree } from './tree.js';
import type { CheckpointStore, SavedCheckpoint, StoreDeps } from './types.js';

/**
 * A checkpoint store in a folder of the dispatcher's file system:
 *
 *   DIR/<jobId>/<taskId>/v<ms>-<rand>/...   complete versions
 *   DIR/<jobId>/<taskId>/.partial-v.../     a copy in progress
 *   DIR/<jobId>/<taskId>/latest             {"version", "files", "bytes", "savedAt"}, replaced by rename
 *
 * A copy lands in .partial-*, is renamed to its version name once complete,
 * and only then does `latest` (written to a temporary file, synced, renamed)
 * point at it. Older versions are deleted afterwards.
 */

const LatestSchema = z.object({
  version: z.string().regex(VERSION),
  files: z.number().int().min(0),
  bytes: z.number().int().min(0),
  savedAt: z.number(),
});
type Latest = z.infer<typeof LatestSchema>;

/** Leftovers of a dispatcher that died mid-copy are removed once this old. */
const STALE_MS = 3600_000;

export function localCheckpointStore(dir: string, deps: StoreDeps): CheckpointStore {
  const taskDir = (key: CheckpointKey): string => path.join(dir, key.jobId, key.taskId);

  return {
    async save(session: SshSession, remoteDir: string, rawKey: CheckpointKey): Promise<SavedCheckpoint | undefined> {
      const key = checkKey(rawKey);
      const rdir = checkRemoteDir(remoteDir);
      const version = versionName(deps.now());
      if ((await probeRemoteDir(session, rdir)) !== 'present') return undefined;
      const base = taskDir(key);
      await mkdir(base, { recursive: true });
      const partial = path.join(base, `.partial-${version}`);
      try {
        await session.getLocal(rdir, partial);
        const tree = await walkTree(partial);
        const current = await readLatest(base);
        if (current && current.version > version) {
          // A save that started later has already committed: ours is older, drop it.
          await rm(partial, { recursive: true, force: true });
          return { files: current.files, bytes: current.bytes, savedAt: current.savedAt };
        }
        await rename(partial, path.join(base, version));
        const latest: Latest = { version, files: tree.files.length, bytes: tree.bytes, savedAt: deps.now() };
        await writeAtomically(path.join(base, 'latest'), `${JSON.stringify(latest)}\n`, path.join(base, `.latest-${version}`));
        await prune(base, version, deps.now());
        return { files: latest.files, bytes: latest.bytes, savedAt: latest.savedAt };
      } catch (err) {
        await rm(partial, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
    },

    async restore(session: SshSession, remoteDir: string, rawKey: CheckpointKey): Promise<boolean> {
      const key = checkKey(rawKey);
      const rdir = checkRemoteDir(remoteDir);
      const base = taskDir(key);
      const latest = await readLatest(base);
      if (!latest) return false;
      const versionDir = path.join(base, latest.version);
      if (!(await stat(versionDir).catch(() => undefined))?.isDirectory()) {
        throw new TransientError(`checkpoint ${key.jobId}/${key.taskId}: version ${latest.version} is gone (replaced meanwhile?)`);
      }
      await replaceRemoteDir(session, versionDir, rdir);
      return true;
    },

    async remove(jobId: string): Promise<void> {
      await rm(path.join(dir, checkIdPart('jobId', jobId)), { recursive: true, force: true });
    },
  };
}

async function readLatest(base: string): Promise<Latest | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(base, 'latest'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = LatestSchema.safeParse(parseJson(text));
  if (!parsed.success) throw new TransientError(`checkpoint pointer ${path.join(base, 'latest')} is not readable`);
  return parsed.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function writeAtomically(file: string, content: string, tmp: string): Promise<void> {
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** Delete versions older than `keep`, and leftovers of dead copies. */
async function prune(base: string, keep: string, now: number): Promise<void> {
  for (const name of await readdir(base)) {
    const full = path.join(base, name);
    if (VERSION.test(name) && name < keep) {
      await rm(full, { recursive: true, force: true });
    } else if (name.startsWith('.partial-') || name.startsWith('.latest-')) {
      const info = await stat(full).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_MS) await rm(full, { recursive: true, force: true });
    }
  }
}
