import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { migrate } from './migrate.ts';
import { withDefaultUser } from './pool.ts';

export interface ThrowawayDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function replaceDatabase(url: string, name: string): string {
  const parsed = new URL(withDefaultUser(url));
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * A database of its own, migrated, on the server of `baseUrl`, for one test file or one
 * benchmark run (here rather than in the test kit so that this package's own tests and
 * those of packages below the kit can use it). drop() removes it, closing whatever is
 * still connected.
 */
export async function createDatabase(baseUrl: string, label: string): Promise<ThrowawayDatabase> {
  const name = `esh3ar_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: replaceDatabase(baseUrl, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = replaceDatabase(baseUrl, name);
  await migrate(url, pino({ level: 'warn' }));
  return {
    url,
    name,
    async drop() {
      const client = new pg.Client({ connectionString: replaceDatabase(baseUrl, 'postgres') });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
