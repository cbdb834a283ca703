import { hashApiKey } from '@esh3ar/db';
import { createDatabase, freePort, runCli, type ThrowawayDatabase } from '@esh3ar/stack';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from './cli.test-kit.ts';

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
    const { rows } = await client.query('SELECT name, tier, rpm, burst FROM tenants WHERE id = $1', [out.tenantId]);
    // The tenant's first key (api_keys, migration 0008): its SHA-256, never the key.
    const keys = await client.query('SELECT key_hash FROM api_keys WHERE tenant_id = $1', [out.tenantId]);
    await client.end();
    expect(rows[0]).toEqual({ name: 'Acme', tier: 'premium', rpm: 50, burst: 5 });
    expect(keys.rows).toEqual([{ key_hash: hashApiKey(out.apiKey) }]);
  });

  it('--version prints the version of apps/cli/package.json; --help the commands; both exit 0', async () => {
    expect(await esh3ar(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    const help = await esh3ar(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: pnpm esh3ar \[options\] \[command\]/);
  });

  it.each([
    [['tenant', 'create', '--tier', 'basic'], "required option '--name <name>' not specified", 'pnpm esh3ar tenant create'],
    [['frobnicate'], "unknown command 'frobnicate'", 'pnpm esh3ar'],
  ])('exits 2 with the usage hint for %j', async (args, message, command) => {
    const r = await esh3ar(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`See "${command} --help".`);
  });

  it('exits 1 with the reason on stderr when PostgreSQL cannot be reached', async () => {
    const r = await runCli(['tenant', 'list'], { DATABASE_URL: `postgres://127.0.0.1:${await freePort()}/esh3ar` });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^esh3ar: .*ECONNREFUSED/);
  });
});
