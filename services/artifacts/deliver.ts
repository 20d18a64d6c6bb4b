/**
 * The dispatcher's half of the inputs path, at step.run: the spec's step
 * scripts and uploads, read from the fleet's artifact store (checked against
 * their digests) and put on the instance. Copies are staged in a temporary
 * folder of the dispatcher whose names come from validated manifests only.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PermanentError } from '../../shared/errors.js';
import { parseWith } from '../../shared/validation.js';
import type { SshSession } from '../ssh/ssh.js';
import type { JobSpec } from '../model/spec.js';
import { inPool } from '../checkpoint/tree.js';
import { TreeManifestSchema, type TreeManifest } from '../model/artifact-digest.js';
import type { ArtifactStore } from './types.js';

/** A stored step script or folder manifest is read whole: at most this many bytes. */
export const MAX_SCRIPT_BYTES = 8 * 1024 * 1024;
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
const PARALLEL = 4;

function storeFor(store: ArtifactStore | undefined, field: string): ArtifactStore {
  if (!store) throw new PermanentError(`job spec: ${field}: refers to an artifact, and this dispatcher has no artifact store (setting "artifacts", SPOTBATCH_ARTIFACTS)`);
  return store;
}

/** A folder's manifest, read and validated; issues are named under `field`. */
export async function readManifest(store: ArtifactStore, digest: string, field: string): Promise<TreeManifest> {
  const bytes = await store.get(digest, MAX_MANIFEST_BYTES);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new PermanentError(`job spec: ${field}: artifact ${digest} is not a folder manifest (not JSON)`);
  }
  return parseWith(TreeManifestSchema, raw, `job spec: ${field}: manifest ${digest}`);
}

/** The spec with every step's stored script read back into `run`. */
export async function resolveStepScripts(spec: JobSpec, store: ArtifactStore | undefined): Promise<JobSpec> {
  if (!spec.steps?.some((s) => s.artifact !== undefined)) return spec;
  const steps = await Promise.all(
    spec.steps.map(async (s, i) => {
      if (s.artifact === undefined) return s;
      const { artifact, ...rest } = s;
      const bytes = await storeFor(store, `steps[${i}].artifact`).get(artifact, MAX_SCRIPT_BYTES);
      return { ...rest, run: bytes.toString('utf8') };
    }),
  );
  return { ...spec, steps };
}

/** Put every upload on the instance: inline content as is, stored files and folders streamed through a temporary copy. */
export async function deliverUploads(spec: JobSpec, store: ArtifactStore | undefined, session: SshSession, tmpRoot = tmpdir()): Promise<void> {
  const uploads = spec.uploads ?? [];
  if (!uploads.length) return;
  const tmp = await mkdtemp(path.join(tmpRoot, 'spotbatch-inputs-'));
  try {
    for (const [i, u] of uploads.entries()) {
      if (u.content !== undefined) {
        await session.putFile(u.to, u.content, u.mode ?? 0o644);
      } else if (u.artifact !== undefined) {
        const local = path.join(tmp, `file-${i}`);
        await storeFor(store, `uploads[${i}].artifact`).download(u.artifact, local, u.mode ?? 0o644);
        await session.putLocal(local, u.to);
      } else if (u.tree !== undefined) {
        const s = storeFor(store, `uploads[${i}].tree`);
        const manifest = await readManifest(s, u.tree, `uploads[${i}].tree`);
        const root = path.join(tmp, `tree-${i}`);
        await mkdir(root);
        // Names are plain relative segments (the manifest's schema): nothing lands outside root.
        for (const d of manifest.dirs) await mkdir(path.join(root, ...d.split('/')), { recursive: true });
        await inPool(manifest.files, PARALLEL, async (f) => {
          const target = path.join(root, ...f.path.split('/'));
          await mkdir(path.dirname(target), { recursive: true });
          await s.download(f.artifact, target, f.mode);
        });
        await session.putLocal(root, u.to);
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}
