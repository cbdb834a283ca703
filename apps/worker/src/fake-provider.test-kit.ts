import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { PROVIDER_CHANNELS, type ProviderChannel, type SendJobData } from '@esh3ar/contracts';
import { DEFAULT_RUNTIME_CONFIG } from '@esh3ar/runtime';
import type { Queue } from 'bullmq';
import type pg from 'pg';
import { pino } from 'pino';
import { createSimAdapter } from './providers/adapters/sim.ts';
import { providerPolicy } from './providers/breaker-policy.ts';
import { inFlightLimit } from './providers/in-flight.ts';
import { sendProcessor } from './providers/send-processor.ts';

/** rate_limited: 429 with a Retry-After of `retryAfterSeconds`. */
export type Answer = 'accept' | 'refuse' | 'unavailable' | 'rate_limited';

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
  /** When set, the answer to each call (else `answer`). */
  answerFor: ((call: ProviderCall) => Answer) | null = null;
  retryAfterSeconds = 2;
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
        const chosen = this.answerFor?.(call) ?? this.answer;
        const [status, body] =
          chosen === 'accept'
            ? [200, { id: `fake_${call.idempotencyKey}`, status: 'accepted' }]
            : chosen === 'refuse'
              ? [400, { error: { code: 'INVALID_RECIPIENT', message: 'no such number' } }]
              : chosen === 'rate_limited'
                ? [429, { error: { code: 'RATE_LIMITED', message: 'slow down' } }]
                : [503, { error: { code: 'UNAVAILABLE', message: 'try later' } }];
        const headers = {
          'content-type': 'application/json',
          ...(chosen === 'rate_limited' ? { 'retry-after': String(this.retryAfterSeconds) } : {}),
        };
        const answer = () => response.writeHead(status, headers).end(JSON.stringify(body));
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
 * `maxAttempts`, its later jobs added to `queues`. Its breakers never open: their waiting
 * is failover.int.test.ts's subject. No rate limit.
 */
export function inProcessSendProcessor(
  pool: pg.Pool,
  providerUrl: string,
  maxAttempts: number,
  queues: ReadonlyMap<ProviderChannel, Queue<SendJobData>>,
): ReturnType<typeof sendProcessor> {
  const runtime = { ...DEFAULT_RUNTIME_CONFIG, worker: { ...DEFAULT_RUNTIME_CONFIG.worker, maxAttempts } };
  const policies = new Map(
    PROVIDER_CHANNELS.map((c) => [c, providerPolicy(c, { failureThreshold: 1_000_000, halfOpenAfterMs: 60_000, timeoutMs: 5000 })]),
  );
  const sim = createSimAdapter(providerUrl, 4);
  return sendProcessor({
    pool,
    logger: pino({ level: 'silent' }),
    providers: new Map(PROVIDER_CHANNELS.map((c) => [c, [sim]])),
    policy: (channel) => policies.get(channel)!,
    sharedOpenUntil: () => 0,
    probeAfter: () => undefined,
    runtime: () => runtime,
    queues,
    claimed: inFlightLimit(32),
    inFlight: inFlightLimit(16),
    takeTokens: async (_provider, want) => ({ granted: want, waitMs: 0 }),
    onOutcome: () => undefined,
    leaseMs: 30_000,
    retry: { baseMs: 50, maxMs: 400 },
  });
}
