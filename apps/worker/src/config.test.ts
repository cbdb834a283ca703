import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('parseConfig (worker)', () => {
  it('refuses a volatile Redis unless ALLOW_VOLATILE_BUFFER=on (development only)', () => {
    expect(parseConfig({}).redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      clusterNodes: null,
      prefix: 'esh3ar',
      allowVolatileBuffer: false,
      waitReplicas: null,
    });
    expect(parseConfig({ ALLOW_VOLATILE_BUFFER: 'on' }).redis.allowVolatileBuffer).toBe(true);
    // The send jobs it adds after storing wait for as many replicas as the api's writes.
    expect(parseConfig({ REDIS_WAIT_REPLICAS: '2' }).redis.waitReplicas).toBe(2);
    expect(() => parseConfig({ REDIS_WAIT_REPLICAS: 'many' })).toThrow('REDIS_WAIT_REPLICAS');
    expect(() => parseConfig({ ALLOW_VOLATILE_BUFFER: 'sometimes' })).toThrow('ALLOW_VOLATILE_BUFFER must be on or off');
  });
});

const TWILIO = {
  TWILIO_ACCOUNT_SID: `AC${'1f'.repeat(16)}`,
  TWILIO_AUTH_TOKEN: 'token',
  TWILIO_FROM: '+15017122661',
  TWILIO_WHATSAPP_FROM: 'whatsapp:+14155238886',
};

describe('parseConfig (worker): providers', () => {
  it('sends every channel through provider-sim by default, with no receipts asked for', () => {
    const { providers } = parseConfig({});
    expect(providers).toEqual({
      concurrency: 4,
      maxInFlight: 512,
      rates: { sim: null, twilio: 100, meta: 80, smtp: null },
      timeoutMs: 5000,
      channels: { sms: ['sim'], whatsapp: ['sim'], email: ['sim'] },
      publicBaseUrl: null,
      sim: { baseUrl: 'http://127.0.0.1:3002' },
      twilio: null,
      meta: null,
      smtp: null,
    });
    expect(Object.isFrozen(providers.channels.sms)).toBe(true);
  });

  it('reads failover lists in order, and Twilio only when a channel uses it', () => {
    const { providers } = parseConfig({
      ...TWILIO,
      SMS_PROVIDER: ' twilio , SIM',
      WHATSAPP_PROVIDER: 'sim,twilio',
      PUBLIC_BASE_URL: 'https://api.example.com/',
      TWILIO_BASE_URL: 'http://127.0.0.1:3002/',
    });
    expect(providers.channels).toEqual({ sms: ['twilio', 'sim'], whatsapp: ['sim', 'twilio'], email: ['sim'] });
    expect(providers.publicBaseUrl).toBe('https://api.example.com');
    expect(providers.twilio).toEqual({
      accountSid: TWILIO.TWILIO_ACCOUNT_SID,
      authToken: 'token',
      from: '+15017122661',
      whatsappFrom: 'whatsapp:+14155238886',
      baseUrl: 'http://127.0.0.1:3002',
    });
    expect(parseConfig({ SMS_PROVIDER: 'twilio', ...TWILIO, TWILIO_WHATSAPP_FROM: '' }).providers.twilio).toMatchObject({
      whatsappFrom: null,
      baseUrl: 'https://api.twilio.com',
    });
    expect(parseConfig({ ...TWILIO }).providers.twilio).toBeNull();
  });

  it("reads Meta's settings only when WHATSAPP_PROVIDER names meta", () => {
    const meta = { META_WA_TOKEN: 'EAAG-token', META_WA_PHONE_NUMBER_ID: '106540352242922' };
    expect(parseConfig({ ...meta, WHATSAPP_PROVIDER: 'twilio,meta', ...TWILIO }).providers.meta).toEqual({
      token: 'EAAG-token',
      phoneNumberId: '106540352242922',
      graphBaseUrl: 'https://graph.facebook.com/v21.0',
    });
    expect(
      parseConfig({ ...meta, WHATSAPP_PROVIDER: 'meta', META_GRAPH_BASE_URL: 'http://127.0.0.1:3002/v21.0/' }).providers.meta,
    ).toMatchObject({
      graphBaseUrl: 'http://127.0.0.1:3002/v21.0',
    });
    expect(parseConfig({ ...meta }).providers.meta).toBeNull();
  });

  it.each([
    [{ WHATSAPP_PROVIDER: 'meta', META_WA_PHONE_NUMBER_ID: '1065' }, 'META_WA_TOKEN is required: WHATSAPP_PROVIDER names meta'],
    [{ WHATSAPP_PROVIDER: 'sim,meta', META_WA_TOKEN: 't' }, 'META_WA_PHONE_NUMBER_ID is required: WHATSAPP_PROVIDER names meta'],
    [
      { WHATSAPP_PROVIDER: 'meta', META_WA_TOKEN: 't', META_WA_PHONE_NUMBER_ID: '+1 555 0100' },
      'META_WA_PHONE_NUMBER_ID must be the phone number ID from WhatsApp Manager (digits), got "+1 555 0100"',
    ],
    [
      { WHATSAPP_PROVIDER: 'meta', META_WA_TOKEN: 't', META_WA_PHONE_NUMBER_ID: '1065', META_GRAPH_BASE_URL: 'graph.facebook.com' },
      'META_GRAPH_BASE_URL must be a URL',
    ],
  ])('stops at start when meta is chosen and its settings are missing or wrong: %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });

  it.each([
    [{ SMS_PROVIDER: 'meta' }, 'SMS_PROVIDER must be a comma-separated list of sim, twilio: meta does not send sms'],
    [{ EMAIL_PROVIDER: 'twilio' }, 'EMAIL_PROVIDER must be a comma-separated list of sim, smtp: twilio does not send email'],
    [{ WHATSAPP_PROVIDER: 'smtp' }, 'WHATSAPP_PROVIDER must be a comma-separated list of sim, twilio, meta: smtp does not send whatsapp'],
    [{ SMS_PROVIDER: 'sim,,twilio' }, 'SMS_PROVIDER must be a comma-separated list of sim, twilio, got "sim,,twilio"'],
    [{ SMS_PROVIDER: 'sim,twilio,sim', ...TWILIO }, 'SMS_PROVIDER names sim twice'],
    [{ SMS_PROVIDER: 'twilio', ...TWILIO, TWILIO_ACCOUNT_SID: '' }, 'TWILIO_ACCOUNT_SID is required: SMS_PROVIDER names twilio'],
    [
      { SMS_PROVIDER: 'twilio', WHATSAPP_PROVIDER: 'twilio', ...TWILIO, TWILIO_AUTH_TOKEN: '' },
      'TWILIO_AUTH_TOKEN is required: SMS_PROVIDER and WHATSAPP_PROVIDER name twilio',
    ],
    [{ SMS_PROVIDER: 'twilio', ...TWILIO, TWILIO_FROM: '' }, 'TWILIO_FROM is required: SMS_PROVIDER names twilio'],
    [
      { WHATSAPP_PROVIDER: 'twilio', ...TWILIO, TWILIO_WHATSAPP_FROM: '' },
      'TWILIO_WHATSAPP_FROM is required: WHATSAPP_PROVIDER names twilio',
    ],
    [{ SMS_PROVIDER: 'twilio', ...TWILIO, TWILIO_ACCOUNT_SID: 'token-by-mistake' }, 'TWILIO_ACCOUNT_SID must be an Account SID'],
    [{ SMS_PROVIDER: 'twilio', ...TWILIO, TWILIO_BASE_URL: 'ftp://x' }, 'TWILIO_BASE_URL must use http: or https:'],
    [{ PUBLIC_BASE_URL: 'api.example.com' }, 'PUBLIC_BASE_URL must be a URL'],
  ])('stops at start, naming the variable, for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});

describe('parseConfig (worker): scheduling', () => {
  it('polls for due scheduled messages every 200 ms unless SCHEDULE_POLL_MS says otherwise', () => {
    expect(parseConfig({}).scheduling).toEqual({ pollMs: 200 });
    expect(parseConfig({ SCHEDULE_POLL_MS: '50' }).scheduling.pollMs).toBe(50);
    expect(() => parseConfig({ SCHEDULE_POLL_MS: '5' })).toThrow('SCHEDULE_POLL_MS must be from 10 to 60000, got 5');
    expect(() => parseConfig({ SCHEDULE_POLL_MS: 'soon' })).toThrow('SCHEDULE_POLL_MS must be an integer, got "soon"');
  });
});
