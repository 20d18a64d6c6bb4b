/**
 * `spotbatch dispatcher` through the built binary, as a container runs it: it
 * serves /healthz where --health-port says, drains on SIGTERM (exit 0), and a
 * health port in use is a usage error naming the option.
 */
import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { emulatorsWithSetup, ensureBuilt, expectUsageError, occupiedPort, runCli, serveCli } from '../helpers/cli.js';

describe('spotbatch CLI: dispatcher', function () {
  this.timeout(300_000);
  let emu: Emulators;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    const ready = await emulatorsWithSetup();
    emu = ready.emu;
    env = { ...ready.env, LOG_LEVEL: 'info', SPOTBATCH_LOG_FORMAT: 'json' };
  });
  after(() => emu?.stop());

  it('serves /healthz on --health-port 0 (a free port it logs) and exits 0 on SIGTERM', async () => {
    const d = await serveCli(['dispatcher', '--health-port', '0'], env, /"url":"(http:\/\/127\.0\.0\.1:\d+)\/healthz"/, { built: true });
    try {
      const res = await fetch(`${d.match[1]}/healthz`);
      expect(res.status).to.equal(200);
      expect(await d.stop()).to.equal(0);
    } finally {
      d.child.kill('SIGKILL');
    }
  });

  it('a health port in use: exit 2 naming the address and --health-port', async () => {
    const taken = await occupiedPort();
    try {
      const out = await runCli(['dispatcher', '--health-port', String(taken.port)], env, 120_000, { built: true });
      expectUsageError(out, `cannot listen on 127.0.0.1:${taken.port} (--health-port): the port is in use by another program`);
    } finally {
      await taken.close();
    }
  });
});
