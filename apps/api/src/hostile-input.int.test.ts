import { AcceptedResponse, ERROR_STATUS, ErrorBody, LIMITS, PRIORITIES, type ErrorCode } from '@esh3ar/contracts';
import { createDatabase, createTenant } from '@esh3ar/db';
import { deletePrefix, uniquePrefix } from '@esh3ar/stack';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApp } from './in-process-app.test-kit.ts';

/*
 * "Nothing a sender can put in a request answers 500" (docs/operations.md: when PostgreSQL or Redis fails), checked on the
 * real app in-process (inject, in-process-app.test-kit.ts) against real PostgreSQL and Redis. No worker runs, so an
 * accepted message stays in the buffer and GET answers it from there: what Redis holds.
 */

let app: FastifyInstance;
let authorization: string;
/** Released in reverse order of opening, each step whatever the one before it did. */
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = uniquePrefix('hostile-input');
  const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'hostile-input');
  closers.push(
    () => db.drop(),
    () => deletePrefix(redisUrl, prefix),
  );
  // The kit turns the event-loop delay check off: the property generates its values on this loop, so it would measure the test, not the api.
  const api = await startInProcessApp({ databaseUrl: db.url, redisUrl, prefix });
  closers.push(() => api.close());
  app = api.app;
  // Limits far above what the file sends: the rate limiter would otherwise answer most of it.
  const { apiKey } = await createTenant(api.pool, { name: 'hostile input', tier: 'enterprise', rpm: 100_000_000, burst: 100_000_000 });
  authorization = `Bearer ${apiKey}`;
});

afterAll(async () => {
  const failures: unknown[] = [];
  for (const close of closers.reverse()) await close().catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw new AggregateError(failures, 'releasing the test app failed');
});

/** JSON.parse's own type (any): answers are read as the contract describes them, and checked against it. */
type Json = ReturnType<typeof JSON.parse>;

function post(url: string, body: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url, payload: body, headers: { authorization, 'content-type': 'application/json', ...headers } });
}
const postJson = (url: string, body: unknown, headers?: Record<string, string>) => post(url, JSON.stringify(body), headers);

const checkErrorBody = Compile(ErrorBody);
const checkAccepted = Compile(AcceptedResponse);
const DOCUMENTED_REFUSALS = new Set([400, 413, 415, 422, 429]);

/** A 202, or a documented refusal with the contract's error body; never 5xx. */
function expectDocumented(r: LightMyRequestResponse): Json {
  const body: Json = JSON.parse(r.body);
  if (r.statusCode === 202) return body;
  expect(DOCUMENTED_REFUSALS.has(r.statusCode), `${r.statusCode} ${r.body.slice(0, 500)}`).toBe(true);
  expect(checkErrorBody.Check(body), r.body.slice(0, 500)).toBe(true);
  expect(ERROR_STATUS[body.error.code as ErrorCode]).toBe(r.statusCode);
  if (body.error.code === 'VALIDATION_FAILED') expect(body.error.details.length).toBeGreaterThan(0);
  return body;
}

/** Text PostgreSQL can store: well-formed UTF-16 without U+0000. */
const storable = (text: unknown) => typeof text === 'string' && text.isWellFormed() && !text.includes('\u0000');
const chars = (text: string) => [...text].length;

/** What docs/api.md requires of every message the api accepts (a necessary condition, not the whole schema). */
function withinContract(m: Json): boolean {
  const entries = Object.entries((m.metadata ?? {}) as Record<string, unknown>);
  return (
    storable(m.recipient) &&
    storable(m.content) &&
    (m.subject === undefined || storable(m.subject)) &&
    entries.length <= LIMITS.metadataMaxKeys &&
    entries.every(
      ([k, v]) =>
        storable(k) &&
        chars(k) >= 1 &&
        chars(k) <= LIMITS.metadataKeyMaxChars &&
        storable(v) &&
        chars(v as string) <= LIMITS.metadataValueMaxChars,
    )
  );
}

/** The accepted message as the buffer holds it, byte-exact. */
async function expectBuffered(id: string, sent: Json): Promise<void> {
  const r = await app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: { authorization } });
  expect(r.statusCode, r.body.slice(0, 300)).toBe(200);
  const view: Json = JSON.parse(r.body);
  expect(view.status).toBe('queued');
  expect(view.recipient).toBe(sent.recipient);
  expect(view.content).toBe(sent.content);
  expect(view.subject).toBe(sent.subject ?? null);
  expect(view.metadata).toEqual(sent.metadata ?? null);
  expect(view.priority).toBe(sent.priority ?? 'normal');
}

const VALID = { recipient: '+966501234567', content: 'Your order has shipped' };

describe('hostile fields, one message and in a batch', () => {
  const NUL = '\u0000';
  const LONE = '\ud800';
  const NOT_STORABLE = /must not contain NUL \(U\+0000\) or a lone surrogate/;
  const cases: [string, Json, string, RegExp][] = [
    [
      'a metadata key with a newline, and a number value',
      { metadata: { 'k\n': 5 } },
      '/metadata/k\n',
      /^"metadata\.k\\n" must be a string$/,
    ],
    [
      'a metadata key with U+2028, and an object value',
      { metadata: { 'k\u2028': { a: 1 } } },
      '/metadata/k\u2028',
      /^"metadata\.k\u2028" must be a string$/,
    ],
    ['a metadata array value', { metadata: { k: ['v'] } }, '/metadata/k', /^"metadata\.k" must be a string$/],
    ['a metadata null value', { metadata: { k: null } }, '/metadata/k', /^"metadata\.k" must be a string$/],
    ['an empty metadata key', { metadata: { '': 'v' } }, '/metadata/', /^keys of "metadata" must not be empty$/],
    [
      'a 65-character metadata key',
      { metadata: { ['k'.repeat(65)]: 'v' } },
      `/metadata/${'k'.repeat(65)}`,
      /^keys of "metadata" must be at most 64 characters$/,
    ],
    [
      'a metadata key with a slash, too long',
      { metadata: { [`a/b~${'c'.repeat(64)}`]: 'v' } },
      `/metadata/a~1b~0${'c'.repeat(64)}`,
      /^keys of "metadata" must be at most 64 characters$/,
    ],
    [
      'a 1025-character metadata value',
      { metadata: { k: 'v'.repeat(1025) } },
      '/metadata/k',
      /^"metadata\.k" must be at most 1024 characters$/,
    ],
    [
      '17 metadata entries',
      { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
      '/metadata',
      /^"metadata" must have at most 16 entries$/,
    ],
    ['metadata as an array', { metadata: ['v'] }, '/metadata', /^"metadata" must be an object$/],
    ['metadata as null', { metadata: null }, '/metadata', /^"metadata" must be an object$/],
    ['U+0000 in a metadata key', { metadata: { [`k${NUL}`]: 'v' } }, `/metadata/k${NUL}`, NOT_STORABLE],
    ['U+0000 in a metadata value', { metadata: { 'k\n': `v${NUL}` } }, '/metadata/k\n', NOT_STORABLE],
    ['a lone surrogate in a metadata key', { metadata: { [LONE]: 'v' } }, `/metadata/${LONE}`, NOT_STORABLE],
    ['a lone surrogate in a metadata value', { metadata: { k: `\udc00${LONE}` } }, '/metadata/k', NOT_STORABLE],
    ['U+0000 in content', { content: `a${NUL}b` }, '/content', NOT_STORABLE],
    ['a lone surrogate in content', { content: `a${LONE}` }, '/content', NOT_STORABLE],
    ['U+0000 in subject', { subject: NUL }, '/subject', NOT_STORABLE],
    ['a lone surrogate in subject', { subject: '\udfff' }, '/subject', NOT_STORABLE],
    [
      'U+0000 in an email recipient',
      { channel: 'email', recipient: `a${NUL}@example.com` },
      '/recipient',
      /^"recipient" must not contain NUL/,
    ],
    [
      'a lone surrogate in an email recipient',
      { channel: 'email', recipient: `a${LONE}@example.com` },
      '/recipient',
      /^"recipient" must not contain/,
    ],
    ['a recipient as a number', { recipient: 966501234567 }, '/recipient', /^"recipient" must be a string$/],
    ['content as an array', { content: ['x'] }, '/content', /^"content" must be a string$/],
    ['subject as null', { subject: null }, '/subject', /^"subject" must be a string$/],
    ['priority as an object', { priority: { high: true } }, '/priority', /^"priority" must be one of low, normal, high, critical$/],
    ['channel as a number', { channel: 1 }, '/channel', /^"channel" must be one of app, sms, whatsapp, email$/],
    ['a huge ttlSeconds', { ttlSeconds: 1e308 }, '/ttlSeconds', /^"ttlSeconds" must be at most 2592000$/],
    ['ttlSeconds past 2^53', { ttlSeconds: 2 ** 53 + 2 }, '/ttlSeconds', /^"ttlSeconds" must be at most 2592000$/],
    [
      'a fractional fallbackAfterSeconds',
      { fallback: 'sms', fallbackAfterSeconds: 1.5 },
      '/fallbackAfterSeconds',
      /^"fallbackAfterSeconds" must be an integer$/,
    ],
    ['a field named constructor', { constructor: 'x' }, '/constructor', /^unknown field "constructor"$/],
    ['a field with an empty name', { '': 1 }, '/', /^unknown field ""$/],
  ];

  it.each(cases)('400 VALIDATION_FAILED for %s', async (_name, over, path, words) => {
    const single = await postJson('/v1/messages', { ...VALID, ...over });
    expect(single.statusCode, single.body).toBe(400);
    const { error } = expectDocumented(single);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(words);
    expect(error.message).not.toMatch(/schema|pattern|\^\[/);
    expect(error.details[0]).toEqual({ path, message: error.message });

    const batch = await postJson('/v1/messages/batch', { messages: [VALID, { ...VALID, ...over }] });
    expect(batch.statusCode).toBe(202);
    const answer = expectDocumented(batch);
    expect(answer).toMatchObject({
      accepted: 1,
      rejected: 1,
      results: [
        { index: 0, status: 'queued' },
        { index: 1, error: { code: 'VALIDATION_FAILED', message: error.message } },
      ],
    });
    await expectBuffered(answer.results[0].id, VALID);
  });

  it.each([
    ['a metadata key with a newline', { 'k\n': '5' }],
    [
      'keys with \\r, U+2028, a slash, a backslash, a tab and emoji',
      { '\r': 'a', '\u2028': 'b', 'a/b': 'c', '\\': '\\N', '\t': '\\.', '😀': '👨‍👩‍👧‍👦' },
    ],
    ['a 64-character key and a 1024-character value', { ['😀'.repeat(64)]: 'ع'.repeat(1024) }],
    ['16 entries', Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}\n`, `v${i}`]))],
    ['keys that name Object.prototype members', { constructor: 'c', toString: 't', hasOwnProperty: 'h' }],
  ])('202 and buffered byte-exact for %s, one message and in a batch', async (_name, metadata) => {
    const sent = { ...VALID, metadata };
    const single = await postJson('/v1/messages', sent);
    expect(single.statusCode, single.body).toBe(202);
    await expectBuffered(JSON.parse(single.body).id, sent);
    const batch = await postJson('/v1/messages/batch', { messages: [sent] });
    expect(batch.statusCode).toBe(202);
    const { results } = JSON.parse(batch.body);
    expect(results[0]).toMatchObject({ index: 0, status: 'queued' });
    await expectBuffered(results[0].id, sent);
  });
});

describe('hostile bodies and headers', () => {
  it.each([
    ['U+0000', 'order\u00001'],
    ['a lone surrogate', 'order\ud800'],
    ['256 characters', 'k'.repeat(256)],
    ['nothing', ''],
  ])('400 VALIDATION_FAILED for an Idempotency-Key of %s, one message and a batch', async (_name, key) => {
    for (const [url, body] of [
      ['/v1/messages', VALID],
      ['/v1/messages/batch', { messages: [VALID] }],
    ] as const) {
      const r = await postJson(url, body, { 'idempotency-key': key });
      expect(r.statusCode, r.body).toBe(400);
      const { error } = expectDocumented(r);
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'headers/idempotency-key' }] });
      expect(error.message).toMatch(/^Idempotency-Key must be 1 to 255 characters, without NUL \(U\+0000\)/);
    }
  });

  it('accepts an Idempotency-Key of any 255 characters HTTP carries (tabs, latin-1), and replays it', async () => {
    const key = `\t${'\u00ff\u0080 ~'.repeat(63)}\\"`;
    expect(key).toHaveLength(255);
    const first = await postJson('/v1/messages', VALID, { 'idempotency-key': key });
    expect(first.statusCode, first.body).toBe(202);
    const again = await postJson('/v1/messages', VALID, { 'idempotency-key': key });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(JSON.parse(again.body).id).toBe(JSON.parse(first.body).id);
  });

  it.each([
    ['an array', [VALID]],
    ['null', null],
    ['a string', 'x'],
    ['a number', 1e308],
    ['true', true],
  ])('400 VALIDATION_FAILED for a message body that is %s', async (_name, body) => {
    const r = await postJson('/v1/messages', body);
    expect(r.statusCode, r.body).toBe(400);
    expect(expectDocumented(r).error).toEqual({
      code: 'VALIDATION_FAILED',
      message: 'message must be a JSON object',
      details: [{ path: '/', message: 'message must be a JSON object' }],
      requestId: r.headers['x-request-id'],
    });
  });

  it.each([
    ['an array', [VALID], '/'],
    ['null', null, '/'],
    ['a string', 'x', '/'],
    ['an object without messages', {}, '/messages'],
    ['messages as an object', { messages: { 0: VALID } }, '/messages'],
    ['messages as a string', { messages: 'x' }, '/messages'],
    ['an empty messages array', { messages: [] }, '/messages'],
    ['1001 messages', { messages: Array.from({ length: 1001 }, () => 0) }, '/messages'],
    ['a field besides messages', { messages: [VALID], 'x/y': 1 }, '/x~1y'],
  ])('400 VALIDATION_FAILED for a batch body that is %s', async (_name, body, path) => {
    const r = await postJson('/v1/messages/batch', body);
    expect(r.statusCode, r.body).toBe(400);
    const { error } = expectDocumented(r);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details[0].path).toBe(path);
  });

  it('refuses with 400 a batch nested deeper than the idempotency hash can recurse', async () => {
    // 400,000 levels fit in the 1 MiB batch limit, and JSON.parse takes them.
    const deep = `{"messages":[${'['.repeat(400_000)}${']'.repeat(400_000)}]}`;
    const withoutKey = expectDocumented(await post('/v1/messages/batch', deep));
    expect(withoutKey).toMatchObject({ accepted: 0, rejected: 1 });
    const withKey = await post('/v1/messages/batch', deep, { 'idempotency-key': 'deep' });
    expect(withKey.statusCode, withKey.body).toBe(400);
    expect(JSON.parse(withKey.body).error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'the request body is nested too deeply' });
  });
});

describe('property: whatever a sender sends, the answer is 202 or a documented 4xx, and a 202 is buffered byte-exact', () => {
  const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
  // What COPY, JSON and Unicode each treat specially; each is stored as it is.
  const awkward = fc.constantFrom(
    '\\',
    '\t',
    '\n',
    '\r',
    '\r\n',
    '\\.',
    '\\N',
    '"',
    "'",
    '\u2028',
    '\u2029',
    '\ufeff',
    '\uffff',
    '\x7f',
    '\x1b',
    '😀',
    '👨‍👩‍👧‍👦',
    'ع',
    'é',
  );
  const poison = fc.oneof(fc.constant('\u0000'), loneSurrogate);
  const codePoint = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
  const storableText = fc
    .oneof(
      fc.string({ unit: fc.oneof(awkward, codePoint), minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    )
    .filter(storable);
  const hostileText = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: fc.oneof(awkward, poison, fc.constantFrom('a', ' ')), maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    // Either side of each length limit, counted in code points, with astral characters counting one.
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(0, 63, 64, 65, 199, 200, 201, 1023, 1024, 1025, 4095, 4096, 4097), fc.constantFrom('x', '😀', '\\'))
        .map(([n, c]) => c.repeat(n)),
    },
    // Over the single body limit (64 KiB): 413.
    { weight: 1, arbitrary: fc.constant('x'.repeat(70_000)) },
  );
  const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });
  /** Mostly valid, sometimes hostile text, sometimes any JSON at all, sometimes absent (JSON.stringify drops undefined). */
  const field = <T>(valid: fc.Arbitrary<T>, absent = 0) =>
    fc.oneof(
      { weight: 10, arbitrary: valid },
      { weight: 1, arbitrary: hostileText },
      { weight: 1, arbitrary: anyJson },
      { weight: absent, arbitrary: fc.constant(undefined) },
    );
  const metadata = fc.oneof(
    { weight: 6, arbitrary: fc.dictionary(storableText, storableText, { maxKeys: LIMITS.metadataMaxKeys }) },
    {
      weight: 3,
      arbitrary: fc.dictionary(fc.oneof(storableText, hostileText), fc.oneof(storableText, hostileText), {
        maxKeys: LIMITS.metadataMaxKeys + 2,
      }),
    },
    { weight: 1, arbitrary: fc.dictionary(storableText, anyJson, { maxKeys: 4 }) },
  );
  const message = fc.record({
    recipient: field(fc.oneof(fc.stringMatching(/^\+[1-9][0-9]{7,14}$/), fc.constant(VALID.recipient))),
    content: field(storableText),
    subject: field(storableText, 10),
    priority: field(fc.constantFrom(...PRIORITIES), 10),
    channel: field(fc.constantFrom('app', 'sms', 'whatsapp'), 10),
    ttlSeconds: field(
      fc.oneof(fc.integer({ min: 1, max: LIMITS.ttlMaxSeconds }), fc.constantFrom(0, -1, 1.5, LIMITS.ttlMaxSeconds + 1, 1e308)),
      10,
    ),
    fallback: field(fc.constantFrom('sms', 'whatsapp'), 30),
    metadata: field(metadata, 10),
    sender: field(fc.constant(undefined), 100),
  });
  const body = fc.oneof({ weight: 20, arbitrary: message }, { weight: 1, arbitrary: anyJson });
  const batch = fc.oneof(
    { weight: 10, arbitrary: fc.record({ messages: fc.array(body, { minLength: 1, maxLength: 8 }) }) },
    { weight: 1, arbitrary: anyJson },
  );
  /** A raw body that need not be JSON at all, or JSON of a value. */
  const payload = <T>(value: fc.Arbitrary<T>) =>
    fc.oneof(
      { weight: 20, arbitrary: value.map((v) => JSON.stringify(v) ?? 'null') },
      { weight: 1, arbitrary: fc.string({ unit: fc.oneof(awkward, poison, fc.constantFrom('{', '}', '[', '"', ':')) }) },
    );
  // Header values as HTTP carries them: tab, visible ASCII and latin-1 (Node decodes obs-text bytes as latin-1).
  const headerChar = fc
    .oneof(fc.constant(9), fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
    .map((c) => String.fromCharCode(c));
  const idempotencyKey = fc.option(fc.string({ unit: headerChar, maxLength: LIMITS.idempotencyKeyMaxChars + 5 }), {
    nil: undefined,
    freq: 2,
  });
  const contentType = fc.oneof(
    { weight: 20, arbitrary: fc.constant('application/json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/JSON'),
    },
  );
  const request = (raw: fc.Arbitrary<string>) => fc.record({ raw, key: idempotencyKey, type: contentType, repeat: fc.boolean() });

  /** Sends one request (twice when asked, to see a replay); the number of messages it had accepted. */
  async function sendAndCheck(
    url: string,
    { raw, key, type, repeat }: { raw: string; key: string | undefined; type: string; repeat: boolean },
  ): Promise<number> {
    const headers: Record<string, string> = { 'content-type': type, ...(key === undefined ? {} : { 'idempotency-key': key }) };
    const r = await post(url, raw, headers);
    const answer = expectDocumented(r);
    if (r.statusCode !== 202) return 0;
    if (repeat && key !== undefined) {
      const again = await post(url, raw, headers);
      expect(again.statusCode).toBe(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(JSON.parse(again.body)).toEqual(answer);
    }
    const sent: Json = JSON.parse(raw);
    if (url === '/v1/messages') {
      expect(checkAccepted.Check(answer), r.body).toBe(true);
      expect(withinContract(sent), raw.slice(0, 500)).toBe(true);
      await expectBuffered(answer.id, sent);
      return 1;
    }
    expect(answer.results).toHaveLength(sent.messages.length);
    expect(answer.accepted + answer.rejected).toBe(sent.messages.length);
    for (const [index, result] of (answer.results as Json[]).entries()) {
      expect(result.index).toBe(index);
      if (result.error) {
        expect(result.error.code).toBe('VALIDATION_FAILED');
        expect(result.error.message).toEqual(expect.stringMatching(/\w/));
        continue;
      }
      expect(withinContract(sent.messages[index]), JSON.stringify(sent.messages[index]).slice(0, 500)).toBe(true);
      await expectBuffered(result.id, sent.messages[index]);
    }
    return answer.accepted;
  }

  it('holds for POST /v1/messages and POST /v1/messages/batch', async () => {
    let accepted = 0;
    let singlesRefused = 0;
    await fc.assert(
      fc.asyncProperty(request(payload(body)), request(payload(batch)), async (single, many) => {
        const acceptedSingle = await sendAndCheck('/v1/messages', single);
        accepted += acceptedSingle + (await sendAndCheck('/v1/messages/batch', many));
        if (acceptedSingle === 0) singlesRefused++;
      }),
      { numRuns: 1000 },
    );
    // A generator that only ever produced refusals (or only acceptances) would prove little.
    expect(accepted).toBeGreaterThan(500);
    expect(singlesRefused).toBeGreaterThan(200);
  });
});
