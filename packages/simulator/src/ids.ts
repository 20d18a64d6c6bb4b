import { randomBytes } from 'node:crypto';

/** AWS-shaped identifiers. Unique, not seeded: ids never drive market behaviour. */

const hex = (n: number): string => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function upper(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

export const ids = {
  instance: () => `i-${hex(17)}`,
  spotRequest: () => `sir-${hex(8)}`,
  securityGroup: () => `sg-${hex(17)}`,
  securityGroupRule: () => `sgr-${hex(17)}`,
  keyPair: () => `key-${hex(17)}`,
  fleet: () => `fleet-${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
  reservation: () => `r-${hex(17)}`,
  vpc: () => `vpc-${hex(17)}`,
  subnet: () => `subnet-${hex(17)}`,
  launchTemplate: () => `lt-${hex(17)}`,
  image: () => `ami-${hex(17)}`,
  snapshot: () => `snap-${hex(17)}`,
  role: () => `AROA${upper(17)}`,
  instanceProfile: () => `AIPA${upper(17)}`,
  policy: () => `ANPA${upper(17)}`,
  request: () => {
    const h = hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  },
};

/** The simulated account every resource belongs to. */
export const ACCOUNT_ID = '123456789012';
