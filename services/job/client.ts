/**
 * What a submitter does, as library calls the CLI, the demo and the tests
 * share: prepare a spec from a file, submit it, confirm the fleet stored it.
 * What a job looks like once stored is the read model's (services/views).
 */
import { randomBytes } from 'node:crypto';
import { PermanentError, ValidationError } from '../../shared/errors.js';
import type { MessageBus } from '../../shared/envelope.js';
import type { Store } from '../../shared/store/index.js';
import type { FleetCatalog } from '../catalog.js';
import { jobs } from '../model/repo.js';
import { parseJobSpec, type JobSpec } from '../model/spec.js';
import { specDigest } from '../model/spec-digest.js';
import type { ArtifactStore } from '../artifacts/types.js';
import { INLINE_SCRIPT_MAX, stageSpec } from '../artifacts/stage.js';

/**
 * Read the local files a raw spec names and validate it: `steps[].script`
 * files become inline `run` scripts (or, when large, artifacts), and
 * `uploads[].from` files and folders are stored in the fleet's artifact
 * store and referred to by digest (docs/job-spec.md "Files and scripts").
 * Paths are relative to `baseDir` (the spec file's folder). Without a store
 * only small text files and scripts can travel, inline.
 */
export async function prepareSpec(raw: unknown, baseDir: string, store?: ArtifactStore): Promise<JobSpec> {
  return parseJobSpec(await stageSpec(raw, baseDir, store));
}

/** A job id the fleet already holds for another spec (spotbatch submit exits 1). */
export class JobIdTakenError extends PermanentError {
  constructor(jobId: string, stored: string, submitted: string) {
    super(`job ID already exists with another spec: ${jobId} (stored spec ${stored}, this spec ${submitted}); give another "id", or none for a new one`);
    this.name = 'JobIdTakenError';
  }
}

/** The digest the fleet stores for this submission: job.submit receives the body as sent (parsed again), digested so (spec-digest.ts). */
export function submissionDigest(body: Submission): string {
  return specDigest(parseJobSpec(JSON.parse(JSON.stringify(body))));
}

/**
 * Whether the job row under `jobId` holds the spec with this digest: 'absent'
 * (not stored, or not yet), 'same' (a repeat of this spec: a no-op), or a
 * JobIdTakenError when another spec holds the id.
 */
export async function checkJobId(store: Store, jobId: string, digest: string): Promise<'absent' | 'same'> {
  const row = await jobs({ store }).get({ jobId });
  if (!row) return 'absent';
  if (row.specDigest !== undefined && row.specDigest !== digest) throw new JobIdTakenError(jobId, row.specDigest, digest);
  return 'same';
}

/**
 * A job.submit the fleet refused (a rule only the fleet's configuration can
 * check, such as a checkpoint store it does not have): the dispatcher records
 * the reason on the job's events as `job.refused`, with the message id.
 */
export class JobRefusedError extends ValidationError {
  constructor(jobId: string, reason: string) {
    super(`job ${jobId} was refused by the fleet`, [{ path: '', rule: reason }]);
    this.message = `job ${jobId} was refused by the fleet: ${reason}`;
    this.name = 'JobRefusedError';
  }
}

/** Why the fleet refused the job.submit message `messageId`, if it did. */
export async function refusalOf(store: Store, jobId: string, messageId: string): Promise<string | undefined> {
  const { events } = await store.events.page(jobId, { limit: 50 });
  const refused = events.find((e) => e.type === 'job.refused' && e.data?.messageId === messageId);
  return refused ? String(refused.data?.reason ?? 'no reason recorded') : undefined;
}

/**
 * After sending: wait (at most `waitMs`) for the fleet to store the job, then
 * check that it holds this spec (two submits of one id at the same moment: one
 * wins, the other is told so: JobIdTakenError). A JobRefusedError when the fleet
 * refused this message. False when the fleet has done neither in time.
 */
export async function confirmJobId(store: Store, jobId: string, digest: string, messageId: string, waitMs = 15_000): Promise<boolean> {
  const end = Date.now() + waitMs;
  for (;;) {
    if ((await checkJobId(store, jobId, digest)) === 'same') return true;
    const refused = await refusalOf(store, jobId, messageId);
    if (refused !== undefined) throw new JobRefusedError(jobId, refused);
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function newJobId(): string {
  return `job-${randomBytes(5).toString('hex')}`;
}

/** SQS takes at most 256 KiB per message (body and attributes); a larger spec is sent by reference. */
export const MAX_SUBMIT_BODY_BYTES = 256 * 1024 - 1024;

/** A spec as job.submit receives it: with its id, large inline scripts moved to the artifact store. */
export type Submission = JobSpec & { id: string };

/**
 * The job.submit body for a spec: the job id is the spec's or a new one; an
 * inline `run` over INLINE_SCRIPT_MAX goes to the artifact store (the job row,
 * a DynamoDB item of at most 400 KB, keeps only its digest).
 */
export async function submission(spec: JobSpec, store?: ArtifactStore): Promise<Submission> {
  const id = spec.id ?? newJobId();
  const large = (run: string | undefined): run is string => run !== undefined && Buffer.byteLength(run) > INLINE_SCRIPT_MAX;
  const steps = store && spec.steps?.some((s) => large(s.run))
    ? await Promise.all(spec.steps.map(async ({ run, ...s }) => (large(run) ? { ...s, artifact: await store.put(run) } : { ...s, ...(run !== undefined ? { run } : {}) })))
    : undefined;
  return { ...spec, ...(steps ? { steps } : {}), id };
}

/**
 * Send a submission as a job.submit message; returns its SQS message id. One too large
 * for a message is stored in the artifact store and sent as `{"specArtifact": "sha256:...", "id"}`.
 */
export async function sendSubmission(bus: MessageBus<FleetCatalog>, body: Submission, store?: ArtifactStore): Promise<{ messageId: string }> {
  const text = JSON.stringify(body);
  const size = Buffer.byteLength(text);
  if (size <= MAX_SUBMIT_BODY_BYTES) return bus.send('job.submit', body);
  if (!store) {
    throw new ValidationError('job spec', [
      { path: '(root)', rule: `is ${size} bytes, over the ${MAX_SUBMIT_BODY_BYTES}-byte limit of a queue message; a larger spec needs the fleet's artifact store (setting "artifacts", SPOTBATCH_ARTIFACTS)` },
    ]);
  }
  return bus.send('job.submit', { specArtifact: await store.put(text), id: body.id });
}

/** Send the spec as a job.submit message (see submission and sendSubmission); returns the job id. */
export async function submitJob(bus: MessageBus<FleetCatalog>, spec: JobSpec, store?: ArtifactStore): Promise<string> {
  const body = await submission(spec, store);
  await sendSubmission(bus, body, store);
  return body.id;
}
