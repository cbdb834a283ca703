import { describe, expect, it } from 'vitest';
import { webhookUrlProblem } from './webhook-event.ts';

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
