/**
 * The fleet's DynamoDB tables. `ensureTables` is idempotent.
 *
 * - jobs   (jobId)            one row per job
 * - tasks  (jobId, taskId)    one row per task, its attempts inside it
 * - events (jobId, sk)        append-only event log per job (timeline, cost report)
 * - leases (name)             leases with expiry (the reconciler's)
 * - market (pk, sk)           the market store (services/market/store.ts): latest value per
 *                             pool, the change log, launches, runs, capacity and quota blocks,
 *                             collection status and the placement-score budget ledger
 *
 * jobs and tasks carry a sparse index `open-due` (openPk, dueAt): only open
 * rows have openPk, and dueAt says when the reconciler should look at the row
 * again, so finding stuck work is one Query, not a Scan.
 *
 * jobs also carry `job-list` (listPk, submittedAt): every job row has listPk
 * = "job", so the jobs list is one Query, newest first, a page at a time
 * (services/views/job-list.ts), never a Scan. A table made before the index
 * existed gets it from `ensureTables` (UpdateTable), and its rows get listPk.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  paginateScan,
  UpdateItemCommand,
  UpdateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

export interface TableNames {
  jobs: string;
  tasks: string;
  events: string;
  leases: string;
  market: string;
}

export const OPEN_INDEX = 'open-due';
/** The jobs list's index, its partition key attribute and the one value every job row has in it. */
export const JOB_LIST_INDEX = 'job-list';
export const JOB_LIST_KEY = 'listPk';
export const JOB_LIST_PK = 'job';

export function tableNames(prefix: string): TableNames {
  return {
    jobs: `${prefix}-jobs`,
    tasks: `${prefix}-tasks`,
    events: `${prefix}-events`,
    leases: `${prefix}-leases`,
    market: `${prefix}-market`,
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

/**
 * Only what a line of the list shows (services/views/job-list.ts): a job row
 * carries its spec (up to a few hundred KB) and its encrypted keys, and an
 * index that projected them would copy all of that on every write of the row.
 */
export const JOB_LIST_ATTRIBUTES = ['name', 'state', 'taskCount', 'updatedAt', 'endedAt', 'outcome', 'error', 'version', 'tags'];

const jobListIndex = {
  IndexName: JOB_LIST_INDEX,
  KeySchema: [
    { AttributeName: JOB_LIST_KEY, KeyType: 'HASH' as const },
    { AttributeName: 'submittedAt', KeyType: 'RANGE' as const },
  ],
  Projection: { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: JOB_LIST_ATTRIBUTES },
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
        { AttributeName: JOB_LIST_KEY, AttributeType: 'S' },
        { AttributeName: 'submittedAt', AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: 'jobId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [openIndex, jobListIndex],
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
    {
      TableName: n.market,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
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

/**
 * Create the tables that are missing, add the indexes an existing table lacks
 * (UpdateTable, one at a time as DynamoDB allows), and wait until all are
 * active. Returns the names of the tables it created.
 */
export async function ensureTables(ddb: DynamoDBClient, prefix: string): Promise<string[]> {
  const created: string[] = [];
  for (const def of tableDefinitions(prefix)) {
    try {
      await ddb.send(new CreateTableCommand(def));
      created.push(def.TableName!);
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
      await waitActive(ddb, def.TableName!);
      await addMissingIndexes(ddb, def);
    }
    await waitActive(ddb, def.TableName!);
  }
  return created;
}

async function indexStatus(ddb: DynamoDBClient, table: string): Promise<Map<string, string | undefined>> {
  const out = await ddb.send(new DescribeTableCommand({ TableName: table }));
  return new Map((out.Table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName ?? '', i.IndexStatus]));
}

/** A table made by an older version: its missing indexes are created (DynamoDB backfills them), then job rows get listPk and top-level tags. */
async function addMissingIndexes(ddb: DynamoDBClient, def: CreateTableCommandInput): Promise<void> {
  const table = def.TableName!;
  for (const index of def.GlobalSecondaryIndexes ?? []) {
    if ((await indexStatus(ddb, table)).has(index.IndexName!)) continue;
    const keys = new Set(index.KeySchema!.map((k) => k.AttributeName));
    try {
      await ddb.send(
        new UpdateTableCommand({
          TableName: table,
          AttributeDefinitions: def.AttributeDefinitions!.filter((a) => keys.has(a.AttributeName)),
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        }),
      );
    } catch (err) {
      // The embedded emulator (dynalite) refuses an index without provisioned throughput on a pay-per-request table.
      throw cannotAddIndex(table, index.IndexName!, (err as Error).message, err);
    }
    await waitIndexActive(ddb, table, index.IndexName!);
  }
  // Every setup, not only the one that made the index: a setup cut short after the index was made, and
  // jobs that dispatchers of the previous version made during a rolling upgrade, are listed by the next.
  if ((def.GlobalSecondaryIndexes ?? []).some((i) => i.IndexName === JOB_LIST_INDEX)) await backfillJobList(ddb, table);
}

function cannotAddIndex(table: string, index: string, why: string, cause?: unknown): Error {
  return new Error(
    `table ${table} has no index ${index} and this DynamoDB endpoint did not add it (${why}); the embedded emulator cannot add an index to an existing table: ` +
      'start `spotbatch local` with a new --data folder, or delete the table and run `spotbatch setup` again',
    { cause },
  );
}

async function waitIndexActive(ddb: DynamoDBClient, table: string, index: string): Promise<void> {
  // Backfilling a large table's index can take a while on DynamoDB: up to 30 minutes here.
  for (let i = 0; i < 3600; i++) {
    const status = (await indexStatus(ddb, table)).get(index);
    if (status === 'ACTIVE') return;
    // The endpoint took the UpdateTable and did nothing.
    if (status === undefined) throw cannotAddIndex(table, index, 'the index did not appear');
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`index ${index} of table ${table} did not become ACTIVE within 30 minutes`);
}

/** Every job row without listPk gets it, so the jobs list shows the jobs made before its index. */
async function backfillJobList(ddb: DynamoDBClient, table: string): Promise<void> {
  const pages = paginateScan(
    { client: ddb },
    {
      TableName: table,
      ProjectionExpression: 'jobId, #spec.#tags',
      FilterExpression: 'attribute_not_exists(#lk) AND attribute_exists(submittedAt)',
      ExpressionAttributeNames: { '#lk': JOB_LIST_KEY, '#spec': 'spec', '#tags': 'tags' },
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      await ddb
        .send(
          new UpdateItemCommand({
            TableName: table,
            Key: { jobId: item.jobId! },
            UpdateExpression: 'SET #lk = :pk, #tags = if_not_exists(#tags, :tags)',
            ConditionExpression: 'attribute_exists(jobId)',
            ExpressionAttributeNames: { '#lk': JOB_LIST_KEY, '#tags': 'tags' },
            ExpressionAttributeValues: { ':pk': { S: JOB_LIST_PK }, ':tags': item.spec?.M?.tags ?? { M: {} } },
          }),
        )
        .catch((err: unknown) => {
          // Deleted since the scan read it: nothing to list.
          if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
        });
    }
  }
}
