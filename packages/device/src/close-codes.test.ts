import { GATEWAY_CLOSE_CODES } from '@esh3ar/contracts';
import { expect, it } from 'vitest';
import { closeAction } from './close-codes.ts';

it('does with each of the gateway’s close codes what the protocol says a device should', () => {
  const codes = Object.keys(GATEWAY_CLOSE_CODES).map(Number);
  expect(codes.length).toBeGreaterThan(0);
  for (const code of codes) expect([code, closeAction(code)]).toEqual([code, GATEWAY_CLOSE_CODES[code]!.device]);
  // The network, a refused upgrade, a server gone without a close frame.
  expect(closeAction(1006)).toBe('reconnect');
});
