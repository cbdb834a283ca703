import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('parseConfig (provider-sim)', () => {
  it('applies the contract defaults', () => {
    const config = parseConfig({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 3002 });
    expect(config.log.level).toBe('info');
    expect(config.received).toEqual({ maxItems: 100_000, maxChars: 50_000_000 });
    expect(Object.isFrozen(config.received)).toBe(true);
  });

  it('reads its variables and ignores the databases it does not use', () => {
    const config = parseConfig({
      PROVIDER_SIM_PORT: '0',
      HOST: '0.0.0.0',
      LOG_LEVEL: 'warn',
      DATABASE_URL: 'mysql://x',
      PROVIDER_SIM_MAX_RECEIVED: '10',
    });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 0 });
    expect(config.log.level).toBe('warn');
    expect(config.received.maxItems).toBe(10);
  });

  it.each([
    [{ PROVIDER_SIM_PORT: 'abc' }, 'PROVIDER_SIM_PORT must be an integer'],
    [{ PROVIDER_SIM_PORT: '70000' }, 'PROVIDER_SIM_PORT must be from 0 to 65535'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
    [{ PROVIDER_SIM_MAX_RECEIVED: '0' }, 'PROVIDER_SIM_MAX_RECEIVED must be from 1'],
  ])('stops with a message naming the variable for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
