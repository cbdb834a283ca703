import { readLogLevel, readOptionalString, readString, readUrl, type Env, type LogLevel } from './env.ts';

/** The settings every Esh3ar process shares (CONTRACT.md §1). */
export interface CommonConfig {
  postgres: { url: string };
  redis: { url: string; prefix: string };
  log: { level: LogLevel };
  host: string;
  adminToken: string | null;
}

export function parseCommonConfig(env: Env): CommonConfig {
  const prefix = readString(env, 'REDIS_PREFIX', 'esh3ar');
  return {
    postgres: { url: readUrl(env, 'DATABASE_URL', 'postgres://127.0.0.1:5432/esh3ar', ['postgres:', 'postgresql:']) },
    redis: { url: readUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']), prefix },
    log: { level: readLogLevel(env, 'LOG_LEVEL', 'info') },
    host: readString(env, 'HOST', '127.0.0.1'),
    adminToken: readOptionalString(env, 'ADMIN_TOKEN'),
  };
}
