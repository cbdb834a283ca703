import { sampleBufferedMessage } from '@esh3ar/contracts';
import { describe, expect, it } from 'vitest';
import { toRow } from './ingest-processor.ts';

// Fixed ids and time, so that a failure names the same message every run.
const valid = sampleBufferedMessage({
  id: '01937a6e-0000-7000-8000-000000000001',
  tenantId: '5f0c1c8e-0000-4000-8000-000000000002',
  acceptedAt: '2026-11-22T18:00:00.000Z',
  channel: 'sms',
  priority: 'high',
});

describe('toRow', () => {
  it('stores a valid buffered message as pending', () => {
    expect(toRow(valid)).toEqual({ message: valid, state: { status: 'pending', failureReason: null } });
  });

  it('stores an invalid message that still has an id and a tenant as failed, with the reason', () => {
    const row = toRow({ ...valid, content: 42, priority: 'urgent' });
    expect(row).toMatchObject({
      message: { id: valid.id, tenantId: valid.tenantId, channel: 'sms', priority: 'normal', content: '' },
      state: { status: 'failed', failureReason: expect.stringContaining('invalid message') },
    });
  });

  it('cannot store a message without a usable id or tenant', () => {
    // With its id when that is a string: the buffer index entry to remove.
    expect(toRow({ ...valid, id: 'nope' })).toEqual({ unstorable: expect.stringContaining('invalid message'), id: 'nope' });
    expect(toRow(null)).toEqual({ unstorable: expect.any(String), id: null });
  });
});
