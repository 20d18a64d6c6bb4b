import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { PermanentError } from '../../shared/errors.js';
import { loadConfig } from '../../shared/config.js';
import { artifactStore, ArtifactMissingError, configuredArtifactStore, parseArtifactLocation, type ArtifactStore } from '../../services/artifacts/index.js';
import { digestOf, hexOf } from '../../services/model/artifact-digest.js';

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('artifacts/store', function () {
  this.timeout(30_000);
  let work: string;
  let server: S3rver;
  let s3: S3Client;

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'spotbatch-artifacts-test-'));
    const directory = path.join(work, 's3rver');
    await mkdir(directory);
    server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: 'arts' }] });
    const { port } = await server.run();
    s3 = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  });
  after(async () => {
    s3?.destroy();
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  const kinds: Array<{ name: string; store: () => ArtifactStore; corrupt: (digest: string) => Promise<void> }> = [
    {
      name: 'local folder',
      store: () => artifactStore({ kind: 'local', dir: path.join(work, 'local') }),
      async corrupt(digest) {
        const file = path.join(work, 'local', 'sha256', hexOf(digest).slice(0, 2), hexOf(digest));
        await chmod(file, 0o644);
        await writeFile(file, 'tampered');
      },
    },
    {
      name: 's3',
      store: () => artifactStore({ kind: 's3', bucket: 'arts', prefix: 'fleet/a' }, { s3 }),
      async corrupt(digest) {
        await s3.send(new PutObjectCommand({ Bucket: 'arts', Key: `fleet/a/sha256/${hexOf(digest)}`, Body: 'tampered' }));
      },
    },
  ];

  for (const kind of kinds) {
    describe(kind.name, () => {
      it('stores bytes under their sha256 and reads them back, checked', async () => {
        const store = kind.store();
        const digest = await store.put('hello artifacts\n');
        expect(digest).to.equal(digestOf('hello artifacts\n'));
        expect(await store.has(digest)).to.equal(true);
        expect((await store.get(digest)).toString()).to.equal('hello artifacts\n');
        expect(await store.put('hello artifacts\n')).to.equal(digest); // idempotent
      });

      it('streams a file in and out, keeping the mode asked for', async () => {
        const store = kind.store();
        const src = path.join(work, `${kind.name}-big.bin`);
        const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
        big.write('a marker', 1000);
        await writeFile(src, big);
        const { digest, size } = await store.putFile(src);
        expect(size).to.equal(big.length);
        expect(digest).to.equal(digestOf(big));
        const out = path.join(work, `${kind.name}-out.bin`);
        await store.download(digest, out, 0o750);
        expect((await readFile(out)).equals(big)).to.equal(true);
        expect((await stat(out)).mode & 0o777).to.equal(0o750);
      });

      it('says an artifact is missing (a permanent error) and never builds a key from an unchecked name', async () => {
        const store = kind.store();
        const absent = digestOf('never stored');
        expect(await store.has(absent)).to.equal(false);
        const err = await rejection(store.get(absent));
        expect(err).to.be.instanceOf(ArtifactMissingError);
        expect(err).to.be.instanceOf(PermanentError);
        const bad = await rejection(store.has('sha256:../../etc/passwd'));
        expect(bad).to.be.instanceOf(PermanentError);
        expect(bad.message).to.match(/is not an artifact digest/);
      });

      it('refuses content whose digest is not the one asked for, and leaves no file behind', async () => {
        const store = kind.store();
        const digest = await store.put(`to be tampered with ${kind.name}`);
        await kind.corrupt(digest);
        expect((await rejection(store.get(digest))).message).to.match(/corrupt/);
        const out = path.join(work, `${kind.name}-tampered`);
        await mkdir(out);
        expect((await rejection(store.download(digest, path.join(out, 'f')))).message).to.match(/corrupt/);
        expect(await readdir(out)).to.deep.equal([]);
      });

      it('refuses to read more than a caller allows', async () => {
        const store = kind.store();
        const digest = await store.put('x'.repeat(1000));
        expect((await rejection(store.get(digest, 100))).message).to.match(/larger than 100 bytes/);
      });
    });
  }

  it('leaves no temporary file in the local store after writes', async () => {
    const dir = path.join(work, 'local-clean');
    const store = artifactStore({ kind: 'local', dir });
    await Promise.all(Array.from({ length: 8 }, (_, i) => store.put(`same or not ${i % 2}`)));
    expect(await readdir(path.join(dir, 'tmp'))).to.deep.equal([]);
  });

  it('is configured by the fleet (artifacts / SPOTBATCH_ARTIFACTS), naming the setting and the rule when wrong', () => {
    expect(parseArtifactLocation('s3://my-bucket/some/prefix/')).to.deep.equal({ kind: 's3', bucket: 'my-bucket', prefix: 'some/prefix' });
    expect(parseArtifactLocation('local:/var/lib/x')).to.deep.equal({ kind: 'local', dir: '/var/lib/x' });
    const config = loadConfig({ env: { SPOTBATCH_ARTIFACTS: `local:${work}/cfg` } });
    expect(configuredArtifactStore(config)?.where).to.equal(`local:${work}/cfg`);
    expect(configuredArtifactStore(loadConfig({ env: {} }))).to.equal(undefined);
    expect(() => loadConfig({ env: { SPOTBATCH_ARTIFACTS: 'local:relative/dir' } })).to.throw(/SPOTBATCH_ARTIFACTS \(artifacts\): "local:" must be followed by an absolute folder/);
    expect(() => loadConfig({ env: { SPOTBATCH_ARTIFACTS: '/tmp/x' } })).to.throw(/must be "local:\/absolute\/folder" or "s3:\/\/bucket\/prefix"/);
  });
});
