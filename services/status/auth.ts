/**
 * The optional bearer token of the status page. When one is set, every
 * route wants it: as `Authorization: Bearer T` (scripts, the CLI), or as the
 * cookie the page sets (a browser). A person opens `/?token=T` once; the
 * server answers with the cookie (HttpOnly, SameSite=Strict) and a redirect
 * to the same address without the token, so it stays out of the address bar,
 * the history and any Referer.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'spotbatch_status_token';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Compare in constant time (over digests, so the length does not show either). */
export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(given), digest(token));
}

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

export type AuthResult = { ok: true } | { ok: false } | { ok: true; setCookieAndRedirect: string };

/** Whether the request may pass; a valid `?token=` also asks for the cookie and a clean redirect. */
export function authorize(req: IncomingMessage, url: URL, token: string | undefined): AuthResult {
  if (!token) return { ok: true };
  if (sameToken(bearer(req), token) || sameToken(cookieValue(req, TOKEN_COOKIE), token)) return { ok: true };
  const fromQuery = url.searchParams.get('token');
  if (fromQuery !== null && sameToken(fromQuery, token) && (req.method === 'GET' || req.method === 'HEAD')) {
    const clean = new URL(url);
    clean.searchParams.delete('token');
    // One leading slash: "//host" would be an address on another site.
    return { ok: true, setCookieAndRedirect: `/${clean.pathname.replace(/^[/\\]+/, '')}${clean.search}` };
  }
  return { ok: false };
}

export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
}
