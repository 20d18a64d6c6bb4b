/**
 * What a production install ships, and that every import is declared where it runs: the dispatcher's
 * image (`npm ci --omit=dev --workspaces=false`) carries neither the simulator nor the emulators, the
 * CLI reaches local mode only through a dynamic import, and each bare import of services/, shared/ and
 * packages/ is in the package.json of the code that makes it.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readJson = (file: string): unknown => JSON.parse(readFileSync(path.join(root, file), 'utf8'));

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
interface LockEntry {
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const product = readJson('package.json') as PackageJson;
const simulator = readJson('packages/simulator/package.json') as PackageJson;
const lock = readJson('package-lock.json') as { packages: Record<string, LockEntry> };

/** Development only: the simulator package and the emulators. */
const DEV_ONLY = [simulator.name, 'local-aws-sqs', 'dynalite', 'fast-xml-parser', 's3rver'];

/** The lockfile path a package `name` required from the one at `from` resolves to (node_modules lookup, upwards). */
function resolveIn(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf('node_modules/');
    dir = cut <= 0 ? '' : dir.slice(0, cut - 1);
  }
}

/** Every package name a production install of `deps` brings in (from the lockfile). */
function productionClosure(deps: Record<string, string>): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const queue: [string, string][] = Object.keys(deps).map((name) => ['', name]);
  while (queue.length) {
    const [from, name] = queue.shift()!;
    let at = resolveIn(from, name);
    if (!at || seen.has(at)) continue;
    seen.add(at);
    names.add(name);
    const link = lock.packages[at]!;
    if (link.link && link.resolved) at = link.resolved;
    const entry = lock.packages[at] ?? {};
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies })) queue.push([at, dep]);
  }
  return names;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(root, dir))) {
    const rel = `${dir}/${entry}`;
    if (entry === 'node_modules' || entry === 'dist') continue;
    if (statSync(path.join(root, rel)).isDirectory()) out.push(...filesUnder(rel));
    else if (/\.ts$/.test(entry) && !entry.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

interface Import {
  specifier: string;
  typeOnly: boolean;
  dynamic: boolean;
}

/** The imports of a TypeScript file: static (type-only or not) and dynamic `import('...')`. */
function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(root, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const out: Import[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)(\s+type\b)?([^;'"]*?)\bfrom\s*['"]([^'"]+)['"]/g)) {
    out.push({ specifier: m[3]!, typeOnly: m[1] !== undefined, dynamic: false });
  }
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push({ specifier: m[1]!, typeOnly: false, dynamic: false });
  for (const m of text.matchAll(/(typeof\s+)?\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ specifier: m[2]!, typeOnly: m[1] !== undefined, dynamic: true });
  return out;
}

/** The package a bare specifier names ('@scope/name/sub' -> '@scope/name'), or undefined for a relative path or a builtin. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || isBuiltin(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const productFiles = [...filesUnder('services'), ...filesUnder('shared')];

describe('dependencies: what a production install ships', () => {
  it('the product\'s production dependency closure has neither the simulator nor an emulator', () => {
    const closure = productionClosure({ ...product.dependencies, ...product.optionalDependencies });
    expect(closure.size, 'the closure was read from the lockfile').to.be.greaterThan(20);
    expect(closure.has('@aws-sdk/client-sqs'), 'a production dependency is in the closure').to.equal(true);
    for (const name of DEV_ONLY) expect(closure.has(name), name).to.equal(false);
    // @smithy/core comes with the AWS SDK; the product does not name it.
    expect(Object.keys(product.dependencies ?? {})).to.not.include('@smithy/core');
  });

  it('a package reached only through devDependencies would be seen (the closure follows the lockfile)', () => {
    expect(productionClosure({ [simulator.name]: '*' })).to.include.members([simulator.name, 'fast-xml-parser', '@smithy/core']);
    expect(productionClosure({ dynalite: '*' })).to.include('dynalite');
  });

  it('the image installs (or prunes) with --workspaces=false (npm keeps workspaces and their dependencies otherwise)', () => {
    const dockerfile = readFileSync(path.join(root, 'deploy/Dockerfile'), 'utf8');
    expect(dockerfile).to.match(/npm (ci|prune) --omit=dev --workspaces=false/);
  });

  it('no file of services/ or shared/ outside services/local imports the simulator or an emulator', () => {
    const offenders = productFiles
      .filter((f) => !f.startsWith('services/local/'))
      .flatMap((f) => importsOf(f).filter((i) => DEV_ONLY.includes(packageOf(i.specifier) ?? '')).map((i) => `${f}: ${i.specifier}`));
    expect(offenders).to.deep.equal([]);
  });

  it('the CLI loads local mode only through a dynamic import: its static import graph reaches no development package', () => {
    const reached = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const i of importsOf(file)) {
        if (i.typeOnly || i.dynamic) continue;
        const pkg = packageOf(i.specifier);
        if (pkg) bare.add(pkg);
        else if (i.specifier.startsWith('.')) visit(path.posix.normalize(path.posix.join(path.posix.dirname(file), i.specifier.replace(/\.js$/, '.ts'))));
      }
    };
    visit('services/cli/main.ts');
    expect(reached.size, 'the walk reached the commands').to.be.greaterThan(20);
    expect([...reached].filter((f) => f.startsWith('services/local/'))).to.deep.equal(['services/local/defaults.ts']);
    for (const name of DEV_ONLY) expect(bare.has(name), name).to.equal(false);
    const dynamic = importsOf('services/cli/local-mode.ts').filter((i) => i.dynamic && !i.typeOnly);
    expect(dynamic.map((i) => i.specifier)).to.deep.equal(['../local/index.js']);
  });
});

describe('dependencies: every bare import is declared where it runs', () => {
  const declared = (pkg: PackageJson, dev: boolean) =>
    new Set(Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies, ...(dev ? pkg.devDependencies : {}) }));

  function undeclared(files: string[], runtime: Set<string>, typesToo: Set<string>): string[] {
    return files.flatMap((f) =>
      importsOf(f)
        .map((i) => ({ i, pkg: packageOf(i.specifier) }))
        .filter(({ i, pkg }) => pkg !== undefined && !(i.typeOnly ? typesToo : runtime).has(pkg))
        .map(({ i }) => `${f}: ${i.specifier}`),
    );
  }

  /**
   * Build tools a source checkout falls back on, imported dynamically and only when the build's output is
   * missing (never in a production install, whose dist has it): the status page's client bundle.
   */
  const SOURCE_FALLBACKS: Record<string, string[]> = { 'services/status/client-bundle.ts': ['esbuild'] };

  it('services/ and shared/ in the product\'s dependencies (local mode may use its devDependencies)', () => {
    const local = productFiles.filter((f) => f.startsWith('services/local/'));
    const rest = productFiles.filter((f) => !f.startsWith('services/local/'));
    const fallback = (line: string) => {
      const [file, specifier] = line.split(': ');
      return (SOURCE_FALLBACKS[file!] ?? []).includes(specifier!) && importsOf(file!).every((i) => i.specifier !== specifier || i.dynamic);
    };
    expect(undeclared(rest, declared(product, false), declared(product, true)).filter((line) => !fallback(line))).to.deep.equal([]);
    expect(undeclared(local, declared(product, true), declared(product, true))).to.deep.equal([]);
  });

  it('packages/simulator in its own package.json: src in its dependencies, tests in its devDependencies too', () => {
    expect(undeclared(filesUnder('packages/simulator/src'), declared(simulator, false), declared(simulator, true))).to.deep.equal([]);
    expect(undeclared(filesUnder('packages/simulator/test'), declared(simulator, true), declared(simulator, true))).to.deep.equal([]);
  });

  it('the simulator depends on nothing of the product', () => {
    const outside = [...filesUnder('packages/simulator/src'), ...filesUnder('packages/simulator/test')].flatMap((f) =>
      importsOf(f)
        .filter((i) => i.specifier.startsWith('.') && !path.posix.normalize(path.posix.join(path.posix.dirname(f), i.specifier)).startsWith('packages/simulator/'))
        .map((i) => `${f}: ${i.specifier}`),
    );
    expect(outside).to.deep.equal([]);
    expect(Object.keys({ ...simulator.dependencies, ...simulator.devDependencies })).to.not.include(product.name);
  });

  it('the scanner sees what it is looking for (an import of a package nobody declares would be reported)', () => {
    expect(importsOf('services/local/emulators.ts').map((i) => packageOf(i.specifier))).to.include.members(['dynalite', 'local-aws-sqs']);
    expect(undeclared(['services/local/emulators.ts'], new Set(), new Set())).to.have.length.greaterThan(1);
  });
});
