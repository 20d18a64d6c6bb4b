/**
 * Local mode (`spotbatch local`, `spotbatch sim`) runs on the development dependencies: the simulator
 * package and the embedded emulators. A production install (`npm ci --omit=dev --workspaces=false`) has
 * none of them, so the CLI loads local mode only when one of those commands runs, and says in one line
 * what is missing instead of a module-resolution stack.
 */
import type * as LocalModeModule from '../local/index.js';
import { UsageError } from './errors.js';

type LocalMode = typeof LocalModeModule;

/** A module (or a package it needs) that is not installed. */
function moduleNotFound(err: unknown): boolean {
  return err instanceof Error && ['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'].includes((err as Error & { code?: unknown }).code as string);
}

/** The package named in a module-not-found message, if any. */
function missingPackage(err: Error): string | undefined {
  return /Cannot find (?:package|module) '([^']+)'/.exec(err.message)?.[1];
}

export async function loadLocalMode(command: string, load: () => Promise<LocalMode> = () => import('../local/index.js')): Promise<LocalMode> {
  try {
    return await load();
  } catch (err) {
    if (!moduleNotFound(err)) throw err;
    const missing = missingPackage(err as Error);
    const usage = new UsageError(
      `spotbatch ${command} needs the development install (npm ci in the project, without --omit=dev): ${missing ? `${missing} is` : 'its packages are'} not installed here`,
    );
    throw Object.assign(usage, { cause: err }); // --debug shows what failed to load
  }
}
