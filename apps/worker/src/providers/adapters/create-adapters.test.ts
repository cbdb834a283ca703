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

  it("builds Meta's adapter for a WhatsApp failover list that names it", async () => {
    const { providers } = parseConfig({ WHATSAPP_PROVIDER: 'meta,sim', META_WA_TOKEN: 't', META_WA_PHONE_NUMBER_ID: '106540352242922' });
    const { adapters, channels } = createProviderAdapters(providers, { concurrency: 2, logger });
    try {
      expect(channels.get('whatsapp')!.map((a) => a.name)).toEqual(['meta', 'sim']);
      expect(adapters.map((a) => a.name)).toEqual(['sim', 'meta']);
    } finally {
      await Promise.all(adapters.map((a) => a.close()));
    }
  });

  it('builds the SMTP adapter for an email failover list that names it', async () => {
    const { providers } = parseConfig({
      EMAIL_PROVIDER: 'smtp,sim',
      SMTP_URL: 'smtp://u:p@127.0.0.1:2525',
      EMAIL_FROM: 'noreply@esh3ar.example',
    });
    const { adapters, channels } = createProviderAdapters(providers, { concurrency: 2, logger });
    try {
      expect(channels.get('email')!.map((a) => a.name)).toEqual(['smtp', 'sim']);
      expect(adapters.map((a) => a.name)).toEqual(['sim', 'smtp']);
    } finally {
      await Promise.all(adapters.map((a) => a.close()));
    }
  });
});
