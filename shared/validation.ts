import { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

/**
 * The fleet's one IPv4 CIDR rule (job specs, configuration, security
 * resources): zod's own `cidrv4` (octets 0 to 255, prefix 0 to 32, no
 * leading zeros), with the rule in words.
 */
const CIDR_RULE = 'an IPv4 CIDR such as 203.0.113.7/32';
export const cidrSchema = z.cidrv4({ error: CIDR_RULE });

/**
 * The fleet's one region rule: two letters, one or two words, a number
 * (`us-east-1`, `us-gov-west-1`, `us-isob-east-1`, `ap-southeast-5`). Whether
 * EC2 offers it is asked of EC2 (DescribeRegions), not guessed here.
 */
/** The region of the fleet's own calls, and of a spec that names none, unless configured. */
export const DEFAULT_REGION = 'us-east-1';
const REGION_RULE = 'a region such as us-east-1';
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+){1,2}-\d{1,2}$/;
export const regionSchema = z.string().regex(REGION_PATTERN, REGION_RULE);
/** An availability zone: its region and a letter (`us-east-1a`). */
export const zoneSchema = z.string().regex(new RegExp(`${REGION_PATTERN.source.slice(0, -1)}[a-z]$`), 'an availability zone such as us-east-1a');

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
