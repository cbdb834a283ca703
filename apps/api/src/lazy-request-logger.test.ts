import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyRequestLogger } from './lazy-request-logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) as FastifyBaseLogger };
}

describe('the lazy request logger', () => {
  it('makes the child logger on the first line written, once, with the request id bound', () => {
    const { lines, logger } = capture();
    const child = vi.spyOn(logger, 'child');
    const log = lazyRequestLogger.call(Fastify(), logger, { reqId: 'req-1' }, {});
    expect(log.level).toBe('info');
    log.debug('below the level');
    expect(child).toHaveBeenCalledTimes(1);
    log.warn({ field: 'recipient' }, 'refused');
    log.error('again');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.reqId, l.msg, l.field])).toEqual([
      ['req-1', 'refused', 'recipient'],
      ['req-1', 'again', undefined],
    ]);
  });

  it('a request that never logs never makes one; one that does logs with its id', async () => {
    const { lines, logger } = capture();
    const child = vi.spyOn(logger, 'child');
    const app = Fastify({
      loggerInstance: logger,
      disableRequestLogging: true,
      childLoggerFactory: lazyRequestLogger,
      genReqId: () => 'req-2',
    });
    app.get('/quiet', async () => ({ ok: true }));
    app.get('/loud', async (request) => {
      request.log.warn('something to say');
      return { ok: true };
    });
    await app.ready();
    const made = child.mock.calls.length;
    expect((await app.inject('/quiet')).statusCode).toBe(200);
    expect(child.mock.calls.length).toBe(made);
    expect((await app.inject('/loud')).statusCode).toBe(200);
    expect(child.mock.calls.length).toBe(made + 1);
    expect(lines.filter((l) => l.msg === 'something to say').map((l) => l.reqId)).toEqual(['req-2']);
    await app.close();
  });
});
