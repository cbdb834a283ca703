import { sampleBufferedMessage } from '@esh3ar/contracts';
import MailComposer from 'nodemailer/lib/mail-composer';
import { describe, expect, it } from 'vitest';
import type { SendRequest } from './adapter.ts';
import { smtpMailOptions, type SmtpSettings } from './smtp.ts';

const settings: SmtpSettings = {
  host: 'smtp.esh3ar.example',
  port: 587,
  secure: false,
  auth: { user: 'u', pass: 'p' },
  from: 'Esh3ar <noreply@esh3ar.example>',
  messageIdDomain: 'esh3ar.example',
};

function request(over: Partial<SendRequest['message']> = {}): SendRequest {
  const { id, tenantId, subject, content, priority, acceptedAt } = sampleBufferedMessage();
  const message = { id, tenantId, recipient: 'user@example.com', subject, content, priority, acceptedAt, ...over };
  return { channel: 'email', message, validityPeriodSeconds: null };
}

/** The message as nodemailer puts it on the wire, headers unfolded. */
async function wire(options: ReturnType<typeof smtpMailOptions>) {
  const raw = (await new MailComposer(options).compile().build()).toString();
  const [head = ''] = raw.split('\r\n\r\n');
  return { raw, headers: head.replace(/\r\n[ \t]+/g, ' ') };
}

describe('smtpMailOptions', () => {
  it('writes the subject, the UTF-8 text/plain content and our Message-ID at the sender’s domain', async () => {
    const send = request({ subject: 'رمز التحقق', content: 'رمزك هو 1234' });
    const options = smtpMailOptions(settings, send);
    expect(options).toEqual({
      from: settings.from,
      to: 'user@example.com',
      subject: 'رمز التحقق',
      text: 'رمزك هو 1234',
      messageId: `<${send.message.id}@esh3ar.example>`,
    });
    const { headers } = await wire(options);
    expect(headers).toContain(`Message-ID: <${send.message.id}@esh3ar.example>`);
    expect(headers).toContain('From: Esh3ar <noreply@esh3ar.example>');
    expect(headers).toContain('To: user@example.com');
    expect(headers).toMatch(/^Content-Type: text\/plain; charset=utf-8$/m);
    expect(headers).toMatch(/^Subject: =\?UTF-8\?[BQ]\?/m);
  });

  it('sends no Subject header for a message without one', async () => {
    const options = smtpMailOptions(settings, request({ subject: null }));
    expect(options).not.toHaveProperty('subject');
    expect((await wire(options)).headers).not.toMatch(/^Subject:/m);
  });

  it('refuses a channel other than email', () => {
    expect(() => smtpMailOptions(settings, { ...request(), channel: 'sms' })).toThrow('smtp sends email, not sms');
  });
});
