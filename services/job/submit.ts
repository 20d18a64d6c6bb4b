/** job.submit and job.start: store the job and its tasks, then ask for its security resources. */
import { createHash } from 'node:crypto';
import { PermanentError, StateConflictError } from '../../shared/errors.js';
import { JOB_LIST_PK } from '../../shared/store/tables.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { JobSpec } from '../model/spec.js';
import { checkSpecPolicy, taskId, taskInputs } from '../model/spec.js';
import { checkDeadline } from '../model/deadline.js';
import pMap from 'p-map';
import { jobs, tasks } from '../model/repo.js';
import { specDigest } from '../model/spec-digest.js';
import { pinCheckpointStore } from '../model/checkpoint-location.js';
import { fleetArtifactStore } from '../artifacts/index.js';
import type { SpecReference } from '../model/artifact-digest.js';
import { checkSpecArtifacts, isSpecReference, loadSpecReference, specForRow } from '../artifacts/submit.js';

type Ctx = HandlerContext<FleetCatalog>;

/** The job id: the submitter's, or one derived from the SQS message id (a redelivery yields the same job). */
export function jobIdFor(spec: JobSpec, messageId: string): string {
  return spec.id ?? `job-${createHash('sha256').update(messageId).digest('hex').slice(0, 12)}`;
}

export async function jobSubmit(body: JobSpec | SpecReference, ctx: Ctx): Promise<void> {
  // A spec too large for a message comes from the artifact store; every artifact it names must be there.
  const artifacts = fleetArtifactStore(ctx);
  // A checkpoint store the fleet does not configure is refused here, before anything is stored; the name is pinned in the job row.
  const received = isSpecReference(body) ? await loadSpecReference(body, artifacts) : body;
  // Which spec this is, as submitted: the job row keeps the winner's, and only a submit of that spec fills the job in.
  const digest = specDigest(received);
  const spec = pinCheckpointStore(received, ctx.config);
  await checkSpecArtifacts(spec, artifacts);
  // The fleet's IAM guard, as the CLI checked it: a refused spec creates nothing.
  checkSpecPolicy(spec, ctx.config.security);
  const ingressCidr = spec.ssh.ingressCidr ?? ctx.config.lifecycle.sshIngressCidr;
  if (!ingressCidr) {
    throw new PermanentError('job spec: ssh.ingressCidr: is required when the fleet has no SPOTBATCH_SSH_INGRESS_CIDR');
  }
  // A deadline that can never be met (past, or closer than a task's work and a launch) is refused here, with its field.
  const submittedAt = ctx.clock.now();
  const jobId = jobIdFor(spec, ctx.messageId);
  const log = ctx.log.child({ jobId });
  // Checked only for a job being created: a redelivery (a duplicate, or one after a crash that left tasks
  // missing) finds the row and its stored deadlineAt, and must neither refuse a running job nor stop short.
  const existing = await jobs(ctx).get({ jobId });
  const deadline = existing ? existing.deadlineAt : checkDeadline(spec, submittedAt, ctx.config.lifecycle.deadlineOverheadSeconds, ctx.config.lifecycle.pollSeconds);
  const inputs = taskInputs(spec);
  let created = true;
  try {
    await jobs(ctx).create({ jobId }, { name: spec.name, spec: specForRow(spec), specDigest: digest, taskCount: inputs.length, submittedAt, ...(deadline !== undefined ? { deadlineAt: deadline } : {}), ingressCidr, listPk: JOB_LIST_PK, tags: spec.tags });
  } catch (err) {
    if (!(err instanceof StateConflictError)) throw err;
    created = false;
    // Two specs under one id (at the same moment, or later): the first stored wins whole; this one changes nothing.
    const stored = (await jobs(ctx).get({ jobId }))?.specDigest;
    if (stored !== undefined && stored !== digest) {
      log.warn({ storedDigest: stored, submittedDigest: digest }, 'job ID already exists with another spec: this submit is ignored');
      await ctx.store.events.append(jobId, 'job.submit-ignored', { data: { reason: 'job ID already exists with another spec', storedDigest: stored, submittedDigest: digest } });
      return;
    }
    if (err.actual?.state !== 'submitted') return; // a duplicate of a job already under way
  }
  // Tasks: conditional creates, so a redelivery after a crash fills in what is missing.
  await pMap(
    inputs.map((input, index) => ({ input, index })),
    async ({ input, index }) => {
      try {
        await tasks(ctx).create(
          { jobId, taskId: taskId(index) },
          { index, args: input.args ?? [], env: input.env ?? {}, attempts: [], failures: 0, interruptions: 0, avoid: [] },
        );
      } catch (err) {
        if (!(err instanceof StateConflictError)) throw err;
      }
    },
    { concurrency: 16 },
  );
  if (created) {
    await ctx.store.events.append(jobId, 'job.submitted', { data: { name: spec.name, tasks: inputs.length } });
    log.info({ tasks: inputs.length, name: spec.name }, 'job submitted');
  }
  await ctx.bus.send('job.start', { jobId });
}

export async function jobStart(body: { jobId: string }, ctx: Ctx): Promise<void> {
  await jobs(ctx).transition({ jobId: body.jobId }, { from: 'submitted', to: 'securing' });
  await ctx.bus.send('security.create', { jobId: body.jobId });
}
