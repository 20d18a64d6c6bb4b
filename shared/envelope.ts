/**
 * The message contract: one SQS message = one unit of work. Its message
 * attribute `service` (String) names the microservice; the body is a JSON
 * object validated against that service's schema. Anything that can send an
 * SQS message (the CLI, `aws sqs send-message`, any SDK) can send a public
 * service's message (job.submit, job.cancel, ec2.event); every other service
 * is internal, and its messages count only with the fleet's signature, the
 * `sig` attribute the MessageBus adds (shared/message-auth.ts).
 */
import { SendMessageBatchCommand, SendMessageCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { PermanentError, TransientError } from './errors.js';
import type { QueueKind, QueueUrls } from './queues.js';
import { parseWith } from './validation.js';
import { SIGNATURE_ATTRIBUTE, SECRET_KEY_SETTING, type MessageSigner } from './message-auth.js';

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
  /**
   * May come from outside the fleet (a user's SQS client, EventBridge): its messages are accepted unsigned.
   * Absent or false: internal, accepted only with the fleet's signature (the safe default for a new service).
   */
  public?: boolean;
}

/** Whether a service's messages may come from outside the fleet (unsigned). */
export function isPublic(def: ServiceDef): boolean {
  return def.public === true;
}

export type Catalog = Record<string, ServiceDef>;

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
    /** The fleet's signer: without one, only public services can be sent. */
    private readonly signer?: MessageSigner,
  ) {}

  /** The message attributes of one body: `service`, and `sig` when this bus has the fleet's key. */
  private attributesFor(service: string, def: ServiceDef, body: string): Record<string, MessageAttributeValue> {
    const attributes: Record<string, MessageAttributeValue> = { [SERVICE_ATTRIBUTE]: { DataType: 'String', StringValue: service } };
    if (this.signer) {
      attributes[SIGNATURE_ATTRIBUTE] = { DataType: 'String', StringValue: this.signer.sign(service, def.queue, body) };
    } else if (!isPublic(def)) {
      throw new PermanentError(`internal service ${service} needs the fleet's signature, and ${SECRET_KEY_SETTING} is not set where this sends`);
    }
    return attributes;
  }

  async send<K extends keyof C & string>(service: K, body: z.input<C[K]['schema']>, options: SendOptions = {}): Promise<SentMessage> {
    const def = this.catalog[service];
    if (!def) throw new PermanentError(`unknown service ${JSON.stringify(service)}`);
    const parsed = parseWith(def.schema, body, `body of ${service}`);
    const delay = options.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) {
      throw new PermanentError(`delaySeconds: must be an integer from 0 to ${MAX_DELAY_SECONDS}, got ${delay}`);
    }
    const text = JSON.stringify(parsed);
    const attributes = this.attributesFor(service, def, text);
    const out = await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.urls.main[def.queue],
        MessageBody: text,
        DelaySeconds: delay || undefined,
        MessageAttributes: attributes,
      }),
    );
    return { messageId: out.MessageId!, queue: def.queue };
  }

  /** Send many messages of one service, ten to a SendMessageBatch call. Returns how many were sent. */
  async sendMany<K extends keyof C & string>(service: K, bodies: Array<z.input<C[K]['schema']>>, options: SendOptions = {}): Promise<number> {
    const def = this.catalog[service];
    if (!def) throw new PermanentError(`unknown service ${JSON.stringify(service)}`);
    const parsed = bodies.map((b) => parseWith(def.schema, b, `body of ${service}`));
    for (let i = 0; i < parsed.length; i += 10) {
      const chunk = parsed.slice(i, i + 10);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.urls.main[def.queue],
          Entries: chunk.map((body, j) => {
            const text = JSON.stringify(body);
            return {
              Id: String(j),
              MessageBody: text,
              DelaySeconds: options.delaySeconds || undefined,
              MessageAttributes: this.attributesFor(service, def, text),
            };
          }),
        }),
      );
      if (out.Failed?.length) {
        throw new TransientError(`SendMessageBatch: ${out.Failed.length} of ${chunk.length} ${service} messages failed (${out.Failed[0]?.Code ?? 'unknown'})`);
      }
    }
    return parsed.length;
  }
}

/** SQS allows at most this many message attributes on one message. */
export const MAX_MESSAGE_ATTRIBUTES = 10;
/** The attribute that carries, as JSON, the original attributes a dead-letter copy had no room for. */
export const MERGED_ATTRIBUTES = 'originalAttributes';

/**
 * The attributes of a dead-letter copy: the original ones (`service` first), then
 * `deadLetterReason` and `originalMessageId`, never more than SQS's 10. When the
 * original has too many, those that do not fit are merged into one String
 * attribute, `originalAttributes`: a JSON object of name -> {DataType, StringValue
 * or BinaryValue (base64)}, so nothing is lost.
 */
export function deadLetterAttributes(
  original: Record<string, MessageAttributeValue> | undefined,
  reason: string,
  messageId: string | undefined,
): Record<string, MessageAttributeValue> {
  const own: Record<string, MessageAttributeValue> = { deadLetterReason: { DataType: 'String', StringValue: reason.slice(0, 1000) } };
  if (messageId) own.originalMessageId = { DataType: 'String', StringValue: messageId };
  const copies = Object.entries(original ?? {})
    .filter(([k, v]) => !(k in own) && k !== MERGED_ATTRIBUTES && v.DataType && (v.StringValue !== undefined || v.BinaryValue !== undefined))
    .sort(([a], [b]) => (a === SERVICE_ATTRIBUTE ? -1 : b === SERVICE_ATTRIBUTE ? 1 : 0))
    .map(([k, v]) => [k, { DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue }] as const);
  const room = MAX_MESSAGE_ATTRIBUTES - Object.keys(own).length;
  const attributes: Record<string, MessageAttributeValue> = {};
  const kept = copies.length <= room ? copies : copies.slice(0, room - 1);
  for (const [k, v] of kept) attributes[k] = v;
  if (kept.length < copies.length) {
    const rest: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }> = {};
    for (const [k, v] of copies.slice(kept.length)) {
      rest[k] = { DataType: v.DataType!, ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : { BinaryValue: Buffer.from(v.BinaryValue!).toString('base64') }) };
    }
    attributes[MERGED_ATTRIBUTES] = { DataType: 'String', StringValue: JSON.stringify(rest) };
  }
  return { ...attributes, ...own };
}

/** Copy of a message for the dead-letter queue, with why it is there (attributes: see deadLetterAttributes). */
export async function sendToDeadLetter(
  sqs: SQSClient,
  dlqUrl: string,
  message: { Body?: string; MessageAttributes?: Record<string, MessageAttributeValue>; MessageId?: string },
  reason: string,
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: dlqUrl,
      MessageBody: message.Body && message.Body.length > 0 ? message.Body : '(empty body)',
      MessageAttributes: deadLetterAttributes(message.MessageAttributes, reason, message.MessageId),
    }),
  );
}
