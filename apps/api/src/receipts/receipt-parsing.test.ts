import { describe, expect, it } from 'vitest';
import { metaReceipts } from './meta-receipts.ts';
import { e164, providerText } from './provider-text.ts';
import { twilioCallback } from './twilio-receipt.ts';

describe('twilioCallback', () => {
  const sid = 'SM0123456789abcdef0123456789abcdef';

  it.each([
    ['delivered', 'delivered', 'delivered, reported by twilio', null],
    ['read', 'delivered', 'read, reported by twilio', null],
    ['undelivered', 'failed', 'undelivered, reported by twilio (error 30003)', 'twilio error 30003'],
    ['failed', 'failed', 'failed, reported by twilio (error 30003)', 'twilio error 30003'],
  ])('MessageStatus %s → %s', (reported, status, detail, reason) => {
    const parsed = twilioCallback({ MessageSid: sid, MessageStatus: reported, ErrorCode: '30003', To: '+966501234567' });
    expect(parsed).toEqual({ kind: 'receipt', receipt: { providerMessageId: sid, status, recipient: '+966501234567', detail, reason } });
  });

  it('names the status as the reason when Twilio gives no error code', () => {
    const parsed = twilioCallback({ MessageSid: sid, MessageStatus: 'undelivered' });
    expect(parsed).toMatchObject({
      kind: 'receipt',
      receipt: { detail: 'undelivered, reported by twilio', reason: 'twilio: undelivered', recipient: null },
    });
  });

  it.each(['queued', 'accepted', 'scheduled', 'sending', 'sent', 'partially_delivered', 'canceled', 'something_new'])(
    'MessageStatus %s moves nothing',
    (reported) => expect(twilioCallback({ MessageSid: sid, MessageStatus: reported })).toEqual({ kind: 'no_news' }),
  );

  it.each(['constructor', '__proto__', 'toString', 'valueOf'])('MessageStatus %s, an object property, moves nothing', (reported) =>
    expect(twilioCallback({ MessageSid: sid, MessageStatus: reported })).toEqual({ kind: 'no_news' }),
  );

  it.each(['SM\u0000', 'SM\u001f1', 'SM\u007f', 'SM\r\n'])('MessageSid %j, with a control character, is none of ours', (id) =>
    expect(twilioCallback({ MessageSid: id, MessageStatus: 'delivered' })).toEqual({ kind: 'not_ours' }),
  );

  it('refuses a callback without one MessageSid and one MessageStatus', () => {
    expect(twilioCallback({ MessageStatus: 'delivered' })).toMatchObject({ kind: 'invalid', field: 'MessageSid' });
    expect(twilioCallback({ MessageSid: [sid, sid], MessageStatus: 'delivered' })).toMatchObject({ kind: 'invalid', field: 'MessageSid' });
    expect(twilioCallback({ MessageSid: 'S'.repeat(257), MessageStatus: 'delivered' })).toMatchObject({
      kind: 'invalid',
      field: 'MessageSid',
    });
    expect(twilioCallback({ MessageSid: sid })).toMatchObject({ kind: 'invalid', field: 'MessageStatus' });
  });
});

describe('metaReceipts', () => {
  const status = (id: string, s: string, extra: Record<string, unknown> = {}) => ({
    id,
    status: s,
    timestamp: '1760000000',
    recipient_id: '966501234567',
    ...extra,
  });
  const payload = (...changes: unknown[][]) => ({
    object: 'whatsapp_business_account',
    entry: changes.map((statuses) => ({
      id: 'WABA',
      changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', statuses } }],
    })),
  });

  it('reads every status of every entry and change, in order', () => {
    const failed = status('wamid.C', 'failed', { errors: [{ code: 131026, title: 'Message undeliverable' }] });
    const parsed = metaReceipts(payload([status('wamid.A', 'delivered'), status('wamid.S', 'sent')], [status('wamid.B', 'read'), failed]));
    expect(parsed).toEqual({
      kind: 'statuses',
      noNews: 1,
      notOurs: 0,
      receipts: [
        {
          providerMessageId: 'wamid.A',
          status: 'delivered',
          recipient: '+966501234567',
          detail: 'delivered, reported by meta',
          reason: null,
        },
        { providerMessageId: 'wamid.B', status: 'delivered', recipient: '+966501234567', detail: 'read, reported by meta', reason: null },
        {
          providerMessageId: 'wamid.C',
          status: 'failed',
          recipient: '+966501234567',
          detail: 'failed, reported by meta (error 131026: Message undeliverable)',
          reason: 'meta error 131026: Message undeliverable',
        },
      ],
    });
  });

  it('ignores other objects and fields, and inbound messages', () => {
    expect(
      metaReceipts({ object: 'page', entry: [{ changes: [{ field: 'messages', value: { statuses: [status('x', 'read')] } }] }] }),
    ).toEqual({
      kind: 'statuses',
      receipts: [],
      noNews: 0,
      notOurs: 0,
    });
    const other = {
      object: 'whatsapp_business_account',
      entry: [
        {
          changes: [
            { field: 'account_update', value: { event: 'X' } },
            { field: 'messages', value: { messages: [{ id: 'in' }] } },
          ],
        },
      ],
    };
    expect(metaReceipts(other)).toEqual({ kind: 'statuses', receipts: [], noNews: 0, notOurs: 0 });
  });

  it('takes a status named like an object property as one that moves nothing, and an id with a control character as none of ours', () => {
    const parsed = metaReceipts(
      payload([
        status('wamid.A', 'constructor'),
        status('wamid.A', '__proto__'),
        status('wamid.\u0000A', 'delivered'),
        status('wamid.\nA', 'failed'),
        status('wamid.A', 'delivered'),
      ]),
    );
    expect(parsed).toMatchObject({
      kind: 'statuses',
      noNews: 2,
      notOurs: 2,
      receipts: [{ providerMessageId: 'wamid.A', status: 'delivered' }],
    });
  });

  it('refuses a payload that is not a webhook envelope, or statuses without id and status', () => {
    expect(metaReceipts([])).toMatchObject({ kind: 'invalid' });
    expect(metaReceipts({ object: 'whatsapp_business_account' })).toMatchObject({ kind: 'invalid' });
    expect(metaReceipts(payload([{ status: 'delivered' }]))).toMatchObject({
      kind: 'invalid',
      details: [expect.objectContaining({ path: expect.stringContaining('/entry/0/changes/0/value') })],
    });
  });
});

describe('provider text', () => {
  it('keeps what fits an event detail', () => {
    expect(providerText('a\u0000b\nc')).toBe('a b c');
    expect(providerText('x'.repeat(500))).toHaveLength(200);
  });

  it('reads E.164 from Twilio and Meta recipients', () => {
    expect(e164('+966501234567')).toBe('+966501234567');
    expect(e164('whatsapp:+966501234567')).toBe('+966501234567');
    expect(e164('966501234567')).toBe('+966501234567');
    expect(e164('not a number')).toBeNull();
    expect(e164(undefined)).toBeNull();
  });
});
