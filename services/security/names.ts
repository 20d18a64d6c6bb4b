/** Names and tags of a job's security resources, and the checks on what the caller gives. */
import { PermanentError } from '../../shared/errors.js';
import { MAX_JOB_ID_LENGTH } from '../model/spec.js';
import { cidrSchema, regionSchema } from '../../shared/validation.js';

export const JOB_TAG = 'spotbatch:job';
/** The one inline policy spotbatch puts on a job's role. */
export const POLICY_NAME = 'spotbatch-job';

export { MAX_JOB_ID_LENGTH };
const JOB_ID = new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${MAX_JOB_ID_LENGTH - 1}}$`);
const MAX_TAGS = 50;

export function checkJobId(jobId: string): string {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) {
    throw new PermanentError(`security: job id must be 1 to ${MAX_JOB_ID_LENGTH} letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return jobId;
}

/** Key pair, security group, role and instance profile are all named this. */
export function resourceName(jobId: string): string {
  return `spotbatch-${checkJobId(jobId)}`;
}

/** User tags plus the job tag (which wins), checked against the AWS rules. */
export function jobTags(jobId: string, user: Record<string, string> = {}): { Key: string; Value: string }[] {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(user)) {
    if (key === JOB_TAG) continue;
    if (key.length < 1 || key.length > 128 || key.toLowerCase().startsWith('aws:')) {
      throw new PermanentError(`security: tag key '${key.slice(0, 128)}' must be 1 to 128 characters and not start with aws:`);
    }
    if (typeof value !== 'string' || value.length > 256) throw new PermanentError(`security: tag '${key}' must have a string value of at most 256 characters`);
    out.set(key, value);
  }
  out.set(JOB_TAG, jobId);
  if (out.size > MAX_TAGS) throw new PermanentError(`security: at most ${MAX_TAGS - 1} user tags`);
  return [...out].map(([Key, Value]) => ({ Key, Value }));
}

/** An IPv4 CIDR (the fleet's one rule, shared/validation.ts), as given (no widening): PermanentError otherwise. */
export function checkCidr(cidr: string): string {
  if (!cidrSchema.safeParse(cidr).success) {
    throw new PermanentError(`security: ingress CIDR '${String(cidr).slice(0, 64)}' is not an IPv4 CIDR block (a.b.c.d/n)`);
  }
  return cidr;
}

export function checkRegions(regions: string[]): string[] {
  const out = [...new Set(regions)];
  if (out.length === 0) throw new PermanentError('security: at least one region is needed');
  for (const r of out) {
    if (!regionSchema.safeParse(r).success) throw new PermanentError(`security: '${r.slice(0, 64)}' is not a region name`);
  }
  return out;
}
