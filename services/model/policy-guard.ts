/**
 * The fleet's IAM guard: what a job spec's `policyStatements` may grant the
 * job role (docs/security.md, "What a submitter can and cannot grant").
 * By default an Allow statement may not name `*` actions, any action of iam,
 * sts or organizations (iam:PassRole included), NotAction (it grants every
 * other action), nor write actions on every resource (`Resource: "*"` or
 * NotResource). Deny statements are always fine. An operator widens it in
 * the fleet configuration: `security.allowActions` (IAM action patterns the
 * guard lets through) and `security.allowWildcardResourceWrites`.
 */
import { ValidationError, type ValidationIssue } from '../../shared/errors.js';

export interface PolicyGuard {
  /** Action patterns let through although a rule refuses them ("iam:PassRole", "sts:AssumeRole", "*"). */
  allowActions: readonly string[];
  /** Allow write actions on `Resource: "*"` and with NotResource. */
  allowWildcardResourceWrites: boolean;
}

/** The guard of a fleet that widens nothing. */
export const STRICT_GUARD: PolicyGuard = { allowActions: [], allowWildcardResourceWrites: false };

/** Services whose every action is refused: they reach the account itself. */
const ACCOUNT_SERVICES = ['iam', 'sts', 'organizations'];
/** Verbs that only read; any other verb, and a verb starting with a wildcard, counts as a write. */
const READ_VERBS = ['get', 'list', 'describe', 'head', 'batchget'];

/** What the guard reads of a statement (the schema has checked the shapes). */
interface StatementLike {
  Effect?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
}

const list = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * Whether every action `action` can stand for is also one `pattern` stands
 * for (IAM wildcards `*` and `?`, case-insensitive): "iam:Pass*" is within
 * "iam:*" and "*", "iam:PassRole" within "iam:Pass*", "s3:*" not within "s3:Get*".
 */
export function actionWithin(action: string, pattern: string): boolean {
  const a = action.toLowerCase();
  const p = pattern.toLowerCase();
  const memo = new Map<number, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = i * (a.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let out: boolean;
    if (i === p.length) out = j === a.length;
    else if (p[i] === '*') out = match(i + 1, j) || (j < a.length && match(i, j + 1));
    else if (j === a.length) out = false;
    // "?" stands for one character: a literal or the action's own "?", never its "*".
    else if (p[i] === '?') out = a[j] !== '*' && match(i + 1, j + 1);
    else out = a[j] === p[i] && a[j] !== '*' && a[j] !== '?' && match(i + 1, j + 1);
    memo.set(key, out);
    return out;
  };
  return match(0, 0);
}

const allowed = (action: string, guard: PolicyGuard): boolean => guard.allowActions.some((p) => actionWithin(action, p));

/** Why the guard refuses this action by default, or undefined. */
function actionRule(action: string): string | undefined {
  const service = action.split(':')[0]!.toLowerCase();
  if (!action.includes(':') || service.includes('*') || service.includes('?')) return 'refuses "*" actions: they grant every action, iam:* included';
  if (ACCOUNT_SERVICES.includes(service)) return `refuses ${service}:*`;
  return undefined;
}

/** A write unless its verb starts with Get, List, Describe, Head or BatchGet (a wildcard verb is a write). */
export function isWriteAction(action: string): boolean {
  const verb = (action.split(':')[1] ?? action).toLowerCase();
  return !READ_VERBS.some((r) => verb.startsWith(r));
}

/** "*", an ARN that is only wildcards after its partition ("arn:*"), or every resource of one service ("arn:aws:s3:::*", every object of every bucket, "table/*"): every resource. */
export function everyResource(resource: string): boolean {
  if (resource === '*') return true;
  const parts = resource.split(':');
  if (parts[0] !== 'arn') return false;
  const wild = (p: string): boolean => /^[*?]*$/.test(p);
  if (parts.slice(2).every(wild)) return true;
  // Every resource of one service, in any region and account: arn:aws:s3:::* and every object of every bucket,
  // arn:aws:dynamodb:*:*:table/*, arn:aws:logs:*:*:log-group:* (a resource type, then only wildcards).
  if (!wild(parts[3] ?? '') || !wild(parts[4] ?? '')) return false;
  // S3's first segment is a bucket name; other services' is a resource type (table/, log-group:).
  const named = parts.slice(5).join(':');
  const rest = parts[2] === 's3' ? named : named.replace(/^[A-Za-z][A-Za-z0-9-]*[:/](?=.)/, '');
  return rest.split(/[:/]/).every(wild);
}

/** Every refusal of the guard, each naming the statement's field and the rule (empty: all fine). */
export function guardIssues(statements: readonly unknown[], guard: PolicyGuard, prefix = 'policyStatements'): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  statements.forEach((raw, i) => {
    const st = (raw && typeof raw === 'object' ? raw : {}) as StatementLike;
    if (st.Effect === 'Deny') return;
    const at = `${prefix}[${i}]`;
    const field = (name: string, value: unknown, j: number) => (Array.isArray(value) ? `${at}.${name}[${j}]` : `${at}.${name}`);
    let actions = list(st.Action);
    if (st.NotAction !== undefined) {
      // Allow + NotAction grants every action it does not list: as wide as "*".
      if (!allowed('*', guard)) {
        issues.push({
          path: `${at}.NotAction`,
          rule: 'an Allow statement with NotAction is not allowed (it grants every action it does not list, iam:* included; the fleet\'s guard refuses it unless security.allowActions has "*")',
        });
      }
      actions = ['*'];
    }
    list(st.Action).forEach((action, j) => {
      const rule = actionRule(action);
      if (rule && !allowed(action, guard)) {
        issues.push({ path: field('Action', st.Action, j), rule: `${JSON.stringify(action)} is not allowed (the fleet's guard ${rule}; an operator can allow it with security.allowActions)` });
      }
    });
    if (guard.allowWildcardResourceWrites) return;
    const writes = actions.filter(isWriteAction);
    if (!writes.length) return;
    const what = `write actions (${writes.map((w) => JSON.stringify(w)).join(', ')})`;
    const widen = 'name the resources (ARNs), or an operator can allow it with security.allowWildcardResourceWrites';
    if (st.NotResource !== undefined) {
      issues.push({ path: `${at}.NotResource`, rule: `is not allowed with ${what} (it means every resource it does not list; the fleet's guard refuses writes on every resource; ${widen})` });
    }
    list(st.Resource).forEach((resource, j) => {
      if (everyResource(resource)) issues.push({ path: field('Resource', st.Resource, j), rule: `${JSON.stringify(resource)} is not allowed for ${what} (the fleet's guard refuses writes on every resource; ${widen})` });
    });
  });
  return issues;
}

/** ValidationError (a PermanentError) listing every refusal, or nothing when the guard lets all statements through. */
export function checkPolicyGuard(statements: readonly unknown[] | undefined, guard: PolicyGuard, what = 'job spec'): void {
  const issues = guardIssues(statements ?? [], guard);
  if (issues.length) throw new ValidationError(what, issues);
}
