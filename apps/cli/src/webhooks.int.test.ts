import { randomUUID } from 'node:crypto';
import { createPool, createTenant } from '@esh3ar/db';
import { createDatabase, runCli, type ThrowawayDatabase } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esh3arInProcess } from './cli.test-kit.ts';

let db: ThrowawayDatabase;
let pool: pg.Pool;

const esh3ar = (args: string[]) => runCli(args, { DATABASE_URL: db.url });

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli-webhooks');
  pool = createPool(db.url, { max: 1, applicationName: 'cli-webhooks-test' });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('pnpm esh3ar tenant webhook', () => {
  it('set prints {tenantId, url, secret}; set again replaces the secret; remove drops the webhook and its waiting events', async () => {
    const { tenant } = await createTenant(pool, { name: 'hooks', tier: 'basic' });
    const set = await esh3ar(['tenant', 'webhook', 'set', '--tenant', tenant.id, '--url', 'https://hooks.example.com/in']);
    expect(set.code).toBe(0);
    const first = JSON.parse(set.stdout) as { tenantId: string; url: string; secret: string };
    expect(first).toEqual({ tenantId: tenant.id, url: 'https://hooks.example.com/in', secret: expect.stringMatching(/^whsec_/) });
    const again = JSON.parse(
      (await esh3ar(['tenant', 'webhook', 'set', '--tenant', tenant.id, '--url', 'http://10.0.0.1:8080/x'])).stdout,
    ) as { secret: string };
    expect(again.secret).not.toBe(first.secret);
    const { rows } = await pool.query('SELECT url, secret FROM tenant_webhooks WHERE tenant_id = $1', [tenant.id]);
    expect(rows).toEqual([{ url: 'http://10.0.0.1:8080/x', secret: again.secret }]);

    await pool.query(`INSERT INTO webhook_outbox (tenant_id, message_id, status, at) VALUES ($1, $2, 'sent', now())`, [
      tenant.id,
      randomUUID(),
    ]);
    const removed = await esh3ar(['tenant', 'webhook', 'remove', '--tenant', tenant.id]);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ tenantId: tenant.id, removed: true });
    const left = await pool.query(
      'SELECT (SELECT count(*)::int FROM tenant_webhooks) AS hooks, (SELECT count(*)::int FROM webhook_outbox) AS events',
    );
    expect(left.rows[0]).toEqual({ hooks: 0, events: 0 });
    expect(JSON.parse((await esh3ar(['tenant', 'webhook', 'remove', '--tenant', tenant.id])).stdout)).toEqual({
      tenantId: tenant.id,
      removed: false,
    });
  });

  it('exits 1 for an unknown tenant', async () => {
    const r = await esh3ar(['tenant', 'webhook', 'set', '--tenant', randomUUID(), '--url', 'https://a.example']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no tenant/);
  });

  it.each([
    [['tenant', 'webhook', 'set', '--url', 'https://a.example'], "required option '--tenant <id>' not specified"],
    [['tenant', 'webhook', 'set', '--tenant', 'x1', '--url', 'https://a.example'], 'It must be a tenant id (a UUID)'],
    [['tenant', 'webhook', 'set', '--tenant', randomUUID()], "required option '--url <url>' not specified"],
    [['tenant', 'webhook', 'set', '--tenant', randomUUID(), '--url', 'ftp://a.example'], '--url must start with http:// or https://'],
    [['tenant', 'webhook', 'remove', '--tenant', randomUUID(), '--url', 'https://a.example'], "unknown option '--url'"],
    [['tenant', 'webhook', 'rotate'], "unknown command 'rotate'"],
  ])('exits 2 with usage for %j', async (args, message) => {
    const r = await esh3arInProcess(args, { DATABASE_URL: db.url });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/Usage: pnpm esh3ar tenant webhook/);
  });

  it('prints the webhook as fields on a terminal', async () => {
    const { tenant } = await createTenant(pool, { name: 'hooks tty', tier: 'basic' });
    const r = await esh3arInProcess(
      ['tenant', 'webhook', 'set', '--tenant', tenant.id, '--url', 'https://a.example/in'],
      { DATABASE_URL: db.url },
      { stdout: true },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^tenantId +${tenant.id}\nurl +https://a.example/in\nsecret +whsec_\\S+\n$`));
  });
});
