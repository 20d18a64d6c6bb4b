/**
 * `spotbatch status-page` through the built binary: the page over real HTTP
 * at the address it prints, its token from --token or SPOTBATCH_STATUS_TOKEN,
 * --json, and bad input (exit 2, naming the option to fix).
 */
import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { emulatorsWithSetup, ensureBuilt, expectUsageError, occupiedPort, runCli, serveCli } from '../helpers/cli.js';

const TOKEN = 'status-page-test-token';
const JSON_LINE = /^(\{.*\})\n/;

describe('spotbatch CLI: status-page', function () {
  this.timeout(300_000);
  let emu: Emulators;
  let env: NodeJS.ProcessEnv;
  const serve = (args: string[], extra: NodeJS.ProcessEnv = {}, ready = JSON_LINE) => serveCli(['status-page', '--port', '0', ...args], { ...env, ...extra }, ready, { built: true });
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(['status-page', ...args], { ...env, ...extra }, 120_000, { built: true });
  const usage = expectUsageError;
  const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    const ready = await emulatorsWithSetup();
    emu = ready.emu;
    env = { ...ready.env, SPOTBATCH_STATUS_TOKEN: '' };
  });
  after(() => emu?.stop());

  it('without a token: prints its address, serves the page and the API there, exits 0 on SIGTERM', async () => {
    const page = await serve([], {}, /^status page: (http:\/\/127\.0\.0\.1:\d+)\/\n/);
    try {
      const url = page.match[1]!;
      expect(page.stdout()).not.to.contain('token required');
      expect(await (await get(`${url}/api/jobs`)).json()).to.deep.equal({ jobs: [], limit: 50, nextCursor: null });
      expect(await (await get(`${url}/`)).text()).to.contain('<h1>Jobs</h1>');
      expect(await page.stop()).to.equal(0);
    } finally {
      page.child.kill('SIGKILL');
    }
  });

  for (const [how, args, extra] of [
    ['--token', ['--token', TOKEN], {}],
    ['SPOTBATCH_STATUS_TOKEN', [], { SPOTBATCH_STATUS_TOKEN: TOKEN }],
  ] as const) {
    it(`a token from ${how}: 401 without it, 200 with it; --json prints one line with the address`, async () => {
      const page = await serve(['--json', ...args], extra);
      try {
        const shown = JSON.parse(page.match[1]!) as { url: string; host: string; port: number; tokenRequired: boolean };
        expect(shown).to.deep.equal({ url: `http://127.0.0.1:${shown.port}`, host: '127.0.0.1', port: shown.port, tokenRequired: true });
        expect(shown.port).to.be.above(0);
        expect(page.stdout()).to.equal(`${page.match[1]}\n`); // nothing else on stdout
        for (const route of ['/', '/api/jobs', '/healthz']) {
          expect((await get(`${shown.url}${route}`)).status, route).to.equal(401);
          expect((await get(`${shown.url}${route}`, 'wrong-token-123')).status, route).to.equal(401);
        }
        const ok = await get(`${shown.url}/api/jobs`, TOKEN);
        expect(ok.status).to.equal(200);
        expect(await ok.json()).to.deep.equal({ jobs: [], limit: 50, nextCursor: null });
        expect(page.stdout() + page.stderr()).not.to.contain(TOKEN);
      } finally {
        page.child.kill('SIGKILL');
      }
    });
  }

  it('bad input exits 2 and names the option: a short token (flag or environment), --port, --poll, --host, a port in use', async () => {
    usage(await run(['--token', 'short']), '--token: must be at least 8 characters with no spaces');
    usage(await run(['--token', 'has a space in it']), '--token: must be at least 8 characters with no spaces');
    usage(await run([], { SPOTBATCH_STATUS_TOKEN: 'short' }), 'SPOTBATCH_STATUS_TOKEN: must be at least 8 characters with no spaces');
    usage(await run(['--port', '70000']), '--port: must be a port number from 0 to 65535, got "70000"');
    usage(await run(['--port', 'http']), '--port: must be a port number from 0 to 65535, got "http"');
    usage(await run(['--poll', 'often']), '--poll: must be a whole number of ms');
    const host = await run(['--port', '0', '--host', 'nosuchhost.invalid']);
    usage(host, 'cannot listen on nosuchhost.invalid (--host): no such host name; give --host an address of this machine');
    expect(host.stderr).not.to.contain("cannot reach the fleet's queues or tables");
    const taken = await occupiedPort();
    try {
      usage(await run(['--port', String(taken.port)]), `cannot listen on 127.0.0.1:${taken.port} (--port): the port is in use by another program; pick another --port`);
    } finally {
      await taken.close();
    }
  });
});
