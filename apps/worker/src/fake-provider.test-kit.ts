import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { PROVIDER_CHANNELS } from '@esh3ar/contracts';
import { DEFAULT_RUNTIME_CONFIG } from '@esh3ar/runtime';
import type pg from 'pg';
import { pino } from 'pino';
import { createSimAdapter } from './providers/adapters/sim.ts';
import { providerPolicy } from './providers/breaker-policy.ts';
import { sendProcessor } from './providers/send-processor.ts';

export type Answer = 'accept' | 'refuse' | 'unavailable';

export interface ProviderCall {
  channel: string;
  idempotencyKey: string;
  body: Record<string, unknown>;
}

/**
 * For tests of the send path: a provider speaking provider-sim's API (POST /v1/<channel>/send,
 * Idempotency-Key, `{id}` on acceptance) whose answers the test chooses, which records each
 * call, and which can hold its answers until the test lets them go (a call in progress).
 */
export class FakeProvider {
  answer: Answer = 'accept';
  readonly calls: ProviderCall[] = [];
  readonly #server: Server;
  #held: (() => void)[] | null = null;
  #waiters: ((call: ProviderCall) => void)[] = [];
  url = '';

  constructor() {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const call: ProviderCall = {
          channel: /^\/v1\/([a-z]+)\/send$/.exec(request.url ?? '')?.[1] ?? '?',
          idempotencyKey: String(request.headers['idempotency-key']),
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        };
        this.calls.push(call);
        const [status, body] =
          this.answer === 'accept'
            ? [200, { id: `fake_${call.idempotencyKey}`, status: 'accepted' }]
            : this.answer === 'refuse'
              ? [400, { error: { code: 'INVALID_RECIPIENT', message: 'no such number' } }]
              : [503, { error: { code: 'UNAVAILABLE', message: 'try later' } }];
        const answer = () => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (this.#held) this.#held.push(answer);
        else answer();
        for (const wake of this.#waiters.splice(0)) wake(call);
      });
    });
  }

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Resolves with the next call, once it has arrived (its answer may be held). */
  nextCall(): Promise<ProviderCall> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Calls from now on are answered only at release(). */
  hold(): void {
    this.#held ??= [];
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const answer of held) answer();
  }

  async stop(): Promise<void> {
    this.release();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

/**
 * The worker's send processor, in-process, calling `providerUrl`, with a retry budget of
 * `maxAttempts`. Its breakers never open: their waiting is providers.int.test.ts's subject.
 */
export function inProcessSendProcessor(pool: pg.Pool, providerUrl: string, maxAttempts: number): ReturnType<typeof sendProcessor> {
  const runtime = { ...DEFAULT_RUNTIME_CONFIG, worker: { ...DEFAULT_RUNTIME_CONFIG.worker, maxAttempts } };
  const policies = new Map(
    PROVIDER_CHANNELS.map((c) => [
      c,
      providerPolicy(c, { failureThreshold: 1_000_000, halfOpenAfterMs: 60_000, timeoutMs: 5000, maxConcurrent: 4, maxQueued: 16 }),
    ]),
  );
  const sim = createSimAdapter(providerUrl, 4);
  return sendProcessor({
    pool,
    logger: pino({ level: 'silent' }),
    providers: new Map(PROVIDER_CHANNELS.map((c) => [c, [sim]])),
    policy: (channel) => policies.get(channel)!,
    sharedOpenUntil: () => 0,
    runtime: () => runtime,
    onOutcome: () => undefined,
    callLeaseMs: 30_000,
  });
}
