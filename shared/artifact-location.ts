import path from 'node:path';
import { ValidationError } from './errors.js';

/** Where the fleet keeps its artifacts: a folder it owns, or an S3 bucket and key prefix. */
export type ArtifactLocation = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

export const ARTIFACT_FORMS = 'must be "local:/absolute/folder" or "s3://bucket/prefix"';

/** The rule `spec` breaks, or undefined when it names a usable store. */
export function artifactLocationRule(spec: string): string | undefined {
  try {
    parseArtifactLocation(spec);
    return undefined;
  } catch (err) {
    if (err instanceof ValidationError) return err.issues[0]?.rule ?? ARTIFACT_FORMS;
    throw err;
  }
}

/** "local:/abs/dir" (absolute: every dispatcher and the CLI must mean the same folder) or "s3://bucket[/prefix]". */
export function parseArtifactLocation(spec: string): ArtifactLocation {
  const bad = (rule: string): ValidationError => new ValidationError('invalid artifact store', [{ path: 'artifacts', rule }]);
  if (spec.includes('\0')) throw bad('must not contain a NUL character');
  if (spec.startsWith('local:')) {
    const dir = spec.slice('local:'.length);
    if (!path.isAbsolute(dir)) throw bad('"local:" must be followed by an absolute folder, as in "local:/var/lib/spotbatch/artifacts"');
    return { kind: 'local', dir: path.resolve(dir) };
  }
  if (spec.startsWith('s3://')) {
    const rest = spec.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/\/+$/, '');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
      throw bad('the bucket name must be 3 to 63 lower-case letters, digits, "." or "-", starting and ending with a letter or digit');
    }
    if (prefix.length > 512 || (prefix !== '' && prefix.split('/').some((s) => s === '' || s === '.' || s === '..'))) {
      throw bad('the S3 prefix must be at most 512 characters, with no empty, "." or ".." segment');
    }
    return { kind: 's3', bucket, prefix };
  }
  throw bad(ARTIFACT_FORMS);
}
