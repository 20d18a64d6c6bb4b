/** The HTTP server: /_sim/* to the admin API, everything else to the AWS Query protocol. */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { SimContext } from './context.js';
import { handleAdmin } from './admin/routes.js';
import type { AdminHooks } from './admin/routes.js';
import { handleQuery } from './protocol/query-server.js';
import type { Stats } from './stats.js';

const MAX_BODY = 1 << 20;

export function createSimServer(sim: SimContext, stats: Stats, hooks: AdminHooks): Server {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const work = tooLarge
        ? Promise.resolve(void res.writeHead(413, { 'content-type': 'application/json' }).end('{"error":{"code":"TooLarge","message":"body over 1 MiB"}}'))
        : path.startsWith('/_sim/')
          ? handleAdmin(sim, stats, hooks, req, res, body)
          : handleQuery(sim, stats, req, res, body);
      work.catch((err: unknown) => {
        sim.logger.error({ err: String(err) }, 'simulator request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"InternalError","message":"internal error"}}');
      });
    });
  });
  // Node closes idle keep-alive sockets after 5 s; a busy client can send on one just as it closes
  // ("other side closed"). AWS endpoints keep them about a minute: do the same.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
