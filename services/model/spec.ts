/**
 * The job spec: what a user submits (JSON), validated at the boundary. Types
 * are inferred from the schema; docs/job-spec.schema.json is generated from it
 * (`npm run docs:gen`) and docs/job-spec.md explains it.
 */
import { z } from 'zod';
import { cidrSchema, DEFAULT_REGION, parseWith, regionSchema, zoneSchema } from '../../shared/validation.js';
import { ownRecord } from '../../shared/records.js';
import { ArtifactRefSchema, FileModeSchema } from './artifact-digest.js';
import { CheckpointSpecSchema, checkpointPathUser } from './checkpoint-spec.js';
import { PolicyStatementSchema, policyDocument } from './policy.js';
import { checkPolicyGuard, type PolicyGuard } from './policy-guard.js';
import { ENV_NAME, ENV_NAME_RULE, execBytes, hasNul, isReservedEnvName, MAX_EXEC_BYTES, NUL_RULE, RESERVED_ENV_RULE } from '../../shared/shell.js';

export type { PolicyStatement } from './policy.js';

/** Job ids fit in an IAM role name (64) after the `spotbatch-` prefix. */
export const MAX_JOB_ID_LENGTH = 54;

/** A field only the CLI reads (a local path): refused, with `rule`, in a spec sent to the fleet. */
const localOnly = (rule: string) =>
  z
    .unknown()
    .refine((v) => v === undefined, rule)
    .optional();

/*
 * What the agent can carry (shared/shell.ts, shared with checkPlan at step.run): a spec that breaks it
 * is refused here, at submit, with the field path, so nothing is created for a spec that could never run.
 */
/** A word the step gets (argument, variable value): no NUL. */
const word = (max: number) => z.string().max(max).refine((w) => !hasNul(w), NUL_RULE);
const envName = z.string().regex(ENV_NAME, ENV_NAME_RULE);
const env = ownRecord(envName, word(32_768))
  .refine((e) => Object.keys(e).length <= 200, 'at most 200 variables')
  .superRefine((e, ctx) => {
    // On the variable (not its key), so the path survives the tasks union: tasks[0].env.SPOTBATCH_X.
    for (const name of Object.keys(e)) if (isReservedEnvName(name)) ctx.addIssue({ code: 'custom', path: [name], message: RESERVED_ENV_RULE });
  });

/** A duration: seconds as a number, or "90s", "10m", "2h". */
export const duration = z.union([
  z.number().int().min(1).max(7 * 24 * 3600),
  z
    .string()
    .regex(/^\d+(s|m|h)$/, 'a duration such as "90s", "10m" or "2h"')
    .transform((s) => Number(s.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[s.slice(-1) as 's' | 'm' | 'h']),
]);

/** A deadline given as a duration from the submission ("52h", "3d"): kept as written (a stored spec parses again), read by deadlineAt. */
const DEADLINE_DURATION = /^(\d{1,7})(s|m|h|d)$/;
const DEADLINE_UNIT = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
/** The longest deadline a job may name: 60 days (a planner's horizon). */
const MAX_DEADLINE_SECONDS = 60 * 86_400;

function deadlineSeconds(text: string): number | undefined {
  const m = DEADLINE_DURATION.exec(text);
  return m ? Number(m[1]) * DEADLINE_UNIT[m[2] as keyof typeof DEADLINE_UNIT] : undefined;
}

const deadline = z.union([
  z.string().datetime({ offset: true }),
  z
    .string()
    .regex(DEADLINE_DURATION, 'an ISO date-time, or a duration such as "52h" or "3d"')
    .refine((t) => {
      const n = deadlineSeconds(t)!;
      return n >= 60 && n <= MAX_DEADLINE_SECONDS;
    }, 'from 1 minute to 60 days'),
]);

/** The deadline of a spec as epoch ms: a date-time as written, a duration counted from `submittedAt`; undefined without one. */
export function deadlineAt(spec: { deadline?: string | undefined }, submittedAt: number): number | undefined {
  if (spec.deadline === undefined) return undefined;
  const rel = deadlineSeconds(spec.deadline);
  return rel !== undefined ? submittedAt + rel * 1000 : Date.parse(spec.deadline);
}

const remotePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

const cidr = cidrSchema;

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an instance type such as m5.large');
const region = regionSchema;
const zone = zoneSchema;
const amiId = z.string().regex(/^ami-[0-9a-f]{8,17}$/, 'an AMI id (ami-...)');
/**
 * "al2023" (the newest Amazon Linux 2023 image of each region and architecture), an AMI id used as is in
 * every region, or an image of one region ({"id", "region"}) that the job copies to every other region it
 * uses (CopyImage) and deregisters at teardown.
 */
const image = z.union([amiId, z.enum(['al2023']), z.object({ id: amiId, region }).strict()]);

export const StepSchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "_" or "-"').optional(),
    /** An inline POSIX sh script. */
    run: z.string().min(1).max(262_144).optional(),
    /** Or the script as an artifact of the fleet's store ("sha256:..."): the CLI stores a large `script` file so. */
    artifact: ArtifactRefSchema.optional(),
    /** A local script file: read by the CLI at submit time (inline as `run`, or stored as `artifact`); refused in a submitted spec. */
    script: localOnly('a local file is read by the CLI (spotbatch submit); send the script inline as "run" or stored as "artifact"'),
    timeout: duration.optional(),
  })
  .strict()
  .refine((s) => (s.run === undefined) !== (s.artifact === undefined) || s.script !== undefined, { message: 'exactly one of "run" or "artifact"' });

export const TaskInputSchema = z
  .object({
    args: z.array(word(32_768)).max(256).optional(),
    env: env.optional(),
  })
  .strict();

/** Inline upload content: at most this many characters (larger files go through the artifact store). */
export const MAX_INLINE_UPLOAD = 65_536;

/**
 * A file or folder put on the instance (below the login home) before the step:
 * inline `content`, one stored file (`artifact`), or a folder (`tree`: the
 * artifact of its manifest). `from` (a local path) is the CLI's: it stores
 * the files and sends one of the others; the fleet never opens a path a spec names.
 */
export const UploadSchema = z
  .object({
    from: localOnly('a local path is read by the CLI (spotbatch submit), which stores the files in the fleet\'s artifact store; a submitted spec gives "content", "artifact" or "tree"'),
    to: remotePath,
    /** The file's text (UTF-8). */
    content: z.string().max(MAX_INLINE_UPLOAD).optional(),
    /** One file: its artifact in the fleet's store. */
    artifact: ArtifactRefSchema.optional(),
    /** A folder: the artifact of its manifest ({"files": [{"path", "artifact", "mode"}], "dirs": [...]}). */
    tree: ArtifactRefSchema.optional(),
    /** The file's mode (content or artifact); default 0644 (420). */
    mode: FileModeSchema.optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    if (u.from !== undefined) return;
    const given = [u.content, u.artifact, u.tree].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of "content", "artifact" (a file) or "tree" (a folder)' });
    else if (u.tree !== undefined && u.mode !== undefined) ctx.addIssue({ code: 'custom', path: ['mode'], message: 'only for a file ("content" or "artifact"); a tree\'s manifest gives each file\'s mode' });
  });


/** The longest job id, for checking the policy's size before the id is known. */
const LONGEST_JOB_ID = 'x'.repeat(MAX_JOB_ID_LENGTH);

export const JobSpecSchema = z
  .object({
    /** Where an editor finds this schema; ignored. */
    $schema: z.string().optional(),
    /**
     * Chosen by the submitter for idempotency (the CLI sets one); otherwise derived from the message.
     * At most 54 characters: the job's role and profile are named `spotbatch-<id>`, and IAM allows 64.
     */
    id: z
      .string()
      .max(MAX_JOB_ID_LENGTH)
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits or "-", starting with a letter or digit')
      .min(3)
      .optional(),
    name: z.string().min(1).max(128),
    /** How many tasks, or one entry per task with its own arguments and variables. */
    tasks: z.union(
      [z.object({ count: z.number().int().min(1).max(10_000) }).strict(), z.array(TaskInputSchema).min(1).max(10_000)],
      { error: 'must be {"count": N} or a list of tasks ({"args": [...], "env": {...}})' },
    ),
    /** The step as an argument vector: run as is, task args appended, never through a shell string. */
    command: z.array(word(32_768).min(1)).min(1).max(256).optional(),
    /** Or a list of steps (inline scripts or local script files), run in order. */
    steps: z.array(StepSchema).min(1).max(20).optional(),
    env: env.optional(),
    uploads: z.array(UploadSchema).max(50).optional(),
    instances: z
      .object({
        types: z.array(instanceType).min(1).max(20),
        regions: z.union([z.array(region).min(1).max(10), z.literal('auto')]).default([DEFAULT_REGION]),
        zones: z.union([z.array(zone).min(1).max(30), z.literal('auto')]).default('auto'),
        image: image.default('al2023'),
        user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a login user name').default('ec2-user'),
        /** USD per instance-hour; default: the on-demand price. */
        maxPrice: z.number().positive().max(1000).optional(),
        /**
         * The most of the job's tasks one pool (zone and type) may hold, 0.05..1, a hard cap: tasks spread over the
         * best ceil(1 / share) pools, since interruptions of one pool arrive together. Default 0.34 (three pools).
         * "auto": the spread is risk-based, a further pool while its premium is under the reclaim loss it insures
         * (docs/placement.md).
         */
        maxPoolShare: z.union([z.number().min(0.05).max(1), z.literal('auto')], { error: 'must be a share from 0.05 to 1, or "auto"' }).optional(),
        /** Pools whose spot placement score (1..10) is under this are left out while others remain (the best score present, when none reaches it). Default 1: none. */
        minPlacementScore: z.number().int().min(1).max(10).optional(),
      })
      .strict(),
    ssh: z
      .object({
        /** Who may reach tcp/22: default this dispatcher's address /32. 0.0.0.0/0 only when written. */
        ingressCidr: cidr.optional(),
      })
      .strict()
      .default({}),
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).max(20).default(3),
        /** Exit codes that start a new attempt. */
        retryExitCodes: z.array(z.number().int().min(1).max(255)).max(255).default([]),
        /** Exit codes that fail the task at once (wins over retryExitCodes). */
        failExitCodes: z.array(z.number().int().min(1).max(255)).max(255).default([]),
        /** Spot interruptions a task may survive (counted apart from exit-code retries). */
        maxInterruptions: z.number().int().min(0).max(100).default(5),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        step: duration.default(3600),
        /** A heartbeat older than this counts as a lost instance. */
        heartbeat: duration.default(120),
      })
      .strict()
      .prefault({}),
    budgetUsd: z.number().positive().max(1_000_000).optional(),
    /** Statements added to the job role's inline policy, after spotbatch's default (its own log group). */
    policyStatements: z.array(PolicyStatementSchema).max(50).optional(),
    tags: ownRecord(z.string().min(1).max(120).regex(/^(?!aws:)(?!spotbatch:)/, 'must not start with "aws:" or "spotbatch:"'), z.string().max(250))
      .refine((t) => Object.keys(t).length <= 40, 'at most 40 tags')
      .default({}),
    /**
     * On a rebalance recommendation (elevated risk of interruption): "ignore",
     * or "migrate": request the replacement at once and move the task to it
     * when it is running (with its checkpoint, if any), before any notice.
     */
    onRebalance: z.enum(['ignore', 'migrate']).default('ignore'),
    /** Checkpoint and resume across interruptions (docs/checkpoint.md). */
    checkpoint: CheckpointSpecSchema.optional(),
    /**
     * When every task must have finished: an ISO date-time, or a duration from the submission ("52h").
     * The fleet meets it by the deadline policy (docs/planner.md): spot while it can, on demand when it must.
     */
    deadline: deadline.optional(),
    /**
     * The compute one task needs (a duration): the work the deadline policy fits before the deadline, and
     * the runtime placement prices. Default: the step timeout times the number of steps (an upper bound).
     */
    runtime: duration.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.command === undefined) === (spec.steps === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'give exactly one of "command" or "steps"' });
    }
    // A step gets the command, its task's args and the job's and its task's env: no more than exec can pass.
    let tooBig = 0;
    for (const [i, t] of (Array.isArray(spec.tasks) ? spec.tasks : [{}]).entries()) {
      const bytes = execBytes([...(spec.command ?? []), ...(t.args ?? [])], { ...spec.env, ...t.env });
      if (bytes <= MAX_EXEC_BYTES) continue;
      const path = Array.isArray(spec.tasks) ? ['tasks', i] : ['env'];
      ctx.addIssue({ code: 'custom', path, message: `command, args and env come to ${bytes} bytes: more than a program can be given (at most ${MAX_EXEC_BYTES})` });
      if (++tooBig === 3) break;
    }
    const both = spec.retry.retryExitCodes.filter((c) => spec.retry.failExitCodes.includes(c));
    if (both.length) ctx.addIssue({ code: 'custom', path: ['retry', 'failExitCodes'], message: `exit codes ${both.join(', ')} also listed in retryExitCodes` });
    if (spec.policyStatements) {
      try {
        policyDocument(spec.id ?? LONGEST_JOB_ID, spec.policyStatements);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['policyStatements'], message: (err as Error).message.replace(/^security: /, '') });
      }
    }
    const user = spec.checkpoint && checkpointPathUser(spec.checkpoint.path);
    if (user !== undefined && user !== spec.instances.user) {
      ctx.addIssue({
        code: 'custom',
        path: ['checkpoint', 'path'],
        message: `must be below the login home of instances.user (/home/${spec.instances.user}/...), not /home/${user}`,
      });
    }
    if (spec.instances.zones !== 'auto' && spec.instances.regions !== 'auto') {
      const regions = spec.instances.regions;
      spec.instances.zones.forEach((z, i) => {
        if (!regions.includes(z.slice(0, -1))) ctx.addIssue({ code: 'custom', path: ['instances', 'zones', i], message: `zone ${z} is not in one of the regions ${regions.join(', ')}` });
      });
    }
  });

export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type JobSpec = z.output<typeof JobSpecSchema>;

/**
 * The fleet's IAM guard on the spec's policyStatements (config `security`,
 * docs/security.md): a ValidationError naming each refused statement's field
 * and rule. The CLI runs it before sending; job.submit runs it again with the
 * dispatchers' configuration before anything exists.
 */
export function checkSpecPolicy(spec: { policyStatements?: readonly unknown[] | undefined }, guard: PolicyGuard): void {
  checkPolicyGuard(spec.policyStatements, guard);
}

/** Parse a spec; throws a ValidationError listing every problem by field path and rule. */
export function parseJobSpec(input: unknown): JobSpec {
  return parseWith(JobSpecSchema, input, 'job spec');
}

/** The per-task inputs, expanded from a count or a list. */
export function taskInputs(spec: JobSpec): Array<z.output<typeof TaskInputSchema>> {
  return Array.isArray(spec.tasks) ? spec.tasks : Array.from({ length: spec.tasks.count }, () => ({}));
}

/** Task ids sort in task order: 0000, 0001, ... */
export function taskId(index: number): string {
  return String(index).padStart(4, '0');
}
