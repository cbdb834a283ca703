import { randomUUID } from 'node:crypto';
import { createPool, createTenant } from '@esh3ar/db';
import { createDatabase, runCli, type ThrowawayDatabase } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
    [['tenant', 'webhook', 'set', '--url', 'https://a.example'], '--tenant must be a tenant id'],
    [['tenant', 'webhook', 'set', '--tenant', 'x1', '--url', 'https://a.example'], '--tenant must be a tenant id'],
    [['tenant', 'webhook', 'set', '--tenant', randomUUID()], '--url is required'],
    [['tenant', 'webhook', 'set', '--tenant', randomUUID(), '--url', 'ftp://a.example'], '--url must start with http:// or https://'],
    [['tenant', 'webhook', 'remove', '--tenant', randomUUID(), '--url', 'https://a.example'], 'Unknown option'],
    [['tenant', 'webhook', 'rotate'], 'unknown tenant webhook command "rotate"'],
  ])('exits 2 with usage for %j', async (args, message) => {
    const r = await esh3ar(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('tenant webhook set --tenant ID --url URL');
  });
});
