import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('API_TRUST_PROXY', () => {
  it('trusts no proxy by default: request.ip is the peer', () => {
    expect(parseConfig({}).trustedProxies).toEqual([]);
  });

  it("takes addresses, CIDRs and proxy-addr's named ranges, comma-separated", () => {
    expect(parseConfig({ API_TRUST_PROXY: ' 10.0.0.5, 172.16.0.0/12 ,fd00::/8,uniquelocal,loopback ' }).trustedProxies).toEqual([
      '10.0.0.5',
      '172.16.0.0/12',
      'fd00::/8',
      'uniquelocal',
      'loopback',
    ]);
  });

  it.each(['nginx', '10.0.0.0/33', '::/129', '10.0.0.1/8/1', '10.0.0.0/x'])('stops with a message naming the variable for %s', (value) => {
    expect(() => parseConfig({ API_TRUST_PROXY: value })).toThrow(
      `API_TRUST_PROXY must list addresses, CIDRs or loopback / linklocal / uniquelocal, got "${value}"`,
    );
  });
});
