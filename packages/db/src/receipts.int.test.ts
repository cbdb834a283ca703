import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from './migrate.ts';
import { createPool, withDefaultUser } from './pool.ts';
import { claimProviderCall, recordProviderOutcome } from './providers.ts';
import { recordProviderReceipts, type ProviderReceipt, type ReceiptStatus } from './receipts.ts';
import { sql } from './sql-files.ts';
import { createDatabase, type ThrowawayDatabase } from './throwaway-database.ts';

/*
 * Receipts against the provider outcome that records the id they name (migration 0012),
 * in each order the two can commit in, on real PostgreSQL.
 */
let db: ThrowawayDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'receipts');
  pool = createPool(db.url, { max: 6, applicationName: 'esh3ar-receipts-test' });
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const recipient = () => `+9665${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;

/** A pending SMS message, as storage leaves it. */
async function pendingMessage(to = recipient()): Promise<{ id: string; to: string }> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO messages (id, tenant_id, recipient, channel, priority, content, status, created_at)
     VALUES ($1, $2, $3, 'sms', 1, 'hi', 'pending', now())`,
    [id, randomUUID(), to],
  );
  return { id, to };
}

/** The worker's two steps: the claim, then the provider's answer. */
async function claim(id: string): Promise<void> {
  expect(await claimProviderCall(pool, id, ['pending'], 30_000)).not.toBeNull();
}
async function accepted(id: string, providerId: string, provider = 'twilio'): Promise<void> {
  const detail = `accepted by the sms provider (${providerId})`;
  expect(await recordProviderOutcome(pool, id, 'sent', { providerMessageId: providerId, provider, detail }, ['pending'])).toBe(true);
}
/** The same outcome inside a transaction the test ends. */
async function acceptedIn(client: pg.PoolClient, id: string, providerId: string): Promise<void> {
  const detail = `accepted by the sms provider (${providerId})`;
  await recordProviderOutcome(client, id, 'sent', { providerMessageId: providerId, provider: 'twilio', detail }, ['pending']);
}

const receipt = (providerMessageId: string, status: ReceiptStatus, to: string | null = null): ProviderReceipt => ({
  providerMessageId,
  status,
  recipient: to,
  detail: `${status}, reported by twilio`,
  reason: status === 'failed' ? 'twilio error 30003' : null,
});

async function state(id: string) {
  const { rows } = await pool.query<{ status: string; failure_reason: string | null; delivered: boolean }>(
    'SELECT status, failure_reason, delivered_at IS NOT NULL AS delivered FROM messages WHERE id = $1',
    [id],
  );
  const events = await pool.query<{ status: string; detail: string }>(
    'SELECT status, detail FROM message_events WHERE message_id = $1 ORDER BY id',
    [id],
  );
  return { ...rows[0]!, events: events.rows.map((e) => e.status) };
}

describe('recordProviderReceipts', () => {
  it('answers each receipt of a batch in its order: applied, stale, unknown', async () => {
    const sent = await pendingMessage();
    await claim(sent.id);
    await accepted(sent.id, 'SMzz-sent');
    const results = await recordProviderReceipts(pool, 'twilio', [
      receipt('SMzz-sent', 'delivered'),
      receipt('SMaa-nobody', 'delivered'),
      receipt('SMzz-sent', 'failed'),
    ]);
    expect(results).toEqual(['applied', 'unknown', 'stale']);
    expect(await state(sent.id)).toMatchObject({ status: 'delivered', delivered: true, events: ['sent', 'delivered'] });
  });

  it('matches a provider id only for the provider that recorded it', async () => {
    const sent = await pendingMessage();
    await claim(sent.id);
    await accepted(sent.id, 'wamid.meta-only', 'meta');
    expect(await recordProviderReceipts(pool, 'twilio', [receipt('wamid.meta-only', 'delivered')])).toEqual(['unknown']);
    expect(await recordProviderReceipts(pool, 'meta', [receipt('wamid.meta-only', 'delivered')])).toEqual(['applied']);
  });

  it('keeps a receipt whose call is in progress as early, and applies it when the id is recorded', async () => {
    const message = await pendingMessage();
    await claim(message.id);
    expect(await recordProviderReceipts(pool, 'twilio', [receipt('SM-early', 'failed', message.to)])).toEqual(['early']);
    expect((await state(message.id)).status).toBe('pending');
    await accepted(message.id, 'SM-early');
    expect(await state(message.id)).toMatchObject({ status: 'failed', failure_reason: 'twilio error 30003', events: ['sent', 'failed'] });
    const { rows } = await pool.query("SELECT 1 FROM provider_receipts WHERE provider_message_id = 'SM-early'");
    expect(rows).toHaveLength(0);
  });

  it('applies a receipt recorded while the outcome is written but not committed', async () => {
    const message = await pendingMessage();
    await claim(message.id);
    const worker = await pool.connect();
    try {
      await worker.query('BEGIN');
      await acceptedIn(worker, message.id, 'SM-racing');
      // Not committed: the receipt cannot see the id, and is kept.
      expect(await recordProviderReceipts(pool, 'twilio', [receipt('SM-racing', 'delivered', message.to)])).toEqual(['early']);
      await worker.query('COMMIT');
    } finally {
      worker.release();
    }
    expect(await state(message.id)).toMatchObject({ status: 'delivered', events: ['sent', 'delivered'] });
  });

  it('makes an outcome that commits while a receipt holds the lock wait for it, then apply it', async () => {
    const message = await pendingMessage();
    await claim(message.id);
    const receiver = await pool.connect();
    try {
      await receiver.query('BEGIN');
      const { rows } = await receiver.query<{ results: string[] }>(sql('receipt-record'), [
        'twilio',
        ['SM-held'],
        ['delivered'],
        [message.to],
        ['delivered, reported by twilio'],
        [null],
      ]);
      expect(rows[0]!.results).toEqual(['early']);
      // The outcome's commit needs the receipt's lock: it waits until the receipt commits.
      const outcome = accepted(message.id, 'SM-held');
      await expect
        .poll(async () => (await pool.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rowCount)
        .toBe(1);
      await receiver.query('COMMIT');
      await outcome;
    } finally {
      receiver.release();
    }
    expect(await state(message.id)).toMatchObject({ status: 'delivered', events: ['sent', 'delivered'] });
  });

  it('moves a message forward only, whatever the order of its receipts and of the outcome', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<ReceiptStatus>('delivered', 'failed'), { minLength: 1, maxLength: 4 }),
        fc.nat(4),
        async (statuses, early) => {
          const message = await pendingMessage();
          const providerId = `SM-${randomUUID()}`;
          await claim(message.id);
          const before = Math.min(early, statuses.length);
          for (const s of statuses.slice(0, before)) await recordProviderReceipts(pool, 'twilio', [receipt(providerId, s, message.to)]);
          await accepted(message.id, providerId);
          for (const s of statuses.slice(before)) await recordProviderReceipts(pool, 'twilio', [receipt(providerId, s, message.to)]);
          // The first final receipt wins; every later one is no news.
          expect(await state(message.id)).toMatchObject({ status: statuses[0], events: ['sent', statuses[0]] });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('deletes kept receipts after 24 h, the next time one is kept', async () => {
    await recordProviderReceipts(pool, 'meta', [receipt('wamid.old', 'delivered')]);
    await pool.query("UPDATE provider_receipts SET received_at = now() - interval '25 hours' WHERE provider_message_id = 'wamid.old'");
    expect(await recordProviderReceipts(pool, 'meta', [receipt('wamid.new', 'delivered')])).toEqual(['unknown']);
    const { rows } = await pool.query<{ id: string }>(
      "SELECT provider_message_id AS id FROM provider_receipts WHERE provider_message_id IN ('wamid.old', 'wamid.new')",
    );
    expect(rows.map((r) => r.id)).toEqual(['wamid.new']);
  });
});

describe('migration 0012', () => {
  const migration = (direction: 'up' | 'down') =>
    runner({
      databaseUrl: withDefaultUser(db.url),
      dir: MIGRATIONS_DIR,
      direction,
      file: '0012_provider_receipts',
      migrationsTable: 'pgmigrations',
      singleTransaction: true,
      checkOrder: false,
      log: () => undefined,
    });

  it('goes down and up again', async () => {
    await migration('down');
    try {
      const { rows } = await pool.query("SELECT to_regclass('provider_receipts') AS t");
      expect(rows[0].t).toBeNull();
    } finally {
      await migration('up');
    }
    expect(await recordProviderReceipts(pool, 'twilio', [receipt('SM-after-migration', 'delivered')])).toEqual(['unknown']);
  });
});
