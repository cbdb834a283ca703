import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createPool, withDefaultUser } from './pool.ts';
import { migrate } from './migrate.ts';
import { storeBatch, type RowToStore } from './copy-writer.ts';
import { markSent, markDelivered } from './delivery.ts';
import { v7 as uuidv7 } from 'uuid';
const name = `esh3ar_trigbench_${randomUUID().slice(0, 8)}`;
const base = new URL(withDefaultUser('postgres://127.0.0.1:5432/postgres'));
const admin = new pg.Client({ connectionString: base.toString() }); await admin.connect(); await admin.query(`CREATE DATABASE ${name}`);
const url = Object.assign(new URL(base), { pathname: `/${name}` }).toString();
await migrate(url, pino({ level: 'warn' }));
const pool = createPool(url, { max: 2, applicationName: 'bench' });
const tenantId = randomUUID();
await pool.query(`INSERT INTO tenants (id, name, tier, api_key_hash) VALUES ($1, 'b', 'basic', '\\x00')`, [tenantId]);
const rows = (): RowToStore[] => Array.from({ length: 1000 }, () => ({ message: { id: uuidv7(), tenantId, acceptedAt: new Date().toISOString(), recipient: '+966501234567', channel: 'app', priority: 'normal', subject: null, content: 'hello world content', metadata: null, ttlSeconds: null, fallback: null, fallbackAfterSeconds: null, idempotencyKey: null }, state: { status: 'pending', failureReason: null } } as RowToStore));
async function run(label: string) {
  let ms = 0;
  for (let i = 0; i < 40; i++) {
    const batch = rows();
    await storeBatch(pool, batch);
    const ids = batch.map((r) => r.message.id);
    const t = performance.now();
    await markSent(pool, ids, 'pushed');
    await markDelivered(pool, ids.map((id) => ({ id, recipient: '+966501234567', at: new Date() })));
    if (i >= 5) ms += performance.now() - t;
  }
  console.log(label, (ms / 35).toFixed(2), 'ms per 1000 sent + 1000 delivered');
}
for (let k = 0; k < 3; k++) {
  await pool.query('ALTER TABLE message_events DISABLE TRIGGER message_events_webhook_outbox');
  await run('no trigger          ');
  await pool.query('ALTER TABLE message_events ENABLE TRIGGER message_events_webhook_outbox');
  await run('trigger, no webhook ');
  await pool.query(`INSERT INTO tenant_webhooks (tenant_id, url, secret) VALUES ($1, 'http://x', 's')`, [tenantId]);
  await run('trigger + webhook   ');
  await pool.query(`DELETE FROM tenant_webhooks; DELETE FROM webhook_outbox`);
}
await pool.end(); await admin.query(`DROP DATABASE ${name} WITH (FORCE)`); await admin.end();
