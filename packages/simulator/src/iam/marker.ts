/** IAM pagination: Marker / MaxItems in, IsTruncated / Marker out. */
import { invalidParameter } from '../protocol/errors.js';

export function markerPage<T>(all: T[], marker: string | undefined, maxItems: number | undefined): { items: T[]; IsTruncated: boolean; Marker?: string } {
  const max = maxItems ?? 100;
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw invalidParameter('MaxItems', 'must be between 1 and 1000');
  let start = 0;
  if (marker) {
    start = Number(Buffer.from(marker, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0) throw invalidParameter('Marker', 'is not a marker this API gave');
  }
  const items = all.slice(start, start + max);
  const end = start + items.length;
  const truncated = end < all.length;
  return { items, IsTruncated: truncated, ...(truncated ? { Marker: Buffer.from(String(end)).toString('base64url') } : {}) };
}
