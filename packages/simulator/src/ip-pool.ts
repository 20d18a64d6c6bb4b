/**
 * Distinct loopback addresses (127.x.y.z, never 127.0.0.1) for instances. The
 * pool is shared by every simulator in the process, and starts at an offset
 * derived from the process id so that simulators in parallel processes rarely
 * meet.
 */
const inUse = new Set<string>();
let cursor = ((process.pid % 200) + 10) * 65536;

function toIp(n: number): string {
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export function allocateIp(): string {
  for (let tries = 0; tries < 16_000_000; tries++) {
    cursor = (cursor + 1) % (255 * 65536);
    if (cursor < 65536) cursor = 65536; // 127.0.x.x reserved (127.0.0.1)
    const low = cursor & 255;
    if (low === 0 || low === 255) continue;
    const ip = toIp(cursor);
    if (!inUse.has(ip)) {
      inUse.add(ip);
      return ip;
    }
  }
  throw new Error('loopback address pool exhausted');
}

export function releaseIp(ip: string): void {
  inUse.delete(ip);
}
