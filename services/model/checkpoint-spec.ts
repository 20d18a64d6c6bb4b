/**
 * The `checkpoint` part of a job spec, for services/model/spec.ts to plug in.
 * Kept free of imports from services/job so that spec.ts can import it
 * without an import loop.
 */
import { z } from 'zod';
import { isSafeRelativePath } from '../../shared/shell.js';
import { checkpointStoreNameRule } from './checkpoint-location.js';

/**
 * A remote checkpoint folder: relative to the login home, below it. Relative
 * only, because SFTP and the shell agree on the home but not necessarily on
 * absolute paths (the simulator maps /home/<user> for SFTP only).
 */
export function remoteDirRule(dir: string): string | undefined {
  if (dir.length === 0) return 'must not be empty';
  if (dir.length > 512) return 'must be at most 512 characters long';
  if (dir.startsWith('/') || dir.startsWith('~')) {
    return 'must be relative to the login home (write "ckpt" for /home/ec2-user/ckpt)';
  }
  const segments = dir.split('/');
  if (segments.includes('..')) return 'must not contain ".."';
  if (segments.some((s) => s === '' || s === '.')) return 'must name a folder below the login home, without empty or "." segments';
  // The same rule as the agent's plan (isSafeRelativePath), so a path accepted here is accepted there.
  if (!isSafeRelativePath(dir)) return 'must be made of letters, digits, ".", "_" and "-" separated by "/"';
  return undefined;
}

/** seconds as a number, or "90s", "10m", "2h"; at least a minute apart. */
const every = z.union([
  z.number().int().min(60).max(7 * 24 * 3600),
  z
    .string()
    .regex(/^\d+(s|m|h)$/, 'a duration such as "90s", "10m" or "2h"')
    .transform((s) => Number(s.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[s.slice(-1) as 's' | 'm' | 'h'])
    .refine((n) => n >= 60 && n <= 7 * 24 * 3600, 'must be between 1 minute and 7 days'),
]);

/** "/home/NAME/rest" -> { user: NAME, rest }; "~/rest" -> { rest }; anything else -> { rest: path }. */
function splitHome(path: string): { user?: string; rest: string } {
  const abs = /^\/home\/([a-z_][a-z0-9_-]{0,31})\/(.*)$/.exec(path);
  if (abs) return { user: abs[1]!, rest: abs[2]! };
  if (path.startsWith('~/')) return { rest: path.slice(2) };
  return { rest: path };
}

/** The rule for a spec's checkpoint.path: relative to the login home, or written as /home/USER/... or ~/... */
export function checkpointPathRule(path: string): string | undefined {
  if (path.startsWith('/') && !/^\/home\/[^/]+\/./.test(path)) {
    return 'must be below the login home: "/home/ec2-user/ckpt", "~/ckpt" or "ckpt" (relative to the home)';
  }
  return remoteDirRule(splitHome(path).rest);
}

/** The folder relative to the login home, as the agent and the store want it; the user of an absolute path is checked by the job spec. */
export function checkpointDirOf(path: string): string {
  return splitHome(path).rest;
}

/** The user an absolute checkpoint path names (/home/USER/...), if any. */
export function checkpointPathUser(path: string): string | undefined {
  return splitHome(path).user;
}

export const CheckpointSpecSchema = z
  .object({
    /**
     * The folder the step writes its checkpoint to (SPOTBATCH_CHECKPOINT_DIR):
     * "/home/ec2-user/ckpt", "~/ckpt" or "ckpt" (relative to the login home).
     */
    path: z.string().superRefine((p, ctx) => {
      const rule = checkpointPathRule(p);
      if (rule) ctx.addIssue({ code: 'custom', message: rule });
    }),
    /**
     * The name of one of the fleet's checkpoint stores ("default", ...); the
     * fleet's default store when omitted. Never a path or bucket: the fleet's
     * configuration says where each store is (docs/checkpoint.md).
     */
    store: z
      .string()
      .superRefine((s, ctx) => {
        const rule = checkpointStoreNameRule(s);
        if (rule) ctx.addIssue({ code: 'custom', message: rule });
      })
      .optional(),
    /** Also save periodically while the step runs, in seconds once parsed. */
    every: every.optional(),
  })
  .strict();
