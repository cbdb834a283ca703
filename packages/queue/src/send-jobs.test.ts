import { SEND_BATCH_MAX, checkSendJob, sampleBufferedMessage, type BufferedMessage } from '@esh3ar/contracts';
import { describe, expect, it } from 'vitest';
import { laterSendJob, storedSendJobs } from './send-jobs.ts';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();

describe('storedSendJobs', () => {
  it('batches provider messages per channel and priority, up to SEND_BATCH_MAX a job, with ids that name their messages', () => {
    const sms = Array.from({ length: SEND_BATCH_MAX + 3 }, () => sampleBufferedMessage({ channel: 'sms', acceptedAt: at(0) }));
    const urgent = sampleBufferedMessage({ channel: 'sms', priority: 'critical', acceptedAt: at(0) });
    const email = sampleBufferedMessage({ channel: 'email', subject: 'hi', acceptedAt: at(0) });
    const app = sampleBufferedMessage({ channel: 'app' }); // no fallback: no job
    const jobs = storedSendJobs([...sms, urgent, email, app], NOW);

    expect([...jobs.keys()].sort()).toEqual(['email', 'sms']);
    const smsJobs = jobs.get('sms')!;
    expect(smsJobs.map((j) => [j.data.messages.length, j.opts.priority])).toEqual([
      [SEND_BATCH_MAX, 3],
      [3, 3],
      [1, 1],
    ]);
    expect(smsJobs.flatMap((j) => j.data.messages.map((m) => m.id))).toEqual([...sms, urgent].map((m) => m.id));
    expect(jobs.get('email')![0]!.data).toEqual({
      channel: 'email',
      reason: 'send',
      messages: [
        {
          id: email.id,
          tenantId: email.tenantId,
          recipient: email.recipient,
          subject: 'hi',
          content: email.content,
          priority: 'normal',
          acceptedAt: email.acceptedAt,
        },
      ],
    });
    for (const job of [...smsJobs, ...jobs.get('email')!]) {
      expect(checkSendJob.Check(job.data)).toBe(true);
      expect(job.opts.jobId).toMatch(/^send-[\w-]{22}$/);
      expect(job.opts.delay).toBeUndefined();
    }
    // The same messages give the same ids (a re-run adds nothing); other messages, others.
    expect(
      storedSendJobs([...sms, urgent, email], NOW + 5000)
        .get('sms')!
        .map((j) => j.opts.jobId),
    ).toEqual(smsJobs.map((j) => j.opts.jobId));
    expect(storedSendJobs(sms.slice(1), NOW).get('sms')![0]!.opts.jobId).not.toBe(smsJobs[0]!.opts.jobId);
  });

  it('makes one delayed fallback job per due second, due at the end of it', () => {
    const fallback = (acceptedMs: number, afterSeconds: number): BufferedMessage =>
      sampleBufferedMessage({ channel: 'app', fallback: 'sms', fallbackAfterSeconds: afterSeconds, acceptedAt: at(acceptedMs) });
    const [a, b, c, d] = [fallback(100, 60), fallback(900, 60), fallback(1100, 60), fallback(0, 30)];
    const jobs = storedSendJobs([a, b, c, d], NOW + 500).get('sms')!;
    expect(jobs.map((j) => [j.data.reason, j.data.messages.map((m) => m.id), j.opts.delay])).toEqual([
      ['fallback', [a.id, b.id], 61_000 - 500],
      ['fallback', [c.id], 62_000 - 500],
      ['fallback', [d.id], 30_000 - 500],
    ]);
    expect(jobs[0]!.opts.jobId).toMatch(new RegExp(`^fallback-${(NOW + 61_000) / 1000}-`));
  });
});

describe('laterSendJob', () => {
  it('carries some of a job’s messages on, with an id from the job and the messages', () => {
    const [job] = storedSendJobs([sampleBufferedMessage({ channel: 'sms' }), sampleBufferedMessage({ channel: 'sms' })], NOW).get('sms')!;
    const parent = { id: job!.opts.jobId!, data: job!.data };
    const [first, second] = job!.data.messages;
    const retry = laterSendJob(parent, 'retry', [first!], 2500);
    expect(retry.data).toEqual({ channel: 'sms', reason: 'send', messages: [first] });
    expect(retry.opts).toMatchObject({ delay: 2500, priority: 3, jobId: expect.stringMatching(/^retry-/) });
    expect(laterSendJob(parent, 'retry', [first!], 10).opts.jobId).toBe(retry.opts.jobId);
    expect(laterSendJob(parent, 'retry', [second!], 10).opts.jobId).not.toBe(retry.opts.jobId);
    expect(laterSendJob(parent, 'wait', [first!], 10).opts.jobId).not.toBe(retry.opts.jobId);
    expect(laterSendJob(parent, 'wait', [first!], 10, true).data.waiting).toBe(true);
  });
});
