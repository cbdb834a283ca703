import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, EndpointBreakers, TaskCancelledError } from './endpoint-breakers.ts';
import { WebhookError } from './post-webhook.ts';

const refuse = async () => {
  throw new WebhookError('STATUS', 'the endpoint answered 500');
};

describe('EndpointBreakers', () => {
  it('opens after 5 failures in a row for that endpoint only, and then does not call it', async () => {
    const breakers = new EndpointBreakers(1000);
    for (let i = 0; i < 5; i++) await expect(breakers.execute('a', 'http://a.example', refuse)).rejects.toBeInstanceOf(WebhookError);
    let called = false;
    const call = async () => {
      called = true;
    };
    await expect(breakers.execute('a', 'http://a.example', call)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(called).toBe(false);
    expect(breakers.openCount()).toBe(1);
    await breakers.execute('b', 'http://b.example', call);
    expect(called).toBe(true);
    // A new URL for the tenant is a new endpoint: its breaker starts closed.
    await breakers.execute('a', 'http://a2.example', call);
    expect(breakers.openCount()).toBe(0);
  });

  it('a success resets the count: failures must be consecutive', async () => {
    const breakers = new EndpointBreakers(1000);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) await expect(breakers.execute('a', 'http://a.example', refuse)).rejects.toBeInstanceOf(WebhookError);
      await breakers.execute('a', 'http://a.example', async () => undefined);
    }
    expect(breakers.openCount()).toBe(0);
  });

  it('aborts a call that outlives the timeout (the signal reaches the request), and counts it as a failure', async () => {
    const breakers = new EndpointBreakers(50);
    let aborted: Promise<void> | undefined;
    const hang = (signal: AbortSignal) => {
      aborted = new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return new Promise<void>(() => undefined);
    };
    await expect(breakers.execute('slow', 'http://slow.example', hang)).rejects.toBeInstanceOf(TaskCancelledError);
    await aborted;
    for (let i = 0; i < 4; i++)
      await expect(breakers.execute('slow', 'http://slow.example', hang)).rejects.toBeInstanceOf(TaskCancelledError);
    expect(breakers.openCount()).toBe(1);
  });
});
