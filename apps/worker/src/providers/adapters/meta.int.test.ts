import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { sampleBufferedMessage, type ProviderChannel } from '@esh3ar/contracts';
import { send, startApp, type AppProcess } from '@esh3ar/stack';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { providerPolicy, type ProviderPolicy } from '../breaker-policy.ts';
import { chooseRoute } from '../failover.ts';
import { ProviderError, type ProviderAdapter, type SendRequest } from './adapter.ts';
import { createMetaAdapter, type MetaSettings } from './meta.ts';
import { createSimAdapter } from './sim.ts';

// The Meta adapter against provider-sim's WhatsApp Cloud API (a process: one app does not
// import another's code), with a local server standing in for the api's webhook route.
const TOKEN = 'adapter-test-meta-token';
const APP_SECRET = 'adapter-test-app-secret';
const PHONE_NUMBER_ID = '106540352242922';

interface Webhook {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  statuses: { id: string; status: string; recipient_id: string }[];
}

let sim: AppProcess;
let webhooks: Server;
let adapter: ProviderAdapter;
const logs: Record<string, unknown>[] = [];
const received: Webhook[] = [];
let waiters: (() => boolean)[] = [];

const settings = (over: Partial<MetaSettings> = {}): MetaSettings => ({
  token: TOKEN,
  phoneNumberId: PHONE_NUMBER_ID,
  graphBaseUrl: `${sim.url}/v21.0`,
  ...over,
});
const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });

function request(recipient = '+966501234567'): SendRequest {
  const { id, tenantId, subject, content, priority, acceptedAt } = sampleBufferedMessage({ content: `hello ${Math.random()}` });
  const message: SendRequest['message'] = { id, tenantId, recipient, subject, content, priority, acceptedAt };
  return { channel: 'whatsapp', message, validityPeriodSeconds: 600 };
}
const control = (change: Record<string, unknown>) => send(sim.url, null, 'PUT', '/control', change);
const items = async () => (await send(sim.url, null, 'GET', '/received')).body.items as Record<string, unknown>[];
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('the call succeeded'),
    (error: unknown) => error as { code: string; message: string; retryAfterMs?: number },
  );
/** The first `count` webhooks about message `id` (they may arrive before its send resolves). */
function webhooksFor(id: string, count: number): Promise<Webhook[]> {
  return new Promise((resolve) => {
    const check = () => {
      const about = received.filter((w) => w.statuses[0]?.id === id);
      if (about.length < count) return false;
      resolve(about.slice(0, count));
      return true;
    };
    if (!check()) waiters.push(check);
  });
}
/** An adapter other than the shared one, closed after `use`. */
async function withAdapter<T>(over: Partial<MetaSettings>, use: (other: ProviderAdapter) => Promise<T>): Promise<T> {
  const other = createMetaAdapter(settings(over), { connections: 1, logger });
  try {
    return await use(other);
  } finally {
    await other.close();
  }
}

beforeAll(async () => {
  webhooks = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.writeHead(200).end();
      const raw = Buffer.concat(chunks);
      const payload = JSON.parse(raw.toString('utf8')) as { entry: { changes: { value: { statuses: Webhook['statuses'] } }[] }[] };
      received.push({ headers: req.headers, raw, statuses: payload.entry[0]!.changes[0]!.value.statuses });
      waiters = waiters.filter((check) => !check());
    });
  });
  webhooks.listen(0, '127.0.0.1');
  await once(webhooks, 'listening');
  sim = await startApp('provider-sim', {
    PROVIDER_SIM_PORT: '0',
    PROVIDER_SIM_META_TOKEN: TOKEN,
    PROVIDER_SIM_META_APP_SECRET: APP_SECRET,
    PROVIDER_SIM_META_WEBHOOK_URL: `http://127.0.0.1:${(webhooks.address() as { port: number }).port}/v1/providers/meta/webhook`,
    PROVIDER_SIM_RECEIPT_DELAY_MS: '0',
  });
  adapter = createMetaAdapter(settings(), { connections: 4, logger });
});

afterAll(async () => {
  await adapter?.close();
  await sim?.stop();
  webhooks?.close();
});

beforeEach(async () => {
  await send(sim.url, null, 'DELETE', '/control');
  await send(sim.url, null, 'DELETE', '/received');
  logs.length = 0;
});

describe('the meta adapter', () => {
  it('sends a WhatsApp text message and answers with the wamid', async () => {
    const whatsapp = request();
    const { providerMessageId } = await adapter.send(whatsapp, AbortSignal.timeout(5000));
    expect(providerMessageId).toMatch(/^wamid\.[A-Za-z0-9+/]+=*$/);
    expect((await items()).map((i) => [i.id, i.channel, i.to, i.text])).toEqual([
      [providerMessageId, 'whatsapp', '+966501234567', whatsapp.message.content],
    ]);
  });

  it("has the message's statuses reach the webhook, signed with the app secret, naming its wamid", async () => {
    const { providerMessageId } = await adapter.send(request(), AbortSignal.timeout(5000));
    const arrived = await webhooksFor(providerMessageId, 2);
    expect(arrived.map((w) => [w.statuses[0]!.status, w.statuses[0]!.recipient_id])).toEqual([
      ['sent', '966501234567'],
      ['delivered', '966501234567'],
    ]);
    for (const w of arrived)
      expect(w.headers['x-hub-signature-256']).toBe(`sha256=${createHmac('sha256', APP_SECRET).update(w.raw).digest('hex')}`);
  });

  it('a number that is not on WhatsApp (131026) or not a number (100) is REJECTED, with Meta’s reason', async () => {
    const undeliverable = await failure(adapter.send(request('+19995550100'), AbortSignal.timeout(5000)));
    expect(undeliverable.code).toBe('REJECTED');
    expect(undeliverable.message).toMatch(/^meta refused the message \(400, 131026\): Message Undeliverable: Unable to deliver message/);
    const invalid = await failure(adapter.send(request('not-a-number'), AbortSignal.timeout(5000)));
    expect([invalid.code, invalid.message]).toEqual([
      'REJECTED',
      expect.stringMatching(/^meta refused the message \(400, 100\): Invalid parameter/),
    ]);
    expect(await items()).toEqual([]);
  });

  it('a throughput limit (130429) is RATE_LIMITED, retried after 1 s for want of a Retry-After', async () => {
    await control({ channel: 'whatsapp', errorRate: 1, errorStatus: 429 });
    const error = await failure(adapter.send(request(), AbortSignal.timeout(5000)));
    expect([error.code, error.retryAfterMs]).toEqual(['RATE_LIMITED', 1000]);
    expect(error.message).toContain('(429, 130429): Rate limit hit');
  });

  it('5xx (131000), a channel that is down (131016) and an unreachable Meta are UNAVAILABLE', async () => {
    await control({ channel: 'whatsapp', errorRate: 1, errorStatus: 500 });
    const internal = await failure(adapter.send(request(), AbortSignal.timeout(5000)));
    expect([internal.code, internal.message]).toEqual([
      'UNAVAILABLE',
      expect.stringContaining('meta answered 500, 131000: Something went wrong'),
    ]);
    await control({ channel: 'whatsapp', down: true });
    const down = await failure(adapter.send(request(), AbortSignal.timeout(5000)));
    expect([down.code, down.message]).toEqual(['UNAVAILABLE', expect.stringContaining('meta answered 503, 131016: Service unavailable')]);
    const unreachable = await withAdapter({ graphBaseUrl: 'http://127.0.0.1:9/v21.0' }, (other) =>
      failure(other.send(request(), AbortSignal.timeout(5000))),
    );
    expect([unreachable.code, unreachable.message]).toEqual(['UNAVAILABLE', expect.stringContaining('meta unreachable')]);
  });

  it('no answer before the signal aborts is TIMEOUT (and Meta may still have taken it)', async () => {
    await control({ channel: 'whatsapp', latencyMs: 10_000 });
    const error = await failure(adapter.send(request(), AbortSignal.timeout(200)));
    expect(error.code).toBe('TIMEOUT');
    expect(await items()).toHaveLength(1);
  });

  it('a wrong token (190) is UNAVAILABLE (the account is at fault, not the message), logged to check META_WA_TOKEN', async () => {
    const error = await withAdapter({ token: 'not-the-token' }, (other) => failure(other.send(request(), AbortSignal.timeout(5000))));
    expect([error.code, error.message]).toEqual([
      'UNAVAILABLE',
      'meta refused our account (401, 190): Invalid OAuth access token - Cannot parse access token',
    ]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 50, msg: 'Meta refused our account: check META_WA_TOKEN' }));
    expect(await items()).toEqual([]);
  });

  it('a phone number ID Graph does not know (100, subcode 33) is UNAVAILABLE, logged to check META_WA_PHONE_NUMBER_ID', async () => {
    const error = await withAdapter({ phoneNumberId: 'my-number' }, (other) => failure(other.send(request(), AbortSignal.timeout(5000))));
    expect([error.code, error.message]).toEqual(['UNAVAILABLE', expect.stringContaining('meta refused our account (400, 100)')]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 50, msg: 'Meta refused our account: check META_WA_PHONE_NUMBER_ID' }));
  });
});

describe('meta in a WhatsApp failover list', () => {
  const policies = () => {
    const made = new Map<string, ProviderPolicy>();
    return (_channel: ProviderChannel, provider: string) => {
      const policy = made.get(provider) ?? providerPolicy('whatsapp', { failureThreshold: 2, halfOpenAfterMs: 60_000, timeoutMs: 5000 });
      made.set(provider, policy);
      return policy;
    };
  };
  /** One message through the route chooseRoute picks, as the send processor makes it: which provider took it, and how it ended. */
  async function call(providers: ProviderAdapter[], policy: ReturnType<typeof policies>) {
    const route = chooseRoute(
      { providers: new Map([['whatsapp', providers]]), policy, sharedOpenUntil: () => 0, probeAfter: () => undefined },
      'whatsapp',
    );
    if (route.kind !== 'provider') return { kind: route.kind, provider: null, providerMessageId: null };
    const provider = route.adapter.name;
    try {
      const { providerMessageId } = await route.policy.policy.execute(({ signal }) => route.adapter.send(request(), signal));
      return { kind: 'accepted', provider, providerMessageId };
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      return { kind: 'failed', provider, providerMessageId: null };
    }
  }

  it('moves on to provider-sim once meta’s breaker opens (WHATSAPP_PROVIDER=meta,sim)', async () => {
    const simAdapter = createSimAdapter(sim.url, 1);
    const results = await withAdapter({ token: 'expired-token' }, async (meta) => {
      const policy = policies();
      const made = [];
      for (let i = 0; i < 3; i += 1) made.push(await call([meta, simAdapter], policy));
      return made;
    }).finally(() => simAdapter.close());
    expect(results.map((r) => [r.kind, r.provider])).toEqual([
      ['failed', 'meta'],
      ['failed', 'meta'],
      ['accepted', 'sim'],
    ]);
  });

  it('takes the messages when the provider before it is down (WHATSAPP_PROVIDER=sim,meta), recorded as meta', async () => {
    const nowhere = createSimAdapter('http://127.0.0.1:9', 1);
    const policy = policies();
    const results = [];
    try {
      for (let i = 0; i < 3; i += 1) results.push(await call([nowhere, adapter], policy));
    } finally {
      await nowhere.close();
    }
    expect(results.map((r) => [r.kind, r.provider])).toEqual([
      ['failed', 'sim'],
      ['failed', 'sim'],
      ['accepted', 'meta'],
    ]);
    expect(results[2]).toMatchObject({ providerMessageId: expect.stringMatching(/^wamid\./) });
  });
});
