/**
 * Artifact references: "sha256:" and 64 lower-case hex digits, the digest of
 * the content. Shared by the job spec's schema, the stores and the manifest
 * of an uploaded folder.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PermanentError } from '../../shared/errors.js';

export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** An artifact reference as a spec writes it. */
export const ArtifactRefSchema = z.string().regex(DIGEST, 'an artifact digest: "sha256:" and 64 lower-case hex digits');

export function digestOf(content: Buffer | string): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

/** The hex part of a checked reference (throws on anything else: a store never builds a key from an unchecked name). */
export function hexOf(ref: string): string {
  if (!DIGEST.test(ref)) throw new PermanentError(`${JSON.stringify(ref.slice(0, 80))} is not an artifact digest ("sha256:" and 64 lower-case hex digits)`);
  return ref.slice('sha256:'.length);
}

/** A file name inside an uploaded folder: relative, plain segments, no "." or "..", no NUL or backslash. */
export const RelPathSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.startsWith('/') && !p.includes('\0') && !p.includes('\\'), 'a relative path without NUL or "\\"')
  .refine((p) => p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), 'plain segments (no empty, "." or ".." segment)');

export const FileModeSchema = z.number().int().min(0).max(0o7777);

/** The manifest of an uploaded folder (itself an artifact: an upload's `tree`). */
export const TreeManifestSchema = z
  .object({
    files: z
      .array(z.object({ path: RelPathSchema, artifact: ArtifactRefSchema, mode: FileModeSchema.default(0o644) }).strict())
      .max(100_000),
    /** Folders, so that empty ones are kept too. */
    dirs: z.array(RelPathSchema).max(100_000).default([]),
  })
  .strict()
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.files.forEach((f, i) => {
      if (seen.has(f.path)) ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `${JSON.stringify(f.path)} is listed twice` });
      seen.add(f.path);
    });
  });
export type TreeManifest = z.output<typeof TreeManifestSchema>;

/** The job.submit body that stands for a spec too large for a queue message: the spec is the artifact. */
export const SpecReferenceSchema = z
  .object({
    specArtifact: ArtifactRefSchema,
    /** The job id the stored spec carries (checked against it), so the sender knows it before the fleet reads the spec. */
    id: z.string().optional(),
  })
  .strict();
export type SpecReference = z.output<typeof SpecReferenceSchema>;
