/**
 * What the store hands the DynamoDB document client. Its marshaller takes an
 * object for a map only when `value.constructor` is Object's (or missing), so a
 * plain object with an own key `constructor` (a tag or variable a user named so)
 * is refused as a "class instance". Such objects travel as a Map, which the
 * marshaller writes as the same map attribute (M): rows read back unchanged.
 * A value that cannot be marshalled at all is a permanent error with its reason.
 */
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
