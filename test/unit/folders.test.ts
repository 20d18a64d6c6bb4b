import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folders of services/ (and shared/) follow the message catalogue and import each other
 * without cycles (docs/architecture.md#folders). Every import counts, `import type` too.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Leaving for a package of its own; not part of the graph. */
const OUTSIDE = new Set<string>();

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** The node a file belongs to: shared, a folder of services/, or one of the catalogue's own files. */
function nodeOf(file: string): string | undefined {
  const parts = file.split(path.sep);
  if (parts[0] === 'shared') return 'shared';
  if (parts[0] !== 'services') return undefined;
  if (parts.length === 2) return parts[1]!.replace(/\.js$/, '.ts') === 'handlers.ts' ? 'handlers' : 'catalog';
  return OUTSIDE.has(parts[1]!) ? undefined : parts[1];
}

/** Relative specifiers of every static import, re-export and dynamic import in a file. */
function importsOf(source: string): string[] {
  const re = /(?:^|[\s;])(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[\s;])import\s+['"]([^'"]+)['"]/g;
  return [...source.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3]!).filter((s) => s.startsWith('.'));
}

interface Edge { from: string; to: string; via: string }

function folderEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of [...tsFiles('services'), ...tsFiles('shared')]) {
    const from = nodeOf(file);
    if (!from) continue;
    for (const spec of importsOf(readFileSync(path.join(ROOT, file), 'utf8'))) {
      const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec));
      const to = nodeOf(target);
      if (to && to !== from) edges.push({ from, to, via: `${file} -> ${spec}` });
    }
  }
  return edges;
}

/** A cycle in the graph, as its nodes in order, or undefined. */
function findCycle(adj: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of [...(adj.get(n) ?? [])].sort()) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of [...adj.keys()].sort()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/** The arrows the picture draws: every edge but those into shared/ and dispatcher/, which any folder may use. */
const BASE = new Set(['shared', 'dispatcher']);
const drawnEdges = (edges: Edge[]) => [...new Set(edges.filter((e) => !BASE.has(e.to)).map((e) => `${e.from} --> ${e.to}`))].sort();

describe('services/ folders', () => {
  const edges = folderEdges();

  it('import each other without a cycle', () => {
    const adj = new Map<string, Set<string>>();
    for (const e of edges) adj.set(e.from, (adj.get(e.from) ?? new Set()).add(e.to));
    const cycle = findCycle(adj);
    const why = cycle?.slice(1).map((to, i) => edges.find((e) => e.from === cycle[i] && e.to === to)!.via);
    expect(cycle, `cycle ${cycle?.join(' -> ')}:\n  ${why?.join('\n  ')}`).to.equal(undefined);
  });

  it('shared/ imports nothing from services/, and dispatcher/ only shared/', () => {
    expect(edges.filter((e) => e.from === 'shared').map((e) => e.via)).to.deep.equal([]);
    expect(edges.filter((e) => e.from === 'dispatcher' && e.to !== 'shared').map((e) => e.via)).to.deep.equal([]);
  });

  it('are drawn with every arrow, and no other, in docs/architecture.md', () => {
    // PRINT_FOLDER_EDGES=1 prints the arrows to paste into the doc.
    if (process.env.PRINT_FOLDER_EDGES) console.log(drawnEdges(edges).map((e) => `  ${e}`).join('\n'));
    const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    const block = /```mermaid\nflowchart[^\n]*\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block, 'a mermaid flowchart of the folders in docs/architecture.md').to.be.a('string');
    const drawn = [...block!.matchAll(/^\s*([\w-]+)\s*-->\s*([\w-]+)\s*$/gm)].map((m) => `${m[1]} --> ${m[2]}`).sort();
    expect(drawn).to.deep.equal(drawnEdges(edges));
  });
});

describe('the message catalogue and its folders', () => {
  const registry = readFileSync(path.join(ROOT, 'services/handlers.ts'), 'utf8');
  /** handler name -> the module services/handlers.ts imports it from */
  const moduleOf = new Map<string, string>();
  for (const m of registry.matchAll(/import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
    for (const name of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) moduleOf.set(name, m[2]!);
  }
  const registered = [...registry.matchAll(/^\s*'([a-z0-9]+)\.([a-z0-9.-]+)':\s*(\w+),/gm)].map((m) => ({ service: `${m[1]}.${m[2]}`, prefix: m[1]!, handler: m[3]! }));

  it('registers every message', async () => {
    const { catalog } = await import('../../services/catalog.js');
    expect(registered.map((r) => r.service).sort()).to.deep.equal(Object.keys(catalog).sort());
  });

  it("has each message's handler in the folder named by its prefix (x.y in services/x/)", () => {
    const misplaced = registered.filter((r) => !moduleOf.get(r.handler)?.startsWith(`./${r.prefix}/`));
    expect(misplaced.map((r) => `${r.service}: ${r.handler} from ${moduleOf.get(r.handler)}`)).to.deep.equal([]);
  });

  it('has no handler calling another folder\'s handler (only services/handlers.ts imports them)', () => {
    const handlers = new Set(registered.map((r) => r.handler));
    const calls: string[] = [];
    for (const file of [...tsFiles('services'), ...tsFiles('shared')]) {
      if (file === path.join('services', 'handlers.ts') || !nodeOf(file)) continue;
      const source = readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of source.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'(\.[^']+)'/g)) {
        const target = nodeOf(path.relative(ROOT, path.resolve(ROOT, path.dirname(file), m[2]!)));
        if (target === nodeOf(file)) continue;
        for (const name of m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!)) {
          if (handlers.has(name)) calls.push(`${file} imports ${name} from ${m[2]}`);
        }
      }
    }
    expect(calls).to.deep.equal([]);
  });
});
