import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { send, startApp, type AppProcess } from '@esh3ar/stack';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderAdapter, SendRequest } from './adapter.ts';
import { createSmtpAdapter, type SmtpSettings } from './smtp.ts';

// The SMTP adapter against provider-sim's SMTP server (a process: one app does not import
// another's code), and against local TCP servers for what the sim does not do.
const USER = 'adapter-test';
const PASS = 'adapter-test-pass';

let sim: AppProcess;
let smtpPort: number;
let adapter: ProviderAdapter;
const logs: Record<string, unknown>[] = [];
const servers: Server[] = [];

const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
const settings = (over: Partial<SmtpSettings> = {}): SmtpSettings => ({
  host: '127.0.0.1',
  port: smtpPort,
  secure: false,
  auth: { user: USER, pass: PASS },
  from: 'Esh3ar <noreply@esh3ar.example>',
  messageIdDomain: 'esh3ar.example',
  ...over,
});
const adapterFor = (over: Partial<SmtpSettings> = {}, connections = 1) => createSmtpAdapter(settings(over), { connections, logger });

function request(over: Partial<SendRequest['message']> = {}): SendRequest {
  const { id, tenantId, priority, acceptedAt } = sampleBufferedMessage();
  const message = {
    id,
    tenantId,
    priority,
    acceptedAt,
    recipient: 'user@example.com',
    subject: 'رمز التحقق',
    content: 'رمزك هو 1234',
    ...over,
  };
  return { channel: 'email', message, validityPeriodSeconds: 600 };
}
const control = (change: Record<string, unknown>) => send(sim.url, null, 'PUT', '/control', { channel: 'email', ...change });
const received = async () => (await send(sim.url, null, 'GET', '/received?channel=email')).body.items as Record<string, unknown>[];
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('the send succeeded'),
    (error: unknown) => error as { code: string; message: string },
  );

/** A local TCP server for the test's lifetime, and its port. */
async function listen(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer(onConnection);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

beforeAll(async () => {
  sim = await startApp('provider-sim', {
    PROVIDER_SIM_PORT: '0',
    PROVIDER_SIM_SMTP_PORT: '0',
    PROVIDER_SIM_SMTP_USER: USER,
    PROVIDER_SIM_SMTP_PASS: PASS,
  });
  smtpPort = Number((await sim.waitForLog((l) => l.msg === 'provider-sim listening')).smtpPort);
  adapter = adapterFor({}, 4);
});

afterAll(async () => {
  await adapter?.close();
  await sim?.stop();
  for (const server of servers) server.close();
});

beforeEach(async () => {
  await send(sim.url, null, 'DELETE', '/control');
  await send(sim.url, null, 'DELETE', '/received');
  logs.length = 0;
});

describe('the smtp adapter', () => {
  it('sends the subject, the UTF-8 text and our Message-ID, which is the provider message id', async () => {
    const email = request({ subject: 'رمز التحقق — Esh3ar', content: 'مرحبا 👋\nرمزك هو 1234، صالح لمدة 10 دقائق.' });
    const { providerMessageId } = await adapter.send(email, AbortSignal.timeout(5000));
    expect(providerMessageId).toBe(`<${email.message.id}@esh3ar.example>`);
    expect(await received()).toEqual([
      expect.objectContaining({
        id: providerMessageId,
        channel: 'email',
        to: 'user@example.com',
        subject: email.message.subject,
        text: email.message.content,
      }),
    ]);
  });

  it('a recipient the server does not know (550 to RCPT TO) is REJECTED, with its reply', async () => {
    const error = await failure(adapter.send(request({ recipient: 'nobody@nowhere.invalid' }), AbortSignal.timeout(5000)));
    expect(error.code).toBe('REJECTED');
    expect(error.message).toMatch(/^smtp refused the message \(550, RCPT TO\): 550 .*nobody@nowhere\.invalid/);
    expect(await received()).toEqual([]);
  });

  it('a server that is down (421) is UNAVAILABLE, a deferral (451, 452) RATE_LIMITED, and the pool recovers', async () => {
    await control({ down: true });
    expect((await failure(adapter.send(request(), AbortSignal.timeout(5000)))).code).toBe('UNAVAILABLE');
    for (const [errorStatus, code] of [
      [429, 'RATE_LIMITED'],
      [502, 'RATE_LIMITED'],
      [503, 'UNAVAILABLE'],
    ] as const) {
      await control({ down: false, errorRate: 1, errorStatus });
      expect((await failure(adapter.send(request(), AbortSignal.timeout(5000)))).code).toBe(code);
    }
    await control({ errorRate: 0 });
    await adapter.send(request(), AbortSignal.timeout(5000));
    expect(await received()).toHaveLength(1);
  });

  it("a wrong password is UNAVAILABLE (the account is at fault, not the message), logged to check SMTP_URL's credentials", async () => {
    const wrong = adapterFor({ auth: { user: USER, pass: 'not-the-password' } });
    try {
      const error = await failure(wrong.send(request(), AbortSignal.timeout(5000)));
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.message).toMatch(/^smtp refused our credentials \(EAUTH, AUTH (PLAIN|LOGIN)\): 535 /);
    } finally {
      await wrong.close();
    }
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 50, msg: "SMTP server refused our account: check SMTP_URL's user and password" }),
    );
    expect(await received()).toEqual([]);
  });

  it('an unreachable server is UNAVAILABLE', async () => {
    const port = await listen((socket) => socket.destroy());
    const nowhere = adapterFor({ port });
    try {
      const error = await failure(nowhere.send(request(), AbortSignal.timeout(5000)));
      expect([error.code, error.message]).toEqual(['UNAVAILABLE', expect.stringMatching(/^smtp unreachable \(ECONNECTION\)/)]);
    } finally {
      await nowhere.close();
    }
  });

  it('a server that never answers is TIMEOUT once the signal aborts, and the send settles', async () => {
    const port = await listen(() => {});
    const silent = adapterFor({ port });
    try {
      const error = await failure(silent.send(request(), AbortSignal.timeout(300)));
      expect([error.code, error.message]).toEqual(['TIMEOUT', 'smtp did not answer in time']);
    } finally {
      await silent.close();
    }
  });

  it('no answer to DATA in time is TIMEOUT (and the server may have taken it); the next send opens a new connection', async () => {
    await control({ latencyMs: 10_000 });
    expect((await failure(adapter.send(request(), AbortSignal.timeout(300)))).code).toBe('TIMEOUT');
    expect(await received()).toHaveLength(1);
    await control({ latencyMs: 0 });
    await adapter.send(request(), AbortSignal.timeout(5000));
    expect(await received()).toHaveLength(2);
  });

  it('sends many messages over its pooled connections: one for sends in turn, at most `connections` at once', async () => {
    // A TCP relay in front of the sim counts the connections the adapter opens.
    let opened = 0;
    const port = await listen((client) => {
      opened += 1;
      const upstream = connect(smtpPort, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    const pooled = adapterFor({ port }, 2);
    try {
      for (let i = 0; i < 3; i++) await pooled.send(request(), AbortSignal.timeout(5000));
      expect(opened).toBe(1);
      await Promise.all(Array.from({ length: 6 }, () => pooled.send(request(), AbortSignal.timeout(5000))));
      expect(opened).toBeLessThanOrEqual(2);
    } finally {
      await pooled.close();
    }
    expect(await received()).toHaveLength(9);
  });
});
