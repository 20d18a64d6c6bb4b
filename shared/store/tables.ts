/**
 * The fleet's DynamoDB tables. `ensureTables` is idempotent.
 *
 * - jobs   (jobId)            one row per job
 * - tasks  (jobId, taskId)    one row per task, its attempts inside it
 * - events (jobId, sk)        append-only event log per job (timeline, cost report)
 * - leases (name)             leases with expiry (the reconciler's)
 *
 * jobs and tasks carry a sparse index `open-due` (openPk, dueAt): only open
 * rows have openPk, and dueAt says when the reconciler should look at the row
 * again, so finding stuck work is one Query, not a Scan.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

export interface TableNames {
  jobs: string;
  tasks: string;
  events: string;
  leases: string;
}

export const OPEN_INDEX = 'open-due';

export function tableNames(prefix: string): TableNames {
  return {
    jobs: `${prefix}-jobs`,
    tasks: `${prefix}-tasks`,
    events: `${prefix}-events`,
    leases: `${prefix}-leases`,
  };
}

const openIndex = {
  IndexName: OPEN_INDEX,
  KeySchema: [
    { AttributeName: 'openPk', KeyType: 'HASH' as const },
    { AttributeName: 'dueAt', KeyType: 'RANGE' as const },
  ],
  Projection: { ProjectionType: 'ALL' as const },
};

export function tableDefinitions(prefix: string): CreateTableCommandInput[] {
  const n = tableNames(prefix);
  return [
    {
      TableName: n.jobs,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'jobId', AttributeType: 'S' },
        { AttributeName: 'openPk', AttributeType: 'S' },
        { AttributeName: 'dueAt', AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: 'jobId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [openIndex],
    },
    {
      TableName: n.tasks,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'jobId', AttributeType: 'S' },
        { AttributeName: 'taskId', AttributeType: 'S' },
        { AttributeName: 'openPk', AttributeType: 'S' },
        { AttributeName: 'dueAt', AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: 'jobId', KeyType: 'HASH' },
        { AttributeName: 'taskId', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [openIndex],
    },
    {
      TableName: n.events,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'jobId', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'jobId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    },
    {
      TableName: n.leases,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'name', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
    },
  ];
}

async function waitActive(ddb: DynamoDBClient, table: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const out = await ddb.send(new DescribeTableCommand({ TableName: table }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`table ${table} did not become ACTIVE within 60 s`);
}

/** Create the tables that are missing and wait until all are active. Returns the names it created. */
export async function ensureTables(ddb: DynamoDBClient, prefix: string): Promise<string[]> {
  const created: string[] = [];
  for (const def of tableDefinitions(prefix)) {
    try {
      await ddb.send(new CreateTableCommand(def));
      created.push(def.TableName!);
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
    }
    await waitActive(ddb, def.TableName!);
  }
  return created;
}
