import { describe, expect, it } from 'vitest';
import { webhookRequest, webhookTestEvent, webhookUrlProblem, type WebhookEvent } from './webhook-event.ts';

describe('webhookUrlProblem', () => {
  it.each(['https://hooks.example.com/esh3ar', 'http://127.0.0.1:8080/in?k=v#x', 'HTTPS://Example.COM', 'https://[::1]:9000/'])(
    'accepts %s',
    (url) => {
      expect(webhookUrlProblem(url)).toBeNull();
    },
  );

  it.each([
    ['', /1 to 2048/],
    ['ftp://a.example/', /http:\/\/ or https:\/\//],
    ['https:a.example', /http:\/\/ or https:\/\//],
    [' https://a.example', /http:\/\/ or https:\/\//],
    ['https://a.example/\tx', /control/],
    ['https://a.example/x y', /spaces/],
    ['https://', /http:\/\/ or https:\/\//],
    ['https://a b', /spaces/],
    ['http://exa mple.com', /spaces/],
    ['https://:80', /absolute URL/],
  ])('refuses %j', (url, message) => {
    expect(webhookUrlProblem(url)).toMatch(message);
  });

  it('refuses more than 2048 characters', () => {
    expect(webhookUrlProblem(`https://a.example/${'x'.repeat(2030)}`)).toBeNull();
    expect(webhookUrlProblem(`https://a.example/${'x'.repeat(2100)}`)).toMatch(/1 to 2048/);
  });
});

describe('webhookRequest', () => {
  const event = (id: string): WebhookEvent => ({
    id,
    type: 'message.status',
    messageId: '0199b5a6-7c1e-7000-8000-000000000001',
    status: 'sent',
    at: '2025-10-09T08:53:20.123Z',
    detail: null,
    tenant: '7c1e0000-0000-4000-8000-000000000000',
  });

  it('sends the same events again with the same webhook-id and body, and more events with another id', () => {
    const first = webhookRequest({ events: [event('41'), event('42')] });
    expect(webhookRequest({ events: [event('41'), event('42')] })).toEqual(first);
    expect(JSON.parse(first.body)).toEqual({ events: [event('41'), event('42')] });
    expect(webhookRequest({ events: [event('41'), event('42'), event('43')] }).id).not.toBe(first.id);
  });

  it('a test event: its own id and type, never one of a status event, in the same body shape', () => {
    const at = new Date('2025-10-09T08:53:20.123Z');
    const test = webhookTestEvent('7c1e0000-0000-4000-8000-000000000000', at);
    expect(test).toEqual({
      id: expect.stringMatching(/^test_[0-9a-f-]{36}$/),
      type: 'webhook.test',
      at: '2025-10-09T08:53:20.123Z',
      detail: expect.any(String),
      tenant: '7c1e0000-0000-4000-8000-000000000000',
    });
    expect(webhookTestEvent(test.tenant).id).not.toBe(test.id);
    expect(JSON.parse(webhookRequest({ events: [test] }).body)).toEqual({ events: [test] });
  });
});
