/**
 * The page's client script (client/main.ts) as the browser gets it: one
 * bundled file. `npm run build` writes it beside this module in dist
 * (dist/services/status/client/status.js, esbuild, see package.json); run
 * from source (tests, `tsx`), there is no such file and the server bundles
 * client/main.ts itself with esbuild, once, on the first request. The
 * production image needs no esbuild: its dist has the file.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where `npm run build` writes the bundle (relative to this module in dist). */
const CLIENT_BUNDLE = path.join(here, 'client', 'status.js');
const CLIENT_ENTRY = path.join(here, 'client', 'main.ts');

/** The built bundle if there is one, else a bundle made now (the same esbuild options as package.json's build). */
export async function clientScript(): Promise<string> {
  try {
    return await readFile(CLIENT_BUNDLE, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const esbuild = await import('esbuild').catch((err: unknown) => {
    throw new Error(`status page: no ${CLIENT_BUNDLE} (run \`npm run build\`), and esbuild is not installed to make it`, { cause: err });
  });
  const out = await esbuild.build({ entryPoints: [CLIENT_ENTRY], bundle: true, format: 'iife', target: 'es2020', write: false, logLevel: 'silent' });
  const file = out.outputFiles[0];
  if (!file) throw new Error(`status page: esbuild made nothing of ${CLIENT_ENTRY}`);
  return file.text;
}
