import { describe, expect, it } from 'vitest';
import { zoneOf } from './local-zone.ts';

describe('zoneOf', () => {
  it.each([
    ['+966501234567', 'sms', 'Asia/Riyadh'],
    ['+447911123456', 'whatsapp', 'Europe/London'],
    ['+971501234567', 'app', 'Asia/Dubai'],
    // +1 is shared: the number's area code says Canada (Toronto), which has several zones.
    ['+14165550123', 'sms', 'Pacific/Auckland'],
    ['+12125550123', 'sms', 'Pacific/Auckland'],
    // Germany lists Europe/Berlin and, for Büsingen, Europe/Zurich.
    ['+4915123456789', 'sms', 'Pacific/Auckland'],
    ['+999123', 'sms', 'Pacific/Auckland'],
    ['not a number', 'app', 'Pacific/Auckland'],
    ['someone@example.com', 'email', 'Pacific/Auckland'],
  ] as const)('%s (%s) is read in %s', (recipient, channel, zone) => {
    expect(zoneOf(recipient, channel, 'Pacific/Auckland')).toBe(zone);
  });
});
