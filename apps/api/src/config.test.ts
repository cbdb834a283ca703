import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('parseConfig (api)', () => {
  it('applies the contract defaults', () => {
    const config = parseConfig({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 3000, backlog: 16_384, reusePort: false });
    expect(config.postgres.url).toBe('postgres://127.0.0.1:5432/esh3ar');
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'esh3ar' });
    expect(config.adminToken).toBeNull();
    expect(config.runtime.buffer).toEqual({ capacity: 50_000, highWatermark: 0.8 });
    expect(Object.isFrozen(config.runtime.buffer)).toBe(true);
    expect(config.admission).toEqual({ rateLimit: true, backpressure: true });
    expect(config.pressure).toEqual({ maxEventLoopDelayMs: 1000, maxHeapUsedBytes: 0, maxRssBytes: 0 });
  });

  it('reads the protection switches and pressure limits', () => {
    const config = parseConfig({ API_RATE_LIMIT: 'off', API_BACKPRESSURE: 'OFF', API_MAX_EVENT_LOOP_DELAY_MS: '0', API_MAX_HEAP_BYTES: '1073741824', API_MAX_RSS_BYTES: '2147483648' });
    expect(config.admission).toEqual({ rateLimit: false, backpressure: false });
    expect(config.pressure).toEqual({ maxEventLoopDelayMs: 0, maxHeapUsedBytes: 1_073_741_824, maxRssBytes: 2_147_483_648 });
  });

  it.each([
    [{ API_PORT: 'abc' }, 'API_PORT must be an integer'],
    [{ API_PORT: '70000' }, 'API_PORT must be from 0 to 65535'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must use postgres: or postgresql:'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL must be a URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
    [{ BUFFER_HIGH_WATERMARK: '1.5' }, 'BUFFER_HIGH_WATERMARK must be a number in (0, 1]'],
    [{ API_RATE_LIMIT: 'maybe' }, 'API_RATE_LIMIT must be on or off'],
    [{ API_REUSE_PORT: 'yes' }, 'API_REUSE_PORT must be on or off'],
    [{ API_MAX_HEAP_BYTES: '-1' }, 'API_MAX_HEAP_BYTES must be from 0'],
    [{ API_MAX_EVENT_LOOP_DELAY_MS: '1s' }, 'API_MAX_EVENT_LOOP_DELAY_MS must be an integer'],
  ])('stops with a message naming the variable for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
