import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

type Issue = z.core.$ZodIssue;

function describeValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** The rule an issue broke, in the words a user reads (`must be >= 1`). */
export function ruleOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return /received undefined$/.test(issue.message) ? 'is required' : `must be ${article(issue.expected)}`;
    case 'too_small': {
      const op = issue.inclusive === false ? '>' : '>=';
      if (issue.origin === 'string') return Number(issue.minimum) === 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at least ${String(issue.minimum)} item(s)`;
      return `must be ${op} ${String(issue.minimum)}`;
    }
    case 'too_big': {
      const op = issue.inclusive === false ? '<' : '<=';
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at most ${String(issue.maximum)} item(s)`;
      return `must be ${op} ${String(issue.maximum)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map(describeValue).join(', ')}`;
    case 'invalid_format':
      if (issue.message && !issue.message.startsWith('Invalid')) return issue.message.startsWith('must ') ? issue.message : `must be ${issue.message}`;
      if (issue.format === 'regex' && 'pattern' in issue) return `must match ${String(issue.pattern)}`;
      return `must be a valid ${issue.format}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_union': {
      // Report the branch that got furthest: the first whose complaint is not about the type.
      const branches = (issue as { errors?: Issue[][] }).errors ?? [];
      const best = branches.find((b) => b.length && b.every((i) => i.code !== 'invalid_type'));
      if (best?.[0]) return ruleOf(best[0]);
      return issue.message && !issue.message.startsWith('Invalid input') ? issue.message : 'does not match any allowed form';
    }
    case 'invalid_key': {
      const inner = (issue as { issues?: Issue[] }).issues?.[0];
      return inner ? `key ${ruleOf(inner)}` : 'has an invalid key';
    }
    default:
      return issue.message;
  }
}

function article(type: string): string {
  if (type === 'int') return 'an integer';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

export function pathOf(issue: Issue, prefix = ''): string {
  const parts = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)));
  const joined = parts.reduce((acc, p) => (p.startsWith('[') ? acc + p : acc ? `${acc}.${p}` : p), '');
  return prefix ? (joined ? `${prefix}.${joined}` : prefix) : joined;
}

export function issuesOf(error: z.ZodError, prefix = ''): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: pathOf(issue, prefix), rule: ruleOf(issue) }));
}

/**
 * Parse `input` with `schema`; on failure throw a ValidationError listing every
 * problem by field path and rule. `what` names the input (`job spec`, `body of job.submit`).
 */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(what, issuesOf(result.error));
  return result.data;
}
