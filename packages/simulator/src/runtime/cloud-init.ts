/**
 * The part of cloud-init an instance's SSH server depends on: host keys from
 * the user data. A `#cloud-config` document's `ssh_keys` mapping gives the
 * host key pairs sshd presents (`<type>_private` / `<type>_public`, types
 * rsa, ecdsa, ed25519), as cloud-init's SSH module writes them to
 * /etc/ssh/ssh_host_<type>_key: https://cloudinit.readthedocs.io/en/latest/reference/modules.html#ssh
 *
 * Anything else in the user data is ignored; user data that is not a
 * cloud-config, or a cloud-config without `ssh_keys`, leaves the instance to
 * generate its own key, as a real image does on first boot.
 */
import ssh2, { type ParsedKey } from 'ssh2';
import { parse } from 'yaml';

const TYPES = ['ed25519', 'ecdsa', 'rsa'] as const;

export interface CloudInitHostKeys {
  /** The private host keys from `ssh_keys`, parsed, ed25519 first. */
  keys: ParsedKey[];
  /** Why an `ssh_keys` entry was not used (for the instance's log; never the key itself). */
  skipped: string[];
}

/** Host keys from user data (the decoded text, not base64); none when it gives none. */
export function hostKeysFromUserData(userData: string | undefined): CloudInitHostKeys {
  const out: CloudInitHostKeys = { keys: [], skipped: [] };
  if (!userData || !/^#cloud-config[ \t]*\r?\n/.test(userData)) return out;
  let doc: unknown;
  try {
    doc = parse(userData);
  } catch {
    out.skipped.push('user data is not valid YAML');
    return out;
  }
  const sshKeys = (doc as { ssh_keys?: unknown } | null)?.ssh_keys;
  if (!sshKeys || typeof sshKeys !== 'object') return out;
  const entries = sshKeys as Record<string, unknown>;
  for (const type of TYPES) {
    const text = entries[`${type}_private`];
    if (text === undefined) continue;
    const parsed = typeof text === 'string' ? ssh2.utils.parseKey(text) : new Error('not a string');
    const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
    if (!key || key instanceof Error || !key.isPrivateKey()) {
      out.skipped.push(`ssh_keys.${type}_private is not an unencrypted private key`);
      continue;
    }
    const pub = entries[`${type}_public`];
    if (typeof pub === 'string') {
      const p = ssh2.utils.parseKey(pub);
      const pk = Array.isArray(p) ? p[0] : p;
      if (!pk || pk instanceof Error || !pk.getPublicSSH().equals(key.getPublicSSH())) {
        out.skipped.push(`ssh_keys.${type}_public does not match ${type}_private`);
        continue;
      }
    }
    out.keys.push(key);
  }
  return out;
}
