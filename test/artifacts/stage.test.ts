import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { artifactStore } from '../../services/artifacts/index.js';
import { TreeManifestSchema } from '../../services/model/artifact-digest.js';
import { prepareSpec } from '../../services/job/client.js';

const base = { name: 'x', tasks: { count: 1 }, instances: { types: ['m5.large'] } };

async function refusal(p: Promise<unknown>): Promise<ValidationError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('artifacts/stage (the CLI reads what a spec names)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-stage-'));
    mkdirSync(path.join(dir, 'folder', 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'folder', 'sub', 'a.txt'), 'a');
    writeFileSync(path.join(dir, 'small.txt'), 'small text');
    writeFileSync(path.join(dir, 'run.sh'), 'echo hi\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('without a store: small text files and scripts travel inline; a folder is refused naming the field and the setting', async () => {
    const spec = await prepareSpec({ ...base, steps: [{ script: 'run.sh' }], uploads: [{ from: 'small.txt', to: 's.txt' }] }, dir);
    expect(spec.steps![0]!.run).to.equal('echo hi\n');
    expect(spec.uploads![0]).to.deep.include({ to: 's.txt', content: 'small text' });
    const err = await refusal(prepareSpec({ ...base, command: ['true'], uploads: [{ from: 'folder', to: 'f' }] }, dir));
    expect(err.issues[0]!.path).to.equal('uploads[0].from');
    expect(err.issues[0]!.rule).to.match(/needs the fleet's artifact store .*SPOTBATCH_ARTIFACTS/);
  });

  it('with a store: a folder becomes a manifest of plain relative names, each file an artifact', async () => {
    const store = artifactStore({ kind: 'local', dir: path.join(dir, 'store') });
    const spec = await prepareSpec({ ...base, command: ['true'], uploads: [{ from: 'folder', to: 'f' }] }, dir, store);
    const manifest = TreeManifestSchema.parse(JSON.parse((await store.get(spec.uploads![0]!.tree!)).toString()));
    expect(manifest.dirs).to.deep.equal(['sub']);
    expect(manifest.files.map((f) => f.path)).to.deep.equal(['sub/a.txt']);
    expect((await store.get(manifest.files[0]!.artifact)).toString()).to.equal('a');
  });

  it('names an unreadable path by its field', async () => {
    const err = await refusal(prepareSpec({ ...base, steps: [{ script: 'nope.sh' }] }, dir));
    expect(err.issues[0]).to.deep.include({ path: 'steps[0].script' });
  });

  it('refuses manifests with names that could leave the target folder', () => {
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', 'a//b', 'a\0b', '.']) {
      const r = TreeManifestSchema.safeParse({ files: [{ path: bad, artifact: `sha256:${'0'.repeat(64)}` }] });
      expect(r.success, bad).to.equal(false);
    }
  });
});
