/**
 * z.record for objects that come from JSON.parse: a key named `__proto__` is
 * an own property there, and z.record drops it without a word (it would set
 * the prototype of the record it builds). Refused instead, by field path, so
 * a spec never loses a variable or a tag silently.
 */
import { z } from 'zod';

export const PROTO_KEY_RULE = 'the name "__proto__" cannot be carried (JavaScript reserves it)';

export function ownRecord<K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V) {
  return z.preprocess((input, ctx) => {
    if (input !== null && typeof input === 'object' && Object.prototype.hasOwnProperty.call(input, '__proto__')) {
      ctx.issues.push({ code: 'custom', input, path: ['__proto__'], message: PROTO_KEY_RULE });
    }
    return input;
  }, z.record(key, value));
}
