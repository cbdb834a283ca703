import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readiness } from './readiness.ts';

const ok = { run: async () => 'PONG' };
const refused = { run: async () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:6379')) };
const silent = { run: () => new Promise<never>(() => undefined) };

function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('readiness', () => {
  it('answers 200 ok with every check ok and the details beside them', async () => {
    const answer = await readiness({ redis: ok, postgres: ok }, { details: () => ({ connections: 3 }) });
    expect(answer).toEqual({ statusCode: 200, body: { status: 'ok', checks: { redis: 'ok', postgres: 'ok', connections: 3 } } });
  });

  it('answers 503 unavailable when a check fails, naming no host or port, and logs the cause at debug', async () => {
    const { logger, lines } = capturingLogger();
    const answer = await readiness({ redis: refused, postgres: ok }, { logger });
    expect(answer).toEqual({ statusCode: 503, body: { status: 'unavailable', checks: { redis: 'error: unreachable', postgres: 'ok' } } });
    expect(lines).toEqual([expect.objectContaining({ level: 20, check: 'redis', msg: 'readiness check failed' })]);
    expect((lines[0]!.err as { message: string }).message).toContain('ECONNREFUSED');
  });

  it('answers 200 degraded when only checks whose failure degrades fail, and 503 when another fails too', async () => {
    const postgres = { ...refused, failure: 'degraded' as const };
    expect(await readiness({ redis: ok, postgres })).toEqual({
      statusCode: 200,
      body: { status: 'degraded', checks: { redis: 'ok', postgres: 'error: unreachable' } },
    });
    expect((await readiness({ redis: refused, postgres })).body.status).toBe('unavailable');
  });

  it('counts a check that does not answer within its timeout as failing, without waiting for it', async () => {
    vi.useFakeTimers();
    const answering = readiness({ redis: { ...silent, timeoutMs: 250 }, postgres: silent, fast: ok });
    await vi.advanceTimersByTimeAsync(250);
    const settled = vi.fn();
    void answering.then(settled);
    await vi.advanceTimersByTimeAsync(0);
    // The 250 ms check has failed; the answer still waits for the default 1000 ms one.
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(750);
    expect(await answering).toEqual({
      statusCode: 503,
      body: {
        status: 'unavailable',
        checks: { redis: 'error: no answer within 250 ms', postgres: 'error: no answer within 1000 ms', fast: 'ok' },
      },
    });
  });

  it('answers 503 unavailable while refusing, whatever the checks say', async () => {
    const answer = await readiness({ redis: ok }, { refusing: () => true });
    expect(answer).toEqual({ statusCode: 503, body: { status: 'unavailable', checks: { redis: 'ok' } } });
  });

  it('reads the details once the checks have answered', async () => {
    let depth = 0;
    const answer = await readiness(
      {
        redis: {
          run: async () => {
            depth = 42;
          },
        },
      },
      { details: async () => ({ depth }) },
    );
    expect(answer.body.checks).toEqual({ redis: 'ok', depth: 42 });
  });
});
