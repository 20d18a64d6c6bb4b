/**
 * The job role's documents: the trust policy (EC2 may assume it) and the one
 * inline policy, a minimal default plus the statements the spec adds.
 */
import { z } from 'zod';
import { PermanentError } from '../../shared/errors.js';
import { issuesOf } from '../../shared/validation.js';
import { ownRecord } from '../../shared/records.js';
import { guardIssues, STRICT_GUARD, type PolicyGuard } from './policy-guard.js';

/** IAM's limit on the inline policies of one role, in characters (whitespace excluded). */
const MAX_POLICY_CHARS = 10_240;

export function trustPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
}

/**
 * The default: the instance may write its own log streams under the job's log
 * group `/spotbatch/<jobId>`, nothing else (no EC2, no IAM, no other data).
 */
export function defaultStatements(jobId: string): Record<string, unknown>[] {
  return [
    {
      Sid: 'JobLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      Resource: [`arn:aws:logs:*:*:log-group:/spotbatch/${jobId}`, `arn:aws:logs:*:*:log-group:/spotbatch/${jobId}:*`],
    },
  ];
}

/** The Sids of the default statements: a policy's Sids must differ. */
const RESERVED_SIDS = ['JobLogs'];

/** One or more of a policy's strings: "s3:GetObject" or ["s3:GetObject", "s3:PutObject"]. */
const oneOrMore = (item: z.ZodString) => z.union([item, z.array(item).min(1).max(100)], { error: 'must be a string or a list of strings' });
const iamAction = z.string().max(256).regex(/^(\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$/, 'an IAM action such as "s3:GetObject", "s3:Get*" or "*"');
const iamResource = z.string().max(2048).regex(/^(\*|arn:\S+)$/, 'an ARN (arn:aws:...) or "*"');
const conditionValue = z.union([z.string(), z.number(), z.boolean()]);

/**
 * A statement of an IAM identity policy, added to the job role's inline
 * policy (docs/security.md): the instances may then call what it allows. The
 * job spec's policyStatements are validated with it, and so is every statement
 * again before the policy is written.
 */
export const PolicyStatementSchema = z
  .object({
    Sid: z.string().max(128).regex(/^[A-Za-z0-9]+$/, 'letters and digits only').refine((sid) => !RESERVED_SIDS.includes(sid), { error: (i) => `${JSON.stringify(i.input)} is spotbatch's own statement (the job's logs): choose another Sid` }).optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Action: oneOrMore(iamAction).optional(),
    NotAction: oneOrMore(iamAction).optional(),
    Resource: oneOrMore(iamResource).optional(),
    NotResource: oneOrMore(iamResource).optional(),
    /** {"StringEquals": {"s3:prefix": ["data/"]}}: operator, then condition key, then value(s). */
    Condition: ownRecord(z.string().min(1).max(128), ownRecord(z.string().min(1).max(256), z.union([conditionValue, z.array(conditionValue).max(100)]))).optional(),
  })
  .strict()
  .superRefine((st, ctx) => {
    if ((st.Action === undefined) === (st.NotAction === undefined)) ctx.addIssue({ code: 'custom', path: ['Action'], message: 'give exactly one of "Action" or "NotAction"' });
    if ((st.Resource === undefined) === (st.NotResource === undefined)) ctx.addIssue({ code: 'custom', path: ['Resource'], message: 'give exactly one of "Resource" or "NotResource"' });
  });

export type PolicyStatement = z.input<typeof PolicyStatementSchema>;

function checkStatement(s: unknown, i: number): Record<string, unknown> {
  const parsed = PolicyStatementSchema.safeParse(s);
  if (!parsed.success) {
    const first = issuesOf(parsed.error, `policyStatements[${i}]`)[0]!;
    throw new PermanentError(`security: ${first.path}: ${first.rule}`);
  }
  return parsed.data;
}

/**
 * The inline policy document (JSON), or PermanentError naming the bad
 * statement: its shape, then the fleet's guard (checked at submit too; again
 * here in case the guard was narrowed since).
 */
export function inlinePolicy(jobId: string, extra: unknown[] = [], guard: PolicyGuard = STRICT_GUARD): string {
  if (!Array.isArray(extra)) throw new PermanentError('security: policyStatements must be an array');
  const statements = extra.map(checkStatement);
  const refused = guardIssues(statements, guard)[0];
  if (refused) throw new PermanentError(`security: ${refused.path}: ${refused.rule}`);
  return policyDocument(jobId, statements);
}

/**
 * The document of the default and the given (already checked) statements, or
 * PermanentError when it is larger than IAM allows. The job spec checks its
 * statements' size with this before the job exists.
 */
export function policyDocument(jobId: string, statements: readonly unknown[]): string {
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [...defaultStatements(jobId), ...statements] });
  const size = doc.replace(/\s/g, '').length;
  if (size > MAX_POLICY_CHARS) {
    throw new PermanentError(`security: the role policy would have ${size} characters (whitespace excluded), more than IAM's ${MAX_POLICY_CHARS}`);
  }
  return doc;
}
