import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PermanentError } from '../../shared/errors.js';

/** Hashes what passes through, counting bytes; fails the stream past `maxBytes`. */
export function hashing(maxBytes = Number.POSITIVE_INFINITY): Transform & { digest(): string; size(): number } {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | undefined;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > maxBytes) return cb(new PermanentError(`artifact is larger than ${maxBytes} bytes`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  return Object.assign(t, {
    digest: () => (digest ??= `sha256:${hash.digest('hex')}`),
    size: () => size,
  });
}

function corrupt(expected: string, got: string): PermanentError {
  return new PermanentError(`artifact ${expected}: content read has digest ${got} (corrupt store object)`);
}

/** Read a whole stream, checking its digest. */
export async function readVerified(source: Readable, expected: string, maxBytes?: number): Promise<Buffer> {
  const h = hashing(maxBytes);
  const chunks: Buffer[] = [];
  h.on('data', (c: Buffer) => chunks.push(c));
  await pipeline(source, h);
  if (h.digest() !== expected) throw corrupt(expected, h.digest());
  return Buffer.concat(chunks);
}

/** Write a stream to `file` through a temporary file beside it; renamed into place only when its digest is the expected one. */
export async function writeVerified(source: Readable, file: string, expected: string | undefined, mode = 0o644): Promise<{ digest: string; size: number }> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.part`);
  const h = hashing();
  try {
    await pipeline(source, h, createWriteStream(tmp, { mode: 0o600, flags: 'wx' }));
    if (expected !== undefined && h.digest() !== expected) throw corrupt(expected, h.digest());
    await chmod(tmp, mode);
    await rename(tmp, file);
    return { digest: h.digest(), size: h.size() };
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
