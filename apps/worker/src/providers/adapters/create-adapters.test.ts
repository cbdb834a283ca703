import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config.ts';
import { createProviderAdapters } from './create-adapters.ts';

const TWILIO = {
  TWILIO_ACCOUNT_SID: `AC${'1f'.repeat(16)}`,
  TWILIO_AUTH_TOKEN: 't',
  TWILIO_FROM: '+15017122661',
  TWILIO_WHATSAPP_FROM: '+14155238886',
};
const logger = pino({ level: 'silent' });

describe('createProviderAdapters', () => {
  it('gives each channel its providers in the configured order, one adapter per provider shared by its channels', async () => {
    const { providers } = parseConfig({ ...TWILIO, SMS_PROVIDER: 'twilio,sim', WHATSAPP_PROVIDER: 'sim,twilio' });
    const { adapters, channels } = createProviderAdapters(providers, { concurrency: 2, logger });
    try {
      expect(adapters.map((a) => a.name)).toEqual(['twilio', 'sim']);
      expect(Object.fromEntries([...channels].map(([channel, list]) => [channel, list.map((a) => a.name)]))).toEqual({
        sms: ['twilio', 'sim'],
        whatsapp: ['sim', 'twilio'],
        email: ['sim'],
      });
      expect(channels.get('sms')![0]).toBe(channels.get('whatsapp')![1]);
    } finally {
      await Promise.all(adapters.map((a) => a.close()));
    }
  });

  it('stops at start for a provider this version cannot send through', () => {
    const { providers } = parseConfig({ WHATSAPP_PROVIDER: 'meta' });
    expect(() => createProviderAdapters(providers, { concurrency: 2, logger })).toThrow(
      'the meta provider is not available in this version',
    );
  });
});
