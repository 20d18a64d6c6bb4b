import { lstat, mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { SshSession } from '../ssh/ssh.js';
import { checkIdPart, checkKey, checkRemoteDir, isIdPart, VERSION, versionName, type CheckpointKey } from './keys.js';
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
 *
 * DIR is the fleet's (its configuration names it, never a job spec); below
 * it, every folder name is a checked job id, task id or version, and a
 * symlink in place of one is refused, never followed. remove(jobId) deletes
 * only what a save writes (versions, partial copies, the pointer) and then
 * the folders if they are empty: anything else in them stays.
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
  /** The task's folder; `create`: made when missing. Undefined when missing and not created. */
  async function taskDir(key: CheckpointKey, create: boolean): Promise<string | undefined> {
    if (create) await mkdir(dir, { recursive: true });
    let at = dir;
    for (const part of [key.jobId, key.taskId]) {
      at = path.join(at, part);
      let info = await lstat(at).catch(notFound);
      if (!info && create) {
        await mkdir(at).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        info = await lstat(at);
      }
      if (!info) return undefined;
      if (!info.isDirectory()) {
        throw new PermanentError(`checkpoint store: ${key.jobId}/${key.taskId}: ${part} in the store is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; refusing to follow it`);
      }
    }
    return at;
  }

  return {
    async save(session: SshSession, remoteDir: string, rawKey: CheckpointKey): Promise<SavedCheckpoint | undefined> {
      const key = checkKey(rawKey);
      const rdir = checkRemoteDir(remoteDir);
      const version = versionName(deps.now());
      if ((await probeRemoteDir(session, rdir)) !== 'present') return undefined;
      const base = (await taskDir(key, true))!;
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
      const base = await taskDir(key, false);
      if (!base) return false;
      const latest = await readLatest(base);
      if (!latest) return false;
      const versionDir = path.join(base, latest.version);
      if (!(await lstat(versionDir).catch(() => undefined))?.isDirectory()) {
        throw new TransientError(`checkpoint ${key.jobId}/${key.taskId}: version ${latest.version} is gone (replaced meanwhile?)`);
      }
      await replaceRemoteDir(session, versionDir, rdir);
      return true;
    },

    async remove(jobId: string): Promise<void> {
      const jobDir = path.join(dir, checkIdPart('jobId', jobId));
      // A symlink or a file in the job's place is not the store's: never followed, left alone.
      if (!(await lstat(jobDir).catch(notFound))?.isDirectory()) return;
      for (const task of await readdir(jobDir)) {
        const at = path.join(jobDir, task);
        if (!isIdPart(task) || !(await lstat(at).catch(notFound))?.isDirectory()) continue;
        // The pointer first, so nothing reads a version half removed; then only what saves write.
        const names = (await readdir(at)).sort((a, b) => Number(b === 'latest') - Number(a === 'latest'));
        for (const name of names) {
          if (name === 'latest' || VERSION.test(name) || SAVE_LEFTOVER.test(name)) await rm(path.join(at, name), { recursive: true, force: true });
        }
        await rmdirIfEmpty(at);
      }
      await rmdirIfEmpty(jobDir);
    },
  };
}

/** What a save leaves behind when it dies: a partial copy, a pointer not yet renamed. */
const SAVE_LEFTOVER = /^\.(partial|latest)-v\d{15}-[0-9a-f]{8}$/;

function notFound(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}

async function rmdirIfEmpty(folder: string): Promise<void> {
  await rmdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST' && err.code !== 'ENOENT') throw err;
  });
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
