import { randomUUID } from 'node:crypto';
import { keyEventsChannel, parseKeyEventNotice, type KeyEventNotice } from '@esh3ar/queue';
import { createDatabase, deletePrefix, freePort, runCli, uniquePrefix, type ThrowawayDatabase } from '@esh3ar/stack';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esh3arInProcess } from './cli.test-kit.ts';

let db: ThrowawayDatabase;
let subscriber: Redis;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('cli-keys');
const notices: KeyEventNotice[] = [];
const waiting = new Set<() => void>();

/** Resolves when a notification matching `expected` has arrived (or already had). */
async function notified(expected: Partial<KeyEventNotice>): Promise<KeyEventNotice> {
  const find = () => notices.find((n) => Object.entries(expected).every(([k, v]) => n[k as keyof KeyEventNotice] === v));
  for (;;) {
    const found = find();
    if (found) return found;
    await new Promise<void>((resolve) => waiting.add(resolve));
  }
}

const esh3ar = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix, ...env });

/** Runs a command that must succeed and returns its JSON. */
async function ok(args: string[]) {
  const r = await esh3ar(args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli-keys');
  subscriber = new Redis(redisUrl);
  subscriber.on('message', (_channel: string, message: string) => {
    notices.push(parseKeyEventNotice(message)!);
    for (const wake of waiting) wake();
    waiting.clear();
  });
  await subscriber.subscribe(keyEventsChannel(prefix));
});
afterAll(async () => {
  subscriber?.disconnect();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

describe('pnpm esh3ar tenant key', () => {
  it('create prints {keyId, apiKey}; list shows {keyId, createdAt, lastUsedAt} and never a key; revoke prints {tenantId, keyId, revoked} and tells the api processes', async () => {
    const { tenantId, apiKey } = await ok(['tenant', 'create', '--name', 'Acme', '--tier', 'basic']);
    const created = await ok(['tenant', 'key', 'create', '--tenant', tenantId]);
    expect(created).toEqual({ keyId: expect.stringMatching(/^[0-9a-f-]{36}$/), apiKey: expect.stringMatching(/^esh_/) });

    const list = await esh3ar(['tenant', 'key', 'list', '--tenant', tenantId]);
    expect(JSON.parse(list.stdout)).toEqual({
      items: [
        { keyId: expect.any(String), createdAt: expect.any(String), lastUsedAt: null },
        { keyId: created.keyId, createdAt: expect.any(String), lastUsedAt: null },
      ],
    });
    expect(list.stdout).not.toContain(apiKey);
    expect(list.stdout).not.toContain(created.apiKey);

    expect(await ok(['tenant', 'key', 'revoke', '--tenant', tenantId, '--key', created.keyId])).toEqual({
      tenantId,
      keyId: created.keyId,
      revoked: true,
    });
    expect(await notified({ tenantId, keyId: created.keyId })).toEqual({ seq: expect.any(Number), tenantId, keyId: created.keyId });
    expect((await ok(['tenant', 'key', 'list', '--tenant', tenantId])).items.map((k: { keyId: string }) => k.keyId)).not.toContain(
      created.keyId,
    );

    const again = await esh3ar(['tenant', 'key', 'revoke', '--tenant', tenantId, '--key', created.keyId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`has no key ${created.keyId} in use`);
  });

  it("revoke refuses another tenant's key (exit 1) and leaves it in use", async () => {
    const mine = await ok(['tenant', 'create', '--name', 'mine', '--tier', 'basic']);
    const theirs = await ok(['tenant', 'create', '--name', 'theirs', '--tier', 'basic']);
    const [theirKey] = (await ok(['tenant', 'key', 'list', '--tenant', theirs.tenantId])).items;
    expect((await esh3ar(['tenant', 'key', 'revoke', '--tenant', mine.tenantId, '--key', theirKey.keyId])).code).toBe(1);
    expect((await ok(['tenant', 'key', 'list', '--tenant', theirs.tenantId])).items).toEqual([theirKey]);
  });

  it('revokes even with Redis unreachable (exit 0, a warning): the api processes read the revocation from PostgreSQL', async () => {
    const { tenantId } = await ok(['tenant', 'create', '--name', 'offline', '--tier', 'basic']);
    const [key] = (await ok(['tenant', 'key', 'list', '--tenant', tenantId])).items;
    const r = await esh3ar(['tenant', 'key', 'revoke', '--tenant', tenantId, '--key', key.keyId], {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Redis unreachable');
    expect((await ok(['tenant', 'key', 'list', '--tenant', tenantId])).items).toEqual([]);
  });
});

describe('pnpm esh3ar tenant list | disable | enable', () => {
  it('list pages newest first with --limit and --cursor, as GET /v1/admin/tenants', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await ok(['tenant', 'create', '--name', `list ${i}`, '--tier', 'premium', '--rpm', '7'])).tenantId);
    const first = await ok(['tenant', 'list', '--limit', '2']);
    expect(first.items.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    expect(first.items[0]).toEqual({
      id: ids[2],
      name: 'list 2',
      tier: 'premium',
      rpm: 7,
      burst: null,
      disabled: false,
      createdAt: expect.any(String),
    });
    expect(first.nextCursor).toBe(ids[1]);
    const rest = await ok(['tenant', 'list', '--cursor', first.nextCursor, '--limit', '1000']);
    expect(rest.items[0].id).toBe(ids[0]);
    expect(rest.nextCursor).toBeNull();
  });

  it('disable and enable print the tenant and tell the api processes; an unknown tenant exits 1', async () => {
    const { tenantId } = await ok(['tenant', 'create', '--name', 'switch', '--tier', 'basic']);
    expect(await ok(['tenant', 'disable', '--tenant', tenantId])).toMatchObject({ id: tenantId, disabled: true });
    expect(await notified({ tenantId, keyId: null })).toEqual({ seq: expect.any(Number), tenantId, keyId: null });
    expect((await ok(['tenant', 'list'])).items.find((t: { id: string }) => t.id === tenantId).disabled).toBe(true);
    expect(await ok(['tenant', 'enable', '--tenant', tenantId])).toMatchObject({ id: tenantId, disabled: false });
    const unknown = await esh3ar(['tenant', 'disable', '--tenant', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no tenant');
  });

  it('list: a table on a terminal, JSON with --json or when piped', async () => {
    const { tenantId } = await ok(['tenant', 'create', '--name', 'Tabled \u001b[31mred', '--tier', 'enterprise', '--burst', '9']);
    const env = { DATABASE_URL: db.url };
    const table = await esh3arInProcess(['tenant', 'list', '--limit', '1'], env, { stdout: true });
    expect(table.code, table.stderr).toBe(0);
    const [header, row, more, end] = table.stdout.split('\n');
    expect(header).toMatch(/^ID +NAME +TIER +RPM +BURST +DISABLED +CREATED$/);
    // The escape sequence of the name is not passed to the terminal.
    expect(row).toMatch(new RegExp(`^${tenantId} +Tabled  \\[31mred +enterprise +- +9 +no +\\d{4}-\\d\\d-\\d\\dT`));
    expect(more).toBe(`More: pnpm esh3ar tenant list --cursor ${tenantId}`);
    expect(end).toBe('');
    // The columns line up: each header starts where its cells do.
    expect(row!.indexOf('enterprise')).toBe(header!.indexOf('TIER'));

    const json = await esh3arInProcess(['tenant', 'list', '--limit', '1', '--json'], env, { stdout: true });
    const piped = await esh3arInProcess(['tenant', 'list', '--limit', '1'], env, { stdout: false });
    for (const r of [json, piped]) {
      expect(r.code).toBe(0);
      expect(r.stdout.endsWith('\n') && !r.stdout.slice(0, -1).includes('\n')).toBe(true);
      expect(JSON.parse(r.stdout)).toEqual({
        items: [
          {
            id: tenantId,
            name: 'Tabled \u001b[31mred',
            tier: 'enterprise',
            rpm: null,
            burst: 9,
            disabled: false,
            createdAt: expect.any(String),
          },
        ],
        nextCursor: tenantId,
      });
    }
  });

  it.each([
    [['tenant', 'key', 'create'], "required option '--tenant <id>' not specified", 'tenant key create'],
    [['tenant', 'key', 'revoke', '--tenant', randomUUID()], "required option '--key <id>' not specified", 'tenant key revoke'],
    [['tenant', 'key', 'revoke', '--tenant', randomUUID(), '--key', 'k1'], 'It must be a key id (a UUID)', 'tenant key revoke'],
    [['tenant', 'key', 'rotate', '--tenant', randomUUID()], "unknown command 'rotate'", 'tenant key'],
    [['tenant', 'disable', '--tenant', 'x'], 'It must be a tenant id (a UUID)', 'tenant disable'],
    [['tenant', 'list', '--limit', '0'], 'It must be an integer from 1 to 1000', 'tenant list'],
    [['tenant', 'list', '--cursor', 'nope'], 'It must be a nextCursor printed before', 'tenant list'],
    [['tenant', 'list', '--color', 'red'], "unknown option '--color'", 'tenant list'],
  ])('exits 2 with usage for %j', async (args, message, command) => {
    const r = await esh3arInProcess(args, { DATABASE_URL: db.url });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`See "pnpm esh3ar ${command} --help".`);
  });
});
