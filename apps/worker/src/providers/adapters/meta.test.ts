import { sampleBufferedMessage } from '@esh3ar/contracts';
import { describe, expect, it } from 'vitest';
import type { SendRequest } from './adapter.ts';
import { metaMessageBody } from './meta.ts';
import { classifyMetaFailure, RATE_LIMIT_WAIT_MS } from './meta-errors.ts';

function message(): SendRequest['message'] {
  const { id, tenantId, recipient, subject, content, priority, acceptedAt } = sampleBufferedMessage({ content: 'Your code is 1234' });
  return { id, tenantId, recipient, subject, content, priority, acceptedAt };
}

/** An error body as the Graph API answers it, with the code's title in `message` as "(#code) title". */
const graphError = (code: number, title: string, details = `details of ${code}`, subcode?: number) =>
  JSON.stringify({
    error: {
      message: `(#${code}) ${title}`,
      type: 'OAuthException',
      code,
      error_data: { messaging_product: 'whatsapp', details },
      ...(subcode === undefined ? {} : { error_subcode: subcode }),
      fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
    },
  });

describe('metaMessageBody', () => {
  it('sends a text message to the E.164 recipient, plus sign kept, and nothing about the TTL', () => {
    expect(JSON.parse(metaMessageBody({ channel: 'whatsapp', message: message(), validityPeriodSeconds: 600 }))).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+966501234567',
      type: 'text',
      text: { body: 'Your code is 1234' },
    });
  });

  it('refuses a channel other than whatsapp (create-adapters only lists meta for it)', () => {
    expect(() => metaMessageBody({ channel: 'sms', message: message(), validityPeriodSeconds: null })).toThrow(
      'meta sends whatsapp, not sms',
    );
  });
});

describe('classifyMetaFailure', () => {
  it.each([
    [400, 131026, 'Message Undeliverable', 'REJECTED'],
    [400, 100, 'Invalid parameter', 'REJECTED'],
    [400, 131051, 'Unsupported message type', 'REJECTED'],
    [400, 131047, 'Re-engagement message', 'REJECTED'],
    [400, 131021, 'Recipient cannot be sender', 'REJECTED'],
    [400, 130429, 'Rate limit hit', 'RATE_LIMITED'],
    [429, 131056, '(Business Account, Consumer Account) pair rate limit hit', 'RATE_LIMITED'],
    [400, 131048, 'Spam rate limit hit', 'RATE_LIMITED'],
    [400, 80007, 'Rate limit issues', 'RATE_LIMITED'],
    [429, 4, 'Application request limit reached', 'RATE_LIMITED'],
    [401, 190, 'Access token has expired', 'UNAVAILABLE'],
    [401, 0, 'AuthException', 'UNAVAILABLE'],
    [403, 10, 'Permission Denied', 'UNAVAILABLE'],
    [403, 200, 'Permissions error', 'UNAVAILABLE'],
    [400, 133010, 'Account not registered', 'UNAVAILABLE'],
    [400, 131031, 'Business Account locked', 'UNAVAILABLE'],
    [500, 131000, 'Something went wrong', 'UNAVAILABLE'],
    [400, 1, 'An unknown error occurred', 'UNAVAILABLE'],
    [503, 2, 'Service temporarily unavailable', 'UNAVAILABLE'],
    [503, 131016, 'Service unavailable', 'UNAVAILABLE'],
  ])('HTTP %i with code %i (%s) is %s', (status, code, title, expected) => {
    const { error } = classifyMetaFailure(status, graphError(code, title));
    expect(error.code).toBe(expected);
    expect(error.message).toContain(`${status}, ${code}`);
    expect(error.message).toContain(`${title}: details of ${code}`);
  });

  it("waits each rate limit's own window, Meta sending no Retry-After", () => {
    for (const [code, wait] of RATE_LIMIT_WAIT_MS)
      expect(classifyMetaFailure(400, graphError(code, 'limit')).error.retryAfterMs).toBe(wait);
    expect(RATE_LIMIT_WAIT_MS.get(131056)).toBe(6000);
    const codeless = classifyMetaFailure(429, 'Too Many Requests').error;
    expect([codeless.code, codeless.retryAfterMs]).toEqual(['RATE_LIMITED', undefined]);
  });

  it('refuses a message outside the 24-hour customer-service window saying a template would be needed', () => {
    const { error } = classifyMetaFailure(400, graphError(131047, 'Re-engagement message'));
    expect(error.message).toMatch(
      /^meta refused the message \(400, 131047\): more than 24 hours since the recipient last wrote: .*template/,
    );
  });

  it('names the setting to check when our token, phone number ID or account is at fault, and only then', () => {
    const check = (status: number, text: string) => classifyMetaFailure(status, text).check;
    expect(check(401, graphError(190, 'Invalid OAuth access token - Cannot parse access token'))).toBe('META_WA_TOKEN');
    expect(check(403, graphError(230, 'Permissions error'))).toContain('META_WA_TOKEN');
    // A phone number ID that does not exist (or the token cannot see): Graph's code 100 with subcode 33.
    expect(check(400, graphError(100, 'Unsupported post request. Object with ID does not exist', '', 33))).toBe('META_WA_PHONE_NUMBER_ID');
    expect(check(400, graphError(133010, 'Account not registered'))).toContain('META_WA_PHONE_NUMBER_ID');
    expect(check(401, 'Unauthorized')).toBe('META_WA_TOKEN');
    expect(check(404, '<html>Not Found</html>')).toContain('META_GRAPH_BASE_URL');
    expect(check(301, '')).toBe('META_GRAPH_BASE_URL');
    expect(check(400, graphError(100, 'Invalid parameter'))).toBeNull();
    expect(check(400, graphError(131026, 'Message Undeliverable'))).toBeNull();
    expect(check(500, graphError(131000, 'Something went wrong'))).toBeNull();
  });

  it('reads a body that is not JSON, or a Graph error without details, as the reason', () => {
    const gateway = classifyMetaFailure(502, 'Bad Gateway').error;
    expect([gateway.code, gateway.message]).toEqual(['UNAVAILABLE', 'meta answered 502: Bad Gateway']);
    const bare = classifyMetaFailure(
      400,
      JSON.stringify({ error: { message: '(#131009) Parameter value is not valid', code: 131009 } }),
    ).error;
    expect([bare.code, bare.message]).toEqual(['REJECTED', 'meta refused the message (400, 131009): Parameter value is not valid']);
  });
});
