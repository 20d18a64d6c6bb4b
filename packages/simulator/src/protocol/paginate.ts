/** NextToken / MaxResults pagination: the token is an opaque offset. */
import { ApiError, invalidParameter } from './errors.js';

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

export function paginate<T>(
  items: T[],
  maxResults: number | undefined,
  nextToken: string | undefined,
  bounds: { min: number; max: number; param?: string } = { min: 5, max: 1000 },
): Page<T> {
  let start = 0;
  if (nextToken) {
    const decoded = Number(Buffer.from(nextToken, 'base64url').toString('utf8').replace(/^o:/, ''));
    if (!Number.isInteger(decoded) || decoded < 0) throw new ApiError('InvalidNextToken', 'The specified NextToken is not valid');
    start = decoded;
  }
  if (maxResults !== undefined && (maxResults < bounds.min || maxResults > bounds.max || !Number.isInteger(maxResults))) {
    throw invalidParameter(bounds.param ?? 'MaxResults', `must be an integer between ${bounds.min} and ${bounds.max}`);
  }
  const size = maxResults ?? bounds.max;
  const pageItems = items.slice(start, start + size);
  const end = start + pageItems.length;
  return {
    items: pageItems,
    nextToken: end < items.length ? Buffer.from(`o:${end}`).toString('base64url') : undefined,
  };
}
