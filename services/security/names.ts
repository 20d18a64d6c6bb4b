/** Names and tags of a job's security resources, and the checks on what the caller gives. */
import { createHash } from 'node:crypto';
import { PermanentError } from '../../shared/errors.js';
import { MAX_JOB_ID_LENGTH } from '../model/spec.js';
import { cidrSchema, regionSchema } from '../../shared/validation.js';

export const JOB_TAG = 'spotbatch:job';
/** The fleet (config.prefix) that made a resource: every job resource carries it beside JOB_TAG, and nothing is touched unless both match. */
export const FLEET_TAG = 'spotbatch:fleet';
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

/** IAM role names are at most 64 characters (IAM quotas). */
const MAX_ROLE_NAME = 64;

/**
 * Key pair, security group, role and instance profile are all named this: `<fleet>-<jobId>`, or, when that
 * passes IAM's 64 characters for a role name, `<8 hex of sha256(fleet)>-<jobId>` (at most 63). IAM names are
 * unique in the account whatever the path, so two fleets running the same job id need two names; a clash
 * (a fleet whose prefix happens to be another's hash) is refused by the tag check, never shared.
 */
export function resourceName(fleet: string, jobId: string): string {
  checkJobId(jobId);
  const plain = `${fleet}-${jobId}`;
  if (plain.length <= MAX_ROLE_NAME) return plain;
  return `${createHash('sha256').update(fleet).digest('hex').slice(0, 8)}-${jobId}`;
}

/** The IAM path of a fleet's job roles and instance profiles: what the fleet's IAM statements are scoped to. */
export function jobIamPath(fleet: string): string {
  return `/spotbatch/${fleet}/jobs/`;
}

/** Whether tags say the resource is this fleet's and this job's (both tags, exactly). */
export function ownedBy(tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined, fleet: string, jobId: string): boolean {
  const value = (key: string) => tags?.find((t) => t.Key === key)?.Value;
  return value(FLEET_TAG) === fleet && value(JOB_TAG) === jobId;
}

/** Who the tags name, for an error message. */
export function ownerOf(tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined): string {
  const value = (key: string) => tags?.find((t) => t.Key === key)?.Value;
  return `fleet ${value(FLEET_TAG) ?? '(none)'}, job ${value(JOB_TAG) ?? '(none)'}`;
}

/** User tags plus the fleet and job tags (which win), checked against the AWS rules. */
export function jobTags(fleet: string, jobId: string, user: Record<string, string> = {}): { Key: string; Value: string }[] {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(user)) {
    if (key === JOB_TAG || key === FLEET_TAG) continue;
    if (key.length < 1 || key.length > 128 || key.toLowerCase().startsWith('aws:')) {
      throw new PermanentError(`security: tag key '${key.slice(0, 128)}' must be 1 to 128 characters and not start with aws:`);
    }
    if (typeof value !== 'string' || value.length > 256) throw new PermanentError(`security: tag '${key}' must have a string value of at most 256 characters`);
    out.set(key, value);
  }
  out.set(FLEET_TAG, fleet);
  out.set(JOB_TAG, jobId);
  if (out.size > MAX_TAGS) throw new PermanentError(`security: at most ${MAX_TAGS - 2} user tags`);
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
