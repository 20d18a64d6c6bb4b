/** job.submit and job.start: store the job and its tasks, then ask for its security resources. */
import { createHash } from 'node:crypto';
import { PermanentError, StateConflictError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { JobSpec } from './spec.js';
import { taskId, taskInputs } from './spec.js';
import { eachLimit, jobs, tasks } from './repo.js';

type Ctx = HandlerContext<FleetCatalog>;

/** The job id: the submitter's, or one derived from the SQS message id (a redelivery yields the same job). */
export function jobIdFor(spec: JobSpec, messageId: string): string {
  return spec.id ?? `job-${createHash('sha256').update(messageId).digest('hex').slice(0, 12)}`;
}

export async function jobSubmit(spec: JobSpec, ctx: Ctx): Promise<void> {
  const badScript = spec.steps?.findIndex((s) => s.script !== undefined) ?? -1;
  if (badScript >= 0) {
    throw new PermanentError(`job spec: steps[${badScript}].script: a local file is read by the CLI; send the script inline as "run"`);
  }
  const ingressCidr = spec.ssh.ingressCidr ?? ctx.config.lifecycle.sshIngressCidr;
  if (!ingressCidr) {
    throw new PermanentError('job spec: ssh.ingressCidr: is required when the fleet has no SPOTBATCH_SSH_INGRESS_CIDR');
  }
  const jobId = jobIdFor(spec, ctx.messageId);
  const log = ctx.log.child({ jobId });
  const inputs = taskInputs(spec);
  let created = true;
  try {
    await jobs(ctx).create({ jobId }, { name: spec.name, spec, taskCount: inputs.length, submittedAt: ctx.clock.now(), ingressCidr });
  } catch (err) {
    if (!(err instanceof StateConflictError)) throw err;
    created = false;
    if (err.actual?.state !== 'submitted') return; // a duplicate of a job already under way
  }
  // Tasks: conditional creates, so a redelivery after a crash fills in what is missing.
  await eachLimit(
    inputs.map((input, index) => ({ input, index })),
    16,
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
