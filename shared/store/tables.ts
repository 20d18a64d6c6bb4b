/**
 * The fleet's DynamoDB tables: their names and definitions. Making them
 * (`ensureTables`: CreateTable, UpdateTable) is shared/setup.ts's alone, out of
 * the deployed programs' imports, so that their derived IAM policies
 * (scripts/iam-actions.ts) cannot create or change a table.
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
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

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
