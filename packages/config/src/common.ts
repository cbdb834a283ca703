import { readInt, readLogLevel, readOptionalString, readString, readUrl, type Env, type LogLevel } from './env.ts';
import { parseRedisConfig, type RedisConfig } from './redis.ts';

/** The settings every Esh3ar process shares (docs/configuration.md). */
export interface CommonConfig {
  /** slowStatementMs: statements at least this long are logged by name (0: every one). */
  postgres: { url: string; slowStatementMs: number };
  redis: RedisConfig;
  log: { level: LogLevel };
  host: string;
  adminToken: string | null;
}

export function parseCommonConfig(env: Env): CommonConfig {
  return {
    postgres: {
      url: readUrl(env, 'DATABASE_URL', 'postgres://127.0.0.1:5432/esh3ar', ['postgres:', 'postgresql:']),
      // The 500 ms of the slow-statement alert: a statement that long holds a pooled connection
      // through hundreds of requests' worth of work.
      slowStatementMs: readInt(env, 'PG_SLOW_STATEMENT_MS', 500, 0, 3_600_000),
    },
    redis: parseRedisConfig(env),
    log: { level: readLogLevel(env, 'LOG_LEVEL', 'info') },
    host: readString(env, 'HOST', '127.0.0.1'),
    adminToken: readOptionalString(env, 'ADMIN_TOKEN'),
  };
}
