import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createDatabase, deletePrefix, uniquePrefix, waitFor, type ThrowawayDatabase } from '@esh3ar/stack';
import { startFloor, type FloorProcesses } from './ceiling-process.ts';

// The floor the cost phase compares Esh3ar with must do what it claims: every message it
// answers 202 is in its table once, and what it refuses is not.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = uniquePrefix('floor-test');
let db: ThrowawayDatabase;
let pool: pg.Pool;
let floor: FloorProcesses;

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'floor-test');
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
  const env = { FLOOR_REDIS_URL: redisUrl, FLOOR_PREFIX: prefix, FLOOR_DATABASE_URL: db.url };
  floor = await startFloor(env);
});

afterAll(async () => {
  await floor?.stop();
  await pool?.end();
  await db?.drop();
  await deletePrefix(redisUrl, prefix);
});

const post = (body: unknown) =>
  fetch(`${floor.server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('each message the floor accepts is stored once; one it refuses is not', async () => {
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => post({ recipient: '+966501234567', content: `code ${i}\ttab\\slash\nline\rreturn` })),
  );
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
  const ids = await Promise.all(answers.map(async (a) => ((await a.json()) as { id: string }).id));
  const refused = await post({ recipient: 'not a number', content: 'x' });
  expect(refused.status).toBe(400);

  const rows = await waitFor(
    async () => (await pool.query<{ id: string; content: string }>('SELECT id, content FROM floor_messages ORDER BY content')).rows,
    (r) => r.length >= ids.length,
    30_000,
    50,
  );
  expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
  expect(rows.map((r) => r.content)).toContain('code 7\ttab\\slash\nline\rreturn');
});
