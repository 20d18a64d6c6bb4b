/**
 * The job role's documents: the trust policy (EC2 may assume it) and the one
 * inline policy, a minimal default plus the statements the spec adds.
 */
import { PermanentError } from '../../shared/errors.js';

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

function checkStatement(s: unknown, i: number): Record<string, unknown> {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new PermanentError(`security: policyStatements.${i}: must be an object`);
  const st = s as Record<string, unknown>;
  if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw new PermanentError(`security: policyStatements.${i}.Effect: must be Allow or Deny`);
  if (st.Action === undefined && st.NotAction === undefined) throw new PermanentError(`security: policyStatements.${i}: needs Action or NotAction`);
  if (st.Resource === undefined && st.NotResource === undefined) throw new PermanentError(`security: policyStatements.${i}: needs Resource or NotResource`);
  if (st.Principal !== undefined || st.NotPrincipal !== undefined) throw new PermanentError(`security: policyStatements.${i}: an identity policy takes no Principal`);
  return st;
}

/** The inline policy document (JSON), or PermanentError naming the bad statement. */
export function inlinePolicy(jobId: string, extra: unknown[] = []): string {
  if (!Array.isArray(extra)) throw new PermanentError('security: policyStatements must be an array');
  return policyDocument(jobId, extra.map(checkStatement));
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
