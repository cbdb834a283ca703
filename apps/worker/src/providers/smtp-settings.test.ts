import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.ts';

const SMTP = { EMAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://mailer:s3cret@smtp.esh3ar.example:2525', EMAIL_FROM: 'noreply@esh3ar.example' };
const smtpOf = (env: Record<string, string>) => parseConfig(env).providers.smtp;

describe('parseConfig (worker): SMTP', () => {
  it('reads SMTP_URL and EMAIL_FROM when EMAIL_PROVIDER names smtp', () => {
    expect(smtpOf(SMTP)).toEqual({
      host: 'smtp.esh3ar.example',
      port: 2525,
      secure: false,
      auth: { user: 'mailer', pass: 's3cret' },
      from: 'noreply@esh3ar.example',
      messageIdDomain: 'esh3ar.example',
    });
    expect(parseConfig({ ...SMTP, EMAIL_PROVIDER: 'sim,smtp' }).providers.channels.email).toEqual(['sim', 'smtp']);
  });

  it('ignores them when no channel uses smtp', () => {
    expect(smtpOf({ SMTP_URL: 'not a url' })).toBeNull();
  });

  it('decodes percent-encoded credentials, defaults the port by scheme and takes a display name', () => {
    expect(
      smtpOf({ ...SMTP, SMTP_URL: 'smtps://apikey%40esh3ar:p%3Ass%25@[::1]', EMAIL_FROM: '"Esh3ar" <NoReply@Mail.Esh3ar.example>' }),
    ).toEqual({
      host: '::1',
      port: 465,
      secure: true,
      auth: { user: 'apikey@esh3ar', pass: 'p:ss%' },
      from: '"Esh3ar" <NoReply@Mail.Esh3ar.example>',
      messageIdDomain: 'mail.esh3ar.example',
    });
    expect(smtpOf({ ...SMTP, SMTP_URL: 'smtp://relay.internal' })).toMatchObject({ host: 'relay.internal', port: 587, auth: null });
  });

  it.each([
    [{ SMTP_URL: '' }, 'SMTP_URL is required: EMAIL_PROVIDER names smtp'],
    [{ EMAIL_FROM: ' ' }, 'EMAIL_FROM is required: EMAIL_PROVIDER names smtp'],
    [{ SMTP_URL: 'smtp.esh3ar.example:25' }, 'SMTP_URL must use smtp: or smtps:'],
    [{ SMTP_URL: 'https://u:p@smtp.esh3ar.example' }, 'SMTP_URL must use smtp: or smtps:, got "https:"'],
    [{ SMTP_URL: 'smtp://u:p@' }, 'SMTP_URL must be a URL like smtp://user:pass@host:port'],
    [{ SMTP_URL: 'smtp://u:p@host:99999' }, 'SMTP_URL must be a URL like'],
    [{ SMTP_URL: 'smtp://u:p@host:0' }, 'SMTP_URL must have a port from 1 to 65535'],
    [{ SMTP_URL: 'smtp://u:p@host:25/relay?secure=true' }, 'SMTP_URL must have nothing after host:port'],
    [{ SMTP_URL: 'smtp://u:p%zz@host:25' }, "SMTP_URL's user or password is not valid percent-encoding"],
    [{ EMAIL_FROM: 'noreply' }, 'EMAIL_FROM must be an email address or "Name <address>", got "noreply"'],
    [{ EMAIL_FROM: 'Esh3ar <noreply>' }, 'EMAIL_FROM must be an email address'],
  ])('stops with a message naming the variable for %j', (change, message) => {
    expect(() => parseConfig({ ...SMTP, ...change })).toThrow(message);
  });

  it('never repeats SMTP_URL, which holds the password', () => {
    for (const url of ['smtp://u:s3cret@host:0', 'ftp://u:s3cret@host', 'smtp://u:s3cret@host/x']) {
      expect(() => parseConfig({ ...SMTP, SMTP_URL: url })).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining('s3cret') }),
      );
    }
  });
});
