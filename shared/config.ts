/**
 * Configuration: defaults, then an optional JSON or YAML file (SPOTBATCH_CONFIG
 * or --config), then environment variables, validated once at start-up.
 * AWS endpoints are not configured here: the SDK reads AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_<SERVICE> itself, so the same code talks to AWS or to the
 * emulators.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import YAML from 'yaml';
import { ConfigError, type ValidationIssue } from './errors.js';
import { artifactLocationRule, parseArtifactLocation, type ArtifactLocation } from './artifact-location.js';
import { cidrSchema, DEFAULT_REGION, pathOf, regionSchema, ruleOf } from './validation.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** A checkpoint store's name: what a job spec's checkpoint.store says. */
export const CHECKPOINT_STORE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const checkpointStoreName = z.string().regex(CHECKPOINT_STORE_NAME, 'must be a store name: 1 to 63 lower-case letters, digits, "-" or "_"');

/** A checkpoint store the fleet owns (docs/checkpoint.md): a folder of the dispatchers, or an S3 bucket and prefix. */
export const CheckpointStoreConfigSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('local'),
      /** An absolute folder only the fleet writes to: <dir>/<jobId>/<taskId>/... */
      dir: z
        .string()
        .refine((d) => path.isAbsolute(d) && path.normalize(d) === d.replace(/\/+$/, '') && d !== '/' && !d.includes('\0'), 'must be an absolute folder (not "/", no ".." or "." segments) that the fleet owns'),
    })
    .strict(),
  z
    .object({
      type: z.literal('s3'),
      bucket: z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a bucket name: 3 to 63 lower-case letters, digits, "." or "-", starting and ending with a letter or digit')
        .refine((b) => !/^\d+\.\d+\.\d+\.\d+$/.test(b) && !b.includes('..'), 'must be a bucket name that does not look like an IP address or contain ".."'),
      /** Key prefix; keys are <prefix>/<jobId>/<taskId>/... */
      prefix: z
        .string()
        .max(512)
        .refine((p) => p === '' || !p.split('/').some((s) => s === '' || s === '.' || s === '..'), 'must not start with "/" or contain empty, "." or ".." segments')
        .default(''),
    })
    .strict(),
], { error: 'must be a store: {"type": "local", "dir"} or {"type": "s3", "bucket", "prefix"}' });

/** A credential the placement-score collector may use: a named profile, or an access key pair. Never logged. */
const MarketCredentialSchema = z.union([
  z.object({ name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1 to 64 letters, digits, ".", "_" or "-"'), profile: z.string().min(1).max(128) }).strict(),
  z
    .object({
      name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1 to 64 letters, digits, ".", "_" or "-"'),
      accessKeyId: z.string().min(16).max(128),
      secretAccessKey: z.string().min(1).max(256),
      sessionToken: z.string().min(1).optional(),
    })
    .strict(),
], { error: 'must be {"name", "profile"} or {"name", "accessKeyId", "secretAccessKey"}' });
export type MarketCredential = z.infer<typeof MarketCredentialSchema>;

const instanceTypeName = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an instance type such as m5.large');

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/**
 * A URL the market fetches: https, or http only to this host (loopback: an
 * emulator, a local mirror), never with user:password@ (Node's fetch refuses
 * it and would print the URL, password included, in its error).
 */
function checkMarketUrl(value: string, ctx: z.core.$RefinementCtx<string>): void {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a URL' });
    return;
  }
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not carry a user name or password (user:password@host)' });
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) ctx.addIssue({ code: 'custom', message: 'must be an https:// URL (http:// only to localhost, 127.0.0.1 or [::1])' });
}

/** A file, or a URL as checkMarketUrl allows (anything with a scheme is taken for a URL). */
const marketSource = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) checkMarketUrl(value, ctx);
  });

export const MarketConfigSchema = z
  .object({
    /** Instance types collected besides those open jobs name. */
    types: z.array(instanceTypeName).max(200).default(['m5.large', 'm6i.large', 'c5.large', 'c6i.large', 'r5.large', 'm6g.large']),
    /** At most this many more types that open jobs' specs name (known types only, the most named first); 0: none. */
    specTypes: int(0, 200).default(10),
    /** Regions collected; default: lifecycle.regions. */
    regions: z.array(regionSchema).min(1).optional(),
    /** The Spot Instance Advisor feed (spot-advisor-data.json): an https URL (http only to loopback) or a file; default the shipped data/market/spot-advisor file. */
    advisorFeed: marketSource.optional(),
    /** On-demand prices, a CSV of region,instance_type,ondemand_usd_per_hour (a file, or a URL as advisorFeed); default the shipped data/market/prices/ondemand_prices.csv. */
    onDemandFile: marketSource.optional(),
    /** Spot placement scores (GetSpotPlacementScores) within AWS's budget of new query configurations per account per 24 h. */
    sps: z
      .object({
        /** New query configurations per credential per rolling 24 h (AWS does not publish it; about 50). AWS counts per account: one credential per account. */
        budget: int(1, 10_000).default(50),
        /** Share of a run's queries that types only job specs name (market.specTypes) may take. */
        specShare: z.number().min(0).max(1).default(0.25),
        /** Pools (region, type) whose scores moved most the day before, then this many picked at random. */
        topK: int(0, 10_000).default(20),
        explore: int(0, 10_000).default(10),
        /** Target capacities, cycled day by day and query by query. */
        targets: z.array(int(1, 2_000_000_000)).min(1).default([1, 5, 10, 20, 30, 40, 50]),
        /** How often the collector runs; each run spends its share of the day's budget. */
        everyHours: int(1, 24).default(24),
        /** Credentials rotated when one's budget is spent; empty: the fleet's own. The budget is kept per name: one credential per AWS account. */
        credentials: z.array(MarketCredentialSchema).max(50).default([]),
      })
      .strict()
      .prefault({}),
    /** The internal timer of `spotbatch local` (and of any dispatcher started with it): EventBridge Scheduler in a deployment. */
    schedule: z
      .object({
        enabled: z.boolean().default(false),
        priceMinutes: int(1, 1440).default(5),
        ifHours: int(1, 168).default(24),
        onDemandHours: int(1, 720).default(24),
        /** UTC hour of the daily summary. */
        summaryHour: int(0, 23).default(0),
      })
      .strict()
      .prefault({}),
    /** Where the daily summary goes: a folder (one JSON file a day) and/or a webhook (POST of the JSON). */
    summary: z
      .object({
        dir: z.string().refine((d) => path.isAbsolute(d), 'must be an absolute folder').optional(),
        webhook: z.string().superRefine(checkMarketUrl).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const ConfigSchema = z
  .object({
    /** Prefix of every queue and table name. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/, '1 to 40 letters, digits, - or _')
      .default('spotbatch'),
    /** Region of the fleet's own queues and tables. */
    region: z.string().min(1).default(DEFAULT_REGION),
    /**
     * The fleet's artifact store: where the CLI stages the files and scripts a spec names (and specs too large
     * for a queue message), addressed by sha256, and where dispatchers read them. "local:/absolute/folder"
     * or "s3://bucket/prefix". Without one, a spec can only inline its inputs.
     */
    artifacts: z
      .string()
      .refine((s) => artifactLocationRule(s) === undefined, { error: (i) => artifactLocationRule(String(i.input)) ?? 'an artifact store' })
      .optional(),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        format: z.enum(['pretty', 'json']).optional(),
      })
      .strict()
      .prefault({}),
    dispatcher: z
      .object({
        /** Receive loops per queue; each handles up to batchSize messages at once. */
        concurrency: int(1, 100).default(4),
        batchSize: int(1, 10).default(1),
        /** Long-poll wait; the local emulator answers only when the batch is full or the wait ends, so local uses 1. */
        waitTimeSeconds: int(0, 20).default(20),
        visibilityTimeoutSeconds: int(2, 43_200).default(60),
        /** Visibility is extended this often while a handler runs (must be below the visibility timeout). */
        heartbeatSeconds: int(1, 43_199).default(20),
        /**
         * After a retryable failure, hide the message for 1, 2, 4 ... seconds up to this cap
         * (ChangeMessageVisibility). 0: leave it to the visibility timeout. The local
         * emulator counts a visibility change as a receive, so `spotbatch local` uses 0.
         */
        retryBackoffMaxSeconds: int(0, 43_200).default(300),
        /** Deliveries before SQS moves a message to the dead-letter queue (redrive policy, set by `setup`). */
        maxReceiveCount: int(1, 1000).default(5),
        /** On SIGTERM: how long in-flight handlers may still run. */
        shutdownTimeoutSeconds: int(1, 3600).default(30),
        /** Port of GET /healthz; 0 picks a free port, -1 turns it off. */
        healthPort: int(-1, 65_535).default(-1),
        healthHost: z.string().min(1).default('127.0.0.1'),
        queues: z.array(z.enum(['master', 'request', 'events'])).min(1).default(['master', 'request', 'events']),
      })
      .strict()
      .prefault({}),
    reconciler: z
      .object({
        enabled: z.boolean().default(true),
        intervalSeconds: int(1, 3600).default(15),
        /** How long a lease holder stays holder without renewing. */
        leaseSeconds: int(2, 3600).default(45),
      })
      .strict()
      .prefault({}),
    lifecycle: z
      .object({
        /** How often polling loops (spot.check, step.check) look again. */
        pollSeconds: int(1, 300).default(5),
        /** SSH port of the instances (the simulator announces its own). */
        sshPort: int(1, 65_535).default(22),
        /** Default tcp/22 ingress of a job's security group: this dispatcher's public address /32. */
        sshIngressCidr: cidrSchema.optional(),
        /** base64 of 32 bytes: encrypts each job's private keys at rest. */
        secretKey: z
          .string()
          .refine((k) => Buffer.from(k, 'base64').length === 32, 'base64 of exactly 32 bytes (openssl rand -base64 32)')
          .optional(),
        /** A file that holds secretKey (read by loadConfig, which sets secretKey from it): the key stays off screens and out of the environment. */
        secretKeyFile: z.string().min(1).optional(),
        /** Earlier values of secretKey, base64 of 32 bytes each: they only decrypt what they made (key rotation); the current key encrypts. */
        previousSecretKeys: z
          .array(z.string().refine((k) => Buffer.from(k, 'base64').length === 32, 'base64 of exactly 32 bytes (an earlier SPOTBATCH_SECRET_KEY)'))
          .optional(),
        /** Regions a spec's "auto" means until placement chooses regions itself. */
        regions: z.array(regionSchema).min(1).default([DEFAULT_REGION]),
        /** How long step.run waits for SSH on a running instance before giving the attempt up. */
        sshWaitSeconds: int(10, 3600).default(300),
        /** How long a pool that interrupted a task is avoided for the rest of that job. */
        cooldownSeconds: int(0, 7 * 24 * 3600).default(1800),
        /**
         * How long a task may wait for a pool (every pool out of capacity, every region at its spot quota)
         * before it fails with what it waited for; spot.request looks again every 60 s meanwhile.
         */
        noPoolWaitSeconds: int(1, 7 * 24 * 3600).default(1800),
        /**
         * A job with a deadline: the launch overhead (request to step start) the deadline policy counts for a
         * start when the pool has no recorded launch median; job.submit refuses a deadline closer than a task's
         * work plus this.
         */
        deadlineOverheadSeconds: int(0, 24 * 3600).default(300),
        /**
         * After an interruption notice, leave a spot instance younger than an hour for EC2 to reclaim (free in
         * its first hour; one the fleet terminates is charged) and record who ended it (termination.ended). Off
         * by default: its row updates meet the task's own transitions, which then wait a redelivery.
         */
        leaveInterruptedToEc2: z.boolean().default(false),
        /** How long a job's copy of its custom image (CopyImage) may stay pending before its region is left out of the job (the job fails when none is left). */
        imageCopyWaitSeconds: int(1, 7 * 24 * 3600).default(3600),
        /** How often the agent on an instance asks the metadata service for a spot interruption notice. */
        metadataPollSeconds: int(1, 60).default(5),
        /** After a notice, how long the checkpoint save waits for the TERMed step to exit before it stops it and copies the folder. */
        checkpointGraceSeconds: int(0, 110).default(60),
        /**
         * security.teardown looks again after pollSeconds, doubling per try up to this. Below the
         * reconciler's 120 s for a finishing or cancelling job, so a teardown waiting its turn never looks stuck.
         */
        teardownMaxDelaySeconds: int(1, 110).default(60),
      })
      .strict()
      .prefault({}),
    /** The fleet's checkpoint stores by name; a job spec picks one by name (docs/checkpoint.md). */
    checkpoint: z
      .object({
        stores: z.record(checkpointStoreName, CheckpointStoreConfigSchema).default({}),
        /** The store of a spec that names none. */
        default: checkpointStoreName.default('default'),
      })
      .strict()
      .prefault({}),
    /** The fleet's own market data collection (docs/market.md). */
    market: MarketConfigSchema.prefault({}),
    /** What a job role may be (docs/security.md, "What a submitter can and cannot grant"). */
    security: z
      .object({
        /** ARN of the managed policy every job role gets as its permissions boundary; security.create makes no role without it. */
        permissionsBoundary: z
          .string()
          .max(2048)
          .regex(/^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]+$/, 'the ARN of a managed policy, such as arn:aws:iam::123456789012:policy/spotbatch-job-boundary')
          .optional(),
        /** IAM action patterns the guard lets through in a spec's policyStatements although a rule refuses them ("iam:PassRole", "*"). */
        allowActions: z
          .array(z.string().max(256).regex(/^(\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$/, 'an IAM action such as "iam:PassRole", "sts:Get*" or "*"'))
          .max(100)
          .default([]),
        /** Let a spec's Allow statements grant write actions on Resource "*" (or with NotResource). */
        allowWildcardResourceWrites: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // A checkpoint store's cleanup removes a job's keys under its root: it must not share a root with the artifact store.
    // (A bad artifacts value is reported by its own rule; zod still runs this refinement.)
    const artifacts = c.artifacts === undefined || artifactLocationRule(c.artifacts) !== undefined ? undefined : parseArtifactLocation(c.artifacts);
    for (const [name, store] of Object.entries(c.checkpoint.stores)) {
      if (artifacts && locationsOverlap(artifacts, store.type === 'local' ? { kind: 'local', dir: store.dir } : { kind: 's3', bucket: store.bucket, prefix: store.prefix })) {
        ctx.addIssue({ code: 'custom', path: ['checkpoint', 'stores', name], message: `overlaps the artifact store (artifacts, SPOTBATCH_ARTIFACTS): give checkpoints a folder or prefix of their own, neither inside the other` });
      }
    }
    const storeNames = Object.keys(c.checkpoint.stores);
    if (storeNames.length > 0 && !storeNames.includes(c.checkpoint.default)) {
      ctx.addIssue({
        code: 'custom',
        path: ['checkpoint', 'default'],
        message: `names no store of checkpoint.stores (${storeNames.sort().join(', ')}): set SPOTBATCH_CHECKPOINT_DEFAULT_STORE or name a store "${c.checkpoint.default}"`,
      });
    }
    if (c.dispatcher.heartbeatSeconds >= c.dispatcher.visibilityTimeoutSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['dispatcher', 'heartbeatSeconds'],
        message: `must be below dispatcher.visibilityTimeoutSeconds (${c.dispatcher.visibilityTimeoutSeconds})`,
      });
    }
    if (c.reconciler.intervalSeconds >= c.reconciler.leaseSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['reconciler', 'intervalSeconds'],
        message: `must be below reconciler.leaseSeconds (${c.reconciler.leaseSeconds})`,
      });
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

type Kind = 'string' | 'int' | 'bool' | 'list' | 'stores';

/** Environment variables and the setting each one sets. */
export const ENV_SETTINGS: ReadonlyArray<{ env: string; path: string[]; kind: Kind }> = [
  { env: 'SPOTBATCH_PREFIX', path: ['prefix'], kind: 'string' },
  { env: 'SPOTBATCH_ARTIFACTS', path: ['artifacts'], kind: 'string' },
  { env: 'AWS_REGION', path: ['region'], kind: 'string' },
  { env: 'LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { env: 'SPOTBATCH_LOG_FORMAT', path: ['log', 'format'], kind: 'string' },
  { env: 'SPOTBATCH_CONCURRENCY', path: ['dispatcher', 'concurrency'], kind: 'int' },
  { env: 'SPOTBATCH_BATCH_SIZE', path: ['dispatcher', 'batchSize'], kind: 'int' },
  { env: 'SPOTBATCH_WAIT_TIME_SECONDS', path: ['dispatcher', 'waitTimeSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_VISIBILITY_TIMEOUT_SECONDS', path: ['dispatcher', 'visibilityTimeoutSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_HEARTBEAT_SECONDS', path: ['dispatcher', 'heartbeatSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_RETRY_BACKOFF_MAX_SECONDS', path: ['dispatcher', 'retryBackoffMaxSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_MAX_RECEIVE_COUNT', path: ['dispatcher', 'maxReceiveCount'], kind: 'int' },
  { env: 'SPOTBATCH_SHUTDOWN_TIMEOUT_SECONDS', path: ['dispatcher', 'shutdownTimeoutSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_HEALTH_PORT', path: ['dispatcher', 'healthPort'], kind: 'int' },
  { env: 'SPOTBATCH_HEALTH_HOST', path: ['dispatcher', 'healthHost'], kind: 'string' },
  { env: 'SPOTBATCH_QUEUES', path: ['dispatcher', 'queues'], kind: 'list' },
  { env: 'SPOTBATCH_RECONCILER', path: ['reconciler', 'enabled'], kind: 'bool' },
  { env: 'SPOTBATCH_RECONCILER_INTERVAL_SECONDS', path: ['reconciler', 'intervalSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_LEASE_SECONDS', path: ['reconciler', 'leaseSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_POLL_SECONDS', path: ['lifecycle', 'pollSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_SSH_PORT', path: ['lifecycle', 'sshPort'], kind: 'int' },
  { env: 'SPOTBATCH_SSH_INGRESS_CIDR', path: ['lifecycle', 'sshIngressCidr'], kind: 'string' },
  { env: 'SPOTBATCH_SECRET_KEY', path: ['lifecycle', 'secretKey'], kind: 'string' },
  { env: 'SPOTBATCH_SECRET_KEY_FILE', path: ['lifecycle', 'secretKeyFile'], kind: 'string' },
  { env: 'SPOTBATCH_SECRET_KEYS_PREVIOUS', path: ['lifecycle', 'previousSecretKeys'], kind: 'list' },
  { env: 'SPOTBATCH_REGIONS', path: ['lifecycle', 'regions'], kind: 'list' },
  { env: 'SPOTBATCH_SSH_WAIT_SECONDS', path: ['lifecycle', 'sshWaitSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_COOLDOWN_SECONDS', path: ['lifecycle', 'cooldownSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_NO_POOL_WAIT_SECONDS', path: ['lifecycle', 'noPoolWaitSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_DEADLINE_OVERHEAD_SECONDS', path: ['lifecycle', 'deadlineOverheadSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_LEAVE_INTERRUPTED_TO_EC2', path: ['lifecycle', 'leaveInterruptedToEc2'], kind: 'bool' },
  { env: 'SPOTBATCH_IMAGE_COPY_WAIT_SECONDS', path: ['lifecycle', 'imageCopyWaitSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_METADATA_POLL_SECONDS', path: ['lifecycle', 'metadataPollSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_CHECKPOINT_GRACE_SECONDS', path: ['lifecycle', 'checkpointGraceSeconds'], kind: 'int' },
  { env: 'SPOTBATCH_TEARDOWN_MAX_DELAY_SECONDS', path: ['lifecycle', 'teardownMaxDelaySeconds'], kind: 'int' },
  { env: 'SPOTBATCH_CHECKPOINT_STORES', path: ['checkpoint', 'stores'], kind: 'stores' },
  { env: 'SPOTBATCH_CHECKPOINT_DEFAULT_STORE', path: ['checkpoint', 'default'], kind: 'string' },
  { env: 'SPOTBATCH_MARKET_TYPES', path: ['market', 'types'], kind: 'list' },
  { env: 'SPOTBATCH_MARKET_REGIONS', path: ['market', 'regions'], kind: 'list' },
  { env: 'SPOTBATCH_MARKET_ADVISOR_FEED', path: ['market', 'advisorFeed'], kind: 'string' },
  { env: 'SPOTBATCH_MARKET_ONDEMAND_FILE', path: ['market', 'onDemandFile'], kind: 'string' },
  { env: 'SPOTBATCH_MARKET_SPS_BUDGET', path: ['market', 'sps', 'budget'], kind: 'int' },
  { env: 'SPOTBATCH_MARKET_SCHEDULE', path: ['market', 'schedule', 'enabled'], kind: 'bool' },
  { env: 'SPOTBATCH_MARKET_SUMMARY_DIR', path: ['market', 'summary', 'dir'], kind: 'string' },
  { env: 'SPOTBATCH_MARKET_SUMMARY_WEBHOOK', path: ['market', 'summary', 'webhook'], kind: 'string' },
  { env: 'SPOTBATCH_PERMISSIONS_BOUNDARY', path: ['security', 'permissionsBoundary'], kind: 'string' },
  { env: 'SPOTBATCH_ALLOW_ACTIONS', path: ['security', 'allowActions'], kind: 'list' },
  { env: 'SPOTBATCH_ALLOW_WILDCARD_RESOURCE_WRITES', path: ['security', 'allowWildcardResourceWrites'], kind: 'bool' },
];

/** What an unreadable SPOTBATCH_CHECKPOINT_STORES becomes: loadConfig reports it with its rule. */
const STORES_NOT_JSON = Symbol('not JSON');
const STORES_RULE = 'must be a JSON object of stores, as {"default": {"type": "local", "dir": "/var/lib/spotbatch/checkpoints"}}';

function convert(raw: string, kind: Kind): unknown {
  switch (kind) {
    case 'int': {
      const n = Number(raw);
      return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      return raw;
    case 'stores':
      // JSON: {"default": {"type": "local", "dir": "/var/lib/spotbatch/checkpoints"}, "archive": {"type": "s3", "bucket": "b", "prefix": "p"}}
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return STORES_NOT_JSON;
      }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!next || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: file, rule: `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` }]);
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ path: file, rule: `is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}` }]);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError([{ path: file, rule: 'must hold an object' }]);
  return data as Record<string, unknown>;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON or YAML file; default: env SPOTBATCH_CONFIG. */
  file?: string;
  /** Settings that win over file and environment (command-line flags, tests). */
  overrides?: Record<string, unknown>;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * lifecycle.secretKeyFile (SPOTBATCH_SECRET_KEY_FILE): the key is read from the file into lifecycle.secretKey.
 * Errors name the setting and the file, never what the file holds.
 */
function readSecretKeyFile(input: Record<string, unknown>, envOf: Map<string, string>): void {
  const lifecycle = input.lifecycle;
  if (!lifecycle || typeof lifecycle !== 'object' || Array.isArray(lifecycle)) return;
  const l = lifecycle as Record<string, unknown>;
  const file = l.secretKeyFile;
  if (typeof file !== 'string' || file === '') return;
  const setting = `${envOf.get('lifecycle.secretKeyFile') ?? 'SPOTBATCH_SECRET_KEY_FILE'} (lifecycle.secretKeyFile)`;
  if (l.secretKey !== undefined && l.secretKey !== '') {
    const other = `${envOf.get('lifecycle.secretKey') ?? 'SPOTBATCH_SECRET_KEY'} (lifecycle.secretKey)`;
    throw new ConfigError([{ path: setting, rule: `set it or ${other}, not both` }]);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: setting, rule: `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` }]);
  }
  const key = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length !== 32) {
    throw new ConfigError([{ path: setting, rule: `${file} must hold base64 of exactly 32 bytes (openssl rand -base64 32)` }]);
  }
  l.secretKey = key;
}

/** Load and validate; throws ConfigError naming each bad setting (and its variable) and the rule. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.SPOTBATCH_CONFIG;
  const fromFile = file ? readConfigFile(file) : {};
  const fromEnv: Record<string, unknown> = {};
  const envOf = new Map<string, string>();
  if (!env.AWS_REGION && env.AWS_DEFAULT_REGION) setPath(fromEnv, ['region'], env.AWS_DEFAULT_REGION);
  for (const s of ENV_SETTINGS) {
    const raw = env[s.env];
    if (raw === undefined || raw === '') continue;
    const value = convert(raw, s.kind);
    if (value === STORES_NOT_JSON) throw new ConfigError([{ path: `${s.env} (${s.path.join('.')})`, rule: STORES_RULE }]);
    setPath(fromEnv, s.path, value);
    envOf.set(s.path.join('.'), s.env);
  }
  const input = merge(merge(fromFile, fromEnv), options.overrides ?? {});
  readSecretKeyFile(input, envOf);
  const result = ConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const issues: ValidationIssue[] = result.error.issues.map((issue) => {
    const path = pathOf(issue);
    const variable = [...envOf.entries()].find(([p]) => path === p || path.startsWith(`${p}[`) || path.startsWith(`${p}.`))?.[1];
    return { path: variable ? `${variable} (${path})` : path, rule: ruleOf(issue) };
  });
  throw new ConfigError(issues);
}

/** Whether one location is inside the other (or the same): folders by path, S3 by bucket and key-prefix segments. */
function locationsOverlap(a: ArtifactLocation, b: ArtifactLocation): boolean {
  const within = (outer: string[], inner: string[]): boolean => outer.every((seg, i) => inner[i] === seg);
  // Values that broke their own rules may still reach this refinement: nothing to compare then.
  const segments = (p: unknown): string[] => (typeof p === 'string' ? p.split('/').filter((x) => x !== '') : ['\0']);
  if (a.kind === 'local' && b.kind === 'local') {
    if (typeof a.dir !== 'string' || typeof b.dir !== 'string') return false;
    const [x, y] = [segments(path.resolve(a.dir)), segments(path.resolve(b.dir))];
    return within(x, y) || within(y, x);
  }
  if (a.kind === 's3' && b.kind === 's3') {
    if (a.bucket !== b.bucket) return false;
    const [x, y] = [segments(a.prefix), segments(b.prefix)];
    return within(x, y) || within(y, x);
  }
  return false;
}
