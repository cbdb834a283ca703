import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('parseConfig (worker)', () => {
  it('refuses a volatile Redis unless ALLOW_VOLATILE_BUFFER=on (development only)', () => {
    expect(parseConfig({}).redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'esh3ar', allowVolatileBuffer: false });
    expect(parseConfig({ ALLOW_VOLATILE_BUFFER: 'on' }).redis.allowVolatileBuffer).toBe(true);
    expect(() => parseConfig({ ALLOW_VOLATILE_BUFFER: 'sometimes' })).toThrow('ALLOW_VOLATILE_BUFFER must be on or off');
  });
});
