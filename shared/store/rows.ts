/**
 * What a row must look like to be read: every read of the store goes through
 * a zod schema of its rows, so a handler gets a typed row or a loud error,
 * never a cast. A row that does not parse (corrupted, or written by code that
 * disagrees with this one) is a permanent error naming the table, the key and
 * each field path with its rule: retrying cannot mend it, so the message goes
 * to the dead-letter queue instead of being redelivered forever. The error
 * names rules, never the values (a row can hold encrypted keys and user env).
 */
import { z } from 'zod';
import { PermanentError, type ValidationIssue } from '../errors.js';
import { pathOf, ruleOf } from '../validation.js';
import type { Machine } from '../states.js';

/** A row read from `table` under `key` that does not match its schema. Permanent. */
export class CorruptRowError extends PermanentError {
  readonly table: string;
  readonly key: string;
  readonly issues: ValidationIssue[];

  constructor(table: string, key: string, issues: ValidationIssue[]) {
    super(`store: row ${key} of table ${table} does not match its schema: ${issues.map((i) => `${i.path || '(root)'}: ${i.rule}`).join('; ')}`);
    this.name = 'CorruptRowError';
    this.table = table;
    this.key = key;
    this.issues = issues;
  }
}

/** `item` parsed by `schema`, or a CorruptRowError naming `table`, `key` and the field paths. */
export function parseRow<T>(schema: z.ZodType<T>, item: unknown, table: string, key: string): T {
  const out = schema.safeParse(item);
  if (out.success) return out.data;
  throw new CorruptRowError(
    table,
    key,
    out.error.issues.map((i) => ({ path: pathOf(i), rule: ruleOf(i) })),
  );
}

/** A state of `machine` (the store refuses any other when reading). */
export function stateSchema<S extends string>(machine: Machine<S>): z.ZodType<S> {
  return z.custom<S>((v) => typeof v === 'string' && Object.hasOwn(machine.states, v), { message: `must be a ${machine.entity} state` });
}

/** The fields every stateful row carries (shared/store/entities.ts `RowMeta`). */
export function rowMetaShape<S extends string>(machine: Machine<S>) {
  return {
    state: stateSchema(machine),
    version: z.number(),
    createdAt: z.number(),
    updatedAt: z.number(),
    /** When the reconciler should look at the row again (open rows only). */
    dueAt: z.number(),
    /** Present while the state is not terminal (sparse index). */
    openPk: z.string().optional(),
    redrives: z.number().optional(),
  };
}

/**
 * The schema of a stateful row: the store's fields, the key, and the
 * service's attributes. Attributes not named are dropped from what is
 * returned (they stay in the table), so a row written by newer code still reads.
 */
export function rowSchema<S extends string, KS extends z.ZodRawShape, AS extends z.ZodRawShape>(machine: Machine<S>, key: KS, attributes: AS) {
  return z.object({ ...attributes, ...key, ...rowMetaShape(machine) });
}

/**
 * A row whose attributes the reader does not name (the reconciler, tests):
 * the store's fields and the key are checked, everything else comes through as `unknown`.
 */
export function looseRowSchema<S extends string, KS extends z.ZodRawShape>(machine: Machine<S>, key: KS) {
  return z.looseObject({ ...key, ...rowMetaShape(machine) });
}
