/**
 * A lease row with expiry: one holder at a time, taken over when the holder
 * stops renewing. Acquire and renew are the same conditional write.
 */
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { isConditionFailed } from './marshal.js';
import { parseRow } from './rows.js';
import type { Clock } from '../clock.js';

export const LeaseRowSchema = z.object({
  name: z.string(),
  holder: z.string(),
  expiresAt: z.number(),
  acquiredAt: z.number(),
});
export type LeaseRow = z.infer<typeof LeaseRowSchema>;

export class Leases {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly table: string,
    private readonly clock: Clock,
  ) {}

  /** Take or renew `name` for `holder` for `ttlMs`. True when `holder` holds it afterwards. */
  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    try {
      const current = await this.get(name);
      const acquiredAt = current && current.holder === holder ? current.acquiredAt : now;
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: { name, holder, expiresAt: now + ttlMs, acquiredAt } satisfies LeaseRow,
          ConditionExpression: 'attribute_not_exists(#name) OR #holder = :me OR #exp < :now',
          ExpressionAttributeNames: { '#name': 'name', '#holder': 'holder', '#exp': 'expiresAt' },
          ExpressionAttributeValues: { ':me': holder, ':now': now },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  /** Give the lease up (on shutdown), only if still ours. */
  async release(name: string, holder: string): Promise<void> {
    try {
      await this.ddb.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { name },
          ConditionExpression: '#holder = :me',
          ExpressionAttributeNames: { '#holder': 'holder' },
          ExpressionAttributeValues: { ':me': holder },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  async get(name: string): Promise<LeaseRow | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { name }, ConsistentRead: true }));
    return out.Item ? parseRow(LeaseRowSchema, out.Item, this.table, name) : undefined;
  }
}
