import { createPool } from '@esh3ar/db';
import type pg from 'pg';
import type { CliConfig } from './config.ts';

/** One PostgreSQL connection for one command, closed when the command is done, whatever its outcome. */
export async function withPool<T>(config: CliConfig, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'esh3ar-cli' });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}
