import { describe, expect, it } from 'vitest';
import { classifySmtpFailure } from './smtp-errors.ts';

/** An error shaped as nodemailer's (https://nodemailer.com/errors). */
function smtpError(code: string, response?: string, command?: string) {
  const error = Object.assign(new Error(response === undefined ? code : `failed: ${response}`), { code });
  if (response === undefined) return error;
  return Object.assign(error, { response, responseCode: Number(response.slice(0, 3)), command });
}

describe('classifySmtpFailure', () => {
  it.each([
    ['EENVELOPE', '550 5.1.1 <nobody@example.com>: no such user', 'RCPT TO', 'REJECTED'],
    ['EENVELOPE', '553 5.1.3 mailbox name not allowed', 'RCPT TO', 'REJECTED'],
    ['EMESSAGE', '554 5.6.0 transaction failed', 'DATA', 'REJECTED'],
    ['EMESSAGE', '552 5.3.4 message too big', 'DATA', 'REJECTED'],
    ['EENVELOPE', '552 5.3.4 message size exceeds fixed maximum', 'MAIL FROM', 'REJECTED'],
    ['EPROTOCOL', '421 4.4.2 too many connections', 'CONN', 'UNAVAILABLE'],
    ['EENVELOPE', '421 4.4.2 shutting down', 'MAIL FROM', 'UNAVAILABLE'],
    ['EMESSAGE', '421 4.4.2 closing transmission channel', 'DATA', 'UNAVAILABLE'],
    ['EENVELOPE', '450 4.2.1 receiving mail at a rate that prevents additional messages', 'RCPT TO', 'RATE_LIMITED'],
    ['EMESSAGE', '451 4.3.0 local error in processing', 'DATA', 'RATE_LIMITED'],
    ['EMESSAGE', '452 4.3.1 insufficient system storage', 'DATA', 'RATE_LIMITED'],
    ['EENVELOPE', '503 5.5.1 bad sequence of commands', 'RCPT TO', 'UNAVAILABLE'],
    ['EPROTOCOL', '554 5.7.1 no SMTP service for you', 'CONN', 'UNAVAILABLE'],
  ])('%s %s after %s is %s', (code, response, command, expected) => {
    const { error, check } = classifySmtpFailure(smtpError(code, response, command));
    expect([error.code, check]).toEqual([expected, null]);
    expect(error.message).toContain(response);
  });

  it('names SMTP_URL’s credentials when the server refuses them or wants them', () => {
    for (const failure of [
      smtpError('EAUTH', '535 5.7.8 Authentication credentials invalid', 'AUTH PLAIN'),
      smtpError('ENOAUTH'),
      smtpError('EENVELOPE', '530 5.7.0 Authentication required', 'MAIL FROM'),
    ]) {
      const { error, check } = classifySmtpFailure(failure);
      expect([error.code, check]).toEqual(['UNAVAILABLE', "SMTP_URL's user and password"]);
    }
    // 454: the server cannot check credentials right now, they are not wrong.
    expect(classifySmtpFailure(smtpError('EAUTH', '454 4.7.0 Temporary authentication failure', 'AUTH PLAIN')).check).toBeNull();
  });

  it('names EMAIL_FROM when the server refuses our sender', () => {
    const { error, check } = classifySmtpFailure(smtpError('EENVELOPE', '553 5.7.1 sender not owned by user', 'MAIL FROM'));
    expect([error.code, check]).toEqual(['UNAVAILABLE', 'EMAIL_FROM']);
  });

  it('reads failures without a reply from their code', () => {
    const kinds = ['ETIMEDOUT', 'ECONNECTION', 'ESOCKET', 'EDNS', 'ETLS', 'EENVELOPE', 'EMESSAGE'].map(
      (code) => classifySmtpFailure(smtpError(code)).error.code,
    );
    expect(kinds).toEqual(['TIMEOUT', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'REJECTED', 'REJECTED']);
    expect(classifySmtpFailure(new Error('Connection pool was closed')).error.code).toBe('UNAVAILABLE');
  });

  it('keeps nodemailer’s error as the cause', () => {
    const failure = smtpError('ECONNECTION');
    expect(classifySmtpFailure(failure).error.cause).toBe(failure);
  });
});
