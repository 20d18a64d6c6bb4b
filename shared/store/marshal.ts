/**
 * What the store hands the DynamoDB document client. Its marshaller takes an
 * object for a map only when `value.constructor` is Object's (or missing), so a
 * plain object with an own key `constructor` (a tag or variable a user named so)
 * is refused as a "class instance". Such objects travel as a Map, which the
 * marshaller writes as the same map attribute (M): rows read back unchanged.
 * A value that cannot be marshalled at all is a permanent error with its reason.
 *
 * What it reads back from a failed condition: the row the exception carries
 * (ReturnValuesOnConditionCheckFailure: ALL_OLD), which the document client
 * leaves in DynamoDB's attribute-value form.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { PermanentError, isMarshallError } from '../errors.js';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `value` with every plain object that has an own `constructor` key turned into a Map (deeply); anything else as is. */
export function storable<T>(value: T): T {
  if (Array.isArray(value)) return value.map(storable) as T;
  if (!isPlainObject(value)) return value;
  const entries = Object.entries(value).map(([k, v]) => [k, storable(v)] as const);
  if (Object.hasOwn(value, 'constructor')) return new Map(entries) as T;
  return Object.fromEntries(entries) as T;
}

/** A marshalling failure as a PermanentError naming the row (`job job-1`); other errors unchanged. */
export function storeError(err: unknown, row: string): unknown {
  if (!isMarshallError(err)) return err;
  return new PermanentError(`store: ${row} cannot be written to DynamoDB: ${(err as Error).message}`, { cause: err });
}

/** A conditional write lost: the condition did not hold. */
export function isConditionFailed(err: unknown): boolean {
  return err instanceof ConditionalCheckFailedException || (err instanceof Error && err.name === 'ConditionalCheckFailedException');
}

/**
 * The current row a ConditionalCheckFailedException carries when the write
 * asked for it (ReturnValuesOnConditionCheckFailure: 'ALL_OLD'), as plain
 * values; undefined when there is none (no such row, or a service that does
 * not send it, as dynalite: the caller reads the row instead).
 */
export function conditionFailureItem(err: unknown): Record<string, unknown> | undefined {
  if (!(err instanceof ConditionalCheckFailedException) || !err.Item) return undefined;
  return unmarshall(err.Item);
}
