/**
 * `npm run bench -- NAME [args]`: runs bench/NAME.ts, whose default export is
 * `(args: string[]) => Promise<void>`. Benchmarks print their figures; they
 * never fail on timing (timing is not a test).
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));

async function available(): Promise<string[]> {
  const files = await readdir(here);
  return files.filter((f) => f.endsWith('.ts') && !['main.ts', 'lib.ts', 'emulators-process.ts'].includes(f)).map((f) => f.replace(/\.ts$/, '')).sort();
}

const [name, ...args] = process.argv.slice(2);
const names = await available();
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args]\n  names: ${names.join(', ') || '(none yet)'}`);
  process.exit(2);
}
const mod = (await import(`./${name}.ts`)) as { default: (args: string[]) => Promise<void> };
await mod.default(args);
process.exit(0);
