import { isUuid, checkBufferedMessage, checkIngestJob, type BufferedMessage } from '@esh3ar/contracts';
import type { RowToStore } from '@esh3ar/db';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { PersistBatcher } from './batcher.ts';
import { ingestFailureKind, ingestRetry } from './ingest-failure.ts';

/**
 * A message that fails the job schema is a permanent fault: retrying cannot fix it.
 * When it still has an id and a tenant it is stored as `failed` with the reason, so
 * its sender can see it; otherwise it cannot be stored at all and is logged (with its
 * id when that is a string, to take it out of the buffer index).
 */
export function toRow(raw: unknown): RowToStore | { unstorable: string; id: string | null } {
  if (checkBufferedMessage.Check(raw)) return { message: raw, state: { status: 'pending', failureReason: null } };
  const errors = [...checkBufferedMessage.Errors(raw)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`);
  const reason = `invalid message: ${errors.join('; ')}`;
  const m = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<Record<keyof BufferedMessage, unknown>>;
  if (typeof m.id !== 'string' || !isUuid(m.id) || typeof m.tenantId !== 'string' || !isUuid(m.tenantId)) {
    return { unstorable: reason, id: typeof m.id === 'string' ? m.id : null };
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

/**
 * Stores a job's messages through the batcher. A failure is retried without limit while
 * PostgreSQL or Redis is unavailable; for any other reason up to worker.maxAttempts times,
 * then the job is given up: its messages become dead letters (GET /v1/admin/dlq) and leave
 * the buffer, and the job completes. If even that fails for such a reason, the job ends in
 * BullMQ's failed set (ingest jobs are kept there) with its messages still counted in the
 * buffer: dead letters of a job-specific fault are plain inserts, so what refuses them is
 * the database as a whole (a missing table, say), and backpressure is the right answer to that.
 */
export function ingestProcessor(batcher: PersistBatcher, logger: Logger) {
  return async function processIngestJob(job: Job): Promise<{ stored: number; parked: number }> {
    if (!checkIngestJob.Check(job.data)) {
      throw new UnrecoverableError(`ingest job ${job.id} has no messages array`);
    }
    const rows: RowToStore[] = [];
    const unstorable: string[] = [];
    for (const raw of job.data.messages) {
      const row = toRow(raw);
      if ('unstorable' in row) {
        logger.error({ jobId: job.id, reason: row.unstorable }, 'message without id or tenant cannot be stored');
        if (row.id !== null) unstorable.push(row.id);
      } else rows.push(row);
    }
    try {
      await batcher.store(rows);
    } catch (error) {
      const attempt = job.attemptsMade + 1;
      const kind = ingestFailureKind(error);
      if (ingestRetry(kind, attempt, batcher.maxAttempts) === 'retry') throw error;
      const reason = `ingest job failed ${attempt} times (${kind}): ${error instanceof Error ? error.message : String(error)}`;
      logger.error(
        { jobId: job.id, attempts: attempt, kind, err: error, messages: rows.length },
        'ingest job given up: its messages become dead letters',
      );
      try {
        await batcher.giveUp(rows, reason);
      } catch (parkError) {
        if (ingestFailureKind(parkError) === 'unavailable') throw parkError;
        throw new UnrecoverableError(
          `ingest job ${job.id} given up and its messages not parked: ${parkError instanceof Error ? parkError.message : String(parkError)}`,
        );
      }
      await batcher.discard(unstorable);
      return { stored: 0, parked: rows.length };
    }
    await batcher.discard(unstorable);
    return { stored: rows.length, parked: 0 };
  };
}
