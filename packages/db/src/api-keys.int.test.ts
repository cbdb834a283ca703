import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, newApiKey } from './api-key-secret.ts';
import { createApiKey, findApiKey, listApiKeys, recordKeyUsage, revokeApiKey } from './api-keys.ts';
import { keyEventsAfter, lastKeyEventSeq } from './key-events.ts';
import { MIGRATIONS_DIR } from './migrate.ts';
import { createPool, withDefaultUser } from './pool.ts';
import { createTenant, setTenantDisabled } from './tenants.ts';
import { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';

let db: ThrowawayDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'api-keys');
  pool = createPool(db.url, { max: 8, applicationName: 'esh3ar-api-keys-test' });
  // The teardown drops the database WITH (FORCE): a connection still closing then is terminated.
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

// 0008 alone, down then up again: later migrations stay applied (they do not touch api_keys).
const migration = (direction: 'up' | 'down') =>
  runner({
    databaseUrl: withDefaultUser(db.url),
    dir: MIGRATIONS_DIR,
    direction,
    file: '0008_api_keys',
    migrationsTable: 'pgmigrations',
    singleTransaction: true,
    checkOrder: false,
    log: () => undefined,
  });

describe('migration 0008', () => {
  it('keeps every existing key working: a tenant of before becomes a tenant with that one key', async () => {
    await migration('down');
    const id = randomUUID();
    const { apiKey, hash } = newApiKey();
    try {
      await pool.query(
        "INSERT INTO tenants (id, name, tier, api_key_hash, created_at) VALUES ($1, 'before', 'premium', $2, now() - interval '1 day')",
        [id, hash],
      );
    } finally {
      await migration('up');
    }
    const match = await findApiKey(pool, apiKey);
    expect(match).toEqual({
      keyId: expect.any(String),
      revoked: false,
      disabled: false,
      tenant: { id, name: 'before', tier: 'premium', rpm: null, burst: null },
    });
    const keys = (await listApiKeys(pool, id))!;
    expect(keys).toEqual([{ keyId: match!.keyId, createdAt: expect.any(Date), lastUsedAt: null }]);
    expect(Date.now() - keys[0]!.createdAt.getTime()).toBeGreaterThan(23 * 3600_000);
    // Revoked, it is gone from the column processes of the previous release read too.
    expect(await revokeApiKey(pool, id, match!.keyId)).not.toBeNull();
    expect((await pool.query('SELECT api_key_hash FROM tenants WHERE id = $1', [id])).rows).toEqual([{ api_key_hash: null }]);
    expect(await findApiKey(pool, apiKey)).toMatchObject({ revoked: true });
  });
});

describe('api_keys', () => {
  it("stores a new tenant's first key and every later one as SHA-256 only", async () => {
    const { tenant, apiKey, keyId } = await createTenant(pool, { name: 'hashes', tier: 'basic' });
    const second = (await createApiKey(pool, tenant.id))!;
    const { rows } = await pool.query<{ id: string; key_hash: Buffer }>(
      'SELECT id, key_hash FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id',
      [tenant.id],
    );
    expect(rows).toHaveLength(2);
    expect(new Map(rows.map((r) => [r.id, r.key_hash]))).toEqual(
      new Map([
        [keyId, hashApiKey(apiKey)],
        [second.keyId, hashApiKey(second.apiKey)],
      ]),
    );
    expect((await pool.query('SELECT api_key_hash FROM tenants WHERE id = $1', [tenant.id])).rows).toEqual([{ api_key_hash: null }]);
    expect(await createApiKey(pool, randomUUID())).toBeNull();
    expect(await listApiKeys(pool, randomUUID())).toBeNull();
  });

  it('last_used_at takes many keys in one statement and never moves back', async () => {
    const { tenant, keyId } = await createTenant(pool, { name: 'usage', tier: 'basic' });
    const second = (await createApiKey(pool, tenant.id))!;
    const t = Date.parse('2026-01-01T00:00:00Z');
    await recordKeyUsage(
      pool,
      new Map([
        [keyId, t],
        [second.keyId, t + 1000],
      ]),
    );
    await recordKeyUsage(pool, new Map([[keyId, t - 60_000]]));
    const used = new Map((await listApiKeys(pool, tenant.id))!.map((k) => [k.keyId, k.lastUsedAt?.getTime()]));
    expect(used).toEqual(
      new Map([
        [keyId, t],
        [second.keyId, t + 1000],
      ]),
    );
  });
});

describe('api_key_events', () => {
  it('gives revocations and tenant changes consecutive seqs in commit order, however many run at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('revoke', 'disable', 'enable', 'revoke-unknown'), { minLength: 1, maxLength: 24 }),
        async (operations) => {
          const { tenant } = await createTenant(pool, { name: 'events', tier: 'basic' });
          const keys = await Promise.all(operations.map(() => createApiKey(pool, tenant.id)));
          const before = await lastKeyEventSeq(pool);
          const events = await Promise.all(
            operations.map((op, i) => {
              if (op === 'revoke') return revokeApiKey(pool, tenant.id, keys[i]!.keyId);
              if (op === 'revoke-unknown') return revokeApiKey(pool, tenant.id, randomUUID());
              return setTenantDisabled(pool, tenant.id, op === 'disable').then((r) => r!.event);
            }),
          );
          const logged = events.filter((e) => e !== null);
          const seqs = logged.map((e) => e.seq).sort((a, b) => a - b);
          // No gap and no repeat: seq n is the nth change.
          expect(seqs).toEqual(seqs.map((_, i) => before + 1 + i));
          expect(await lastKeyEventSeq(pool)).toBe(before + logged.length);
          const read = await keyEventsAfter(pool, before, 1000);
          expect(read).toEqual([...logged].sort((a, b) => a.seq - b.seq));
          expect(logged.filter((e) => e.keyId !== null)).toHaveLength(operations.filter((op) => op === 'revoke').length);
          expect(events.filter((e, i) => operations[i] === 'revoke-unknown' && e !== null)).toEqual([]);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('logs a tenant change only when the state changes', async () => {
    const { tenant } = await createTenant(pool, { name: 'toggle', tier: 'basic' });
    const before = await lastKeyEventSeq(pool);
    expect((await setTenantDisabled(pool, tenant.id, false))!.event).toBeNull();
    const off = (await setTenantDisabled(pool, tenant.id, true))!;
    expect(off.tenant).toMatchObject({ id: tenant.id, disabled: true });
    expect(off.event).toEqual({ seq: before + 1, tenantId: tenant.id, keyId: null });
    expect((await setTenantDisabled(pool, tenant.id, true))!).toMatchObject({ tenant: { disabled: true }, event: null });
    expect(await setTenantDisabled(pool, randomUUID(), true)).toBeNull();
  });
});
