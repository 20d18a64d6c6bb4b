import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { MarketStore } from '../../services/market/store.js';
import type { MarketView } from '../../services/views/index.js';
import { destroyClients } from '../../shared/aws.js';
import { tableNames } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testConfig, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { startTestStatus, type TestStatus } from './helpers.js';

const DAY = 86_400_000;
// Recognisable fake keys: none of them may ever reach a page or the JSON.
const KEY_ID = 'AKIAFAKEMARKETPAGE42';
const SECRET = 'FAKE-market-secret-never-on-the-page-7q3';
const SESSION = 'FAKE-session-token-never-on-the-page-9x';
const PROFILE = 'fake-profile-never-on-the-page';
const XSS = '<script>alert(5)</script>';

/** The Market page (/market, /api/market) over dynalite: summaries and collector status written as the market store writes them. */
describe('status page: market (emulators)', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let close: () => void;
  let prefix: string;
  let emptyPrefix: string;
  let market: MarketStore;
  const now = Date.now();
  const yesterday = new Date(now - DAY).toISOString().slice(0, 10);
  const earlier = new Date(now - 2 * DAY).toISOString().slice(0, 10);
  const config = () =>
    testConfig(prefix, {
      market: {
        sps: {
          budget: 40,
          credentials: [
            { name: 'team-b', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: SESSION },
            { name: 'ops', profile: PROFILE },
          ],
        },
      },
    });

  before(async () => {
    emu = await testEmulators();
    const clients = clientsFor(emu);
    close = () => destroyClients(clients);
    prefix = uniquePrefix();
    emptyPrefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    await ensureTables(clients.dynamodb, emptyPrefix);
    market = new MarketStore(clients.ddb, tableNames(prefix).market, { now: () => Date.now() });
    await market.putSummary(
      {
        day: yesterday,
        moved: [{ region: 'eu-west-1', type: 'c5.large', moved: 6 }, { region: 'us-east-1', type: 'm5.large', moved: 2 }],
        cheapestStable: [{ type: 'm5.large', region: 'us-east-1', zone: 'us-east-1d', price: 0.0312, bucket: 0, score: 9 }],
        interruptions: [{ region: 'us-west-2', zone: 'us-west-2b', type: 'r5.large', runs: 12, interruptions: 3 }],
      },
      now - 3600_000,
    );
    await market.putSummary({ day: earlier, moved: [], cheapestStable: [{ type: 'c6i.large', region: 'ca-central-1', zone: 'ca-central-1a', price: 0.0456, bucket: 1 }], interruptions: [] }, now - DAY - 3600_000);
    await market.recordCollection('price', { at: now - 120_000, ok: true, points: 314, changed: 27, ceased: 1, calls: 12 });
    await market.recordCollection('sps', { at: now - 600_000, ok: false, points: 0, changed: 0, ceased: 0, calls: 0, note: `AuthFailure: ${KEY_ID} / ${SECRET} / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ${XSS}` });
    // team-b made three queries of two configurations in the last 24 h, and one two days ago; ops was refused by AWS.
    await market.recordQuery('team-b', 'm5.large|us-east-1,eu-west-1|5', now - 5000);
    await market.recordQuery('team-b', 'm5.large|us-east-1,eu-west-1|5', now - 4000);
    await market.recordQuery('team-b', 'c5.large|us-west-2|10', now - 3000);
    await market.recordQuery('team-b', 'r5.large|us-west-2|1', now - 2 * DAY);
    await market.markSpent('ops', now + 6 * 3600_000);
  });
  after(async () => {
    close?.();
    await emu?.stop();
  });

  describe('with collections and summaries', () => {
    let status: TestStatus;
    before(async () => {
      status = await startTestStatus(emu, prefix, { market: config().market });
    });
    after(() => status.close());

    it('shows the newest daily summary, the collectors and the budget per credential, linked from the navigation', async () => {
      const home = await status.get('/');
      expect(home.text).to.contain('<a href="/market">Market</a>');
      const r = await status.get('/market');
      expect(r.status).to.equal(200);
      expect(r.headers.get('content-type')).to.match(/^text\/html/);
      expect(r.headers.get('content-security-policy')).to.contain("script-src 'self'");
      const t = r.text;
      expect(t).to.contain(`Daily summary of ${yesterday}`);
      expect(t).to.contain('<td>eu-west-1</td><td>c5.large</td><td class="num">6</td>');
      expect(t).to.contain('us-east-1d').and.contain('$0.0312/h').and.contain('&lt;5%');
      expect(t).to.contain('us-west-2b').and.contain('<td class="num">12</td><td class="num">3</td>');
      // the earlier day is a choice
      expect(t).to.contain(`<a href="/market?day=${earlier}">${earlier}</a>`);
      expect(t).to.contain(`<option value="${earlier}">`);
      // collectors: each kind's last run, ok or error, points and changes
      expect(t).to.match(/<tr data-kind="price"><td>price<\/td>.*state-succeeded">ok<.*<td class="num">314<\/td><td class="num">27<\/td>/);
      expect(t).to.match(/<tr data-kind="sps"><td>sps<\/td>.*state-failed">error</);
      // the budget by credential name
      expect(t).to.contain('<tr data-credential="team-b"><td>team-b</td><td class="num">2 / 40</td>');
      expect(t).to.match(/<tr data-credential="ops"><td>ops<\/td><td class="num">0 \/ 40<\/td><td>refused by AWS until /);
      expect(t).not.to.contain('nothing collected');
    });

    it('never shows a credential key, secret, session token or profile; notes are escaped and key-like text removed', async () => {
      const pages = [await status.get('/market'), await status.get(`/market?day=${earlier}`), await status.get('/api/market'), await status.get(`/api/market?day=${earlier}`)];
      for (const r of pages) {
        expect(r.status).to.equal(200);
        for (const secret of [KEY_ID, SECRET, SESSION, PROFILE, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']) expect(r.text).not.to.contain(secret);
        expect(r.text).not.to.contain('<script>alert');
        expect(r.text).to.contain('[redacted]');
      }
      expect(pages[0]!.text).to.contain('&lt;script&gt;alert(5)&lt;/script&gt;');
      expect(pages[0]!.text.match(/<script\b/g)).to.have.length(1);
      const v = pages[2]!.json<MarketView>();
      expect(v.collections.find((c) => c.kind === 'sps')!.note).to.contain(XSS);
    });

    it('answers the same as JSON: the summary, the days stored, the collectors and the budget', async () => {
      const r = await status.get('/api/market');
      expect(r.headers.get('content-type')).to.match(/^application\/json/);
      const v = r.json<MarketView>();
      expect(v.day).to.equal(yesterday);
      expect(v.days).to.deep.equal([yesterday, earlier]);
      expect(v.summary).to.deep.equal({
        day: yesterday,
        builtAt: new Date(now - 3600_000).toISOString(),
        moved: [{ region: 'eu-west-1', type: 'c5.large', moved: 6 }, { region: 'us-east-1', type: 'm5.large', moved: 2 }],
        cheapestStable: [{ type: 'm5.large', region: 'us-east-1', zone: 'us-east-1d', price: 0.0312, bucket: 0, score: 9 }],
        interruptions: [{ region: 'us-west-2', zone: 'us-west-2b', type: 'r5.large', runs: 12, interruptions: 3 }],
        interruptionsOmitted: 0,
      });
      expect(v.collections.map((c) => [c.kind, c.ok, c.points, c.changed, c.ceased, c.calls])).to.deep.equal([
        ['price', true, 314, 27, 1, 12],
        ['sps', false, 0, 0, 0, 0],
      ]);
      expect(v.collections[0]!.at).to.equal(new Date(now - 120_000).toISOString());
      expect(v.budget.map((b) => [b.credential, b.used, b.budget])).to.deep.equal([['team-b', 2, 40], ['ops', 0, 40]]);
      expect(v.budget[1]!.spentUntil).to.equal(new Date(now + 6 * 3600_000).toISOString());
      expect(v.budget[0]).not.to.have.property('spentUntil');
      // an earlier day
      const older = (await status.get(`/api/market?day=${earlier}`)).json<MarketView>();
      expect(older.day).to.equal(earlier);
      expect(older.summary!.cheapestStable[0]!.type).to.equal('c6i.large');
      expect((await status.get(`/market?day=${earlier}`)).text).to.contain(`Daily summary of ${earlier}`).and.contain(`<strong aria-current="page">${earlier}</strong>`);
    });

    it('answers 404 for a day with no summary and 400 for a day that is not one', async () => {
      const missing = await status.get(`/api/market?day=2000-01-01`);
      expect(missing.status).to.equal(404);
      expect(missing.json<{ error: string }>().error).to.equal('no market summary for 2000-01-01');
      expect((await status.get('/market?day=2000-01-01')).status).to.equal(404);
      for (const bad of ['yesterday', '2026-13-45', '<b>x</b>']) {
        const r = await status.get(`/api/market?day=${encodeURIComponent(bad)}`);
        expect(r.status, bad).to.equal(400);
        expect(r.text).not.to.contain('<');
        const page = await status.get(`/market?day=${encodeURIComponent(bad)}`);
        expect(page.status, bad).to.equal(400);
        expect(page.text).not.to.contain('<b>x</b>');
      }
    });
  });

  it('says so when nothing was collected yet', async () => {
    const status = await startTestStatus(emu, emptyPrefix);
    try {
      const v = (await status.get('/api/market')).json<MarketView>();
      expect(v).to.deep.include({ day: null, summary: null, days: [], collections: [] });
      // no credentials configured: the fleet's own, as `spotbatch market status` names it
      expect(v.budget).to.deep.equal([{ credential: 'default', used: 0, budget: 50 }]);
      const t = (await status.get('/market')).text;
      expect(t).to.contain('id="summary-empty"').and.contain('No daily summary yet');
      expect(t).to.contain('id="collectors-empty"').and.contain('Nothing collected yet');
      expect(t).to.contain('<tr data-credential="default"><td>default</td><td class="num">0 / 50</td>');
      expect(t).not.to.contain('<select name="day"');
    } finally {
      await status.close();
    }
  });

  it('wants the token on /market and /api/market as on every other page', async () => {
    const token = 'market-token-123';
    const status = await startTestStatus(emu, prefix, { token, market: config().market });
    try {
      for (const p of ['/market', '/api/market', `/market?day=${earlier}`, `/api/market?day=${earlier}`]) {
        const denied = await status.get(p);
        expect(denied.status, p).to.equal(401);
        expect(denied.text).not.to.contain('c5.large').and.not.contain('team-b');
        expect((await status.get(p, { headers: { authorization: 'Bearer wrong-token-000' } })).status, p).to.equal(401);
        expect((await status.get(p, { headers: { authorization: `Bearer ${token}` } })).status, p).to.equal(200);
        expect((await status.get(p, { headers: { cookie: `spotbatch_status_token=${token}` } })).status, p).to.equal(200);
      }
      const r = await status.get(`/market?token=${token}`);
      expect(r.status).to.equal(303);
      expect(r.headers.get('location')).to.equal('/market');
    } finally {
      await status.close();
    }
  });
});
