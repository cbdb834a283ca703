import { isIP } from 'node:net';
import { ConfigError } from '@esh3ar/config';

const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * API_TRUST_PROXY: the proxies whose X-Forwarded-For gives request.ip (addresses, CIDRs,
 * or proxy-addr's loopback / linklocal / uniquelocal), comma-separated; unset: none, the
 * peer's address. Failed authentication is limited per client address, and behind nginx
 * every request would otherwise come from nginx's address.
 */
export function parseTrustedProxies(value: string | null): string[] {
  const list = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const entry of list) {
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const cidr =
      family !== 0 && extra === undefined && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)));
    if (!cidr && !NAMED_RANGES.has(entry))
      throw new ConfigError(`API_TRUST_PROXY must list addresses, CIDRs or loopback / linklocal / uniquelocal, got "${entry}"`);
  }
  return list;
}
