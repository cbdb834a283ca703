import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('parseConfig (provider-sim)', () => {
  it('applies the contract defaults', () => {
    const config = parseConfig({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 3002 });
    expect(config.log.level).toBe('info');
    expect(config.received).toEqual({ maxItems: 100_000, maxChars: 50_000_000 });
    expect(Object.isFrozen(config.received)).toBe(true);
    expect(config.twilio).toEqual({ accountSid: `AC${'0'.repeat(32)}`, authToken: 'provider-sim-auth-token' });
    expect(config.receipts).toEqual({ delayMs: 1000, outcomes: [{ status: 'delivered', share: 1 }] });
  });

  it("reads the Twilio account and the receipts' delay and outcomes", () => {
    const config = parseConfig({
      PROVIDER_SIM_TWILIO_ACCOUNT_SID: `AC${'ab'.repeat(16)}`,
      PROVIDER_SIM_TWILIO_AUTH_TOKEN: 'secret',
      PROVIDER_SIM_RECEIPT_DELAY_MS: '0',
      PROVIDER_SIM_RECEIPT_OUTCOMES: 'delivered=1,failed=1',
    });
    expect(config.twilio).toEqual({ accountSid: `AC${'ab'.repeat(16)}`, authToken: 'secret' });
    expect(config.receipts.delayMs).toBe(0);
    expect(config.receipts.outcomes.map((o) => o.status)).toEqual(['delivered', 'failed']);
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
    [{ PROVIDER_SIM_TWILIO_ACCOUNT_SID: 'sim' }, 'PROVIDER_SIM_TWILIO_ACCOUNT_SID must be AC and 32 hex digits'],
    [{ PROVIDER_SIM_RECEIPT_DELAY_MS: '-1' }, 'PROVIDER_SIM_RECEIPT_DELAY_MS must be from 0'],
    [{ PROVIDER_SIM_RECEIPT_OUTCOMES: 'delivered=yes' }, 'PROVIDER_SIM_RECEIPT_OUTCOMES must be status=weight pairs'],
  ])('stops with a message naming the variable for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
