import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { closeInOrder } from './close-in-order.ts';

function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('closeInOrder', () => {
  it('runs the steps one after the other, each awaited before the next starts', async () => {
    const { logger } = capturingLogger();
    const order: string[] = [];
    await closeInOrder(logger, [
      [
        'a',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 10));
          order.push('a');
        },
      ],
      ['b', () => void order.push('b')],
      ['c', async () => void order.push('c')],
    ]);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('logs a failing step, still runs the rest, then rejects naming the failed steps', async () => {
    const { logger, lines } = capturingLogger();
    const order: string[] = [];
    const closing = closeInOrder(logger, [
      ['intake', () => void order.push('intake')],
      [
        'webhooks',
        async () => {
          throw new Error('webhooks stuck');
        },
      ],
      [
        'sweeper',
        () => {
          throw new Error('sweeper stuck');
        },
      ],
      ['connections', () => void order.push('connections')],
    ]);
    await expect(closing).rejects.toThrow('shutdown steps failed: webhooks, sweeper');
    expect(order).toEqual(['intake', 'connections']);
    expect(lines.map((l) => l.step)).toEqual(['webhooks', 'sweeper']);
    expect(lines.map((l) => (l.err as { message: string }).message)).toEqual(['webhooks stuck', 'sweeper stuck']);
  });
});
