import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TransientError } from '../../shared/errors.js';
import { walkTree } from '../../services/checkpoint/tree.js';
import type { SshSession } from '../../services/ssh/ssh.js';

/** Every folder and file under root with its mode, and each file's sha256: equal snapshots mean byte-for-byte equal trees. */
export async function snapshot(root: string): Promise<string[]> {
  const tree = await walkTree(root);
  const lines = tree.dirs.map((d) => `d ${d.path} ${d.mode.toString(8)}`);
  for (const f of tree.files) {
    const sum = createHash('sha256').update(await readFile(path.join(root, f.path))).digest('hex');
    lines.push(`f ${f.path} ${f.mode.toString(8)} ${f.size} ${sum}`);
  }
  return lines.sort();
}

/** A checkpoint-like tree: nested folders, an empty one, an executable, binary and larger files. */
export async function makeTree(root: string, variant: string): Promise<void> {
  await mkdir(path.join(root, 'state', 'shards', 'deep'), { recursive: true });
  await mkdir(path.join(root, 'empty'), { recursive: true });
  await writeFile(path.join(root, 'progress.json'), JSON.stringify({ variant, step: variant.length }));
  await writeFile(path.join(root, 'state', 'weights.bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7 + variant.length) % 256)));
  await writeFile(path.join(root, 'state', 'shards', 'deep', 'zeros.bin'), Buffer.alloc(1024));
  await writeFile(path.join(root, 'state', 'shards', 'name with spaces & ünïcödé.txt'), `${variant}\n`);
  await writeFile(path.join(root, 'resume.sh'), '#!/bin/sh\necho resume\n');
  await chmod(path.join(root, 'resume.sh'), 0o755);
}

/** A session whose downloads complete and then fail, as if the connection dropped at the end of the copy. */
export function failingAfterCopy(session: SshSession): SshSession {
  return {
    exec: (command, opts) => session.exec(command, opts),
    putFile: (p, content, mode) => session.putFile(p, content, mode),
    putLocal: (l, r) => session.putLocal(l, r),
    getLocal: async (r, l) => {
      await session.getLocal(r, l);
      throw new TransientError('SSH to test: connection closed (injected)');
    },
    readFile: (p) => session.readFile(p),
    mkdirp: (p) => session.mkdirp(p),
    close: () => session.close(),
  };
}
