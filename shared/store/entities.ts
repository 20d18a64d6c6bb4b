/**
 * Rows with a state and a version: every state change is one conditional
 * UpdateItem on the expected state (and version, when the caller read one), so
 * a duplicate or stale message loses the race and gets a StateConflictError
 * instead of changing anything. No transactions: one row, one write.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { IllegalTransitionError, StateConflictError } from '../errors.js';
import { storable, storeError } from './marshal.js';
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

const isConditionFailed = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException || (err as { name?: string })?.name === 'ConditionalCheckFailedException';

export class EntityStore<S extends string, K extends Record<string, string>, A extends object> {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly table: string,
    readonly machine: Machine<S>,
    private readonly keyNames: readonly (keyof K & string)[],
    private readonly clock: Clock,
  ) {}

  private keyString(key: K): string {
    return this.keyNames.map((k) => key[k]).join('/');
  }

  private pickKey(key: K): K {
    const out = {} as K;
    for (const k of this.keyNames) out[k] = key[k];
    return out;
  }

  dueAtFor(state: S, now: number): number {
    return now + (this.machine.states[state].redrive?.afterSeconds ?? DEFAULT_STUCK_SECONDS) * 1000;
  }

  private meta(state: S, now: number): Pick<RowMeta<S>, 'dueAt' | 'openPk'> {
    return isTerminal(this.machine, state) ? { dueAt: now } : { dueAt: this.dueAtFor(state, now), openPk: 'open' };
  }

  /** Insert a new row; a row with that key already there is a StateConflictError (a duplicate create). */
  async create(key: K, attributes: A, state: S = this.machine.initial): Promise<Row<S, A> & K> {
    const now = this.clock.now();
    const meta = this.meta(state, now);
    const item = {
      ...attributes,
      ...this.pickKey(key),
      state,
      version: 1,
      createdAt: now,
      updatedAt: now,
      dueAt: meta.dueAt,
      ...(meta.openPk ? { openPk: meta.openPk } : {}),
    } as unknown as Row<S, A> & K;
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: storable(item as Record<string, unknown>),
          ConditionExpression: `attribute_not_exists(#k)`,
          ExpressionAttributeNames: { '#k': this.keyNames[0]! },
        }),
      );
      return item;
    } catch (err) {
      if (!isConditionFailed(err)) throw storeError(err, `${this.machine.entity} ${this.keyString(key)}`);
      const current = await this.get(key);
      throw new StateConflictError(this.machine.entity, this.keyString(key), {}, current && { state: current.state, version: current.version }, {
        cause: err,
      });
    }
  }

  async get(key: K): Promise<(Row<S, A> & K) | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: this.pickKey(key), ConsistentRead: true }));
    return out.Item as (Row<S, A> & K) | undefined;
  }

  /** Move the row from one of `from` to `to`, bumping its version. Returns the new row. */
  async transition(key: K, opts: TransitionOptions<S>): Promise<Row<S, A> & K> {
    const from = [opts.from].flat() as S[];
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
    return this.write(key, { state: from, version: opts.version, set, remove, add: { version: 1 } }, now);
  }

  /** Change attributes without changing state (version still bumps, so stale writers lose). */
  async update(key: K, opts: UpdateOptions<S>): Promise<Row<S, A> & K> {
    const now = this.clock.now();
    return this.write(key, { ...opts, set: { ...opts.set, updatedAt: now }, add: { ...opts.add, version: 1 } }, now);
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
      await this.write(key, { state, version, set: { dueAt: this.dueAtFor(state, this.clock.now()) }, add }, this.clock.now());
      return true;
    } catch (err) {
      if (err instanceof StateConflictError) return false;
      throw err;
    }
  }

  private async write(key: K, opts: UpdateOptions<S>, _now: number): Promise<Row<S, A> & K> {
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
    const states = opts.state === undefined ? [] : ([opts.state].flat() as S[]);
    if (states.length) conditions.push(`${name('state')} IN (${states.map((s) => value(s)).join(', ')})`);
    if (opts.version !== undefined) conditions.push(`${name('version')} = ${value(opts.version)}`);
    const expression = [
      sets.length ? `SET ${sets.join(', ')}` : '',
      adds.length ? `ADD ${adds.join(', ')}` : '',
      removes.length ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
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
        }),
      );
      return out.Attributes as Row<S, A> & K;
    } catch (err) {
      if (!isConditionFailed(err)) throw storeError(err, `${this.machine.entity} ${this.keyString(key)}`);
      const current = await this.get(key);
      throw new StateConflictError(
        this.machine.entity,
        this.keyString(key),
        { ...(states.length ? { state: states } : {}), ...(opts.version !== undefined ? { version: opts.version } : {}) },
        current && { state: current.state, version: current.version },
        { cause: err },
      );
    }
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
    return (out.Items ?? []) as Array<Row<S, A> & K>;
  }

  /**
   * One page of the rows under a partition key value, in key order: at most
   * `limit` rows after `after` (a full key, exclusive), and whether more
   * follow. Reads limit + 1 rows so that the last page says so exactly.
   * `attributes` projects the rows (the key attributes are always included).
   */
  async page(
    partition: Partial<K>,
    opts: { limit: number; after?: K; attributes?: readonly string[] },
  ): Promise<{ rows: Array<Row<S, A> & K>; more: boolean }> {
    const pk = this.keyNames[0]!;
    const names: Record<string, string> = { '#pk': pk };
    let projection: string | undefined;
    if (opts.attributes) {
      const all = [...new Set([...this.keyNames, ...opts.attributes])];
      all.forEach((a, i) => (names[`#a${i}`] = a));
      projection = all.map((_, i) => `#a${i}`).join(', ');
    }
    const rows: Array<Row<S, A> & K> = [];
    let start: Record<string, unknown> | undefined = opts.after ? this.pickKey(opts.after) : undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':pk': (partition as Record<string, string>)[pk] },
          ...(projection ? { ProjectionExpression: projection } : {}),
          ExclusiveStartKey: start,
          Limit: opts.limit + 1 - rows.length,
        }),
      );
      rows.push(...((out.Items ?? []) as Array<Row<S, A> & K>));
      start = out.LastEvaluatedKey;
    } while (start && rows.length <= opts.limit);
    return { rows: rows.slice(0, opts.limit), more: rows.length > opts.limit };
  }

  /** All rows under one partition key value (tasks of a job), in key order, page by page. */
  async *listPartition(partition: Partial<K>, pageSize = 500): AsyncGenerator<Row<S, A> & K> {
    const pk = this.keyNames[0]!;
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': pk },
          ExpressionAttributeValues: { ':pk': (partition as Record<string, string>)[pk] },
          ExclusiveStartKey: start,
          Limit: pageSize,
        }),
      );
      for (const item of out.Items ?? []) yield item as Row<S, A> & K;
      start = out.LastEvaluatedKey;
    } while (start);
  }
}
