import { createDatabase, runCli, type ThrowawayDatabase } from '@esh3ar/stack';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let db: ThrowawayDatabase;

const esh3ar = (args: string[]) => runCli(args, { DATABASE_URL: db.url });

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli');
});
afterAll(async () => db?.drop());

describe('pnpm esh3ar', () => {
  it('migrate is idempotent and prints JSON', async () => {
    const r = await esh3ar(['migrate']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ applied: [] });
  });

  it('tenant create prints {tenantId, apiKey} and stores only the key’s hash', async () => {
    const r = await esh3ar(['tenant', 'create', '--name', 'Acme', '--tier', 'premium', '--rpm', '50', '--burst', '5']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { tenantId: string; apiKey: string };
    expect(out.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.apiKey.length).toBeGreaterThan(40);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('SELECT name, tier, rpm, burst, api_key_hash FROM tenants WHERE id = $1', [out.tenantId]);
    await client.end();
    expect(rows[0]).toMatchObject({ name: 'Acme', tier: 'premium', rpm: 50, burst: 5 });
    expect(rows[0].api_key_hash.toString('utf8')).not.toContain(out.apiKey);
    expect(rows[0].api_key_hash).toHaveLength(32);
  });

  it.each([
    [['tenant', 'create', '--tier', 'basic'], '--name is required'],
    [['tenant', 'create', '--name', 'x', '--tier', 'gold'], '--tier must be one of'],
    [['tenant', 'create', '--name', 'x', '--tier', 'basic', '--rpm', '0'], '--rpm must be an integer'], [['tenant', 'create', '--name', 'x', '--tier', 'basic', '--burst', '1.5'], '--burst must be an integer'],
    [['tenant', 'create', '--name', 'x', '--tier', 'basic', '--color', 'red'], 'Unknown option'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [[], 'a command is required'],
  ])('exits 2 with usage for %j', async (args, message) => {
    const r = await esh3ar(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('usage: pnpm esh3ar');
  });
});
