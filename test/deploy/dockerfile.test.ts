import { expect } from 'chai';
import { read } from './cfn.js';

/** The stages of deploy/Dockerfile: FROM lines and the instructions under each (continuation lines joined). */
interface Stage {
  from: string;
  name: string | undefined;
  lines: Array<{ op: string; args: string }>;
}
function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, op, args] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op) continue;
    if (op.toUpperCase() === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args!)!;
      out.push({ from: from!, name, lines: [] });
    } else out.at(-1)!.lines.push({ op: op.toUpperCase(), args: args! });
  }
  return out;
}

describe('deploy/Dockerfile', () => {
  const all = stages(read('deploy/Dockerfile'));
  const byName = (n: string) => all.find((s) => s.name === n);
  const runtime = all.at(-1)!;

  it('is multi-stage, with the runtime image as the last (default) stage and the simulator as a target of its own', () => {
    expect(all.length).to.be.greaterThan(2);
    expect(runtime.name).to.equal('runtime');
    const sim = byName('simulator')!;
    expect(sim.lines.find((l) => l.op === 'ENTRYPOINT')?.args).to.match(/"sim"/);
  });

  it('runs production dependencies only: node_modules comes from `npm ci --omit=dev` without the workspaces, no build tools', () => {
    const copies = runtime.lines.filter((l) => l.op === 'COPY');
    const modules = copies.find((l) => /node_modules/.test(l.args))!;
    const [, from] = /--from=(\S+)/.exec(modules.args)!;
    const deps = byName(from!)!;
    const install = deps.lines.filter((l) => l.op === 'RUN').map((l) => l.args).join(' && ');
    expect(install).to.match(/npm ci\b[^&]*--omit=dev/);
    expect(install).to.match(/--workspaces=false/);
    expect(install).to.match(/--ignore-scripts/);
    expect(install).to.not.match(/npm (i|install)\b/);
    // What the runtime takes from the build stage is the compiled dist/ only, never its node_modules.
    for (const c of copies.filter((l) => /--from=build\b/.test(l.args))) expect(c.args).to.match(/^--from=build \/app\/dist dist$/);
    expect(runtime.lines.filter((l) => l.op === 'RUN'), 'no RUN in the runtime stage (nothing installed there)').to.deep.equal([]);
    expect(runtime.lines.map((l) => l.args).join('\n')).to.not.match(/packages\/simulator|tsx|typescript|esbuild/);
  });

  it('runs as a non-root user, checks the dispatcher\'s /healthz, and is the CLI with the dispatcher as default command', () => {
    const user = runtime.lines.filter((l) => l.op === 'USER').at(-1)?.args;
    expect(user).to.be.a('string');
    expect(user).to.not.match(/^(root|0)(:|$)/);
    const health = runtime.lines.find((l) => l.op === 'HEALTHCHECK')?.args ?? '';
    expect(health).to.contain('/healthz').and.to.contain('SPOTBATCH_HEALTH_PORT');
    expect(runtime.lines.find((l) => l.op === 'ENV')?.args).to.match(/SPOTBATCH_HEALTH_HOST=0\.0\.0\.0/);
    expect(runtime.lines.find((l) => l.op === 'ENTRYPOINT')?.args).to.equal('["node", "dist/services/cli/main.js"]');
    expect(runtime.lines.find((l) => l.op === 'CMD')?.args).to.equal('["dispatcher"]');
  });
});
