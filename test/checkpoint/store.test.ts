import { ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { withAbortSignal } from '../../shared/abort.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { versionName } from '../../services/checkpoint/keys.js';
import { checkpointStore, defaultS3Client, type CheckpointLocation, type CheckpointStore } from '../../services/checkpoint/store.js';
import { connectSsh, type SshSession } from '../../services/ssh/ssh.js';
import { rejection, startInstance, type TestInstance } from '../step/helpers.js';
import { failingAfterCopy, makeTree, snapshot } from './helpers.js';

interface Kind {
  name: 'local' | 's3';
  location(): CheckpointLocation;
  store(): CheckpointStore;
  /** Version names held for a task (complete or not). */
  versions(jobId: string, taskId: string): Promise<string[]>;
  /** Anything at all held for a job. */
  holds(jobId: string): Promise<boolean>;
}

describe('checkpoint/store', function () {
  let a: TestInstance;
  let b: TestInstance;
  let sa: SshSession;
  let sb: SshSession;
  let work: string;
  let server: S3rver | undefined;
  let s3: S3Client | undefined;
  let s3Options: S3ClientConfig;
  let s3Endpoint = '';
  let n = 0;

  before(async function () {
    work = await mkdtemp(path.join(tmpdir(), 'spotbatch-ckpt-test-'));
    [a, b] = await Promise.all([startInstance(), startInstance()]);
    [sa, sb] = await Promise.all([connectSsh(a.target), connectSsh(b.target)]);
    const directory = path.join(work, 's3rver');
    await mkdir(directory);
    server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: 'ckpt' }] });
    const { port } = await server.run();
    s3Endpoint = `http://127.0.0.1:${port}`;
    s3Options = {
      region: 'us-east-1',
      endpoint: s3Endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    };
    s3 = new S3Client(s3Options);
  });

  after(async function () {
    sa?.close();
    sb?.close();
    await Promise.all([a?.close(), b?.close()]);
    s3?.destroy();
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const kinds: Kind[] = [
    {
      name: 'local',
      location: () => ({ kind: 'local', dir: path.join(work, 'store') }),
      store() {
        return checkpointStore(this.location(), { tmpDir: work });
      },
      async versions(jobId, taskId) {
        const names = await readdir(path.join(work, 'store', jobId, taskId)).catch(() => [] as string[]);
        return names.filter((name) => name !== 'latest').sort();
      },
      async holds(jobId) {
        return (await readdir(path.join(work, 'store')).catch(() => [] as string[])).includes(jobId);
      },
    },
    {
      name: 's3',
      location: () => ({ kind: 's3', bucket: 'ckpt', prefix: 'runs/test' }),
      store() {
        return checkpointStore(this.location(), { s3: s3!, tmpDir: work });
      },
      async versions(jobId, taskId) {
        const base = `runs/test/${jobId}/${taskId}/`;
        const keys = await listKeys(base);
        return [...new Set(keys.map((k) => k.slice(base.length).split('/')[0]!).filter((v) => v !== 'latest.json'))].sort();
      },
      async holds(jobId) {
        return (await listKeys(`runs/test/${jobId}/`)).length > 0;
      },
    },
  ];

  async function listKeys(prefix: string): Promise<string[]> {
    const res = await s3!.send(new ListObjectsV2Command({ Bucket: 'ckpt', Prefix: prefix }));
    return (res.Contents ?? []).map((o) => o.Key!);
  }

  /** A fresh local tree and its snapshot. */
  async function tree(variant: string, edit?: (root: string) => Promise<void>): Promise<{ root: string; snap: string[] }> {
    const root = path.join(work, `src-${n++}`);
    await makeTree(root, variant);
    if (edit) await edit(root);
    return { root, snap: await snapshot(root) };
  }

  /** Make the instance's folder exactly the local tree. */
  async function place(session: SshSession, remote: string, root: string): Promise<void> {
    await session.exec(`rm -rf "$HOME/${remote}"`);
    await session.putLocal(root, remote);
  }

  /** The instance's folder as a snapshot. */
  async function fetch(session: SshSession, remote: string): Promise<string[]> {
    const local = path.join(work, `back-${n++}`);
    await session.getLocal(remote, local);
    return snapshot(local);
  }

  for (const kind of kinds) {
    describe(kind.name, function () {
      let store: CheckpointStore;
      before(function () {
        store = kind.store();
      });

      it('saves a folder tree and restores it byte-for-byte on another instance', async function () {
        const src = await tree('first');
        await place(sa, 'ckpt-1', src.root);
        const key = { jobId: 'job-a', taskId: '0001' };
        const saved = await store.save(sa, 'ckpt-1', key);
        expect(saved).to.include({ files: 5, bytes: src.snap.filter((l) => l.startsWith('f ')).reduce((s, l) => s + Number(l.split(' ').at(-2)), 0) });
        expect(saved!.savedAt).to.be.a('number');
        expect(await store.restore(sb, 'restored/ckpt', key)).to.equal(true);
        expect(await fetch(sb, 'restored/ckpt')).to.deep.equal(src.snap);
        expect((await sb.exec('cd "$HOME/restored/ckpt" && ./resume.sh && ls "$HOME/restored"')).stdout).to.equal('resume\nckpt\n');
      });

      it('a second save replaces the first; a restore replaces what the folder held', async function () {
        const key = { jobId: 'job-a', taskId: '0002' };
        const first = await tree('one');
        await place(sa, 'ckpt-2', first.root);
        await store.save(sa, 'ckpt-2', key);
        const second = await tree('the second one', async (root) => {
          await rm(path.join(root, 'state', 'weights.bin'));
          await mkdir(path.join(root, 'new'));
        });
        await place(sa, 'ckpt-2', second.root);
        const saved = await store.save(sa, 'ckpt-2', key);
        expect(saved).to.include({ files: 4 });
        expect(await kind.versions(key.jobId, key.taskId)).to.have.length(1);
        await sb.putFile('again/ckpt/junk.txt', 'junk');
        expect(await store.restore(sb, 'again/ckpt', key)).to.equal(true);
        expect(await fetch(sb, 'again/ckpt')).to.deep.equal(second.snap);
      });

      it('restore without a checkpoint returns false and changes nothing', async function () {
        await sb.putFile('untouched/ckpt/keep.txt', 'keep');
        expect(await store.restore(sb, 'untouched/ckpt', { jobId: 'job-a', taskId: 'never-saved' })).to.equal(false);
        expect(await store.restore(sb, 'untouched/ckpt', { jobId: 'job-never', taskId: '0001' })).to.equal(false);
        expect((await sb.exec('cd "$HOME/untouched" && find . | sort && cat ckpt/keep.txt')).stdout).to.equal('.\n./ckpt\n./ckpt/keep.txt\nkeep');
      });

      it('a missing or empty remote folder saves nothing and keeps the previous checkpoint', async function () {
        const key = { jobId: 'job-a', taskId: '0003' };
        const src = await tree('kept');
        await place(sa, 'ckpt-3', src.root);
        await store.save(sa, 'ckpt-3', key);
        await sa.exec('rm -rf "$HOME/ckpt-3"');
        expect(await store.save(sa, 'ckpt-3', key)).to.equal(undefined);
        await sa.mkdirp('ckpt-3');
        expect(await store.save(sa, 'ckpt-3', key)).to.equal(undefined);
        expect(await store.restore(sb, 'kept/ckpt', key)).to.equal(true);
        expect(await fetch(sb, 'kept/ckpt')).to.deep.equal(src.snap);
      });

      it('a save whose connection fails after the copy leaves the previous checkpoint restorable and no leftovers', async function () {
        const key = { jobId: 'job-a', taskId: '0004' };
        const good = await tree('good');
        await place(sa, 'ckpt-4', good.root);
        await store.save(sa, 'ckpt-4', key);
        const before = await kind.versions(key.jobId, key.taskId);
        const next = await tree('never committed');
        await place(sa, 'ckpt-4', next.root);
        const err = await rejection(store.save(failingAfterCopy(sa), 'ckpt-4', key));
        expect(err).to.be.instanceOf(TransientError);
        expect(await kind.versions(key.jobId, key.taskId)).to.deep.equal(before);
        expect(await store.restore(sb, 'after-failure/ckpt', key)).to.equal(true);
        expect(await fetch(sb, 'after-failure/ckpt')).to.deep.equal(good.snap);
        expect(await readdir(work).then((names) => names.filter((x) => x.startsWith('spotbatch-ckpt-')))).to.deep.equal([]);
      });

      if (kind.name === 's3') {
        it("remove() takes only what saves wrote: other objects under the job's prefix survive (a shared bucket, an id naming someone's folder)", async function () {
          const src = await tree('s3-bystanders');
          await place(sa, 'ckpt-s3by', src.root);
          await store.save(sa, 'ckpt-s3by', { jobId: 'job-s3by', taskId: '0001' });
          await store.save(sa, 'ckpt-s3by', { jobId: 'job-s3by', taskId: '0002' });
          const others = ['runs/test/job-s3by/bystander.txt', 'runs/test/job-s3by/0002/notes.txt', 'runs/test/job-s3by/sha256/0123abcd', 'runs/test/job-s3by/0001/latest.json.bak'];
          for (const Key of others) await s3!.send(new PutObjectCommand({ Bucket: 'ckpt', Key, Body: 'not a checkpoint' }));
          await store.remove('job-s3by');
          expect((await listKeys('runs/test/job-s3by/')).sort()).to.deep.equal([...others].sort());
          expect(await store.restore(sb, 's3by/ckpt', { jobId: 'job-s3by', taskId: '0002' })).to.equal(false);
        });

        it('without a client of its own, finds the endpoint in AWS_ENDPOINT_URL_S3', async function () {
          const names = ['AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
          const saved = names.map((name) => [name, process.env[name]] as const);
          Object.assign(process.env, { AWS_ENDPOINT_URL_S3: s3Endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
          const client = defaultS3Client();
          try {
            const viaEnv = checkpointStore(kind.location(), { s3: client, tmpDir: work });
            expect(await viaEnv.restore(sb, 'env/ckpt', { jobId: 'job-a', taskId: '0001' })).to.equal(true);
            expect((await sb.exec('cat "$HOME/env/ckpt/resume.sh"')).stdout).to.equal('#!/bin/sh\necho resume\n');
          } finally {
            client.destroy();
            for (const [name, value] of saved) {
              if (value === undefined) delete process.env[name];
              else process.env[name] = value;
            }
          }
        });

        it('uploads a file larger than a part as a multipart upload (lib-storage) and restores it byte-for-byte', async function () {
          this.timeout(120_000);
          const key = { jobId: 'job-big', taskId: '0001' };
          // 11 MiB and a bit: three parts of S3's smallest size; the small files of the tree go up in one PutObject each.
          const big = await tree('big', async (root) => {
            const bytes = Buffer.alloc(11 * 1024 * 1024 + 123);
            for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32BE(i, i);
            await writeFile(path.join(root, 'state', 'big.bin'), bytes);
          });
          const seen: string[] = [];
          const watched = new S3Client(s3Options);
          watched.middlewareStack.add(
            (next, context) => async (args) => {
              seen.push(context.commandName ?? '');
              return next(args);
            },
            { step: 'initialize', name: 'seeCommands' },
          );
          try {
            await place(sa, 'ckpt-big', big.root);
            const saved = await checkpointStore(kind.location(), { s3: watched, tmpDir: work }).save(sa, 'ckpt-big', key);
            expect(saved?.bytes).to.be.greaterThan(11 * 1024 * 1024);
            expect(seen.filter((c) => c === 'CreateMultipartUploadCommand')).to.have.length(1);
            expect(seen.filter((c) => c === 'UploadPartCommand')).to.have.length(3);
            expect(seen).to.include('CompleteMultipartUploadCommand');
            expect(await store.restore(sb, 'big/ckpt', key)).to.equal(true);
            expect(await fetch(sb, 'big/ckpt')).to.deep.equal(big.snap);
          } finally {
            watched.destroy();
          }
        });

        it('a drain that cuts a multipart upload short still aborts the upload: its parts do not stay in the bucket', async function () {
          this.timeout(120_000);
          const key = { jobId: 'job-drain', taskId: '0001' };
          const big = await tree('drained', async (root) => {
            await writeFile(path.join(root, 'state', 'big.bin'), Buffer.alloc(11 * 1024 * 1024 + 7, 1));
          });
          const drain = new AbortController();
          const outcomes: string[] = [];
          const base = new S3Client(s3Options);
          base.middlewareStack.add(
            (next, context) => async (args) => {
              try {
                const out = await next(args);
                outcomes.push(`${context.commandName} ok`);
                // The drain fires as soon as the multipart upload exists: its parts are refused.
                if (context.commandName === 'CreateMultipartUploadCommand') drain.abort();
                return out;
              } catch (err) {
                outcomes.push(`${context.commandName} ${(err as Error).name}`);
                throw err;
              }
            },
            { step: 'initialize', name: 'drainMidUpload' },
          );
          try {
            await place(sa, 'ckpt-drain', big.root);
            await rejection(checkpointStore(kind.location(), { s3: withAbortSignal(base, drain.signal), tmpDir: work }).save(sa, 'ckpt-drain', key));
            expect(outcomes).to.include('CreateMultipartUploadCommand ok');
            expect(outcomes).to.not.include('CompleteMultipartUploadCommand ok');
            // The clean-up reached S3 instead of dying with the drain (AbortError). s3rver has no
            // AbortMultipartUpload (it answers MethodNotAllowed); S3 removes the parts.
            const cleanUp = outcomes.filter((o) => o.startsWith('AbortMultipartUploadCommand'));
            expect(cleanUp).to.have.length(1);
            expect(cleanUp[0]).to.not.equal('AbortMultipartUploadCommand AbortError');
          } finally {
            base.destroy();
          }
        });

        it('a save aborted before latest.json leaves the previous checkpoint restorable; the next save clears the debris', async function () {
          const key = { jobId: 'job-a', taskId: '0005' };
          const good = await tree('good');
          await place(sa, 'ckpt-5', good.root);
          await store.save(sa, 'ckpt-5', key);
          const failing = new S3Client(s3Options);
          failing.middlewareStack.add(
            (next, context) => async (args) => {
              const input = args.input as { Key?: string };
              if (context.commandName === 'PutObjectCommand' && input.Key?.endsWith('/latest.json')) throw new Error('dispatcher died (injected)');
              if (context.commandName === 'DeleteObjectsCommand') throw new Error('no clean-up either (injected)');
              return next(args);
            },
            { step: 'initialize', name: 'abortBeforeLatest' },
          );
          try {
            const aborted = await tree('aborted');
            await place(sa, 'ckpt-5', aborted.root);
            await rejection(checkpointStore(kind.location(), { s3: failing, tmpDir: work }).save(sa, 'ckpt-5', key));
            expect(await kind.versions(key.jobId, key.taskId)).to.have.length(2); // the debris is there, unread
            expect(await store.restore(sb, 'aborted/ckpt', key)).to.equal(true);
            expect(await fetch(sb, 'aborted/ckpt')).to.deep.equal(good.snap);
            const last = await tree('last');
            await place(sa, 'ckpt-5', last.root);
            await store.save(sa, 'ckpt-5', key);
            expect(await kind.versions(key.jobId, key.taskId)).to.have.length(1);
            expect(await store.restore(sb, 'aborted/ckpt', key)).to.equal(true);
            expect(await fetch(sb, 'aborted/ckpt')).to.deep.equal(last.snap);
          } finally {
            failing.destroy();
          }
        });
      } else {
        it('never follows a symlink out of its folder: a save into one is refused, remove() leaves its target alone', async function () {
          const src = await tree('linked');
          await place(sa, 'ckpt-ln', src.root);
          const outside = path.join(work, 'outside-job');
          await mkdir(outside, { recursive: true });
          await writeFile(path.join(outside, 'keep.txt'), 'keep');
          await mkdir(path.join(work, 'store'), { recursive: true });
          await symlink(outside, path.join(work, 'store', 'job-ln'));
          expect(await rejection(store.save(sa, 'ckpt-ln', { jobId: 'job-ln', taskId: '0001' }))).to.be.instanceOf(PermanentError);
          const outsideTask = path.join(work, 'outside-task');
          await mkdir(outsideTask, { recursive: true });
          await mkdir(path.join(work, 'store', 'job-ln2'), { recursive: true });
          await symlink(outsideTask, path.join(work, 'store', 'job-ln2', '0001'));
          expect(await rejection(store.save(sa, 'ckpt-ln', { jobId: 'job-ln2', taskId: '0001' }))).to.be.instanceOf(PermanentError);
          await store.remove('job-ln');
          await store.remove('job-ln2');
          expect(await readdir(outside)).to.deep.equal(['keep.txt']);
          expect(await readdir(outsideTask)).to.deep.equal([]);
        });

        it("remove() takes only the job's checkpoints: anything else in its folder survives", async function () {
          const src = await tree('bystanders');
          await place(sa, 'ckpt-by', src.root);
          await store.save(sa, 'ckpt-by', { jobId: 'job-by', taskId: '0001' });
          await store.save(sa, 'ckpt-by', { jobId: 'job-by', taskId: '0002' });
          const jobDir = path.join(work, 'store', 'job-by');
          await writeFile(path.join(jobDir, 'bystander.txt'), 'mine');
          await writeFile(path.join(jobDir, '0002', 'notes.txt'), 'mine too');
          await store.remove('job-by');
          expect((await readdir(jobDir)).sort()).to.deep.equal(['0002', 'bystander.txt']);
          expect(await readdir(path.join(jobDir, '0002'))).to.deep.equal(['notes.txt']);
          expect(await store.restore(sb, 'by/ckpt', { jobId: 'job-by', taskId: '0002' })).to.equal(false);
        });

        it('a copy renamed into place but never pointed to by latest is never restored; the next save clears it', async function () {
          const key = { jobId: 'job-a', taskId: '0005' };
          const good = await tree('good');
          await place(sa, 'ckpt-5', good.root);
          await store.save(sa, 'ckpt-5', key);
          // What a dispatcher that died between the rename and the pointer leaves behind.
          const orphan = path.join(work, 'store', key.jobId, key.taskId, versionName(Date.now()));
          await makeTree(orphan, 'orphan');
          expect(await store.restore(sb, 'orphan/ckpt', key)).to.equal(true);
          expect(await fetch(sb, 'orphan/ckpt')).to.deep.equal(good.snap);
          await new Promise((resolve) => setTimeout(resolve, 5)); // the next version name must sort after the orphan's
          const last = await tree('last');
          await place(sa, 'ckpt-5', last.root);
          await store.save(sa, 'ckpt-5', key);
          expect(await kind.versions(key.jobId, key.taskId)).to.have.length(1);
          expect(await store.restore(sb, 'orphan/ckpt', key)).to.equal(true);
          expect(await fetch(sb, 'orphan/ckpt')).to.deep.equal(last.snap);
        });
      }

      it('refuses unsafe keys and folders before copying anything', async function () {
        const key = { jobId: 'job-a', taskId: '0001' };
        for (const dir of ['', '.', './', '/', '../up', 'a/../../b', '/home/ec2-user/ckpt', '~/ckpt', 'a b', 'x;rm']) {
          expect(await rejection(store.save(sa, dir, key)), dir).to.be.instanceOf(PermanentError);
          expect(await rejection(store.restore(sb, dir, key)), dir).to.be.instanceOf(PermanentError);
        }
        for (const bad of [{ jobId: '../x', taskId: '1' }, { jobId: 'job-a', taskId: 'a/b' }, { jobId: '..', taskId: '1' }]) {
          expect(await rejection(store.save(sa, 'ckpt-1', bad))).to.be.instanceOf(PermanentError);
        }
        expect(await rejection(store.remove('a/b'))).to.be.instanceOf(PermanentError);
      });

      it("remove() deletes a job's checkpoints and no other job's", async function () {
        const src = await tree('removable');
        await place(sa, 'ckpt-6', src.root);
        await store.save(sa, 'ckpt-6', { jobId: 'job-rm', taskId: '0001' });
        await store.save(sa, 'ckpt-6', { jobId: 'job-rm', taskId: '0002' });
        await store.save(sa, 'ckpt-6', { jobId: 'job-keep', taskId: '0001' });
        await store.remove('job-rm');
        expect(await kind.holds('job-rm')).to.equal(false);
        expect(await store.restore(sb, 'rm/ckpt', { jobId: 'job-rm', taskId: '0001' })).to.equal(false);
        expect(await store.restore(sb, 'rm/ckpt', { jobId: 'job-keep', taskId: '0001' })).to.equal(true);
        await store.remove('job-rm');
        await store.remove('job-never-existed');
        expect(await kind.holds('job-keep')).to.equal(true);
      });
    });
  }
});
