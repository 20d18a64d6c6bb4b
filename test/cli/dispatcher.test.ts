/**
 * `spotbatch dispatcher` through the built binary, as a container runs it: it
 * serves /healthz where --health-port says, drains on SIGTERM (exit 0), and a
 * health port in use is a usage error naming the option.
 */
import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { generateSecretKey } from '../../shared/secrets.js';
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
    // The fleet's key: a dispatcher serving internal services does not start without it.
    env = { ...ready.env, LOG_LEVEL: 'info', SPOTBATCH_LOG_FORMAT: 'json', SPOTBATCH_SECRET_KEY: generateSecretKey() };
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

  it('without SPOTBATCH_SECRET_KEY: exit 2 naming the setting (internal messages could not be checked)', async () => {
    const out = await runCli(['dispatcher'], { ...env, SPOTBATCH_SECRET_KEY: '' }, 120_000, { built: true });
    expect(out.code, out.stderr).to.equal(2);
    expect(out.stderr).to.contain('SPOTBATCH_SECRET_KEY (lifecycle.secretKey): is not set').and.contain('internal services');
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
