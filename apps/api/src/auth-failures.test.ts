import { describe, expect, it } from 'vitest';
import { clientBucket } from './auth-failures.ts';

describe('clientBucket: the address failed authentication is counted by', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['2001:db8:1:2:3:4:192.0.2.1', '2001:db8:1:2::/64'],
  ])('%s counts as %s', (ip, bucket) => {
    expect(clientBucket(ip)).toBe(bucket);
  });

  it('gives every address of one IPv6 /64 one budget, and the next /64 another', () => {
    expect(new Set(['2001:db8:a:b::1', '2001:db8:a:b:ffff::2', '2001:db8:a:b:1:2:3:4'].map(clientBucket)).size).toBe(1);
    expect(clientBucket('2001:db8:a:c::1')).not.toBe(clientBucket('2001:db8:a:b::1'));
  });
});
