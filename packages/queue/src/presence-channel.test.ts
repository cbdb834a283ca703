import type { DeliveryItem } from '@esh3ar/contracts';
import { describe, expect, it } from 'vitest';
import { cancelNotice, parseChannelMessage } from './presence-channel.ts';

const item: DeliveryItem = {
  id: '0193f0c4-7b2e-7c41-9d3a-5be0f1a2c3d4',
  tenantId: '0193f0c0-1111-7222-8333-944455566677',
  recipient: '+966501234567',
  subject: null,
  content: 'hello',
  priority: 'normal',
  createdAt: '2026-11-23T10:15:30.123Z',
  metadata: { orderId: '1234' },
  expiresAt: null,
};

describe("a gateway channel's messages", () => {
  it('read a worker’s array as deliveries, as a worker of the previous release publishes it', () => {
    expect(
      parseChannelMessage(JSON.stringify([item, { ...item, subject: 's', metadata: null, expiresAt: '2026-11-24T00:00:00.000Z' }])),
    ).toEqual({
      deliveries: [item, { ...item, subject: 's', metadata: null, expiresAt: '2026-11-24T00:00:00.000Z' }],
    });
    expect(parseChannelMessage('[]')).toEqual({ deliveries: [] });
  });

  it('read back a cancel notice, carrying only the ids and phones', () => {
    const notice = cancelNotice([
      { id: 'a', recipient: '+1' },
      { id: 'b', recipient: '+2', tenantId: 't' } as { id: string; recipient: string },
    ]);
    expect(JSON.parse(notice)).toEqual({
      canceled: [
        { id: 'a', recipient: '+1' },
        { id: 'b', recipient: '+2' },
      ],
    });
    expect(parseChannelMessage(notice)).toEqual({
      canceled: [
        { id: 'a', recipient: '+1' },
        { id: 'b', recipient: '+2' },
      ],
    });
  });

  it.each([
    '',
    'not json',
    'null',
    '7',
    '"text"',
    '{}',
    '{"canceled":"a"}',
    '{"canceled":[{"id":"a"}]}',
    '{"canceled":[{"id":1,"recipient":"+1"}]}',
    '{"canceled":["a"]}',
    '[1]',
    '[null]',
    '[{"id":"a","recipient":"+1"}]',
    JSON.stringify([item, { ...item, content: undefined }]),
    JSON.stringify([{ ...item, metadata: ['x'] }]),
  ])('are null for anything else, never an exception: %j', (payload) => {
    expect(parseChannelMessage(payload)).toBeNull();
  });
});
