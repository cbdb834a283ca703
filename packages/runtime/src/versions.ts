import { sqlFiles } from '@esh3ar/db';
import type pg from 'pg';

const sql = sqlFiles(new URL('./sql/', import.meta.url));

/**
 * One stored version of the runtime configuration. `config` is the whole document,
 * or null for "the built-in defaults" (version 0 and a rollback to it), which each
 * process completes with its own environment.
 */
export interface RuntimeConfigVersion {
  version: number;
  config: Record<string, unknown> | null;
  changedAt: Date;
  changedBy: string;
}

interface Row {
  version: number;
  config: Record<string, unknown> | null;
  changed_at: Date;
  changed_by: string;
}

const toVersion = (row: Row): RuntimeConfigVersion => ({
  version: row.version,
  config: row.config,
  changedAt: row.changed_at,
  changedBy: row.changed_by,
});

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

async function latest(db: Queryable): Promise<RuntimeConfigVersion> {
  const { rows } = await db.query<Row>(sql('runtime-config-latest'));
  // Migration 0002 stores version 0, so an empty table means a database nobody migrated.
  if (rows[0] === undefined) throw new Error('runtime_config_versions is empty: run pnpm esh3ar migrate');
  return toVersion(rows[0]);
}

async function find(db: Queryable, version: number): Promise<RuntimeConfigVersion | null> {
  const { rows } = await db.query<Row>(sql('runtime-config-version'), [version]);
  return rows[0] === undefined ? null : toVersion(rows[0]);
}

/** The newest version (what every process should be running). */
export function latestRuntimeConfig(pool: pg.Pool): Promise<RuntimeConfigVersion> {
  return latest(pool);
}

/** Versions newest first, at most `limit`. */
export async function runtimeConfigHistory(pool: pg.Pool, limit: number): Promise<RuntimeConfigVersion[]> {
  const { rows } = await pool.query<Row>(sql('runtime-config-history'), [limit]);
  return rows.map(toVersion);
}

export interface NextVersion {
  /** The newest version when the lock was taken. */
  latest: RuntimeConfigVersion;
  /** Any stored version (for a rollback), read inside the same transaction. */
  find: (version: number) => Promise<RuntimeConfigVersion | null>;
}

/**
 * Stores version latest+1 with the document `next` builds from the newest one. The
 * table lock makes concurrent writers take turns, so two changes made at once become
 * two versions, the second built on the first, rather than one lost update. When
 * `next` throws, nothing is stored.
 */
export async function appendRuntimeConfig(
  pool: pg.Pool,
  changedBy: string,
  next: (current: NextVersion) => Promise<Record<string, unknown> | null> | Record<string, unknown> | null,
): Promise<RuntimeConfigVersion> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query(sql('runtime-config-lock'));
      const current = await latest(client);
      const document = await next({ latest: current, find: (version) => find(client, version) });
      const { rows } = await client.query<Row>(sql('runtime-config-insert'), [
        current.version + 1,
        document === null ? null : JSON.stringify(document),
        changedBy,
      ]);
      await client.query('COMMIT');
      return toVersion(rows[0]!);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined); // the original error is what matters
      throw error;
    }
  } finally {
    client.release();
  }
}
