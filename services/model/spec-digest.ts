/**
 * The digest of a job spec: sha256 of its canonical JSON (keys sorted at every
 * level, undefined left out), over the spec as job.submit receives it (parsed,
 * defaults filled in). Stored on the job row: a second submit under the same id
 * fills in the job only when its digest matches, and the CLI compares it to tell
 * "already submitted" from "another spec has this id".
 */
import { createHash } from 'node:crypto';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

/** `sha256:<hex>` of the spec's canonical JSON. */
export function specDigest(spec: unknown): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(canonical(spec))).digest('hex')}`;
}
