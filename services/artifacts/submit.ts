/**
 * job.submit's checks of what a spec refers to in the artifact store, and the
 * reading of a spec sent by reference. Nothing is created for a spec whose
 * artifacts are not there: step.run never waits for something that cannot come.
 */
import { PermanentError, ValidationError, type ValidationIssue } from '../../shared/errors.js';
import { parseJobSpec, type JobSpec } from '../model/spec.js';
import pMap from 'p-map';
import type { SpecReference } from '../model/artifact-digest.js';
import { readManifest } from './deliver.js';
import { ArtifactMissingError, type ArtifactStore } from './types.js';

/** A spec sent by reference is read whole: at most this many bytes. */
export const MAX_SPEC_BYTES = 16 * 1024 * 1024;

export function isSpecReference(body: JobSpec | SpecReference): body is SpecReference {
  return 'specArtifact' in body;
}

/** The spec a job.submit reference names, validated as any spec is. */
export async function loadSpecReference(ref: SpecReference, store: ArtifactStore | undefined): Promise<JobSpec> {
  if (!store) throw new PermanentError('job.submit: specArtifact: the fleet has no artifact store (setting "artifacts", SPOTBATCH_ARTIFACTS)');
  let bytes: Buffer;
  try {
    bytes = await store.get(ref.specArtifact, MAX_SPEC_BYTES);
  } catch (err) {
    if (err instanceof ArtifactMissingError) throw new PermanentError(`job.submit: specArtifact: ${err.message}`);
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new PermanentError(`job.submit: specArtifact: artifact ${ref.specArtifact} is not JSON`);
  }
  const spec = parseJobSpec(raw);
  if (ref.id !== undefined && spec.id !== ref.id) {
    throw new PermanentError(`job.submit: id: ${JSON.stringify(ref.id)} is not the id of the stored spec (${JSON.stringify(spec.id ?? null)})`);
  }
  return spec;
}

/** Every artifact the spec names (steps, files, folders and their files) is in the store; otherwise a ValidationError naming each field. */
export async function checkSpecArtifacts(spec: JobSpec, store: ArtifactStore | undefined): Promise<void> {
  const refs: Array<{ field: string; digest: string; tree?: boolean }> = [];
  spec.steps?.forEach((s, i) => s.artifact && refs.push({ field: `steps[${i}].artifact`, digest: s.artifact }));
  spec.uploads?.forEach((u, i) => {
    if (u.artifact) refs.push({ field: `uploads[${i}].artifact`, digest: u.artifact });
    if (u.tree) refs.push({ field: `uploads[${i}].tree`, digest: u.tree, tree: true });
  });
  if (!refs.length) return;
  if (!store) {
    throw new ValidationError('job spec', refs.map((r) => ({ path: r.field, rule: 'refers to an artifact, and the fleet has no artifact store (setting "artifacts", SPOTBATCH_ARTIFACTS)' })));
  }
  const issues: ValidationIssue[] = [];
  const missing = (field: string, digest: string): ValidationIssue => ({ path: field, rule: `artifact ${digest} is not in the fleet's artifact store` });
  for (const r of refs) {
    if (!(await store.has(r.digest))) {
      issues.push(missing(r.field, r.digest));
      continue;
    }
    if (!r.tree) continue;
    const manifest = await readManifest(store, r.digest, r.field);
    await pMap(
      manifest.files.map((f, j) => ({ f, j })),
      async ({ f, j }) => {
        if (!(await store.has(f.artifact))) issues.push(missing(`${r.field} (files[${j}] ${JSON.stringify(f.path)})`, f.artifact));
      },
      { concurrency: 8 },
    );
  }
  if (issues.length) throw new ValidationError('job spec', issues.slice(0, 20));
}

/** What a job row may hold of its spec: DynamoDB items are at most 400 KB, and the row has more than the spec. */
export const MAX_ROW_SPEC_BYTES = 300_000;

/**
 * The spec as the job row keeps it: whole when it fits; otherwise with a
 * task list reduced to its count (each task row holds its own args and env).
 * A spec that still does not fit is refused, saying what to move out.
 */
export function specForRow(spec: JobSpec): JobSpec {
  const size = (s: JobSpec): number => Buffer.byteLength(JSON.stringify(s));
  if (size(spec) <= MAX_ROW_SPEC_BYTES) return spec;
  const slim: JobSpec = Array.isArray(spec.tasks) ? { ...spec, tasks: { count: spec.tasks.length } } : spec;
  const left = size(slim);
  if (left <= MAX_ROW_SPEC_BYTES) return slim;
  throw new PermanentError(
    `job spec: is ${left} bytes without its task list, over the ${MAX_ROW_SPEC_BYTES}-byte limit of a job row: store large scripts as artifacts (the CLI does so for a step's "script" file) and keep env values small`,
  );
}
