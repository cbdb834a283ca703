import { JOB_PRIORITY, PRIORITIES, sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestJobs } from './ingest-jobs.ts';

const message = (id: number, priority: BufferedMessage['priority']): BufferedMessage =>
  sampleBufferedMessage({
    id: `00000000-0000-7000-8000-${String(id).padStart(12, '0')}`,
    tenantId: 't',
    acceptedAt: '2026-11-22T00:00:00.000Z',
    priority,
    content: 'c',
  });

describe('ingestJobs', () => {
  it('property: every message lands in exactly one job of its own priority, in arrival order, within the size cap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...PRIORITIES), { maxLength: 300 }),
        fc.integer({ min: 1, max: 50 }),
        (priorities, maxPerJob) => {
          const messages = priorities.map((p, i) => message(i, p));
          const jobs = ingestJobs(messages, maxPerJob);
          const flat = jobs.flatMap((j) => j.data.messages);
          expect(flat.map((m) => m.id).sort()).toEqual(messages.map((m) => m.id).sort());
          for (const job of jobs) {
            expect(job.data.messages.length).toBeGreaterThan(0);
            expect(job.data.messages.length).toBeLessThanOrEqual(maxPerJob);
            expect(new Set(job.data.messages.map((m) => JOB_PRIORITY[m.priority]))).toEqual(new Set([job.opts.priority]));
            expect(job.opts.jobId).toBe(job.data.messages[0]!.id);
          }
          for (const p of PRIORITIES) {
            const inOrder = jobs.filter((j) => j.opts.priority === JOB_PRIORITY[p]).flatMap((j) => j.data.messages.map((m) => m.id));
            expect(inOrder).toEqual(messages.filter((m) => m.priority === p).map((m) => m.id));
          }
        },
      ),
    );
  });

  it('retries storage (practically) forever with a capped backoff and removes the job once done', () => {
    const [job] = ingestJobs([message(1, 'critical')], 10);
    expect(job!.opts).toMatchObject({
      priority: 1,
      attempts: 1_000_000,
      backoff: { type: 'capped-exponential' },
      removeOnComplete: true,
      removeOnFail: false,
    });
  });
});
