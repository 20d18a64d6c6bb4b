import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import pMap from 'p-map';

/** What a local copy of a checkpoint folder holds: regular files and folders, paths relative and '/'-separated. */
export interface Tree {
  files: { path: string; size: number; mode: number }[];
  dirs: { path: string; mode: number }[];
  bytes: number;
}

export async function walkTree(root: string): Promise<Tree> {
  const tree: Tree = { files: [], dirs: [], bytes: 0 };
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(root, ...rel.split('/').filter(Boolean)), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      const info = await lstat(path.join(root, ...child.split('/')));
      if (info.isDirectory()) {
        tree.dirs.push({ path: child, mode: info.mode & 0o7777 });
        await walk(child);
      } else if (info.isFile()) {
        tree.files.push({ path: child, size: info.size, mode: info.mode & 0o7777 });
        tree.bytes += info.size;
      }
    }
  };
  await walk('');
  return tree;
}

/**
 * Run `work` over `items`, at most `limit` at a time (p-map); after the first failure nothing new starts, and
 * the call rejects with it once the running ones have settled (a caller then cleans up what they made, and
 * removes the files they read, knowing nothing still uses them).
 */
export async function inPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let failed: { err: unknown } | undefined;
  await pMap(
    items,
    async (item) => {
      if (failed) return;
      try {
        await work(item);
      } catch (err) {
        failed ??= { err };
      }
    },
    { concurrency: limit },
  );
  if (failed) throw failed.err;
}

/** A file's SHA-256, base64 (as S3's x-amz-checksum-sha256 wants it). */
export async function sha256Base64(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}
