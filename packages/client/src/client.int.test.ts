import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AcceptedResponse, BatchResponse, MessageList, MessageView } from '@esh3ar/contracts';
import { REPO_ROOT, startStack, uuidv7, waitFor, type Stack } from '@esh3ar/stack';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Esh3arClient, Esh3arError } from './index.js';

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

let stack: Stack;
let baseUrl: string;

beforeAll(async () => {
  // One worker: list pages come from PostgreSQL, where the worker stores the buffer.
  stack = await startStack('client', { workers: 1 });
  baseUrl = stack.api!.url;
});
afterAll(async () => stack?.close());

async function newClient(limits?: { rpm: number; burst: number }): Promise<Esh3arClient> {
  const { apiKey } = await stack.tenant('enterprise', limits);
  return new Esh3arClient({ baseUrl, apiKey });
}

async function failure(promise: Promise<unknown>): Promise<Esh3arError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Esh3arError);
  return error as Esh3arError;
}

/** Every item of a tenant's list once stored, page by page. */
async function stored(client: Esh3arClient, count: number) {
  return waitFor(
    () => client.list({ limit: 1000 }),
    (page) => page.items.length >= count,
  );
}

const message = (content: string) => ({ recipient: '+966501234567', content });
const check = {
  accepted: Compile(AcceptedResponse),
  batch: Compile(BatchResponse),
  view: Compile(MessageView),
  list: Compile(MessageList),
};

describe('Esh3arClient against the real api', () => {
  it('send, then get: the answers are the api’s schemas', async () => {
    const client = await newClient();
    const accepted = await client.send({ ...message('hello'), priority: 'high', metadata: { order: '42' } });
    expect(check.accepted.Check(accepted)).toBe(true);
    expect(accepted.status).toBe('queued');
    // Read once stored: a GET in the moment the worker takes the message from the buffer
    // can answer 404 (about 1 in 25 here), which is the api's to fix, not the client's.
    await stored(client, 1);
    const view = await client.get(accepted.id);
    expect(check.view.Check(view)).toBe(true);
    expect(view).toMatchObject({ id: accepted.id, content: 'hello', priority: 'high', metadata: { order: '42' } });
  });

  it('sendBatch: each message accepted or refused on its own', async () => {
    const client = await newClient();
    const answer = await client.sendBatch([message('one'), { recipient: 'not a number', content: 'two' }, message('three')]);
    expect(check.batch.Check(answer)).toBe(true);
    expect(answer).toMatchObject({ accepted: 2, rejected: 1 });
    expect(answer.results.map((r) => ('error' in r ? r.error.code : r.status))).toEqual(['queued', 'VALIDATION_FAILED', 'queued']);
    const ids = answer.results.flatMap((r) => ('id' in r ? [r.id] : []));
    await stored(client, 2);
    expect((await Promise.all(ids.map((id) => client.get(id)))).map((m) => m.content)).toEqual(['one', 'three']);
  });

  it('list pages through every message once, newest first, until nextCursor is null', async () => {
    const client = await newClient();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.send(message(`page ${i}`))).id);
    await stored(client, 5);
    const pages = [];
    let cursor: string | undefined;
    do {
      const page = await client.list({ limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      expect(check.list.Check(page)).toBe(true);
      pages.push(page.items.map((m) => m.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(pages.flat()).toEqual(ids.toReversed());
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
  });

  it('401 UNAUTHENTICATED for an unknown key, with the request id', async () => {
    const client = new Esh3arClient({ baseUrl, apiKey: 'key_that_was_never_issued' });
    const error = await failure(client.get(uuidv7()));
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', retryAfter: undefined });
    expect(error.requestId).toEqual(expect.any(String));
  });

  it('400 VALIDATION_FAILED with the api’s message and the field it refused', async () => {
    const client = await newClient();
    const error = await failure(client.send({ recipient: 'not a number', content: 'x' }));
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(error.message).toMatch(/recipient/);
    expect(error.details.map((d) => d.path)).toContain('/recipient');
    expect(error.requestId).toEqual(expect.any(String));
  });

  it('404 NOT_FOUND for an unknown id', async () => {
    const client = await newClient();
    expect(await failure(client.get(uuidv7()))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(await failure(client.get('not-an-id'))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('cancel: the message back as canceled; again NOT_CANCELABLE (409); an unknown id NOT_FOUND (404)', async () => {
    const client = await newClient();
    const { id } = await client.send({ ...message('to cancel'), sendAt: new Date(Date.now() + 3600_000).toISOString() });
    const view = await client.cancel(id);
    expect(check.view.Check(view)).toBe(true);
    expect(view).toMatchObject({ id, status: 'canceled', content: 'to cancel' });
    expect(view.events.at(-1)).toMatchObject({ status: 'canceled' });
    const again = await failure(client.cancel(id));
    expect(again).toMatchObject({ status: 409, code: 'NOT_CANCELABLE' });
    expect(again.message).toMatch(/already canceled/);
    expect(await failure(client.cancel(uuidv7()))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect((await client.get(id)).status).toBe('canceled');
  });

  it('cancelMany: a dry run counts, then the run cancels what matches and nothing else', async () => {
    const client = await newClient();
    const later = new Date(Date.now() + 3600_000).toISOString();
    const answer = await client.sendBatch([
      { ...message('campaign 1'), sendAt: later, metadata: { campaign: 'c1' } },
      { ...message('campaign 2'), sendAt: later, metadata: { campaign: 'c1' } },
      { ...message('other'), sendAt: later, metadata: { campaign: 'c2' } },
    ]);
    expect(answer.accepted).toBe(3);
    await stored(client, 3);
    expect(await client.cancelMany({ metadata: { campaign: 'c1' }, dryRun: true })).toEqual({ matched: 2, canceled: 0, dryRun: true });
    expect(await client.cancelMany({ metadata: { campaign: 'c1' } })).toEqual({ matched: 2, canceled: 2, dryRun: false });
    const byContent = Object.fromEntries((await client.list()).items.map((m) => [m.content, m.status]));
    expect(byContent).toEqual({ 'campaign 1': 'canceled', 'campaign 2': 'canceled', other: 'scheduled' });
    const empty = await failure(client.cancelMany({ dryRun: true }));
    expect(empty).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(empty.message).toMatch(/at least one of recipient/);
  });

  it('429 RATE_LIMITED is waited out as Retry-After says, then sent: three messages at a burst of 1 all accepted', async () => {
    const client = await newClient({ rpm: 100, burst: 1 });
    const before = await rateLimitRefusals();
    const answers = await Promise.all(['a', 'b', 'c'].map((c) => client.send(message(c))));
    // At most one message a second: the second and third were refused at least once each.
    expect(await rateLimitRefusals()).toBeGreaterThanOrEqual(before + 2);
    await stored(client, 3);
    const contents = (await client.list()).items.map((m) => m.content);
    expect(contents.toSorted()).toEqual(['a', 'b', 'c']);
    expect(new Set(answers.map((a) => a.id)).size).toBe(3);
  });

  it('a retry after a lost answer reuses the Idempotency-Key: stored once, the first id answered', async () => {
    const { apiKey } = await stack.tenant();
    const proxy = await answerLosingProxy(baseUrl);
    try {
      const client = new Esh3arClient({ baseUrl: proxy.url, apiKey, retry: { baseDelayMs: 1 } });
      const accepted = await client.send(message('exactly once'));
      expect(proxy.answers.map((a) => a.status)).toEqual([202, 202]);
      expect(proxy.answers[1]!.replayed).toBe('true');
      expect(proxy.answers[1]!.body).toBe(proxy.answers[0]!.body);
      expect(accepted.id).toBe(JSON.parse(proxy.answers[0]!.body).id);

      const direct = new Esh3arClient({ baseUrl, apiKey });
      const [only] = (await stored(direct, 1)).items;
      expect(only).toMatchObject({ id: accepted.id, content: 'exactly once' });
      expect((await direct.list()).items).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('the built dist/index.js is imported by plain Node, without TypeScript, by its package name', async () => {
    await buildIfStale();
    const { apiKey } = await stack.tenant();
    const dir = await mkdtemp(join(tmpdir(), 'esh3ar-client-'));
    try {
      await mkdir(join(dir, 'node_modules', '@esh3ar'), { recursive: true });
      await symlink(PACKAGE_DIR, join(dir, 'node_modules', '@esh3ar', 'client'), 'dir');
      await writeFile(
        join(dir, 'probe.mjs'),
        `import { Esh3arClient, Esh3arError } from '@esh3ar/client';
const client = new Esh3arClient({ baseUrl: process.argv[2], apiKey: process.argv[3] });
const accepted = await client.send({ recipient: '+966501234567', content: 'from dist' });
const error = await client.get('00000000-0000-7000-8000-000000000000').catch((e) => e);
console.log(JSON.stringify({ accepted, isEsh3arError: error instanceof Esh3arError, code: error.code, status: error.status }));
`,
      );
      // Without type stripping, a .ts file anywhere in the import graph is a SyntaxError.
      const { stdout } = await run(process.execPath, ['--no-experimental-strip-types', 'probe.mjs', baseUrl, apiKey], { cwd: dir });
      const probe = JSON.parse(stdout);
      expect(probe).toMatchObject({ accepted: { status: 'queued' }, isEsh3arError: true, code: 'NOT_FOUND', status: 404 });
      const [only] = (await stored(new Esh3arClient({ baseUrl, apiKey }), 1)).items;
      expect(only).toMatchObject({ id: probe.accepted.id, content: 'from dist' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** esh3ar_messages_refused_total{reason="rate_limit"} from the api's /metrics. */
async function rateLimitRefusals(): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('esh3ar_messages_refused_total{') && l.includes('reason="rate_limit"'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/**
 * In front of the api: the first request reaches it, and its answer is read and then
 * lost (the connection cut), as when a load balancer drops it; later ones pass through.
 */
async function answerLosingProxy(target: string) {
  const answers: { status: number; replayed: string | null; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection')) as Record<
        string,
        string
      >;
      void fetch(`${target}${req.url}`, { method: req.method!, headers, body: Buffer.concat(chunks) }).then(async (upstream) => {
        const body = await upstream.text();
        answers.push({ status: upstream.status, replayed: upstream.headers.get('idempotent-replayed'), body });
        if (answers.length === 1) res.socket?.destroy();
        else res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** `pnpm --filter @esh3ar/client build` unless dist/index.js is newer than every source and the build's settings. */
async function buildIfStale(): Promise<void> {
  const mtime = (path: string) =>
    stat(join(PACKAGE_DIR, path)).then(
      (s) => s.mtimeMs,
      () => 0,
    );
  const sources = (await readdir(join(PACKAGE_DIR, 'src')))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => `src/${f}`);
  const inputs = await Promise.all([...sources, 'package.json', 'tsconfig.build.json'].map(mtime));
  if ((await mtime('dist/index.js')) > Math.max(...inputs)) return;
  await run('pnpm', ['--filter', '@esh3ar/client', 'build'], { cwd: REPO_ROOT });
}
