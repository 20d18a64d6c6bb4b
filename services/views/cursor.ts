/**
 * Opaque cursors for the JSON API: base64url of a small JSON object naming
 * where the last page ended. Clients pass them back untouched; anything that
 * does not decode to the expected shape is a 400, never a store query.
 */
import type { z } from 'zod';
import { PermanentError } from '../../shared/errors.js';

/** A query the read model cannot answer as asked (a bad cursor or state): the client's to fix. */
export class BadRequest extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

export function encodeCursor(value: Record<string, string>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor<T extends z.ZodType>(schema: T, text: string | null | undefined, what = 'cursor'): z.output<T> | undefined {
  if (text === null || text === undefined || text === '') return undefined;
  if (text.length > 512 || !/^[A-Za-z0-9_-]+$/.test(text)) throw new BadRequest(`${what}: not a cursor this server gave out`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequest(`${what}: not a cursor this server gave out`);
  }
  const out = schema.safeParse(parsed);
  if (!out.success) throw new BadRequest(`${what}: not a cursor this server gave out`);
  return out.data;
}

/** `limit` from a query string: a whole number from 1 to `max`, `fallback` when absent. */
export function parseLimit(text: string | null, fallback: number, max: number): number {
  if (text === null || text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new BadRequest(`limit: must be a whole number from 1 to ${max}, got ${JSON.stringify(text.slice(0, 20))}`);
  return Number(text);
}
