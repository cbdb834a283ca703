import { sampleBufferedMessage } from '@esh3ar/contracts';
import { createDatabase, uuidv7 } from '@esh3ar/stack';
import { createPool, storeBatch } from '../../packages/db/src/index.ts';
import { sql } from '../../packages/db/src/sql-files.ts';
const db = await createDatabase('postgres://127.0.0.1:5432/esh3ar', 'tmp-stmt');
const pool = createPool(db.url, { max: 4, applicationName: 'tmp' });
const N = 20000;
const variants: Record<string, string> = {
  id: sql('schedule-release'),
  ctid: `WITH moved AS (UPDATE messages m SET status = 'pending', updated_at = now() FROM unnest($3::tid[], $2::text[]) AS r (ctid, detail) WHERE m.ctid = r.ctid AND m.status = 'scheduled' RETURNING m.id, r.detail) INSERT INTO message_events (message_id, status, detail) SELECT id, 'pending', detail FROM moved RETURNING message_id`,
  updateOnly: `UPDATE messages m SET status = 'pending', updated_at = now() FROM unnest($1::uuid[], $2::text[]) AS r (id, detail) WHERE m.id = r.id AND m.status = 'scheduled' AND $3::tid[] IS NOT NULL`,
};
const due = sql('schedule-due').replace('SELECT m.id,', 'SELECT m.ctid, m.id,');
try {
  for (const name of ['id', 'ctid', 'updateOnly', 'id', 'ctid', 'updateOnly']) {
    const at = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < N; i += 1000)
      await storeBatch(pool, Array.from({ length: 1000 }, (_, k) => ({ message: sampleBufferedMessage({ id: uuidv7(), priority: (['low','normal','high','critical'] as const)[k % 4] }), state: { status: 'scheduled' as const, failureReason: null, sendAt: at } })));
    const c = await pool.connect();
    let tDue = 0, tRel = 0, tCommit = 0, rounds = 0;
    for (;;) {
      await c.query('BEGIN');
      let t = performance.now();
      const { rows } = await c.query(due, [1000, null]);
      tDue += performance.now() - t; t = performance.now();
      if (rows.length) await c.query(variants[name]!, [rows.map((r) => r.id), rows.map(() => 'released at its sendAt'), rows.map((r) => r.ctid)]);
      tRel += performance.now() - t; t = performance.now();
      await c.query('COMMIT');
      tCommit += performance.now() - t;
      rounds++;
      if (rows.length < 1000) break;
    }
    c.release();
    console.log(name, 'due', (tDue / rounds).toFixed(1), 'release', (tRel / rounds).toFixed(1), 'commit', (tCommit / rounds).toFixed(1));
  }
} finally { await pool.end(); await db.drop(); }
