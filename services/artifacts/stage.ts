/**
 * The CLI's half of the inputs path: read the files a spec names
 * (`uploads[].from`, `steps[].script`) on the submitter's machine, store them
 * in the fleet's artifact store and rewrite the spec to refer to them by
 * digest. The fleet never opens a path a spec names.
 */
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError, type ValidationIssue } from '../../shared/errors.js';
import { inPool } from '../checkpoint/tree.js';
import type { TreeManifest } from '../model/artifact-digest.js';
import type { ArtifactStore } from './types.js';

/** A step script up to this size travels inline as `run`; a larger one becomes an artifact (when the fleet has a store). */
export const INLINE_SCRIPT_MAX = 16 * 1024;
/** Without a store, a single small text file still travels, inline as `content`. */
export const INLINE_FILE_MAX = 64 * 1024;
const PARALLEL = 4;

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

interface WalkedFile {
  rel: string;
  abs: string;
  mode: number;
}

/** Every regular file and folder below `root` (symbolic links followed, each real folder once). */
async function walk(root: string): Promise<{ files: WalkedFile[]; dirs: string[] }> {
  const files: WalkedFile[] = [];
  const dirs: string[] = [];
  const seen = new Set<string>([await realpath(root)]);
  const visit = async (abs: string, rel: string): Promise<void> => {
    const entries = (await readdir(abs)).sort();
    for (const name of entries) {
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const info = await stat(childAbs);
      if (info.isDirectory()) {
        const real = await realpath(childAbs);
        if (seen.has(real)) continue; // a link back up the tree
        seen.add(real);
        dirs.push(childRel);
        await visit(childAbs, childRel);
      } else if (info.isFile()) {
        files.push({ rel: childRel, abs: childAbs, mode: info.mode & 0o777 });
      }
    }
  };
  await visit(root, '');
  return { files, dirs };
}

function needStore(field: string, why: string): ValidationIssue {
  return { path: field, rule: `${why} needs the fleet's artifact store (setting "artifacts", SPOTBATCH_ARTIFACTS; \`spotbatch local\` prints it)` };
}

async function stageUpload(u: Raw, i: number, baseDir: string, store: ArtifactStore | undefined, issues: ValidationIssue[]): Promise<Raw> {
  if (typeof u.from !== 'string' || u.from === '') return u;
  const { from, ...rest } = u;
  const field = `uploads[${i}].from`;
  const file = path.resolve(baseDir, from);
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    issues.push({ path: field, rule: `cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
    return u;
  }
  try {
    if (info.isFile()) {
      const mode = info.mode & 0o777;
      if (store) return { ...rest, artifact: (await store.putFile(file)).digest, mode };
      const text = info.size <= INLINE_FILE_MAX ? utf8(await readFile(file)) : undefined;
      if (text === undefined) {
        issues.push(needStore(field, `a file over ${INLINE_FILE_MAX} bytes or not UTF-8 text (${file})`));
        return u;
      }
      return { ...rest, content: text, mode };
    }
    if (!info.isDirectory()) {
      issues.push({ path: field, rule: `must be a file or a folder: ${file}` });
      return u;
    }
    if (!store) {
      issues.push(needStore(field, `a folder (${file})`));
      return u;
    }
    const tree = await walk(file);
    const manifest: TreeManifest = { files: [], dirs: tree.dirs };
    const digests = new Map<string, string>();
    await inPool(tree.files, PARALLEL, async (f) => {
      digests.set(f.rel, (await store.putFile(f.abs)).digest);
    });
    manifest.files = tree.files.map((f) => ({ path: f.rel, artifact: digests.get(f.rel)!, mode: f.mode }));
    return { ...rest, tree: await store.put(`${JSON.stringify(manifest)}\n`) };
  } catch (err) {
    if (err instanceof Error && 'retryable' in err) throw err;
    issues.push({ path: field, rule: `cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
    return u;
  }
}

async function stageStep(s: Raw, i: number, baseDir: string, store: ArtifactStore | undefined, issues: ValidationIssue[]): Promise<Raw> {
  if (typeof s.script !== 'string' || s.script === '') return s;
  const { script, ...rest } = s;
  const field = `steps[${i}].script`;
  const file = path.resolve(baseDir, script);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    issues.push({ path: field, rule: `cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
    return s;
  }
  if (store && bytes.length > INLINE_SCRIPT_MAX) return { ...rest, artifact: await store.put(bytes) };
  const text = utf8(bytes);
  if (text === undefined) {
    issues.push({ path: field, rule: `must be UTF-8 text: ${file}` });
    return s;
  }
  return { ...rest, run: text };
}

/**
 * The raw spec with its local references replaced: `steps[].script` by
 * `run` (small) or `artifact`; `uploads[].from` by `artifact` (a file),
 * `tree` (a folder) or, with no store, `content` (a small text file). Paths
 * are relative to `baseDir` (the spec file's folder). Throws a ValidationError
 * naming each unreadable path; validation of the result is the caller's.
 */
export async function stageSpec(raw: unknown, baseDir: string, store: ArtifactStore | undefined): Promise<unknown> {
  if (!isObject(raw)) return raw;
  const issues: ValidationIssue[] = [];
  const out: Raw = { ...raw };
  if (Array.isArray(raw.steps)) {
    out.steps = await Promise.all(raw.steps.map((s, i) => (isObject(s) ? stageStep(s, i, baseDir, store, issues) : s)));
  }
  if (Array.isArray(raw.uploads)) {
    const staged: unknown[] = [];
    for (const [i, u] of raw.uploads.entries()) staged.push(isObject(u) ? await stageUpload(u, i, baseDir, store, issues) : u);
    out.uploads = staged;
  }
  if (issues.length) throw new ValidationError('job spec', issues);
  return out;
}
