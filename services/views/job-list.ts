/**
 * The jobs list: one Query of the jobs table's `job-list` index (every job row
 * has listPk = "job", sorted by submittedAt), newest first, a page at a time,
 * projected to what a summary needs (the index holds only those fields: the
 * rows' specs and keys stay in the table). Never a Scan: the page polls it every two seconds.
 *
 * A state filter is a FilterExpression, so a page of a rare state may read
 * several index pages; it still reads only the list's fields.
 */
import { paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobState } from '../../shared/states.js';
import { JOB_LIST_INDEX, JOB_LIST_KEY, JOB_LIST_PK } from '../../shared/store/tables.js';
import { CorruptRowError, parseRow } from '../../shared/store/rows.js';
import { ListedJobSchema, type ListedJob } from './summaries.js';

/** Where the last page ended: the last row's sort key and job id. */
interface JobListPosition {
  submittedAt: number;
  jobId: string;
}

export async function listJobs(
  ddb: DynamoDBDocumentClient,
  table: string,
  q: { limit: number; states?: readonly JobState[]; after?: JobListPosition },
): Promise<{ rows: ListedJob[]; more: boolean }> {
  const names: Record<string, string> = { '#lk': JOB_LIST_KEY, '#name': 'name', '#state': 'state', '#error': 'error', '#tags': 'tags' };
  const values: Record<string, unknown> = { ':lk': JOB_LIST_PK };
  const states = q.states ?? [];
  states.forEach((s, i) => (values[`:s${i}`] = s));
  const pages = paginateQuery(
    // Read one row more than the page, so that the last page says so exactly.
    { client: ddb, pageSize: states.length ? Math.max(100, q.limit + 1) : q.limit + 1 },
    {
      TableName: table,
      IndexName: JOB_LIST_INDEX,
      KeyConditionExpression: '#lk = :lk',
      ScanIndexForward: false,
      ProjectionExpression: 'jobId, submittedAt, #name, #state, taskCount, updatedAt, endedAt, outcome, #error, version, #tags',
      ...(states.length ? { FilterExpression: `#state IN (${states.map((_, i) => `:s${i}`).join(', ')})` } : {}),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ...(q.after ? { ExclusiveStartKey: { [JOB_LIST_KEY]: JOB_LIST_PK, submittedAt: q.after.submittedAt, jobId: q.after.jobId } } : {}),
    },
  );
  const rows: ListedJob[] = [];
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      // One unreadable row must not take the whole list (and the status page) down with it: it is left out,
      // and its own page (a read of the whole row) says what is wrong with it.
      try {
        rows.push(parseRow(ListedJobSchema, item, table, `${String(item.jobId)} (${JOB_LIST_INDEX})`));
      } catch (err) {
        if (!(err instanceof CorruptRowError)) throw err;
      }
    }
    if (rows.length > q.limit) break;
  }
  return { rows: rows.slice(0, q.limit), more: rows.length > q.limit };
}
