/**
 * The fleet's queues: `<prefix>-master`, `<prefix>-request`, `<prefix>-events`,
 * each with a dead-letter queue `<name>-dlq` wired by a redrive policy.
 * Making them (CreateQueue, SetQueueAttributes) is shared/setup.ts's alone: the
 * deployed programs import this file, and their IAM policies are derived from
 * what it sends (scripts/iam-actions.ts), so it only looks queues up.
 */
import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';

export const QUEUE_KINDS = ['master', 'request', 'events'] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export interface QueueUrls {
  main: Record<QueueKind, string>;
  dlq: Record<QueueKind, string>;
}

export const queueName = (prefix: string, kind: QueueKind): string => `${prefix}-${kind}`;
export const dlqName = (prefix: string, kind: QueueKind): string => `${prefix}-${kind}-dlq`;

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
