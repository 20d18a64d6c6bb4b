import { expect } from 'chai';
import { request } from 'node:http';
import type { Emulators } from '../../services/local/emulators.js';
import type { JobDetailView, TaskPageView } from '../../services/views/index.js';
import { destroyClients } from '../../shared/aws.js';
import { Store } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { startTestStatus, type TestStatus } from './helpers.js';
import { seedJob } from './seed.js';

const XSS_NAME = '<script>alert(1)</script>';
const XSS_TAG_KEY = '<b onmouseover="alert(2)">k</b>';
const XSS_TAG_VALUE = '"><img src=x onerror=alert(3)>';
const XSS_COMMAND = ['sh', '-c', 'echo "</pre><script>alert(4)</script>"'];

/** A request with a Host header of our choosing (fetch will not send one). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('status page safety: token, escaping, headers (emulators)', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let prefix: string;
  let store: Store;
  let close: () => void;
  const jobId = 'xss-job';

  before(async () => {
    emu = await testEmulators();
    prefix = uniquePrefix();
    const clients = clientsFor(emu);
    close = () => destroyClients(clients);
    await ensureTables(clients.dynamodb, prefix);
    store = new Store(clients.ddb, prefix);
    await seedJob(store, clients.ddb, { jobId, tasks: 3, name: XSS_NAME, spec: { tags: { [XSS_TAG_KEY]: XSS_TAG_VALUE }, command: XSS_COMMAND, steps: undefined } });
  });
  after(async () => {
    close?.();
    await emu?.stop();
  });

  describe('with a token', () => {
    const token = 'sekrit-token-123';
    let status: TestStatus;
    before(async () => {
      status = await startTestStatus(emu, prefix, { token });
    });
    after(() => status.close());

    const routes = ['/', `/jobs/${jobId}`, `/jobs/${jobId}/timeline.svg`, '/api/jobs', `/api/jobs/${jobId}`, `/api/jobs/${jobId}/tasks`, `/api/jobs/${jobId}/events`, '/market', '/api/market', '/static/status.js', '/static/status.css', '/healthz'];

    it('answers 401 on every route without it (or with a wrong one), 200 with it', async () => {
      for (const p of routes) {
        expect((await status.get(p)).status, `${p} without`).to.equal(401);
        expect((await status.get(p, { headers: { authorization: 'Bearer wrong-token-000' } })).status, `${p} wrong`).to.equal(401);
        expect((await status.get(p, { headers: { cookie: 'spotbatch_status_token=wrong-token-000' } })).status, `${p} wrong cookie`).to.equal(401);
        expect((await status.get(p, { headers: { authorization: `Bearer ${token}` } })).status, `${p} with`).to.equal(200);
      }
      const denied = await status.get('/api/jobs');
      expect(denied.headers.get('www-authenticate')).to.match(/^Bearer/);
      expect(denied.text).not.to.contain(XSS_NAME.slice(1, 7));
    });

    it('takes ?token= once from a browser: a cookie (HttpOnly, SameSite=Strict) and a redirect without the token', async () => {
      const r = await status.get(`/jobs/${jobId}?cursor=&token=${token}`);
      expect(r.status).to.equal(303);
      expect(r.headers.get('location')).to.equal(`/jobs/${jobId}?cursor=`);
      const cookie = r.headers.get('set-cookie')!;
      expect(cookie).to.match(/^spotbatch_status_token=sekrit-token-123;/);
      expect(cookie).to.contain('HttpOnly').and.contain('SameSite=Strict');
      const withCookie = await status.get(`/jobs/${jobId}`, { headers: { cookie: cookie.split(';')[0]! } });
      expect(withCookie.status).to.equal(200);
      expect((await status.get(`/?token=nope`)).status).to.equal(401);
      // the redirect stays on this site whatever the path looks like
      const odd = await status.get(`/.//evil.example/x?token=${token}`);
      expect(odd.status).to.equal(303);
      expect(odd.headers.get('location')).to.match(/^\/[^/\\]/);
    });
  });

  describe('without a token', () => {
    let status: TestStatus;
    before(async () => {
      status = await startTestStatus(emu, prefix);
    });
    after(() => status.close());

    it('escapes the job name, tags and command in every page; the JSON keeps them as data', async () => {
      for (const p of ['/', `/jobs/${jobId}`]) {
        const r = await status.get(p);
        expect(r.status).to.equal(200);
        expect(r.text).not.to.contain('<script>alert');
        expect(r.text).not.to.contain('<img src=x');
        expect(r.text).not.to.contain('<b onmouseover');
        expect(r.text).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;');
        // the only script element is the page's own file
        expect(r.text.match(/<script\b/g)).to.have.length(1);
        expect(r.text).to.contain('<script src="/static/status.js" defer></script>');
      }
      const page = (await status.get(`/jobs/${jobId}`)).text;
      expect(page).to.contain('&lt;b onmouseover=&quot;alert(2)&quot;&gt;k&lt;/b&gt;');
      expect(page).to.contain('&quot;&gt;&lt;img src=x onerror=alert(3)&gt;');
      expect(page).to.contain('&lt;/pre&gt;&lt;script&gt;alert(4)&lt;/script&gt;');
      const svg = (await status.get(`/jobs/${jobId}/timeline.svg`)).text;
      expect(svg).to.match(/^<\?xml/);
      expect(svg).not.to.contain('<script');
      const api = await status.get(`/api/jobs/${jobId}`);
      expect(api.text).not.to.contain('<');
      const d = api.json<JobDetailView>();
      expect(d.job.name).to.equal(XSS_NAME);
      expect(d.job.tags).to.deep.equal({ [XSS_TAG_KEY]: XSS_TAG_VALUE });
      expect(d.spec.command).to.deep.equal(XSS_COMMAND);
      const tasks = (await status.get(`/api/jobs/${jobId}/tasks`)).json<TaskPageView>();
      expect(tasks.tasks).to.have.length(3);
    });

    it('sends security headers: a CSP without inline script, nosniff, no framing, no referrer', async () => {
      for (const p of ['/', `/jobs/${jobId}`, '/api/jobs', '/market', '/api/market', '/static/status.js']) {
        const r = await status.get(p);
        const csp = r.headers.get('content-security-policy')!;
        expect(csp, p).to.contain("default-src 'none'").and.contain("script-src 'self'").and.contain("frame-ancestors 'none'");
        expect(csp, p).not.to.contain('unsafe-inline');
        expect(r.headers.get('x-content-type-options'), p).to.equal('nosniff');
        expect(r.headers.get('x-frame-options'), p).to.equal('DENY');
        expect(r.headers.get('referrer-policy'), p).to.equal('no-referrer');
      }
      expect((await status.get('/static/status.js')).headers.get('content-type')).to.match(/^text\/javascript/);
    });

    it('answers GET and HEAD only, and only to loopback host names while bound to loopback', async () => {
      expect((await status.get('/api/jobs', { method: 'POST', body: '{}' })).status).to.equal(405);
      expect((await status.get('/api/jobs', { method: 'DELETE' })).status).to.equal(405);
      const head = await status.get('/api/jobs', { method: 'HEAD' });
      expect(head.status).to.equal(200);
      expect(head.text).to.equal('');
      const port = new URL(status.url).port;
      expect(await getWithHost(`${status.url}/api/jobs`, `localhost:${port}`)).to.equal(200);
      expect(await getWithHost(`${status.url}/api/jobs`, `rebound.example:${port}`)).to.equal(421);
    });

    it('binds 127.0.0.1 unless told otherwise', () => {
      expect(status.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    });
  });
});
