import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { metadataTree, resolveMetadata, type MetadataSource } from './metadata.js';

/**
 * The instance metadata service: one HTTP request handler for the whole
 * runtime; each instance only owns a plain TCP listener on ip:imdsPort that
 * hands its connections to it. The instance is found by the address the
 * connection came in on.
 *
 * IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
 * (1..21600) answers a token; a GET with X-aws-ec2-metadata-token must carry a
 * valid, unexpired token of that instance (else 401); a GET without one is
 * IMDSv1 and is answered. Tokens are stateless (HMAC of address and expiry),
 * so an idle instance holds nothing for them.
 */

const MAX_TTL_SECONDS = 21600;

export interface Imds {
  /** Hand a connection accepted on an instance address to the service. */
  acceptConnection(socket: Socket): void;
  close(): void;
}

export function createImds(lookup: (localAddress: string) => MetadataSource | undefined): Imds {
  const secret = randomBytes(32);
  const http: Server = createServer((req, res) => {
    const source = lookup(normaliseAddress(req.socket.localAddress));
    handle(req, res, source, secret);
  });
  http.keepAliveTimeout = 5000;
  return {
    acceptConnection(socket) {
      http.emit('connection', socket);
    },
    close() {
      http.closeAllConnections();
      http.close();
    },
  };
}

function normaliseAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

function handle(req: IncomingMessage, res: ServerResponse, source: MetadataSource | undefined, secret: Buffer): void {
  res.setHeader('Server', 'EC2ws');
  const url = new URL(req.url ?? '/', 'http://imds');
  const pathname = url.pathname;
  if (!source) return sendStatus(res, 404);
  const ip = source.spec.ip;

  if (pathname === '/latest/api/token') {
    if (req.method !== 'PUT') return sendStatus(res, 405, { Allow: 'OPTIONS, PUT' });
    if (req.headers['x-forwarded-for'] !== undefined) return sendStatus(res, 403);
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return sendStatus(res, 400);
    const token = issueToken(secret, ip, Math.floor(Date.now() / 1000) + ttl);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': String(ttl) });
    res.end(token);
    return;
  }

  if (req.method !== 'GET' && req.method !== 'HEAD') return sendStatus(res, 405, { Allow: 'OPTIONS, GET, HEAD' });
  const token = req.headers['x-aws-ec2-metadata-token'];
  if (token !== undefined && !(typeof token === 'string' && validToken(secret, ip, token))) return sendStatus(res, 401);

  const body = resolveMetadata(metadataTree(source), pathname);
  if (body === undefined) return sendStatus(res, 404);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
};

/** The XHTML error page the real service sends with its error statuses. */
function sendStatus(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  const title = `${status} - ${REASONS[status] ?? 'Error'}`;
  const body =
    '<?xml version="1.0" encoding="iso-8859-1"?>\n' +
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n' +
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n' +
    ` <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n </body>\n</html>\n`;
  res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sign(secret: Buffer, ip: string, expires: number): Buffer {
  return createHmac('sha256', secret).update(`${ip}|${expires}`).digest();
}

function issueToken(secret: Buffer, ip: string, expires: number): string {
  const exp = Buffer.alloc(8);
  exp.writeBigUInt64BE(BigInt(expires));
  return `AQAEA${Buffer.concat([exp, sign(secret, ip, expires)]).toString('base64url')}`;
}

function validToken(secret: Buffer, ip: string, token: string): boolean {
  if (!token.startsWith('AQAEA')) return false;
  const raw = Buffer.from(token.slice(5), 'base64url');
  if (raw.length !== 40) return false;
  const expires = Number(raw.readBigUInt64BE(0));
  if (expires * 1000 < Date.now()) return false;
  return timingSafeEqual(raw.subarray(8), sign(secret, ip, expires));
}
