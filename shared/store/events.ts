/**
 * The append-only event log of a job: what happened, when, to which task.
 * Handlers append after they won the conditional write that made the event
 * true, so a duplicate message cannot log an event twice.
 */
import { randomBytes } from 'node:crypto';
import { PutCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { storable, storeError } from './marshal.js';
import { parseRow } from './rows.js';
import type { Clock } from '../clock.js';

/** An event row. `data` is the event's own (its type says what it holds). */
export const JobEventSchema = z.object({
  jobId: z.string(),
  /** `<ISO time>#<random>`: sorts by time. */
  sk: z.string(),
  at: z.number(),
  type: z.string(),
  taskId: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type JobEvent = z.infer<typeof JobEventSchema>;

export class EventLog {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly table: string,
    private readonly clock: Clock,
  ) {}

  async append(jobId: string, type: string, fields: { taskId?: string; data?: Record<string, unknown> } = {}): Promise<JobEvent> {
    const at = this.clock.now();
    const event: JobEvent = { jobId, sk: `${new Date(at).toISOString()}#${randomBytes(4).toString('hex')}`, at, type, ...fields };
    try {
      await this.ddb.send(new PutCommand({ TableName: this.table, Item: storable(event) }));
    } catch (err) {
      throw storeError(err, `event ${type} of job ${jobId}`);
    }
    return event;
  }

  /**
   * One page of a job's events, newest first (or oldest first), after the
   * event whose sort key is `after` (exclusive); `more` says whether more follow.
   */
  async page(jobId: string, opts: { limit: number; after?: string; newestFirst?: boolean }): Promise<{ events: JobEvent[]; more: boolean }> {
    const events: JobEvent[] = [];
    const pages = paginateQuery(
      { client: this.ddb, pageSize: opts.limit + 1, ...(opts.after ? { startingToken: { jobId, sk: opts.after } } : {}) },
      {
        TableName: this.table,
        KeyConditionExpression: 'jobId = :j',
        ExpressionAttributeValues: { ':j': jobId },
        ScanIndexForward: !(opts.newestFirst ?? true),
      },
    );
    for await (const out of pages) {
      for (const item of out.Items ?? []) events.push(parseRow(JobEventSchema, item, this.table, `${jobId}/${String(item.sk)}`));
      if (events.length > opts.limit) break;
    }
    return { events: events.slice(0, opts.limit), more: events.length > opts.limit };
  }

  /** The job's first `limit` events, oldest first. */
  async list(jobId: string, limit = 1000): Promise<JobEvent[]> {
    return (await this.page(jobId, { limit, newestFirst: false })).events;
  }
}
