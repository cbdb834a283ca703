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
    expect(config.smtp).toEqual({ host: '127.0.0.1', port: 2525, user: 'provider-sim', pass: 'provider-sim-smtp-pass' });
    expect(config.meta).toEqual({ token: 'provider-sim-meta-token', appSecret: 'provider-sim-meta-app-secret', webhookUrl: null });
  });

  it("reads Meta's token, app secret and webhook URL", () => {
    const config = parseConfig({
      PROVIDER_SIM_META_TOKEN: 'EAAG-token',
      PROVIDER_SIM_META_APP_SECRET: 'app-secret',
      PROVIDER_SIM_META_WEBHOOK_URL: 'http://127.0.0.1:3000/v1/providers/meta/webhook',
    });
    expect(config.meta).toEqual({
      token: 'EAAG-token',
      appSecret: 'app-secret',
      webhookUrl: 'http://127.0.0.1:3000/v1/providers/meta/webhook',
    });
  });

  it("reads the SMTP server's port and account, on HOST", () => {
    const config = parseConfig({
      HOST: '0.0.0.0',
      PROVIDER_SIM_SMTP_PORT: '0',
      PROVIDER_SIM_SMTP_USER: 'mailer',
      PROVIDER_SIM_SMTP_PASS: 'secret',
    });
    expect(config.smtp).toEqual({ host: '0.0.0.0', port: 0, user: 'mailer', pass: 'secret' });
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
    [{ PROVIDER_SIM_SMTP_PORT: 'smtp' }, 'PROVIDER_SIM_SMTP_PORT must be an integer'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
    [{ PROVIDER_SIM_MAX_RECEIVED: '0' }, 'PROVIDER_SIM_MAX_RECEIVED must be from 1'],
    [{ PROVIDER_SIM_TWILIO_ACCOUNT_SID: 'sim' }, 'PROVIDER_SIM_TWILIO_ACCOUNT_SID must be AC and 32 hex digits'],
    [{ PROVIDER_SIM_RECEIPT_DELAY_MS: '-1' }, 'PROVIDER_SIM_RECEIPT_DELAY_MS must be from 0'],
    [{ PROVIDER_SIM_RECEIPT_OUTCOMES: 'delivered=yes' }, 'PROVIDER_SIM_RECEIPT_OUTCOMES must be status=weight pairs'],
    [{ PROVIDER_SIM_META_WEBHOOK_URL: 'api:3000/webhook' }, 'PROVIDER_SIM_META_WEBHOOK_URL must'],
  ])('stops with a message naming the variable for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
