/**
 * The fleet's queues: `<prefix>-master`, `<prefix>-request`, `<prefix>-events`,
 * each with a dead-letter queue `<name>-dlq` wired by a redrive policy.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export const QUEUE_KINDS = ['master', 'request', 'events'] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export interface QueueUrls {
  main: Record<QueueKind, string>;
  dlq: Record<QueueKind, string>;
}

export const queueName = (prefix: string, kind: QueueKind): string => `${prefix}-${kind}`;
export const dlqName = (prefix: string, kind: QueueKind): string => `${prefix}-${kind}-dlq`;

const FOURTEEN_DAYS = String(14 * 24 * 3600);

export interface QueueSettings {
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

function isQueueAlreadyExists(err: unknown): boolean {
  const name = (err as { name?: string; Code?: string })?.name ?? '';
  return /QueueAlreadyExists|QueueNameExists/.test(name);
}

/** Create a queue, or bring an existing one's attributes to `attributes`. Returns its URL. */
async function ensureQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<string> {
  try {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return out.QueueUrl!;
  } catch (err) {
    if (!isQueueAlreadyExists(err)) throw err;
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    return QueueUrl!;
  }
}

/** Idempotent: a second run with the same settings changes nothing. */
export async function ensureQueues(sqs: SQSClient, prefix: string, settings: QueueSettings): Promise<QueueUrls> {
  const main = {} as Record<QueueKind, string>;
  const dlq = {} as Record<QueueKind, string>;
  for (const kind of QUEUE_KINDS) {
    dlq[kind] = await ensureQueue(sqs, dlqName(prefix, kind), { MessageRetentionPeriod: FOURTEEN_DAYS });
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq[kind], AttributeNames: ['QueueArn'] }));
    const dlqArn = attrs.Attributes?.QueueArn;
    if (!dlqArn) throw new Error(`queue ${dlqName(prefix, kind)} has no QueueArn`);
    main[kind] = await ensureQueue(sqs, queueName(prefix, kind), {
      VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
      MessageRetentionPeriod: FOURTEEN_DAYS,
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: settings.maxReceiveCount }),
    });
  }
  return { main, dlq };
}

/** Look the queues up (they must exist: `spotbatch setup` creates them). */
export async function resolveQueueUrls(sqs: SQSClient, prefix: string): Promise<QueueUrls> {
  const main = {} as Record<QueueKind, string>;
  const dlq = {} as Record<QueueKind, string>;
  for (const kind of QUEUE_KINDS) {
    for (const [target, name] of [
      [main, queueName(prefix, kind)],
      [dlq, dlqName(prefix, kind)],
    ] as const) {
      try {
        const out = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
        target[kind] = out.QueueUrl!;
      } catch (err) {
        throw new Error(`queue ${name} not found (run \`spotbatch setup\` first)`, { cause: err });
      }
    }
  }
  return { main, dlq };
}
