import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Emulators } from '../../services/local/emulators.js';
import { collectAdvisor, fetchBounded, type CollectContext } from '../../services/market/collect.js';
import { marketSignals } from '../../services/market/store.js';
import { sendSummary } from '../../services/market/summary.js';
import { destroyClients, type CoreClients } from '../../shared/aws.js';
import { loadConfig } from '../../shared/config.js';
import { describeError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { Store } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { emulatorEnv, runCli } from '../helpers/cli.js';
import { clientsFor, testConfig, testEmulators, TestClock, uniquePrefix } from '../helpers/fleet.js';

const SECRET = 'SECRETX';
const PATH_SECRET = 'SECRETPATHTOKEN';

/** Tokens in configured URLs (the advisor feed, the summary webhook) reach no log, no stored note, no `market status`. */
describe('market: secrets in configured URLs', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let clients: CoreClients;
  let server: Server;
  let base: string;

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
    // Every request fails: the advisor feed and the webhook answer 500.
    server = createServer((_req, res) => {
      res.statusCode = 500;
      res.end('broken');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    destroyClients(clients);
    await emu?.stop();
  });

  it('refuses a URL with user:password@ (naming the setting, not the password), and http:// beyond loopback', () => {
    const load = (market: Record<string, unknown>) => () => loadConfig({ env: {}, overrides: { market } });
    for (const [market, setting] of [
      [{ advisorFeed: `https://user:${SECRET}@feeds.example.com/spot-advisor-data.json` }, 'market.advisorFeed'],
      [{ onDemandFile: `https://user:${SECRET}@feeds.example.com/prices.csv` }, 'market.onDemandFile'],
      [{ summary: { webhook: `https://hook:${SECRET}@hooks.example.com/in` } }, 'market.summary.webhook'],
    ] as const) {
      let err: unknown;
      try {
        load(market)();
      } catch (e) {
        err = e;
      }
      const text = `${describeError(err)} ${JSON.stringify(err)}`;
      expect(text).to.contain(setting).and.contain('user name or password');
      expect(text).not.to.contain(SECRET);
    }
    expect(load({ advisorFeed: 'http://feeds.example.com/spot-advisor-data.json' })).to.throw(/market\.advisorFeed/);
    expect(load({ summary: { webhook: 'http://hooks.example.com/in' } })).to.throw(/market\.summary\.webhook/);
    expect(load({ advisorFeed: 'ftp://feeds.example.com/x.json' })).to.throw(/market\.advisorFeed/);
    // https anywhere, http to loopback, and files are fine.
    expect(load({ advisorFeed: 'https://feeds.example.com/spot-advisor-data.json?token=abc', onDemandFile: '/data/prices.csv', summary: { webhook: 'http://127.0.0.1:8080/in' } })).not.to.throw();
    expect(load({ advisorFeed: 'http://localhost:9000/feed.json' })).not.to.throw();
  });

  it('a failing advisor feed or webhook with a token in its path or ?token= leaves the token out of the error, the log, the stored note and `market status --json`', async () => {
    const prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: 'debug', format: 'json', destination: sink });
    const clock = new TestClock(Date.now());
    const config = testConfig(prefix, {
      market: { types: ['m5.large'], regions: ['us-east-1'], advisorFeed: `${base}/feeds/${PATH_SECRET}/spot-advisor-data.json?token=${SECRET}`, summary: { webhook: `${base}/services/T000/B000/${PATH_SECRET}` } },
    });
    const ctx: CollectContext = { config, clock, log, clients, store: new Store(clients.ddb, prefix, clock), messageId: 'm1' };
    const errors: string[] = [];
    for (const work of [() => collectAdvisor(ctx), () => sendSummary(ctx)]) {
      const err = await work().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, 'it fails').to.be.instanceOf(Error);
      errors.push(describeError(err));
      log.error({ err: describeError(err) }, 'handler failed');
    }
    // Named by origin and a hash of the path: a Slack-style webhook's path is its token.
    expect(errors[0]).to.match(new RegExp(`${base} \\(path #[0-9a-f]{8}\\) answered HTTP 500`));
    expect(errors[1]).to.match(new RegExp(`${base} \\(path #[0-9a-f]{8}\\) answered HTTP 500`));
    // Nothing listens there: Node's own error text is not passed on either.
    const refused = await fetchBounded(`http://127.0.0.1:1/feed?token=${SECRET}`, {}, undefined, 'test').catch((e: unknown) => describeError(e));
    expect(refused).to.contain('http://127.0.0.1:1 (path #');
    errors.push(refused as string);

    const note = (await marketSignals(ctx).collections()).find((c) => c.kind === 'if')?.note;
    expect(note).to.contain(`${base} (path #`);
    // A note an older version stored with the whole URL: `market status` shows it redacted, as the page does.
    await marketSignals(ctx).recordCollection('ondemand', { at: clock.now(), ok: false, points: 0, changed: 0, ceased: 0, calls: 0, note: `fetch failed: https://mirror.example.com/prices.csv?token=${SECRET}&x=1 (ECONNRESET); https://hooks.example.com/services/T000/B000/${PATH_SECRET} answered HTTP 404` });
    const status = await runCli(['market', 'status', '--json'], emulatorEnv(emu, prefix));
    expect(status.code, status.stderr).to.equal(0);
    const shown = JSON.parse(status.stdout) as { collections: Array<{ kind: string; note?: string }> };
    expect(shown.collections.find((c) => c.kind === 'ondemand')?.note).to.equal('fetch failed: https://mirror.example.com (ECONNRESET); https://hooks.example.com answered HTTP 404');

    for (const text of [...errors, note!, lines.join(''), status.stdout, status.stderr]) expect(text).not.to.contain(SECRET).and.not.to.contain(PATH_SECRET);
  });
});
