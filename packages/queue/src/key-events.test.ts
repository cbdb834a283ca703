import { describe, expect, it } from 'vitest';
import { keyEventsChannel, parseKeyEventNotice } from './key-events.ts';

describe('API key notifications', () => {
  it('are published under REDIS_PREFIX', () => {
    expect(keyEventsChannel('esh3ar')).toBe('esh3ar:api-key-events');
  });

  it('read back what was published: a revoked key, or a whole tenant', () => {
    expect(parseKeyEventNotice('{"seq":7,"tenantId":"t","keyId":"k"}')).toEqual({ seq: 7, tenantId: 't', keyId: 'k' });
    expect(parseKeyEventNotice('{"seq":8,"tenantId":"t","keyId":null}')).toEqual({ seq: 8, tenantId: 't', keyId: null });
  });

  it.each([
    '',
    'null',
    '7',
    '{"tenantId":"t","keyId":"k"}',
    '{"seq":"7","tenantId":"t","keyId":"k"}',
    '{"seq":7,"keyId":"k"}',
    '{"seq":7,"tenantId":"t"}',
  ])('ignore anything else: %j', (message) => {
    expect(parseKeyEventNotice(message)).toBeNull();
  });
});
