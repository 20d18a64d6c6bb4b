/**
 * Rows with a state and a version: every state change is one conditional
 * UpdateItem on the expected state (and version, when the caller read one), so
 * a duplicate or stale message loses the race and gets a StateConflictError
 * instead of changing anything. No transactions: one row, one write.
 */
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  paginateQuery,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import { IllegalTransitionError, StateConflictError } from '../errors.js';
import { conditionFailureItem, isConditionFailed, storable, storeError } from './marshal.js';
import { parseRow } from './rows.js';
import type { Clock } from '../clock.js';
import { DEFAULT_STUCK_SECONDS, canMove, isTerminal, type Machine } from '../states.js';
import { OPEN_INDEX } from './tables.js';

/** What every stateful row carries besides its key and its own attributes. */
export interface RowMeta<S extends string> {
  state: S;
  version: number;
  createdAt: number;
  updatedAt: number;
  /** When the reconciler should look at the row again (open rows only). */
  dueAt: number;
  /** Present while the state is not terminal (sparse index). */
  openPk?: string;
  redrives?: number;
}

export type Row<S extends string, A> = RowMeta<S> & A;

export interface TransitionOptions<S extends string> {
  from: S | readonly S[];
  to: S;
  /** Also require this version (the one the caller read). */
  version?: number;
  set?: Record<string, unknown>;
  remove?: string[];
}

export interface UpdateOptions<S extends string> {
  /** Require the row to be in one of these states. */
  state?: S | readonly S[];
  version?: number;
  set?: Record<string, unknown>;
  remove?: string[];
  /** Numeric increments (ADD). */
  add?: Record<string, number>;
}

/** The schema a store reads its rows with: the output is the row type. */
export type RowSchema<S extends string, K, A> = z.ZodType<Row<S, A> & K>;

export class EntityStore<S extends string, K extends Record<string, string>, A extends object> {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly table: string,
    readonly machine: Machine<S>,
    private readonly keyNames: readonly (keyof K & string)[],
    private readonly clock: Clock,
    /** Every row read (get, query, the row a write returns) is parsed by it. */
    readonly schema: RowSchema<S, K, A>,
  ) {}

  /** The same table read with the schema of a service that names its attributes. */
  withRows<B extends object>(schema: RowSchema<S, K, B>): EntityStore<S, K, B> {
    return new EntityStore(this.ddb, this.table, this.machine, this.keyNames, this.clock, schema);
  }

  private keyString(key: Partial<Record<string, unknown>>): string {
    return this.keyNames.map((k) => String(key[k])).join('/');
  }

  private pickKey(key: K): Record<string, unknown> {
    return Object.fromEntries(this.keyNames.map((k) => [k, key[k]]));
  }

  /** `item` (as read) parsed by the row schema; a CorruptRowError names the table, key and fields. */
  private parse<T>(schema: z.ZodType<T>, item: Record<string, unknown>): T {
    return parseRow(schema, item, this.table, this.keyString(item));
  }

  dueAtFor(state: S, now: number): number {
    return now + (this.machine.states[state].redrive?.afterSeconds ?? DEFAULT_STUCK_SECONDS) * 1000;
  }

  private meta(state: S, now: number): Pick<RowMeta<S>, 'dueAt' | 'openPk'> {
    return isTerminal(this.machine, state) ? { dueAt: now } : { dueAt: this.dueAtFor(state, now), openPk: 'open' };
  }

  /**
   * The row a failed condition met: the one the exception carries
   * (ReturnValuesOnConditionCheckFailure ALL_OLD), or, where the service sends
   * none (dynalite), one read.
   */
  private async currentAfter(err: unknown, key: K): Promise<(Row<S, A> & K) | undefined> {
    const old = conditionFailureItem(err);
    return old ? this.parse(this.schema, old) : this.get(key);
  }

  /** Insert a new row; a row with that key already there is a StateConflictError (a duplicate create). */
  async create(key: K, attributes: A, state: S = this.machine.initial): Promise<Row<S, A> & K> {
    const now = this.clock.now();
    const meta = this.meta(state, now);
    const item: Row<S, A> & K = {
      ...attributes,
      ...key,
      state,
      version: 1,
      createdAt: now,
      updatedAt: now,
      dueAt: meta.dueAt,
      ...(meta.openPk ? { openPk: meta.openPk } : {}),
    };
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: storable({ ...item, ...this.pickKey(key) }),
          ConditionExpression: `attribute_not_exists(#k)`,
          ExpressionAttributeNames: { '#k': this.keyNames[0]! },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return item;
    } catch (err) {
      if (!isConditionFailed(err)) throw storeError(err, `${this.machine.entity} ${this.keyString(key)}`);
      const current = await this.currentAfter(err, key);
      // No cause: the SDK's exception carries the whole current row (ALL_OLD), keys and all; what it says is in `actual`.
      throw new StateConflictError(this.machine.entity, this.keyString(key), {}, current && { state: current.state, version: current.version });
    }
  }

  async get(key: K): Promise<(Row<S, A> & K) | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: this.pickKey(key), ConsistentRead: true }));
    return out.Item ? this.parse(this.schema, out.Item) : undefined;
  }

  /** Move the row from one of `from` to `to`, bumping its version. Returns the new row. */
  async transition(key: K, opts: TransitionOptions<S>): Promise<Row<S, A> & K> {
    const from: readonly S[] = typeof opts.from === 'string' ? [opts.from] : opts.from;
    for (const f of from) {
      if (!canMove(this.machine, f, opts.to)) {
        throw new IllegalTransitionError(this.machine.entity, f, opts.to);
      }
    }
    const now = this.clock.now();
    const meta = this.meta(opts.to, now);
    const set: Record<string, unknown> = { ...opts.set, state: opts.to, updatedAt: now, dueAt: meta.dueAt };
    if (meta.openPk) set.openPk = meta.openPk;
    const remove = [...(opts.remove ?? []), ...(meta.openPk ? [] : ['openPk'])];
    return this.write(key, { state: from, version: opts.version, set, remove, add: { version: 1 } });
  }

  /** Change attributes without changing state (version still bumps, so stale writers lose). */
  async update(key: K, opts: UpdateOptions<S>): Promise<Row<S, A> & K> {
    const now = this.clock.now();
    return this.write(key, { ...opts, set: { ...opts.set, updatedAt: now }, add: { ...opts.add, version: 1 } });
  }

  /**
   * The reconciler's mark: push dueAt forward without bumping the version (so
   * it never makes a handler's write stale). Conditional on the version read.
   */
  async markRedriven(key: K, version: number, state: S): Promise<boolean> {
    return this.pushDue(key, version, state, { redrives: 1 });
  }

  /**
   * A polling loop's sign of life: while a row waits in one state, its loop
   * pushes dueAt forward once half the state's timeout has passed, so the
   * reconciler re-drives only a loop that has stopped (and never starts a
   * second one beside a live one). One write per half timeout; no version bump.
   */
  async keepAlive(row: RowMeta<S> & K): Promise<void> {
    const half = ((this.machine.states[row.state].redrive?.afterSeconds ?? DEFAULT_STUCK_SECONDS) * 1000) / 2;
    if (row.dueAt - this.clock.now() > half) return;
    await this.pushDue(row, row.version, row.state, {});
  }

  private async pushDue(key: K, version: number, state: S, add: Record<string, number>): Promise<boolean> {
    try {
      await this.write(key, { state, version, set: { dueAt: this.dueAtFor(state, this.clock.now()) }, add });
      return true;
    } catch (err) {
      if (err instanceof StateConflictError) return false;
      throw err;
    }
  }

  private async write(key: K, opts: UpdateOptions<S>): Promise<Row<S, A> & K> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const adds: string[] = [];
    const removes: string[] = [];
    let i = 0;
    const name = (n: string) => {
      const alias = `#n${i++}`;
      names[alias] = n;
      return alias;
    };
    const value = (v: unknown) => {
      const alias = `:v${i++}`;
      values[alias] = v;
      return alias;
    };
    for (const [k, v] of Object.entries(opts.set ?? {})) {
      if (v === undefined) continue;
      sets.push(`${name(k)} = ${value(v)}`);
    }
    for (const [k, v] of Object.entries(opts.add ?? {})) adds.push(`${name(k)} ${value(v)}`);
    for (const k of opts.remove ?? []) removes.push(name(k));
    const conditions = [`attribute_exists(${name(this.keyNames[0]!)})`];
    const states: readonly S[] = opts.state === undefined ? [] : typeof opts.state === 'string' ? [opts.state] : opts.state;
    if (states.length) conditions.push(`${name('state')} IN (${states.map((s) => value(s)).join(', ')})`);
    if (opts.version !== undefined) conditions.push(`${name('version')} = ${value(opts.version)}`);
    const expression = [
      sets.length ? `SET ${sets.join(', ')}` : '',
      adds.length ? `ADD ${adds.join(', ')}` : '',
      removes.length ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    let attributes: Record<string, unknown> | undefined;
    try {
      const out = await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.pickKey(key),
          UpdateExpression: expression,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: storable(values),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      attributes = out.Attributes;
    } catch (err) {
      if (!isConditionFailed(err)) throw storeError(err, `${this.machine.entity} ${this.keyString(key)}`);
      const current = await this.currentAfter(err, key);
      throw new StateConflictError(
        this.machine.entity,
        this.keyString(key),
        { ...(states.length ? { state: states } : {}), ...(opts.version !== undefined ? { version: opts.version } : {}) },
        current && { state: current.state, version: current.version },
      );
    }
    return this.parse(this.schema, attributes ?? {});
  }

  /** Open rows whose dueAt has passed, oldest first. */
  async listDue(now: number, limit = 100): Promise<Array<Row<S, A> & K>> {
    const out = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: OPEN_INDEX,
        KeyConditionExpression: 'openPk = :open AND dueAt <= :now',
        ExpressionAttributeValues: { ':open': 'open', ':now': now },
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((item) => this.parse(this.schema, item));
  }

  /** The Query of the rows under a partition key value, in key order (`projection`: these attributes and the key). */
  private partitionQuery(partition: Partial<K>, projection?: readonly string[]): QueryCommandInput {
    const pk = this.keyNames[0]!;
    const names: Record<string, string> = { '#pk': pk };
    let expression: string | undefined;
    if (projection) {
      const all = [...new Set([...this.keyNames, ...projection])];
      all.forEach((a, i) => (names[`#a${i}`] = a));
      expression = all.map((_, i) => `#a${i}`).join(', ');
    }
    return {
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ':pk': partition[pk] },
      ...(expression ? { ProjectionExpression: expression } : {}),
    };
  }

  /** At most `limit` rows after `after`, parsed by `schema`; reads limit + 1 so that the last page says so exactly. */
  private async pageOf<T>(
    query: QueryCommandInput,
    schema: z.ZodType<T>,
    opts: { limit: number; after?: K },
  ): Promise<{ rows: T[]; more: boolean }> {
    const rows: T[] = [];
    const pages = paginateQuery(
      { client: this.ddb, pageSize: opts.limit + 1, ...(opts.after ? { startingToken: this.pickKey(opts.after) } : {}) },
      query,
    );
    for await (const out of pages) {
      for (const item of out.Items ?? []) rows.push(this.parse(schema, item));
      if (rows.length > opts.limit) break;
    }
    return { rows: rows.slice(0, opts.limit), more: rows.length > opts.limit };
  }

  /**
   * One page of the rows under a partition key value, in key order: at most
   * `limit` rows after `after` (a full key, exclusive), and whether more follow.
   */
  async page(partition: Partial<K>, opts: { limit: number; after?: K }): Promise<{ rows: Array<Row<S, A> & K>; more: boolean }> {
    return this.pageOf(this.partitionQuery(partition), this.schema, opts);
  }

  /**
   * A page as `page` gives it, of only the attributes `project` names (and
   * the key): DynamoDB sends just those, and each row is parsed by `project`
   * (a pick of the row schema), so the rows' type says what was read.
   */
  async pageProjected<T>(
    partition: Partial<K>,
    project: z.ZodType<T> & { shape: object },
    opts: { limit: number; after?: K },
  ): Promise<{ rows: T[]; more: boolean }> {
    return this.pageOf(this.partitionQuery(partition, Object.keys(project.shape)), project, opts);
  }

  /** All rows under one partition key value (tasks of a job), in key order, page by page. */
  async *listPartition(partition: Partial<K>, pageSize = 500): AsyncGenerator<Row<S, A> & K> {
    for await (const out of paginateQuery({ client: this.ddb, pageSize }, this.partitionQuery(partition))) {
      for (const item of out.Items ?? []) yield this.parse(this.schema, item);
    }
  }
}
