import { sampleBufferedMessage } from '@esh3ar/contracts';
import type { RowToStore } from '@esh3ar/db';
import { createSchedulingMetrics } from '@esh3ar/observability';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { rowScheduler, scheduleRows } from './schedule-rows.ts';

const NOW = Date.parse('2026-12-04T20:00:00.000Z'); // 23:00 in Riyadh
const quiet = { tenantId: 't', starts: '21:00', ends: '08:00', defaultTimeZone: 'Asia/Riyadh', updatedAt: new Date() };
const pending = (over: Parameters<typeof sampleBufferedMessage>[0] = {}): RowToStore => ({
  message: sampleBufferedMessage({ recipient: '+966501234567', ...over }),
  state: { status: 'pending', failureReason: null },
});

describe('scheduleRows', () => {
  it('stores a row whose sendAt is ahead as scheduled for it; one whose sendAt passed goes at once', () => {
    const ahead = pending({ sendAt: new Date(NOW + 1).toISOString() });
    const passed = pending({ sendAt: new Date(NOW).toISOString() });
    const none = pending();
    const [a, p, n] = scheduleRows([ahead, passed, none], () => undefined, NOW);
    expect(a!.state).toEqual({ status: 'scheduled', failureReason: null, sendAt: ahead.message.sendAt });
    expect(p).toBe(passed);
    expect(n).toBe(none);
  });

  it('holds a row that would go out inside its tenant’s quiet hours until they end, with the reason; never a critical one', () => {
    const quietOf = (tenantId: string) => (tenantId === 'quiet' ? quiet : undefined);
    const held = pending({ tenantId: 'quiet' });
    const critical = pending({ tenantId: 'quiet', priority: 'critical' });
    const otherTenant = pending({ tenantId: 'other' });
    const failed: RowToStore = { message: sampleBufferedMessage({ tenantId: 'quiet' }), state: { status: 'failed', failureReason: 'bad' } };
    const [h, c, o, f] = scheduleRows([held, critical, otherTenant, failed], quietOf, NOW);
    expect(h!.state).toEqual({
      status: 'scheduled',
      failureReason: null,
      sendAt: '2026-12-05T05:00:00.000Z',
      heldReason: 'quiet hours 21:00–08:00 in Asia/Riyadh: held until 2026-12-05T05:00:00.000Z',
    });
    expect([c, o, f]).toEqual([critical, otherTenant, failed]);
    // Outside the window it goes at once.
    expect(scheduleRows([held], quietOf, Date.parse('2026-12-05T05:00:00.000Z'))[0]).toBe(held);
  });

  it('counts what it schedules, by why', async () => {
    const metrics = createSchedulingMetrics(new Registry());
    const schedule = rowScheduler(
      () => quiet,
      metrics,
      () => NOW,
    );
    const counted = async () => Object.fromEntries((await metrics.stored.get()).values.map((v) => [v.labels.as, v.value]));
    expect(await counted()).toEqual({ scheduled: 0, held: 0 });
    schedule([pending({ sendAt: new Date(NOW + 60_000).toISOString() }), pending(), pending(), pending({ priority: 'critical' })]);
    expect(await counted()).toEqual({ scheduled: 1, held: 2 });
  });
});
