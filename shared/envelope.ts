/**
 * The message contract: one SQS message = one unit of work. Its message
 * attribute `service` (String) names the microservice; the body is a JSON
 * object validated against that service's schema. Anything that can send an
 * SQS message (the CLI, `aws sqs send-message`, any SDK) can drive the fleet.
 */
import { SendMessageBatchCommand, SendMessageCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { PermanentError, TransientError } from './errors.js';
import type { QueueKind, QueueUrls } from './queues.js';
import { parseWith } from './validation.js';

export const SERVICE_ATTRIBUTE = 'service';

export interface ServiceDef<S extends z.ZodType = z.ZodType> {
  /** The queue its messages travel on. */
  queue: QueueKind;
  /** The body's schema; handler bodies are inferred from it. */
  schema: S;
  /** One line for docs/messages.md. */
  summary: string;
  /** Who sends it. */
  sentBy: string;
}

export type Catalog = Record<string, ServiceDef>;

export type BodyOf<C extends Catalog, K extends keyof C> = z.infer<C[K]['schema']>;

export interface SendOptions {
  /** 0 to 900 seconds: how polling loops wait without sleeping in a handler. */
  delaySeconds?: number;
}

export interface SentMessage {
  messageId: string;
  queue: QueueKind;
}

/** Max SQS delay. */
export const MAX_DELAY_SECONDS = 900;

export function defineCatalog<C extends Catalog>(catalog: C): C {
  return catalog;
}

/** Sends messages to the fleet, validating each body against its service's schema first. */
export class MessageBus<C extends Catalog = Catalog> {
  constructor(
    private readonly sqs: SQSClient,
    private readonly urls: QueueUrls,
    readonly catalog: C,
  ) {}

  async send<K extends keyof C & string>(service: K, body: z.input<C[K]['schema']>, options: SendOptions = {}): Promise<SentMessage> {
    const def = this.catalog[service];
    if (!def) throw new PermanentError(`unknown service ${JSON.stringify(service)}`);
    const parsed = parseWith(def.schema, body, `body of ${service}`);
    const delay = options.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) {
      throw new PermanentError(`delaySeconds: must be an integer from 0 to ${MAX_DELAY_SECONDS}, got ${delay}`);
    }
    const out = await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.urls.main[def.queue],
        MessageBody: JSON.stringify(parsed),
        DelaySeconds: delay || undefined,
        MessageAttributes: { [SERVICE_ATTRIBUTE]: { DataType: 'String', StringValue: service } },
      }),
    );
    return { messageId: out.MessageId!, queue: def.queue };
  }

  /** Send many messages of one service, ten to a SendMessageBatch call. Returns how many were sent. */
  async sendMany<K extends keyof C & string>(service: K, bodies: Array<z.input<C[K]['schema']>>, options: SendOptions = {}): Promise<number> {
    const def = this.catalog[service];
    if (!def) throw new PermanentError(`unknown service ${JSON.stringify(service)}`);
    const parsed = bodies.map((b) => parseWith(def.schema, b, `body of ${service}`));
    const attributes = { [SERVICE_ATTRIBUTE]: { DataType: 'String', StringValue: service } };
    for (let i = 0; i < parsed.length; i += 10) {
      const chunk = parsed.slice(i, i + 10);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.urls.main[def.queue],
          Entries: chunk.map((body, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify(body),
            DelaySeconds: options.delaySeconds || undefined,
            MessageAttributes: attributes,
          })),
        }),
      );
      if (out.Failed?.length) {
        throw new TransientError(`SendMessageBatch: ${out.Failed.length} of ${chunk.length} ${service} messages failed (${out.Failed[0]?.Code ?? 'unknown'})`);
      }
    }
    return parsed.length;
  }
}

/** Copy of a message for the dead-letter queue, with why it is there. */
export async function sendToDeadLetter(
  sqs: SQSClient,
  dlqUrl: string,
  message: { Body?: string; MessageAttributes?: Record<string, MessageAttributeValue>; MessageId?: string },
  reason: string,
): Promise<void> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [k, v] of Object.entries(message.MessageAttributes ?? {})) {
    if (v.DataType && (v.StringValue !== undefined || v.BinaryValue !== undefined)) {
      attributes[k] = { DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue };
    }
  }
  attributes.deadLetterReason = { DataType: 'String', StringValue: reason.slice(0, 1000) };
  if (message.MessageId) attributes.originalMessageId = { DataType: 'String', StringValue: message.MessageId };
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: dlqUrl,
      MessageBody: message.Body && message.Body.length > 0 ? message.Body : '(empty body)',
      MessageAttributes: attributes,
    }),
  );
}
