import type { FastifyInstance } from 'fastify';
import nodemailer, { type NodemailerError, type SendMailOptions } from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, type AppDeps } from '../app.ts';
import { readReceiptOutcomes } from '../twilio/receipt-outcomes.ts';

// provider-sim's SMTP server in-process, spoken to by nodemailer, the client the worker uses.
const USER = 'sim-user';
const PASS = 'sim-pass';
const TO = 'user@example.com';

let app: FastifyInstance;
let ids = 0;

const deps = (): AppDeps => ({
  logger: pino({ level: 'silent' }),
  registry: new Registry(),
  limits: { maxItems: 1000, maxChars: 1_000_000 },
  random: () => 0,
  twilio: { accountSid: `AC${'1f'.repeat(16)}`, authToken: 'token' },
  meta: { token: 'meta-token', appSecret: 'meta-secret', webhookUrl: null },
  receipts: { delayMs: 0, outcomes: readReceiptOutcomes({}, 'OUTCOMES') },
  smtp: { host: '127.0.0.1', port: 0, user: USER, pass: PASS },
});

const transport = (options: { user?: string; pass?: string } = {}) =>
  nodemailer.createTransport({
    host: '127.0.0.1',
    port: app.smtpPort()!,
    secure: false,
    auth: { user: options.user ?? USER, pass: options.pass ?? PASS },
  });
const mail = (over: Partial<SendMailOptions> = {}): SendMailOptions => ({
  from: 'Esh3ar <noreply@esh3ar.example>',
  to: TO,
  subject: 'رمز التحقق',
  text: 'رمزك هو 1234 — صالح لمدة 10 دقائق',
  messageId: `<test-${++ids}@esh3ar.example>`,
  ...over,
});
/** Sends with a transport of its own, closed afterwards. */
async function sendOnce(message: SendMailOptions, auth: { user?: string; pass?: string } = {}) {
  const client = transport(auth);
  try {
    return await client.sendMail(message);
  } finally {
    client.close();
  }
}
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('the send succeeded'),
    (error: unknown) => error as NodemailerError,
  );
const control = (change: Record<string, unknown>) =>
  app.inject({ method: 'PUT', url: '/control', payload: { channel: 'email', ...change } });
const items = async () => (await app.inject({ method: 'GET', url: '/received' })).json().items as Record<string, unknown>[];
const stats = async () => (await app.inject({ method: 'GET', url: '/stats' })).json().email as Record<string, number>;
/** What `during` adds to the email channel's counters (they are never reset). */
async function counted(during: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await stats();
  await during();
  const after = await stats();
  return Object.fromEntries(Object.entries(after).map(([name, value]) => [name, value - (before[name] ?? 0)]));
}
const NONE = { accepted: 0, duplicates: 0, rejected: 0, failedInjected: 0, dropped: 0 };

beforeAll(async () => {
  app = await buildApp(deps());
  await app.ready();
});
afterAll(async () => app?.close());
beforeEach(async () => {
  await app.inject({ method: 'DELETE', url: '/control' });
  await app.inject({ method: 'DELETE', url: '/received' });
});

describe("provider-sim's SMTP server", () => {
  it('listens on a free port when asked for port 0, and reports it', () => {
    expect(app.smtpPort()).toBeGreaterThan(0);
  });

  it('takes a message after AUTH and records its recipient, subject, UTF-8 text and Message-ID', async () => {
    const message = mail();
    let response = '';
    const added = await counted(async () => ({ response } = await sendOnce(message)));
    expect(response).toMatch(/^250 /);
    expect(response).toContain(`OK: queued as ${message.messageId}`);
    expect(added).toEqual({ ...NONE, accepted: 1 });
    expect(await items()).toEqual([
      {
        id: message.messageId,
        channel: 'email',
        to: TO,
        text: message.text,
        subject: message.subject,
        idempotencyKey: message.messageId,
        receivedAt: expect.any(String),
      },
    ]);
  });

  it('records a Message-ID once: a repeat is answered 250 and counted as a duplicate', async () => {
    const message = mail();
    const added = await counted(async () => {
      await sendOnce(message);
      expect((await sendOnce({ ...message, text: 'again' })).response).toMatch(/^250 .*was accepted before$/);
    });
    expect((await items()).map((i) => i.text)).toEqual([message.text]);
    expect(added).toEqual({ ...NONE, accepted: 1, duplicates: 1 });
  });

  it('keeps a message without a subject as subject null', async () => {
    await sendOnce(mail({ subject: undefined }));
    expect((await items()).map((i) => i.subject)).toEqual([null]);
  });

  it('refuses wrong credentials with 535, and MAIL FROM without AUTH with 530', async () => {
    const added = await counted(async () => {
      const wrong = await failure(sendOnce(mail(), { pass: 'not-the-password' }));
      expect([wrong.code, wrong.responseCode]).toEqual(['EAUTH', 535]);
    });
    expect(added).toEqual({ ...NONE, rejected: 1 });
    const anonymous = nodemailer.createTransport({ host: '127.0.0.1', port: app.smtpPort()!, secure: false });
    try {
      const error = await failure(anonymous.sendMail(mail()));
      expect([error.responseCode, error.command]).toEqual([530, 'MAIL FROM']);
    } finally {
      anonymous.close();
    }
    expect(await items()).toEqual([]);
  });

  it.each(['nobody@nowhere.invalid', 'NOBODY@Nowhere.INVALID', 'user@localhost'])('answers 550 to RCPT TO %s', async (to) => {
    const added = await counted(async () => {
      const error = await failure(sendOnce(mail({ to })));
      expect([error.code, error.responseCode, error.command]).toEqual(['EENVELOPE', 550, 'RCPT TO']);
    });
    expect(added).toEqual({ ...NONE, rejected: 1 });
    expect(await items()).toEqual([]);
  });

  it('answers 421 at the greeting while email is down, and to MAIL FROM on a connection opened before', async () => {
    // One connection by hand: nodemailer's pool would retry a 421 to MAIL FROM on a new connection.
    const connection = new SMTPConnection({ host: '127.0.0.1', port: app.smtpPort()!, secure: false });
    const step = (run: (done: (error: Error | null) => void) => void) =>
      new Promise<void>((resolve, reject) => run((error) => (error ? reject(error) : resolve())));
    try {
      await step((done) => connection.connect(() => done(null)));
      await step((done) => connection.login({ user: USER, pass: PASS }, (error) => done(error ?? null)));
      const added = await counted(async () => {
        await control({ down: true });
        const onOpen = await failure(step((done) => connection.send({ from: 'a@esh3ar.example', to: [TO] }, 'Subject: x\r\n\r\nx', done)));
        expect([onOpen.responseCode, onOpen.command]).toEqual([421, 'MAIL FROM']);
        const fresh = await failure(sendOnce(mail()));
        expect([fresh.responseCode, fresh.command]).toEqual([421, 'CONN']);
      });
      expect(added).toEqual({ ...NONE, failedInjected: 2 });
    } finally {
      connection.close();
    }
    expect(await items()).toEqual([]);
  });

  it.each([
    [429, 451],
    [500, 451],
    [502, 452],
    [503, 421],
    [504, 451],
  ])('answers DATA with the reply standing in for an injected %i: %i, recording nothing', async (errorStatus, reply) => {
    await control({ errorRate: 1, errorStatus });
    const added = await counted(async () => {
      const error = await failure(sendOnce(mail()));
      expect([error.responseCode, error.command]).toEqual([reply, 'DATA']);
    });
    expect(added).toEqual({ ...NONE, failedInjected: 1 });
    expect(await items()).toEqual([]);
  });

  it('delays the reply to DATA by latencyMs, with the message recorded before the wait', async () => {
    await control({ latencyMs: 300 });
    const started = Date.now();
    const info = await sendOnce(mail());
    const answered = Date.now();
    expect(info.response).toMatch(/^250 /);
    // Lower bounds only; a timer may fire a millisecond before Date.now() says so.
    expect(answered - started).toBeGreaterThanOrEqual(299);
    expect(answered - Date.parse((await items())[0]!.receivedAt as string)).toBeGreaterThanOrEqual(299);
  });

  it('closes with the app: a reply waiting out its latency is sent at once, then nothing listens', async () => {
    const own = await buildApp(deps());
    await own.ready();
    const port = own.smtpPort()!;
    await own.inject({ method: 'PUT', url: '/control', payload: { channel: 'email', latencyMs: 300_000 } });
    const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, auth: { user: USER, pass: PASS } });
    try {
      const sending = client.sendMail(mail());
      // The message is in the store once DATA has been read, before the reply's wait.
      await expect.poll(async () => (await own.inject({ method: 'GET', url: '/received' })).json().items.length).toBe(1);
      await own.close();
      expect((await sending).response).toMatch(/^250 /);
      const refused = await failure(client.sendMail(mail()));
      expect(refused.code).toMatch(/^E(CONNECTION|SOCKET)$/);
    } finally {
      client.close();
    }
  });
});
