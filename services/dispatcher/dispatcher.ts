/**
 * The long-lived consumer: one or more sqs-consumer loops per queue, routing
 * each message by its `service` attribute to the registered handler.
 *
 * - unknown service, missing attribute, a service on another queue than its
 *   own, an internal service without the fleet's signature (`sig`, checked
 *   before the body is read; shared/message-auth.ts), non-JSON or
 *   schema-breaking body: to the dead-letter queue at once, reason logged
 *   once, never retried;
 * - handler throws a retryable error: not deleted, redelivered after a backoff
 *   (visibility), and SQS's redrive policy moves it to the dead-letter queue
 *   after maxReceiveCount deliveries;
 * - handler throws a permanent error: dead-letter queue at once; a
 *   programming error (an illegal state transition) is permanent too, and
 *   logged at error level with its stack;
 * - a StateConflictError that escapes a handler means the message was stale
 *   or a duplicate: acknowledged as a no-op;
 * - what a batch acknowledges is deleted in one DeleteMessageBatch, sent
 *   beside the next receive rather than before it (a message whose delete is
 *   lost comes back once more: a duplicate, which handlers make a no-op);
 * - long handlers keep their message invisible with a heartbeat;
 * - stop(): no new receives, in-flight handlers finish (bounded); when the
 *   bound is over, the drain's AbortSignal (HandlerContext.signal) ends what
 *   they still wait on (AWS calls, SSH, sleeps) and their messages are handed
 *   back for redelivery, never acknowledged.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { Consumer } from 'sqs-consumer';
import { ChangeMessageVisibilityCommand, DeleteMessageBatchCommand, type Message } from '@aws-sdk/client-sqs';
import { SERVICE_ATTRIBUTE, isPublic, sendToDeadLetter } from '../../shared/envelope.js';
import { SIGNATURE_ATTRIBUTE, messageSigner, missingKeyError, type MessageSigner } from '../../shared/message-auth.js';
import { ProgrammingError, StateConflictError, TransientError, describeError } from '../../shared/errors.js';
import { isRetryable, translateAwsError } from '../../shared/aws-errors.js';
import { QUEUE_KINDS, type QueueKind } from '../../shared/queues.js';
import { parseWith } from '../../shared/validation.js';
import { backoffSeconds, equalJitter, type Random } from '../../shared/backoff.js';
import { DrainAbortError, sleep } from '../../shared/abort.js';
import type { FleetDeps, HandlerContext } from './context.js';
import type { Registry } from './registry.js';
import { signalledDeps } from './signal.js';

/**
 * How long a failed message stays hidden before its next delivery: 1, 2, 4 ...
 * seconds by receive count, each drawn between half and all of that (equal
 * jitter, so failures that came together do not all come back together),
 * never more than `cap` (dispatcher.retryBackoffMaxSeconds).
 */
export function retryVisibilitySeconds(receiveCount: number, cap: number, random: Random = Math.random): number {
  return backoffSeconds(Math.max(0, receiveCount - 1), equalJitter({ base: 1, cap, min: 1 }), random);
}

/** The service of a message on the events queue that names none (EventBridge's own messages). */
export const EVENT_SERVICE = 'ec2.event';

export interface DispatcherStats {
  received: number;
  succeeded: number;
  retried: number;
  deadLettered: number;
  noops: number;
  inFlight: number;
}

export class Dispatcher {
  readonly id: string;
  private readonly consumers: Array<{ kind: QueueKind; consumer: Consumer }> = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;
  readonly stats: DispatcherStats = { received: 0, succeeded: 0, retried: 0, deadLettered: 0, noops: 0, inFlight: 0 };
  /** Checks the signature of internal messages; absent only when every service served is public. */
  private readonly signer: MessageSigner | undefined;
  /** Fired when stop()'s grace is over: handlers' AWS calls, SSH and waits end (HandlerContext.signal). */
  private readonly drain = new AbortController();
  /** The deps as handlers see them: every AWS call passes the drain's signal (made at the first message). */
  private handlerDeps: FleetDeps | undefined;

  /** Throws a ConfigError when it serves an internal service and the fleet's secret key is not configured. */
  constructor(
    private readonly deps: FleetDeps,
    private readonly registry: Registry,
    id?: string,
  ) {
    this.id = id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.signer = messageSigner(deps.config);
    // Every in-flight AWS call and SSH session listens on the one drain signal (and stops listening when it
    // ends): more than Node's default of 10 at once is the normal case, not a leak.
    setMaxListeners(0, this.drain.signal);
    const internal = registry.services().filter((s) => !isPublic(registry.get(s)!.def));
    if (!this.signer && internal.length) throw missingKeyError(internal);
  }

  get running(): boolean {
    return this.consumers.length > 0 && !this.stopping;
  }

  start(): void {
    if (this.consumers.length) return;
    const d = this.deps.config.dispatcher;
    const kinds = QUEUE_KINDS.filter((k) => d.queues.includes(k));
    for (const kind of kinds) {
      for (let i = 0; i < d.concurrency; i++) {
        const consumer = Consumer.create({
          queueUrl: this.deps.queues.main[kind],
          sqs: this.deps.clients.sqs,
          batchSize: d.batchSize,
          waitTimeSeconds: d.waitTimeSeconds,
          visibilityTimeout: d.visibilityTimeoutSeconds,
          heartbeatInterval: d.heartbeatSeconds,
          messageAttributeNames: ['All'],
          attributeNames: ['All'],
          messageSystemAttributeNames: ['ApproximateReceiveCount'],
          // A batch is handled concurrently; this loop's next receive goes out while what it acknowledged
          // is deleted (see acknowledge), so sqs-consumer is given nothing to delete.
          handleMessageBatch: async (messages) => {
            await this.track(this.handleBatch(kind, messages));
            return [];
          },
          suppressFifoWarning: true,
        });
        consumer.on('error', (err) => {
          if (!this.stopping) this.deps.log.warn({ queue: kind, err: describeError(err) }, 'queue error');
        });
        // No processing_error or timeout_error listener: sqs-consumer emits those only for a single-message
        // handleMessage (and timeout_error only with handleMessageTimeout); a batch handler's failure is an 'error'.
        this.consumers.push({ kind, consumer });
      }
    }
    for (const { consumer } of this.consumers) consumer.start();
    this.deps.log.info(
      { dispatcher: this.id, queues: kinds, concurrency: d.concurrency, services: this.registry.services() },
      'dispatcher started',
    );
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    this.stats.inFlight = this.inFlight.size;
    const done = () => {
      this.inFlight.delete(p);
      this.stats.inFlight = this.inFlight.size;
    };
    p.then(done, done);
    return p;
  }

  private async handleBatch(kind: QueueKind, messages: Message[]): Promise<Message[]> {
    const results = await Promise.allSettled(messages.map((m) => this.handle(kind, m)));
    const acked: Message[] = [];
    const failed: Message[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        if (r.value) acked.push(r.value);
      } else failed.push(messages[i]!);
    });
    if (acked.length) void this.track(this.acknowledge(kind, acked));
    const cap = this.deps.config.dispatcher.retryBackoffMaxSeconds;
    if (cap > 0 && failed.length) {
      // Retry backoff: hide a failed message for 1, 2, 4 ... seconds (jittered, capped; shared/backoff.ts).
      await Promise.all(
        failed.map((m) =>
          this.deps.clients.sqs
            .send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: this.deps.queues.main[kind],
                ReceiptHandle: m.ReceiptHandle,
                VisibilityTimeout: retryVisibilitySeconds(receiveCountOf(m), cap),
              }),
            )
            .catch((err) => this.deps.log.warn({ queue: kind, messageId: m.MessageId, err: describeError(err) }, 'could not set retry backoff')),
        ),
      );
    }
    return acked;
  }

  /** Route one message. Resolves with the message to acknowledge it; throws to leave it for redelivery. */
  async handle(kind: QueueKind, message: Message): Promise<Message | undefined> {
    if (this.stopping) {
      // Received by a long poll that was already under way when stop() came: hand it back at once.
      await this.release(kind, message);
      return undefined;
    }
    this.stats.received++;
    // EventBridge delivers its events with no message attributes: on the events queue
    // a message without a `service` is an EC2 event.
    const service =
      message.MessageAttributes?.[SERVICE_ATTRIBUTE]?.StringValue ?? (kind === 'events' && this.registry.get(EVENT_SERVICE) ? EVENT_SERVICE : undefined);
    const receiveCount = receiveCountOf(message);
    const messageId = message.MessageId ?? '(none)';
    const bindings = { queue: kind, messageId, ...(service ? { service } : {}) };
    // Until the body is known, a logger made only if something goes wrong.
    const early = () => this.deps.log.child(bindings);

    const entry = service ? this.registry.get(service) : undefined;
    if (!entry) {
      const reason = service
        ? `unknown service ${JSON.stringify(service)} (known: ${this.registry.services().join(', ') || 'none'})`
        : `message attribute "${SERVICE_ATTRIBUTE}" is missing`;
      // Not served here, so not checked: recorded on the job only for a job.submit (its submitter looks there).
      return this.deadLetter(kind, message, reason, early(), service, false, service === SUBMIT_SERVICE);
    }
    if (entry.def.queue !== kind) {
      return this.deadLetter(kind, message, `service ${entry.service} belongs on the ${entry.def.queue} queue, not the ${kind} queue`, early(), service, false, false);
    }
    // Internal services act only on the fleet's word: the signature is checked before the body is even read.
    // Authentic: signed by the fleet, or a job.submit (public, and the only message a submitter's job log must show).
    const authentic = isPublic(entry.def) ? entry.service === SUBMIT_SERVICE : this.verify(entry.service, kind, message);
    if (!isPublic(entry.def) && !authentic) {
      const reason = `internal service ${entry.service} needs the fleet's signature (no valid "${SIGNATURE_ATTRIBUTE}" attribute)`;
      return this.deadLetter(kind, message, reason, early(), service, false, false);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(message.Body ?? '');
    } catch (err) {
      return this.deadLetter(kind, message, `body is not JSON: ${(err as Error).message}`, early(), service, false, authentic);
    }
    let body: unknown;
    try {
      body = parseWith(entry.def.schema, raw, `body of ${entry.service}`);
    } catch (err) {
      return this.deadLetter(kind, message, (err as Error).message, early(), service, false, authentic);
    }
    const keys = body as { jobId?: unknown; taskId?: unknown };
    // The one child logger of this message: service, message and, where the body has them, job and task.
    const log = this.deps.log.child({
      ...bindings,
      ...(typeof keys.jobId === 'string' ? { jobId: keys.jobId } : {}),
      ...(typeof keys.taskId === 'string' ? { taskId: keys.taskId } : {}),
    });
    const signal = this.drain.signal;
    this.handlerDeps ??= signalledDeps(this.deps, signal);
    const ctx: HandlerContext = { ...this.handlerDeps, log, service: entry.service, messageId, queue: kind, receiveCount, signal };
    try {
      await entry.handler(body, ctx);
      // Whatever a handler made of an aborted call, its work may be unfinished: never acknowledged.
      if (signal.aborted) return this.handBack(kind, message, log);
      this.stats.succeeded++;
      return message;
    } catch (err) {
      if (signal.aborted) return this.handBack(kind, message, log, err);
      if (err instanceof StateConflictError) {
        this.stats.noops++;
        log.info({ conflict: err.message }, 'stale or duplicate message: no-op');
        return message;
      }
      if (err instanceof ProgrammingError) {
        // A bug, not bad luck: the same message would hit it again. Loud, once, with where it happened.
        log.error({ ...errorFields(err), stack: err.stack }, 'programming error in the handler: the message is dead-lettered, not retried');
      }
      if (!isRetryable(err)) return this.deadLetter(kind, message, describeError(err), log, service, true);
      this.stats.retried++;
      const max = this.deps.config.dispatcher.maxReceiveCount;
      if (receiveCount >= max) {
        log.error({ ...errorFields(err), receiveCount }, 'handler failed on its last delivery: SQS moves the message to the dead-letter queue');
      } else {
        log.warn({ ...errorFields(err), receiveCount, maxReceiveCount: max }, 'handler failed: will be retried');
      }
      throw err;
    }
  }

  /**
   * Delete what a batch acknowledged, in one call. Tracked like a handler, so stop() waits for it. A delete
   * that fails leaves the message to come back after its visibility timeout, where it is a duplicate.
   */
  private async acknowledge(kind: QueueKind, messages: Message[]): Promise<void> {
    try {
      const out = await this.deps.clients.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.deps.queues.main[kind],
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      for (const f of out.Failed ?? []) {
        const m = messages[Number(f.Id)];
        this.deps.log.warn({ queue: kind, messageId: m?.MessageId, code: f.Code, reason: f.Message }, 'could not delete a handled message: it will come back once as a duplicate');
      }
    } catch (err) {
      this.deps.log.warn({ queue: kind, messages: messages.length, err: describeError(err) }, 'could not delete handled messages: they will come back once as duplicates');
    }
  }

  /**
   * A handler the drain stopped: its message is made visible again at once (another dispatcher takes it) and
   * not acknowledged. What the handler did before is safe to do again, as after a crash: every write is
   * conditional on the state it moves, and the next delivery finds the row where the handler left it.
   */
  private async handBack(kind: QueueKind, message: Message, log: HandlerContext['log'], err?: unknown): Promise<undefined> {
    this.stats.retried++;
    log.warn({ ...(err === undefined ? {} : { err: describeError(err) }) }, 'handler stopped by the drain: the message is handed back for redelivery');
    await this.release(kind, message);
    return undefined;
  }

  private async release(kind: QueueKind, message: Message): Promise<void> {
    try {
      await this.deps.clients.sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: this.deps.queues.main[kind], ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }),
      );
    } catch (err) {
      this.deps.log.warn({ queue: kind, messageId: message.MessageId, err: describeError(err) }, 'could not release a message received while stopping');
    }
  }

  /** Whether an internal message carries the fleet's signature over its service, this queue and its exact body. */
  private verify(service: string, kind: QueueKind, message: Message): boolean {
    const signature = message.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue;
    return this.signer?.verify(service, kind, message.Body ?? '', signature) ?? false;
  }

  /**
   * To the dead-letter queue with its reason. `record`: also on the job the body names (recordOnJob); only for
   * an authentic message (see handle), or one whose handler ran (its body was accepted: an internal message
   * was authentic, a public one may act on its job), so a forged message never writes on another user's job.
   */
  private async deadLetter(
    kind: QueueKind,
    message: Message,
    reason: string,
    log: HandlerContext['log'],
    service?: string,
    handlerFailed = false,
    record: boolean = handlerFailed,
  ): Promise<Message> {
    try {
      await sendToDeadLetter(this.deps.clients.sqs, this.deps.queues.dlq[kind], message, reason);
    } catch (err) {
      // Not acknowledged: the message comes back, and SQS's redrive moves it after maxReceiveCount deliveries.
      log.error(
        { reason, messageId: message.MessageId ?? '(none)', err: describeError(err) },
        'could not copy the message to the dead-letter queue: left on its queue for redelivery',
      );
      throw new TransientError(`dead-letter copy failed: ${describeError(err)}`, { cause: translateAwsError('SendMessage', err) });
    }
    this.stats.deadLettered++;
    log.error({ reason }, 'message can never succeed: moved to the dead-letter queue');
    if (record) await this.recordOnJob(service, message, reason, log, handlerFailed);
    return message;
  }

  /**
   * A message that can never succeed for a job is recorded on that job's event log, so the reason is where
   * the user looks (status, the page, `submit --wait`), not only in a dead-letter queue: `job.refused` for a
   * job.submit (no job row may exist: the spec was refused before anything was stored), else
   * `message.dead-lettered`. Best effort: the copy in the dead-letter queue is the record that counts.
   *
   * When the message's own handler failed for good (not a body that never reached one), the job cannot wait
   * on it: `job.fail` ends the task (a task's message) or the job (teardown runs) with the reason. Never
   * for job.submit (no job yet) nor for job.fail itself (no loop).
   */
  private async recordOnJob(service: string | undefined, message: Message, reason: string, log: HandlerContext['log'], handlerFailed: boolean): Promise<void> {
    const jobId = jobIdOf(service, message.Body);
    if (!jobId) return;
    const type = service === SUBMIT_SERVICE ? 'job.refused' : 'message.dead-lettered';
    try {
      await this.deps.store.events.append(jobId, type, { data: { service: service ?? '(none)', reason: reason.slice(0, 2000), messageId: message.MessageId ?? '(none)' } });
    } catch (err) {
      log.warn({ jobId, err: describeError(err) }, 'could not record the dead-lettered message on its job');
    }
    if (!handlerFailed || !service || service === SUBMIT_SERVICE || service === FAIL_SERVICE || !this.registry.catalog[FAIL_SERVICE]) return;
    const taskId = taskIdOf(message.Body);
    try {
      await this.deps.bus.send(FAIL_SERVICE, { jobId, ...(taskId ? { taskId } : {}), service, reason: reason.slice(0, 2000) });
    } catch (err) {
      // The reconciler still finds the job stuck; the event above says why.
      log.warn({ jobId, err: describeError(err) }, 'could not send job.fail for the dead-lettered message');
    }
  }

  /** Stop receiving, let in-flight handlers finish (bounded by shutdownTimeoutSeconds). True if all finished. */
  async stop(): Promise<boolean> {
    if (this.stopping) return this.inFlight.size === 0;
    this.stopping = true;
    for (const { consumer } of this.consumers) consumer.stop();
    const timeoutMs = this.deps.config.dispatcher.shutdownTimeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = (async () => {
      // The last handlers and their DeleteMessageBatch (acknowledge) are tracked here: sqs-consumer deletes nothing.
      while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
      await waitUntil(() => this.consumers.every(({ consumer }) => !consumer.status.isPolling), 2000);
      return true;
    })();
    const finished = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (!finished) {
      // The grace is over: what handlers still wait on ends now, and their messages go back to the queue.
      this.deps.log.warn({ dispatcher: this.id, inFlight: this.inFlight.size }, 'drain: grace over, stopping in-flight handlers');
      this.drain.abort(new DrainAbortError());
      const settled = new AbortController();
      await Promise.race([drained, sleep(ABORT_SETTLE_MS, settled.signal).catch(() => undefined)]);
      settled.abort();
    }
    this.deps.log.info(
      { dispatcher: this.id, finished, stillRunning: this.inFlight.size, stats: this.stats },
      finished ? 'dispatcher stopped' : 'dispatcher stopped with handlers cut short',
    );
    return finished;
  }
}

/** How long stop() waits, after the drain's abort, for the stopped handlers to hand their messages back. */
const ABORT_SETTLE_MS = 5_000;

/** How an error reaches the log: its one-line reason and, when it has one, its cause's (never a raw SDK error: shared/aws-errors.ts). */
function errorFields(err: unknown): { err: string; cause?: string } {
  const cause = err instanceof Error ? err.cause : undefined;
  return { err: describeError(err), ...(cause === undefined ? {} : { cause: describeError(cause) }) };
}

function receiveCountOf(message: Message | undefined): number {
  const n = Number(message?.Attributes?.ApproximateReceiveCount ?? 1);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

/** The service that submits jobs: its body names the job as `id` (every other message as `jobId`). */
const SUBMIT_SERVICE = 'job.submit';
/** The service that ends a task or a job whose message can never succeed. */
const FAIL_SERVICE = 'job.fail';
const TASK_ID = /^\d{4,5}$/;

/** The task a message's body names (`taskId`), when it has a well-formed one. */
function taskIdOf(body: string | undefined): string | undefined {
  try {
    const raw = JSON.parse(body ?? '') as unknown;
    const value = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).taskId : undefined;
    return typeof value === 'string' && TASK_ID.test(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
const JOB_ID = /^[a-z0-9][a-z0-9-]{2,62}$/;

/** The job a message's body names, when it is JSON with a well-formed job id. */
function jobIdOf(service: string | undefined, body: string | undefined): string | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(body ?? '');
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object') return undefined;
  const value = (raw as Record<string, unknown>)[service === SUBMIT_SERVICE ? 'id' : 'jobId'];
  return typeof value === 'string' && JOB_ID.test(value) ? value : undefined;
}
