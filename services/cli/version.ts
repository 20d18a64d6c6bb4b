/** The package's version, from package.json beside the sources or above dist/. */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'spotbatch' && pkg.version) return pkg.version;
    } catch {
      // next
    }
  }
  return 'unknown';
}
