/**
 * A job's deadline as the fleet reads it: the compute one task needs, and the
 * submit-time check that the deadline can be met at all (even on demand).
 */
import { ValidationError } from '../../shared/errors.js';
import { deadlineAt } from './spec.js';

type WorkSpec = { runtime?: number | undefined; timeouts: { step: number }; steps?: readonly { timeout?: number | undefined }[] | undefined };

/** Seconds of step timeouts: the job-wide one, or the sum of the steps' own (a step without one has the job-wide). */
export function stepTimeoutSeconds(spec: WorkSpec): number {
  return spec.steps ? spec.steps.reduce((s, st) => s + (st.timeout ?? spec.timeouts.step), 0) : spec.timeouts.step;
}

/** The compute one task needs, seconds: the spec's `runtime`, else its step timeouts (an upper bound). */
export function taskWorkSeconds(spec: WorkSpec): number {
  return spec.runtime ?? stepTimeoutSeconds(spec);
}

/**
 * The job's deadline as epoch ms, checked at submit: a deadline already past, or closer than one task's work
 * plus a launch (`overheadSeconds`) and one look (`stepSeconds`: the safety net's own margin) even on demand, is refused with the field path `deadline` (a job never
 * waits on something that can never happen). Undefined without a deadline.
 */
export function checkDeadline(spec: WorkSpec & { deadline?: string | undefined }, submittedAt: number, overheadSeconds: number, stepSeconds = 0): number | undefined {
  const at = deadlineAt(spec, submittedAt);
  if (at === undefined) return undefined;
  const left = (at - submittedAt) / 1000;
  const work = taskWorkSeconds(spec);
  if (left <= 0) {
    throw new ValidationError('job spec', [{ path: 'deadline', rule: `${spec.deadline} is already past (submitted ${new Date(submittedAt).toISOString()})` }]);
  }
  if (left < work + overheadSeconds + stepSeconds) {
    throw new ValidationError('job spec', [
      {
        path: 'deadline',
        rule: `${Math.floor(left)} s from submission cannot hold a task's ${work} s of work plus a ${overheadSeconds} s launch and a ${stepSeconds} s look even on demand (runtime, or the step timeouts; lifecycle.deadlineOverheadSeconds, lifecycle.pollSeconds)`,
      },
    ]);
  }
  return at;
}
