import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TransientError } from '../../shared/errors.js';
import { hexOf } from '../model/artifact-digest.js';
import { ArtifactMissingError, type ArtifactStore } from './types.js';
import { readVerified, writeVerified } from './verify.js';

/**
 * Artifacts in a folder the fleet owns: `<dir>/sha256/<2 hex>/<64 hex>`, each
 * written to a temporary file in the same folder and renamed into place once
 * its digest is known (a reader never sees half a file).
 */
export function localArtifactStore(dir: string): ArtifactStore {
  const where = `local:${dir}`;
  const objectPath = (digest: string): string => {
    const hex = hexOf(digest);
    return path.join(dir, 'sha256', hex.slice(0, 2), hex);
  };
  const io = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof Error && 'retryable' in err) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw err;
      throw new TransientError(`artifact store ${where}: ${what} failed (${code ?? String(err)})`, { cause: err });
    }
  };
  const open = async (digest: string): Promise<Readable> => {
    const file = objectPath(digest);
    try {
      await stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ArtifactMissingError(digest, where);
      throw err;
    }
    return createReadStream(file);
  };
  const ingest = async (source: Readable): Promise<{ digest: string; size: number }> => {
    // Staged under a name of our own, then moved under its digest once that is known.
    const staging = path.join(dir, 'tmp');
    await mkdir(staging, { recursive: true });
    const tmpFile = path.join(staging, `incoming-${randomBytes(8).toString('hex')}`);
    const { digest, size } = await writeVerified(source, tmpFile, undefined, 0o444);
    const final = objectPath(digest);
    await mkdir(path.dirname(final), { recursive: true });
    // rename is atomic; two writers of the same content leave the same bytes.
    await rename(tmpFile, final).catch(async (err: unknown) => {
      await rm(tmpFile, { force: true });
      throw err;
    });
    return { digest, size };
  };
  return {
    where,
    async put(content) {
      return (await io('write', () => ingest(Readable.from([Buffer.from(content)])))).digest;
    },
    putFile(file) {
      return io('write', () => ingest(createReadStream(file)));
    },
    async has(digest) {
      return io('lookup', () =>
        stat(objectPath(digest)).then(
          () => true,
          (err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return false;
            throw err;
          },
        ),
      );
    },
    async get(digest, maxBytes) {
      return io('read', async () => readVerified(await open(digest), digest, maxBytes));
    },
    async download(digest, file, mode) {
      await io('read', async () => writeVerified(await open(digest), file, digest, mode));
    },
  };
}
