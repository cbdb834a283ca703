import { sampleBufferedMessage, type SendMessage } from '@esh3ar/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { twilioMessageForm, twilioStatusCallbackUrl, VALIDITY_PERIOD_MAX_SECONDS, type TwilioSettings } from './twilio.ts';
import { classifyTwilioFailure } from './twilio-errors.ts';

const SETTINGS: TwilioSettings = {
  accountSid: `AC${'1f'.repeat(16)}`,
  authToken: 'token',
  from: '+15017122661',
  whatsappFrom: '+14155238886',
  baseUrl: 'https://api.twilio.com',
};
const SERVICE = `MG${'2e'.repeat(16)}`;
const CALLBACK = twilioStatusCallbackUrl('https://api.example.com/');

function message(): SendMessage {
  const { id, tenantId, recipient, subject, content, priority, acceptedAt } = sampleBufferedMessage({ content: 'Your code is 1234' });
  return { id, tenantId, recipient, subject, content, priority, acceptedAt };
}

const form = (
  settings: Partial<TwilioSettings>,
  channel: 'sms' | 'whatsapp',
  validity: number | null,
  callback: string | null = CALLBACK,
) =>
  Object.fromEntries(
    twilioMessageForm({ ...SETTINGS, ...settings }, callback, { channel, message: message(), validityPeriodSeconds: validity }),
  );

describe('twilioMessageForm', () => {
  it('sends SMS From the number, WhatsApp with whatsapp: on both addresses, and the receipt route as StatusCallback', () => {
    expect(form({}, 'sms', 600)).toEqual({
      To: '+966501234567',
      From: '+15017122661',
      Body: 'Your code is 1234',
      ValidityPeriod: '600',
      StatusCallback: 'https://api.example.com/v1/providers/twilio/status',
    });
    expect(form({ whatsappFrom: 'whatsapp:+14155238886' }, 'whatsapp', null, null)).toEqual({
      To: 'whatsapp:+966501234567',
      From: 'whatsapp:+14155238886',
      Body: 'Your code is 1234',
    });
  });

  it('sends a Messaging Service SID as MessagingServiceSid, not From', () => {
    expect(form({ from: SERVICE }, 'sms', null)).toMatchObject({ MessagingServiceSid: SERVICE });
    expect(form({ from: SERVICE }, 'sms', null)).not.toHaveProperty('From');
    expect(form({ whatsappFrom: SERVICE }, 'whatsapp', null)).toMatchObject({ To: 'whatsapp:+966501234567', MessagingServiceSid: SERVICE });
    // An alphanumeric sender id that merely starts with MG is a sender, not a service.
    expect(form({ from: 'MGShop' }, 'sms', null)).toMatchObject({ From: 'MGShop' });
  });

  it("gives what is left of the TTL as ValidityPeriod, within Twilio's 1 to 36000 s", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 1e7, noNaN: true }), (left) => {
        const period = Number(form({}, 'sms', left).ValidityPeriod);
        expect(Number.isInteger(period)).toBe(true);
        expect(period).toBe(Math.min(Math.max(Math.ceil(left), 1), VALIDITY_PERIOD_MAX_SECONDS));
      }),
    );
    expect(form({}, 'sms', 100_000).ValidityPeriod).toBe('36000');
    expect(form({}, 'sms', null)).not.toHaveProperty('ValidityPeriod');
  });
});

describe('classifyTwilioFailure', () => {
  const body = (code: number, status: number) => JSON.stringify({ code, message: `error ${code}`, more_info: '', status });

  it.each([
    [400, 21211, 'REJECTED'],
    [400, 21610, 'REJECTED'],
    [400, 21408, 'REJECTED'],
    [400, 21614, 'REJECTED'],
    [400, 21617, 'REJECTED'],
    [429, 20429, 'RATE_LIMITED'],
    [401, 20003, 'UNAVAILABLE'],
    [403, 20403, 'UNAVAILABLE'],
    [404, 20404, 'UNAVAILABLE'],
    [400, 21212, 'UNAVAILABLE'],
    [400, 21606, 'UNAVAILABLE'],
    [400, 63007, 'UNAVAILABLE'],
    [500, 20500, 'UNAVAILABLE'],
    [503, 20503, 'UNAVAILABLE'],
  ])('HTTP %i with code %i is %s', (status, code, expected) => {
    const { error } = classifyTwilioFailure(status, body(code, status), undefined);
    expect(error.code).toBe(expected);
    expect(error.message).toContain(`${status}, ${code}`);
    expect(error.message).toContain(`error ${code}`);
  });

  it('names the setting to check when our account or sender is at fault, and only then', () => {
    expect(classifyTwilioFailure(401, body(20003, 401), undefined).check).toContain('TWILIO_AUTH_TOKEN');
    expect(classifyTwilioFailure(400, body(21606, 400), undefined).check).toContain('TWILIO_FROM');
    expect(classifyTwilioFailure(401, 'Unauthorized', undefined).check).toContain('TWILIO_AUTH_TOKEN');
    expect(classifyTwilioFailure(404, '<html>', undefined).check).toContain('TWILIO_BASE_URL');
    expect(classifyTwilioFailure(400, body(21211, 400), undefined).check).toBeNull();
    expect(classifyTwilioFailure(503, body(20503, 503), undefined).check).toBeNull();
  });

  it('honours Retry-After on a 429, and reads a body that is not JSON as the reason', () => {
    const limited = classifyTwilioFailure(429, body(20429, 429), '7').error;
    expect([limited.code, limited.retryAfterMs]).toEqual(['RATE_LIMITED', 7000]);
    expect(classifyTwilioFailure(429, body(20429, 429), undefined).error.retryAfterMs).toBeUndefined();
    const gateway = classifyTwilioFailure(502, 'Bad Gateway', undefined).error;
    expect([gateway.code, gateway.message]).toEqual(['UNAVAILABLE', 'twilio answered 502: Bad Gateway']);
  });
});
