/**
 * `spotbatch setup` (and local mode): the queues (each with its dead-letter
 * queue) and the tables, idempotently. The only code that creates or changes
 * a queue or a table: no deployed program (the dispatcher, the status page)
 * imports this file, so their IAM policies, derived from what their imports
 * send (scripts/iam-actions.ts), grant no CreateQueue, SetQueueAttributes,
 * CreateTable or UpdateTable. On AWS the stack makes the queues and tables.
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
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from './config.js';
import type { CoreClients } from './aws.js';
import { QUEUE_KINDS, dlqName, queueName, type QueueKind, type QueueUrls } from './queues.js';
import { JOB_LIST_INDEX, JOB_LIST_KEY, JOB_LIST_PK, tableDefinitions } from './store/tables.js';

export interface SetupResult {
  queues: QueueUrls;
  /** Tables this run created (empty on a second run). */
  createdTables: string[];
}

export async function setup(clients: CoreClients, config: Config): Promise<SetupResult> {
  const queues = await ensureQueues(clients.sqs, config.prefix, {
    maxReceiveCount: config.dispatcher.maxReceiveCount,
    visibilityTimeoutSeconds: config.dispatcher.visibilityTimeoutSeconds,
  });
  const createdTables = await ensureTables(clients.dynamodb, config.prefix);
  return { queues, createdTables };
}

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
