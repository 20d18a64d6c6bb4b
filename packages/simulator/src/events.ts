/**
 * EventBridge-shaped EC2 events sent to an SQS queue, when one is configured:
 * "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance
 * Recommendation", "EC2 Instance State-change Notification".
 */
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Logger } from './logger.js';
import { ACCOUNT_ID, ids } from './ids.js';

export type Ec2EventType =
  | 'EC2 Spot Instance Interruption Warning'
  | 'EC2 Instance Rebalance Recommendation'
  | 'EC2 Instance State-change Notification';

export interface Ec2Event {
  version: '0';
  id: string;
  'detail-type': Ec2EventType;
  source: 'aws.ec2';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, string>;
}

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function buildEvent(type: Ec2EventType, region: string, instanceId: string, time: Date, detail: Record<string, string>): Ec2Event {
  return {
    version: '0',
    id: ids.request(),
    'detail-type': type,
    source: 'aws.ec2',
    account: ACCOUNT_ID,
    time: isoSeconds(time),
    region,
    resources: [`arn:aws:ec2:${region}:${ACCOUNT_ID}:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, ...detail },
  };
}

function regionOfQueue(url: URL): string {
  const m = /sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(url.hostname);
  return m?.[1] ?? 'us-east-1';
}

export class EventSink {
  private client?: SQSClient;
  private readonly pending = new Set<Promise<void>>();
  /** Events sent so far (counted for stats). */
  sent = 0;

  constructor(
    private readonly queueUrl: string | undefined,
    private readonly logger: Logger,
  ) {}

  emit(event: Ec2Event): void {
    if (!this.queueUrl) return;
    const url = new URL(this.queueUrl);
    if (!this.client) {
      const loopback = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname);
      this.client = new SQSClient({
        region: regionOfQueue(url),
        endpoint: url.origin,
        ...(loopback ? { credentials: { accessKeyId: 'simulator', secretAccessKey: 'simulator' } } : {}),
      });
    }
    const p = this.client
      .send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(event) }))
      .then(() => {
        this.sent++;
      })
      .catch((err: unknown) => {
        this.logger.warn({ err: String(err), detailType: event['detail-type'] }, 'event not delivered to the events queue');
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  close(): void {
    this.client?.destroy();
    this.client = undefined;
  }
}
