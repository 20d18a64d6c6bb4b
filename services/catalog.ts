/**
 * The fleet's message catalogue: every service a message can name, its queue,
 * its body schema, who sends it, and whether it is public (may come from
 * outside the fleet, unsigned); every other service is internal and needs the
 * fleet's signature (shared/message-auth.ts). docs/messages.md is this table in words.
 */
import { z } from 'zod';
import { defineCatalog } from '../shared/envelope.js';
import { JobSpecSchema } from './model/spec.js';
import { SpecReferenceSchema } from './model/artifact-digest.js';
import { Ec2EventSchema } from './model/ec2-event.js';

/**
 * The body of job.submit: a job spec, or `{"specArtifact": "sha256:...", "id"?}` for a
 * spec too large for a queue message (stored in the fleet's artifact store by the CLI).
 * One schema is chosen by the body's shape, so a bad spec's issues keep their field paths.
 */
const JobSubmitBodySchema = z.unknown().transform((body, ctx) => {
  const schema = typeof body === 'object' && body !== null && 'specArtifact' in body ? SpecReferenceSchema : JobSpecSchema;
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  // The chosen schema's issues as they are (paths and rules), not one "invalid input" for the whole body.
  for (const issue of result.error.issues) ctx.addIssue({ ...issue });
  return z.NEVER;
});

const jobId = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/, 'a job id');
const taskId = z.string().regex(/^\d{4,5}$/, 'a task id (0000, 0001, ...)');
const JobKey = z.object({ jobId }).strict();
const TaskKey = z.object({ jobId, taskId }).strict();

export const catalog = defineCatalog({
  'job.submit': {
    queue: 'master',
    schema: JobSubmitBodySchema,
    summary: 'validate a job spec (or read the one a `specArtifact` reference names), check the artifacts it names, store the job and its tasks, start it',
    sentBy: 'the CLI (`spotbatch submit`), or any SQS client',
    public: true,
  },
  'job.start': { queue: 'master', schema: JobKey, summary: 'submitted -> securing; asks for the security resources', sentBy: 'job.submit, the reconciler' },
  'security.create': {
    queue: 'master',
    schema: JobKey,
    summary: "resolve the job's regions (\"auto\": enabled regions offering a type), create its IAM role and instance profile; then request every task (a region's key pair and group are made when a task is first placed there)",
    sentBy: 'job.start, the reconciler',
  },
  'spot.request': { queue: 'request', schema: TaskKey, summary: "choose a pool, secure its region for the job the first time (key pair, group, images; a custom image's copy), and request a spot instance for the task", sentBy: 'security.create, spot.check, step.complete, the reconciler' },
  'spot.check': { queue: 'request', schema: TaskKey, summary: "follow the spot request's status; re-place on capacity or price trouble (at most 10 times); a reclaim before the step goes to termination.detected", sentBy: 'spot.request (delayed), itself, the reconciler' },
  'step.run': { queue: 'request', schema: TaskKey, summary: 'wait for SSH, upload the agent and files, start the step', sentBy: 'spot.check, itself (delayed), the reconciler' },
  'step.check': { queue: 'request', schema: TaskKey, summary: "read the agent's heartbeat and exit status over SSH", sentBy: 'step.run (delayed), itself, the reconciler' },
  'step.complete': {
    queue: 'request',
    schema: TaskKey.extend({
      attempt: z.number().int().min(1),
      exitCode: z.number().int().min(0).max(255).optional(),
      lost: z.string().max(1000).optional(),
      /** The agent stopped a step that ran past its timeout: which one (1-based) and its limit. */
      timedOut: z.object({ step: z.number().int().min(1), seconds: z.number().int().min(0) }).strict().optional(),
      stdoutTail: z.string().max(8192).default(''),
      stderrTail: z.string().max(8192).default(''),
    }).strict(),
    summary: 'record the end of an attempt: success, a retry, or failure; terminate its instance',
    sentBy: 'step.check',
  },
  'termination.detected': {
    queue: 'request',
    schema: TaskKey.extend({
      attempt: z.number().int().min(1),
      source: z.enum(['agent', 'events', 'reconcile']),
      instanceId: z.string().optional(),
      action: z.string().max(64).optional(),
      noticeTime: z.string().max(64).optional(),
    }).strict(),
    summary: "mark the task's attempt interrupted (whichever detection path is first; the others are no-ops) and resubmit at once; when the agent did not see the notice, TERM the step over SSH (bounded); terminate the instance (with lifecycle.leaveInterruptedToEc2, one younger than an hour is left to EC2's reclaim: termination.ended follows)",
    sentBy: 'step.check (the agent saw the notice), ec2.event (EventBridge warning), spot.check (reclaimed before the step ran) / step.run / step.check (reconciliation against EC2)',
  },
  'checkpoint.save': {
    queue: 'request',
    schema: TaskKey.extend({
      attempt: z.number().int().min(1),
      /** When the save began (ms since the epoch): bounds the wait for the step to exit. */
      since: z.number().int().min(0),
    }).strict(),
    summary: "after a notice: wait (bounded) for the TERMed step to exit, copy its checkpoint folder to the store, terminate the instance (with lifecycle.leaveInterruptedToEc2, an interrupted one younger than an hour is left to EC2's reclaim)",
    sentBy: 'termination.detected (when the spec has a checkpoint), itself (delayed)',
  },
  'termination.ended': {
    queue: 'request',
    schema: TaskKey.extend({ attempt: z.number().int().min(1) }).strict(),
    summary: "after the notice's time: DescribeInstances on an interrupted instance the fleet left to EC2 (younger than an hour, with lifecycle.leaveInterruptedToEc2); ended with Server.SpotInstanceTermination, EC2 reclaimed it (free in the ledger); still alive past the notice, the fleet terminates it",
    sentBy: 'termination.detected (delayed), itself (delayed)',
  },
  'rebalance.detected': {
    queue: 'request',
    schema: TaskKey.extend({
      attempt: z.number().int().min(1),
      source: z.enum(['agent', 'events']),
      instanceId: z.string().optional(),
    }).strict(),
    summary: 'a rebalance recommendation for the task\'s instance: with onRebalance "migrate", request a standby in another pool while the step runs',
    sentBy: 'step.check (the agent saw it), ec2.event (EventBridge recommendation)',
  },
  'rebalance.check': {
    queue: 'request',
    schema: TaskKey.extend({ attempt: z.number().int().min(1) }).strict(),
    summary: "follow the standby's spot request; once it runs, move the task there (old attempt migrated, checkpoint carried over)",
    sentBy: 'rebalance.detected, itself (delayed)',
  },
  'request.resubmit': {
    queue: 'request',
    schema: TaskKey,
    summary: 'after an interruption: cool the pool down for the job, and place a new attempt elsewhere (bounded by retry.maxInterruptions; a job with a deadline goes on demand past it)',
    sentBy: 'termination.detected, the reconciler',
  },
  'job.check': { queue: 'master', schema: JobKey, summary: 'when every task has ended: terminate leftovers, then tear down', sentBy: 'step.complete (the last task), the reconciler' },
  'security.teardown': {
    queue: 'master',
    // tries: how often it has looked again so far (its delay doubles per try); absent in a first (or older) message.
    schema: z.object({ jobId, tries: z.number().int().min(0).optional() }).strict(),
    summary: 'once no instance of the job is alive, delete its security resources, then job.complete; until then look again later, pollSeconds doubled per try up to teardownMaxDelaySeconds',
    sentBy: 'job.check, job.cancel, itself (delayed, with tries + 1), the reconciler',
  },
  'job.complete': {
    queue: 'master',
    schema: JobKey,
    summary: "once the job's resources are gone: remove its checkpoints, close it succeeded, partially-failed or failed (or cancelled)",
    sentBy: 'security.teardown',
  },
  'ec2.event': {
    queue: 'events',
    schema: Ec2EventSchema,
    summary: 'an EC2 event from EventBridge (interruption warning, rebalance recommendation, state change)',
    sentBy: 'EventBridge (the simulator sends the same shapes); EventBridge sets no message attributes, so a message without `service` on the events queue is this',
    public: true,
  },
  'job.fail': {
    queue: 'master',
    schema: JobKey.extend({
      /** The task whose message can never succeed; absent for a job-level message. */
      taskId: taskId.optional(),
      /** The service of that message. */
      service: z.string().max(64).optional(),
      reason: z.string().min(1).max(2000),
    }).strict(),
    summary:
      "a message of the job can never succeed (its handler failed for good): a task's message ends that task failed with the reason; a job's message fails the job (open tasks end failed, everything torn down); a teardown that can never finish ends the job failed saying so",
    sentBy: 'the dispatcher, when it dead-letters a message naming a job',
  },
  'job.cancel': {
    queue: 'master',
    schema: JobKey.extend({ reason: z.string().max(500).optional() }).strict(),
    summary: 'from any open state (finishing too): open tasks cancelled and their attempts ended, open requests cancelled, instances terminated, tear down; the job ends cancelled',
    sentBy: 'the CLI (`spotbatch cancel`) or any SQS client (anyone who may submit may cancel a job by id), the reconciler',
    public: true,
  },
  'market.collect.price': {
    queue: 'master',
    schema: z.object({}).strict(),
    summary: 'DescribeSpotPriceHistory per region for the types in use (configured and named by open jobs), paginated, from the last point stored; writes only changed prices, marks vanished pools ceased',
    sentBy: 'the market schedule (the dispatchers\' timer), `spotbatch market collect`',
  },
  'market.collect.sps': {
    queue: 'master',
    schema: z.object({}).strict(),
    summary: "GetSpotPlacementScores (single AZ) for the budget planner's plan: top movers plus a sample, packed, credentials rotated, never over a credential's 24 h budget",
    sentBy: 'the market schedule (`<prefix>-market-sps`), `spotbatch market collect --kind sps`',
  },
  'market.collect.if': {
    queue: 'master',
    schema: z.object({}).strict(),
    summary: 'the Spot Instance Advisor feed (URL or file): interruption bucket and savings per region and type; a type gone from the feed is ceased',
    sentBy: 'the market schedule (`<prefix>-market-if`), `spotbatch market collect --kind if`',
  },
  'market.collect.ondemand': {
    queue: 'master',
    schema: z.object({}).strict(),
    summary: 'on-demand prices from the configured CSV file, per region and type in use',
    sentBy: 'the market schedule (`<prefix>-market-ondemand`), `spotbatch market collect --kind ondemand`',
  },
  'market.summary': {
    queue: 'master',
    schema: z.object({}).strict(),
    summary: "yesterday's market: the pools whose scores moved most, the cheapest stable pools per type, the fleet's interruptions; stored in the market table (the status page's /market) and sent to the configured webhook and/or folder",
    sentBy: 'the market schedule, once a day (`<prefix>-market-summary`)',
  },
});

export type FleetCatalog = typeof catalog;
