/** EC2 `Filter.N.Name` / `Filter.N.Value.M` matching, with `*` and `?` wildcards and tag filters. */
import type { Filter } from '@aws-sdk/client-ec2';
import type { Tags } from '../state/records.js';
import { ApiError } from './errors.js';

/** Values a resource has for one filter name; undefined when the filter name is not supported. */
export type FilterValues<T> = (item: T, name: string) => (string | undefined)[] | undefined;

function wildcard(pattern: string): RegExp {
  const esc = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`);
}

export function tagFilterValues(tags: Tags, name: string): string[] | undefined {
  if (name.startsWith('tag:')) {
    const v = tags.get(name.slice(4));
    return v === undefined ? [] : [v];
  }
  if (name === 'tag-key') return [...tags.keys()];
  if (name === 'tag-value') return [...tags.values()];
  return undefined;
}

/** Keep the items matching every filter (any of its values). Unknown names are InvalidParameterValue. */
export function applyFilters<T>(items: T[], filters: Filter[] | undefined, values: FilterValues<T>): T[] {
  if (!filters || filters.length === 0) return items;
  const compiled = filters.map((f) => {
    if (!f.Name) throw new ApiError('InvalidParameterValue', 'The filter name must be given (Filter.N.Name)');
    return { name: f.Name, patterns: (f.Values ?? []).map(wildcard) };
  });
  return items.filter((item) =>
    compiled.every(({ name, patterns }) => {
      const have = values(item, name);
      if (have === undefined) throw new ApiError('InvalidParameterValue', `The filter '${name}' is invalid`);
      return have.some((v) => v !== undefined && patterns.some((p) => p.test(v)));
    }),
  );
}
