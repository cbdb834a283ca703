import { checkBufferedMessage, checkIngestJob, type BufferedMessage } from '@esh3ar/contracts';
import type { RowToStore } from '@esh3ar/db';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { PersistBatcher } from './batcher.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A message that fails the job schema is a permanent fault: retrying cannot fix it.
 * When it still has an id and a tenant it is stored as `failed` with the reason, so
 * its sender can see it; otherwise it cannot be stored at all and is logged.
 */
export function toRow(raw: unknown): RowToStore | { unstorable: string } {
  if (checkBufferedMessage.Check(raw)) return { message: raw, state: { status: 'pending', failureReason: null } };
  const errors = [...checkBufferedMessage.Errors(raw)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`);
  const reason = `invalid message: ${errors.join('; ')}`;
  const m = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<Record<keyof BufferedMessage, unknown>>;
  if (typeof m.id !== 'string' || !UUID.test(m.id) || typeof m.tenantId !== 'string' || !UUID.test(m.tenantId)) {
    return { unstorable: reason };
  }
  const acceptedAt = typeof m.acceptedAt === 'string' && !Number.isNaN(Date.parse(m.acceptedAt)) ? m.acceptedAt : new Date().toISOString();
  return {
    message: {
      id: m.id,
      tenantId: m.tenantId,
      acceptedAt,
      recipient: typeof m.recipient === 'string' ? m.recipient : '',
      channel: m.channel === 'sms' || m.channel === 'whatsapp' || m.channel === 'email' ? m.channel : 'app',
      priority: m.priority === 'low' || m.priority === 'high' || m.priority === 'critical' ? m.priority : 'normal',
      subject: null,
      content: '',
      metadata: null,
      ttlSeconds: null,
      fallback: null,
      fallbackAfterSeconds: null,
      idempotencyKey: null,
    },
    state: { status: 'failed', failureReason: reason },
  };
}

export function ingestProcessor(batcher: PersistBatcher, logger: Logger) {
  return async function processIngestJob(job: Job): Promise<{ stored: number }> {
    if (!checkIngestJob.Check(job.data)) {
      throw new UnrecoverableError(`ingest job ${job.id} has no messages array`);
    }
    const rows: RowToStore[] = [];
    for (const raw of job.data.messages) {
      const row = toRow(raw);
      if ('unstorable' in row) logger.error({ jobId: job.id, reason: row.unstorable }, 'message without id or tenant cannot be stored');
      else rows.push(row);
    }
    await batcher.store(rows);
    return { stored: rows.length };
  };
}
