import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { TransientError } from '../../shared/errors.js';
import { awsCode, translateAwsError } from '../../shared/aws-errors.js';
import { digestOf, hexOf } from '../model/artifact-digest.js';
import { ArtifactMissingError, type ArtifactStore } from './types.js';
import { readVerified, writeVerified } from './verify.js';

/**
 * Artifacts in S3: `<prefix>/sha256/<64 hex>`. Each upload carries its
 * ChecksumSHA256, so S3 refuses bytes that are not the ones hashed; reads
 * are checked against the digest again.
 */
export function s3ArtifactStore(location: { bucket: string; prefix: string }, s3: S3Client): ArtifactStore {
  const { bucket } = location;
  const where = `s3://${bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  const keyOf = (digest: string): string => [location.prefix, 'sha256', hexOf(digest)].filter((p) => p !== '').join('/');
  const base64Of = (digest: string): string => Buffer.from(hexOf(digest), 'hex').toString('base64');

  async function call<T>(what: string, digest: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const code = awsCode(err);
      if (code === 'NoSuchKey' || code === 'NotFound') throw new ArtifactMissingError(digest, where);
      // The SDK's error is never attached (shared/aws-errors.ts): the cause is its code, status and request id.
      throw translateAwsError(`artifact store ${where}: ${what} of ${digest}`, err);
    }
  }

  async function has(digest: string): Promise<boolean> {
    try {
      await call('lookup', digest, () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: keyOf(digest) })));
      return true;
    } catch (err) {
      if (err instanceof ArtifactMissingError) return false;
      throw err;
    }
  }

  async function body(digest: string): Promise<Readable> {
    return call('read', digest, async () => {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(digest) }));
      if (!(res.Body instanceof Readable)) throw new TransientError(`artifact store ${where}: no body stream for ${digest}`);
      return res.Body;
    });
  }

  return {
    where,
    async put(content) {
      const bytes = Buffer.from(content);
      const digest = digestOf(bytes);
      if (await has(digest)) return digest;
      await call('upload', digest, () =>
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: keyOf(digest), Body: bytes, ContentLength: bytes.length, ChecksumSHA256: base64Of(digest) })),
      );
      return digest;
    },
    async putFile(file) {
      // Hash first (streamed), then upload the same bytes with the checksum S3 checks them against.
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(file)) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      const digest = `sha256:${hash.digest('hex')}`;
      if (!(await has(digest))) {
        await call('upload', digest, () =>
          s3.send(new PutObjectCommand({ Bucket: bucket, Key: keyOf(digest), Body: createReadStream(file), ContentLength: size, ChecksumSHA256: base64Of(digest) })),
        );
      }
      return { digest, size };
    },
    has,
    async get(digest, maxBytes) {
      return readVerified(await body(digest), digest, maxBytes);
    },
    async download(digest, file, mode) {
      await writeVerified(await body(digest), file, digest, mode);
    },
  };
}
