/**
 * What the status-webhook triggers (migration 0005) cost the writes they ride on, as
 * ratios to the same writes with the trigger disabled, in one run on a throwaway database:
 * - the COPY merge of 1000 pending rows (the stored-as-failed row trigger must be free);
 * - marking 1000 messages sent then delivered (the message_events statement trigger), for a
 *   tenant without a webhook and for one with a webhook.
 * `node bench/webhooks/outbox.ts`; not part of `pnpm test` or `pnpm bench`.
 */
import { randomBytes } from 'node:crypto';
import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createPool, createTenant, markDelivered, markSent, storeBatch, type RowToStore } from '../../packages/db/src/index.ts';
import { createDatabase } from '@esh3ar/stack';

const BATCH = 1000;
const ROUNDS = 40;
const WARM_UP = 5;
const RECIPIENT = '+966501234567';

const db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'bench-webhooks');
const pool = createPool(db.url, { max: 2, applicationName: 'bench-webhook-outbox' });

function batch(tenantId: string): RowToStore[] {
  return Array.from({ length: BATCH }, () => ({
    message: sampleBufferedMessage({ tenantId, recipient: RECIPIENT, content: randomBytes(24).toString('base64') }),
    state: { status: 'pending', failureReason: null },
  }));
}

interface Config {
  name: string;
  triggers: boolean;
  tenantId: string;
  merge: number;
  transitions: number;
}

const TRIGGERS = [
  'ALTER TABLE messages {} TRIGGER messages_stored_failed_webhook_outbox',
  'ALTER TABLE message_events {} TRIGGER message_events_webhook_outbox',
];
async function setTriggers(on: boolean): Promise<void> {
  for (const statement of TRIGGERS) await pool.query(statement.replace('{}', on ? 'ENABLE' : 'DISABLE'));
}

/** One batch: merged (storeBatch), then marked sent and delivered; adds the times to `config` after the warm-up. */
async function round(config: Config, counted: boolean): Promise<void> {
  await setTriggers(config.triggers);
  const rows = batch(config.tenantId);
  const ids = rows.map((r) => r.message.id);
  const t0 = performance.now();
  await storeBatch(pool, rows);
  const t1 = performance.now();
  await markSent(pool, ids, 'pushed');
  await markDelivered(
    pool,
    ids.map((id) => ({ id, recipient: RECIPIENT, at: new Date() })),
  );
  const t2 = performance.now();
  if (counted) {
    config.merge += t1 - t0;
    config.transitions += t2 - t1;
  }
}

try {
  const plain = (await createTenant(pool, { name: 'no webhook', tier: 'basic' })).tenant.id;
  const hooked = (await createTenant(pool, { name: 'webhook', tier: 'basic' })).tenant.id;
  await pool.query(`INSERT INTO tenant_webhooks (tenant_id, url, secret) VALUES ($1, 'http://127.0.0.1:9/', 'bench')`, [hooked]);
  const configs: Config[] = [
    { name: 'no trigger', triggers: false, tenantId: plain, merge: 0, transitions: 0 },
    { name: 'triggers, tenant without webhook', triggers: true, tenantId: plain, merge: 0, transitions: 0 },
    { name: 'triggers, tenant with webhook', triggers: true, tenantId: hooked, merge: 0, transitions: 0 },
  ];
  // Interleaved, in rotating order: the tables grow as rounds go, and every configuration must see the same sizes.
  for (let r = 0; r < ROUNDS + WARM_UP; r++) {
    for (let i = 0; i < configs.length; i++) await round(configs[(r + i) % configs.length]!, r >= WARM_UP);
  }
  const [base] = configs;
  for (const c of configs) {
    console.log(
      `${c.name.padEnd(34)} merge of ${BATCH}: ${(c.merge / ROUNDS).toFixed(1)} ms (${(c.merge / base!.merge).toFixed(2)}×)   ` +
        `${BATCH} sent + ${BATCH} delivered: ${(c.transitions / ROUNDS).toFixed(1)} ms (${(c.transitions / base!.transitions).toFixed(2)}×)`,
    );
  }
} finally {
  await pool.end();
  await db.drop();
}
