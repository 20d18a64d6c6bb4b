/** What the SigV4 credential scope says about a request: its service and region. */
export interface Scope {
  service: string;
  region: string;
  /** The access key id: the simulator's stand-in for the account (each key is an account of its own). */
  accessKeyId: string;
}

const CREDENTIAL = /Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/;

/** Reads `Credential=AKID/date/REGION/SERVICE/aws4_request` from the Authorization header or X-Amz-Credential. */
export function scopeOf(authorization: string | undefined, queryCredential?: string | null): Scope | undefined {
  if (authorization) {
    const m = CREDENTIAL.exec(authorization);
    if (m && m[1] && m[3] && m[4]) return { region: m[3], service: m[4], accessKeyId: m[1] };
  }
  if (queryCredential) {
    const parts = queryCredential.split('/');
    if (parts.length >= 5 && parts[0] && parts[2] && parts[3]) return { region: parts[2], service: parts[3], accessKeyId: parts[0] };
  }
  return undefined;
}
