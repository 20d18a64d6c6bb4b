import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { LOCAL_MODE_MASK } from '../ssh/sftp.js';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { TransientError } from '../../shared/errors.js';
import { awsCode, translateAwsError } from '../../shared/aws-errors.js';
import type { SshSession } from '../ssh/ssh.js';
import { checkIdPart, checkKey, checkRemoteDir, VERSION, versionName, type CheckpointKey } from './keys.js';
import { probeRemoteDir, replaceRemoteDir } from './remote.js';
import { inPool, sha256Base64, walkTree } from './tree.js';
import type { CheckpointStore, SavedCheckpoint, StoreDeps } from './types.js';

/**
 * A checkpoint store in S3:
 *
 *   <prefix>/<jobId>/<taskId>/<version>/files/<path>    the folder's files
 *   <prefix>/<jobId>/<taskId>/<version>/manifest.json   every file (size, mode) and folder
 *   <prefix>/<jobId>/<taskId>/latest.json               {"version", "files", "bytes", "savedAt"}, written last
 *
 * A reader goes latest.json -> manifest -> files, so a version that is not
 * complete is never read: latest.json names it only after all its objects
 * are in. Copies go through a temporary folder on the dispatcher.
 */

const PARALLEL = 4;
/** S3's smallest multipart part (lib-storage's default part size): a file below it goes up in one PutObject. */
const MIN_PART_BYTES = 5 * 1024 * 1024;

const LatestSchema = z.object({
  version: z.string().regex(VERSION),
  files: z.number().int().min(0),
  bytes: z.number().int().min(0),
  savedAt: z.number(),
});
type Latest = z.infer<typeof LatestSchema>;

const relPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').some((s) => s === '' || s === '.' || s === '..'), 'a plain relative path');
const ManifestSchema = z.object({
  version: z.string().regex(VERSION),
  files: z.array(z.object({ path: relPath, size: z.number().int().min(0), mode: z.number().int().min(0).max(0o7777) })),
  dirs: z.array(z.object({ path: relPath, mode: z.number().int().min(0).max(0o7777) })),
});
type Manifest = z.infer<typeof ManifestSchema>;

/** A task id as saves write it (checkIdPart's rule). */
const SAVED_TASK = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * The client an Upload gets: its AbortMultipartUpload, the clean-up of a multipart upload that failed or
 * was cut short, goes out with a signal of its own. The store's client carries the dispatcher's drain signal
 * (checkpoint/lifecycle.ts); when a drain ends an upload, the same signal would also refuse its clean-up, and
 * the parts already sent would stay in the bucket, billed, with nothing left to remove them.
 */
function cleanUpSurvivesDrain(s3: S3Client): S3Client {
  return new Proxy(s3, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: unknown[]) =>
        args[0] instanceof AbortMultipartUploadCommand
          ? target.send(args[0], { abortSignal: new AbortController().signal })
          : (Reflect.apply(target.send, target, args) as unknown);
    },
  });
}

export function s3CheckpointStore(location: { bucket: string; prefix: string }, s3: S3Client, deps: StoreDeps): CheckpointStore {
  const { bucket } = location;
  const join = (...parts: string[]): string => parts.filter((p) => p !== '').join('/');
  const taskBase = (key: CheckpointKey): string => join(location.prefix, key.jobId, key.taskId);
  const where = (key: string): string => `s3://${bucket}/${key}`;

  async function call<T>(what: string, key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      // The SDK's error is never attached (shared/aws-errors.ts): the cause is its code, status and request id.
      throw translateAwsError(`S3 ${what} ${where(key)}`, err);
    }
  }

  async function getJson(key: string): Promise<unknown> {
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = (await res.Body?.transformToString('utf8')) ?? '';
      return JSON.parse(text) as unknown;
    } catch (err) {
      if (awsCode(err) === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async function readLatest(base: string): Promise<Latest | undefined> {
    const key = `${base}/latest.json`;
    const raw = await call('read of', key, () => getJson(key));
    if (raw === undefined) return undefined;
    const parsed = LatestSchema.safeParse(raw);
    if (!parsed.success) throw new TransientError(`checkpoint pointer ${where(key)} is not readable`);
    return parsed.data;
  }

  async function putJson(key: string, value: unknown): Promise<void> {
    const body = `${JSON.stringify(value)}\n`;
    await call('write of', key, () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' })));
  }

  async function listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await call('listing of', prefix, async () => {
      for await (const res of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
        for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
      }
    });
    return keys;
  }

  async function deleteKeys(keys: string[], what: string): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await call('delete under', what, () =>
        s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
      );
      if (res.Errors?.length) throw new TransientError(`S3 delete under ${where(what)}: ${res.Errors.length} object(s) not deleted (${res.Errors[0]?.Code ?? 'error'})`);
    }
  }

  /** Versions strictly older than `keep` (complete or abandoned), by the version segment of their keys. */
  async function prune(base: string, keep: string): Promise<void> {
    const old = (await listKeys(`${base}/`)).filter((k) => {
      const version = k.slice(base.length + 1).split('/', 1)[0] ?? '';
      return VERSION.test(version) && version < keep;
    });
    await deleteKeys(old, `${base}/`);
  }

  return {
    async save(session: SshSession, remoteDir: string, rawKey: CheckpointKey): Promise<SavedCheckpoint | undefined> {
      const key = checkKey(rawKey);
      const rdir = checkRemoteDir(remoteDir);
      const version = versionName(deps.now());
      if ((await probeRemoteDir(session, rdir)) !== 'present') return undefined;
      const base = taskBase(key);
      const vbase = `${base}/${version}`;
      const tmp = await mkdtemp(path.join(deps.tmpDir, 'spotbatch-ckpt-'));
      let uploaded = false;
      try {
        const local = path.join(tmp, 'data');
        await session.getLocal(rdir, local);
        const tree = await walkTree(local);
        uploaded = true;
        await inPool(tree.files, PARALLEL, async (file) => {
          const objectKey = `${vbase}/files/${file.path}`;
          const source = path.join(local, ...file.path.split('/'));
          // Through lib-storage's Upload: one PutObject up to a part, a multipart upload above it (no 5 GiB cap
          // of a single PutObject; parts of at least 5 MiB, more when 10,000 parts would not hold the file).
          // A single PutObject carries the file's SHA-256, which S3 verifies; a multipart upload cannot (S3 takes
          // no whole-object SHA-256 there), so each part carries the checksum the SDK computes for it. Parts are
          // buffers either way, never aws-chunked streams (which emulators store verbatim).
          const single = file.size < MIN_PART_BYTES;
          const checksum = single ? await sha256Base64(source) : undefined;
          await call('upload to', objectKey, () =>
            new Upload({
              client: cleanUpSurvivesDrain(s3),
              params: { Bucket: bucket, Key: objectKey, Body: createReadStream(source), ContentLength: file.size, ...(checksum ? { ChecksumSHA256: checksum } : {}) },
              queueSize: 2,
            }).done(),
          );
        });
        const manifest: Manifest = { version, files: tree.files, dirs: tree.dirs };
        await putJson(`${vbase}/manifest.json`, manifest);
        const current = await readLatest(base);
        if (current && current.version > version) {
          // A save that started later has already committed: ours is older, drop it.
          await deleteKeys(await listKeys(`${vbase}/`), `${vbase}/`);
          return { files: current.files, bytes: current.bytes, savedAt: current.savedAt };
        }
        const latest: Latest = { version, files: tree.files.length, bytes: tree.bytes, savedAt: deps.now() };
        await putJson(`${base}/latest.json`, latest);
        uploaded = false; // committed: nothing to undo
        await prune(base, version);
        return { files: latest.files, bytes: latest.bytes, savedAt: latest.savedAt };
      } catch (err) {
        if (uploaded) await deleteKeys(await listKeys(`${vbase}/`), `${vbase}/`).catch(() => undefined);
        throw err;
      } finally {
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      }
    },

    async restore(session: SshSession, remoteDir: string, rawKey: CheckpointKey): Promise<boolean> {
      const key = checkKey(rawKey);
      const rdir = checkRemoteDir(remoteDir);
      const base = taskBase(key);
      const latest = await readLatest(base);
      if (!latest) return false;
      const vbase = `${base}/${latest.version}`;
      const rawManifest = await call('read of', `${vbase}/manifest.json`, () => getJson(`${vbase}/manifest.json`));
      const manifest = ManifestSchema.safeParse(rawManifest);
      if (!manifest.success || manifest.data.version !== latest.version) {
        throw new TransientError(`checkpoint ${where(vbase)}: manifest missing or unreadable (replaced meanwhile?)`);
      }
      const tmp = await mkdtemp(path.join(deps.tmpDir, 'spotbatch-ckpt-'));
      try {
        const local = path.join(tmp, 'data');
        await mkdir(local);
        for (const dir of manifest.data.dirs) await mkdir(path.join(local, ...dir.path.split('/')), { recursive: true });
        await inPool(manifest.data.files, PARALLEL, async (file) => {
          const objectKey = `${vbase}/files/${file.path}`;
          const target = path.join(local, ...file.path.split('/'));
          await mkdir(path.dirname(target), { recursive: true });
          await call('download of', objectKey, async () => {
            const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
            if (!(res.Body instanceof Readable)) throw new TransientError('no body stream in the answer');
            await pipeline(res.Body, createWriteStream(target));
          });
          await chmod(target, file.mode & LOCAL_MODE_MASK);
        });
        // Folder modes last: a read-only folder would refuse the files above.
        for (const dir of [...manifest.data.dirs].reverse()) await chmod(path.join(local, ...dir.path.split('/')), dir.mode & LOCAL_MODE_MASK);
        await replaceRemoteDir(session, local, rdir);
        return true;
      } finally {
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      }
    },

    /**
     * Only what saves write: `<prefix>/<jobId>/<taskId>/latest.json` and the
     * version folders `<prefix>/<jobId>/<taskId>/v.../...`. Anything else under
     * `<prefix>/<jobId>/` (a bucket or prefix the store shares with other data,
     * a job id that names someone's folder) is left alone, as the local store does.
     */
    async remove(jobId: string): Promise<void> {
      const prefix = `${join(location.prefix, checkIdPart('jobId', jobId))}/`;
      const ours = (await listKeys(prefix)).filter((key) => {
        const [task, second, ...rest] = key.slice(prefix.length).split('/');
        if (task === undefined || second === undefined || !SAVED_TASK.test(task)) return false;
        return (second === 'latest.json' && rest.length === 0) || (VERSION.test(second) && rest.length > 0);
      });
      await deleteKeys(ours, prefix);
    },
  };
}
