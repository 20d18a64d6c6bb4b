/**
 * `spotbatch dispatcher` with the market schedule on: on SIGTERM it stops the
 * timer and gives up the `market-schedule` lease, so another dispatcher's
 * timer takes over at once instead of after the lease expires.
 */
import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { destroyClients } from '../../shared/aws.js';
import { generateSecretKey } from '../../shared/secrets.js';
import { Store } from '../../shared/store/index.js';
import { emulatorsWithSetup, serveCli } from '../helpers/cli.js';
import { clientsFor, eventually } from '../helpers/fleet.js';

describe('market schedule: stopped with its dispatcher', function () {
  this.timeout(180_000);
  let emu: Emulators;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const ready = await emulatorsWithSetup();
    emu = ready.emu;
    // EC2 at a closed port: the collections the timer sends fail at once instead of reaching AWS.
    env = { ...ready.env, LOG_LEVEL: 'info', SPOTBATCH_SECRET_KEY: generateSecretKey(), SPOTBATCH_MARKET_SCHEDULE: 'true', AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:1' };
  });
  after(() => emu?.stop());

  it('releases the market-schedule lease on SIGTERM', async () => {
    const clients = clientsFor(emu);
    const store = new Store(clients.ddb, env.SPOTBATCH_PREFIX!);
    const d = await serveCli(['dispatcher', '--health-port', '0'], env, /"url":"(http:\/\/127\.0\.0\.1:\d+)\/healthz"/);
    try {
      const lease = await eventually('the timer holds the market-schedule lease', () => store.leases.get('market-schedule'), 60_000, 200);
      expect(lease.holder).to.match(/^dispatcher-/);
      expect(await d.stop(), d.stderr()).to.equal(0);
      expect(await store.leases.get('market-schedule')).to.equal(undefined);
    } finally {
      d.child.kill('SIGKILL');
      destroyClients(clients);
    }
  });
});
