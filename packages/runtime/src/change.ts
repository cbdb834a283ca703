import type { RedisClient } from '@esh3ar/queue';
import type pg from 'pg';
import { checkPatchDepth, effectiveDocument, isJsonObject, mergeDocument, RuntimeConfigError, validDocument } from './document.ts';
import type { RuntimeConfig } from './schema.ts';
import { appendRuntimeConfig, latestRuntimeConfig, runtimeConfigHistory, type RuntimeConfigVersion } from './versions.ts';

/** Where and how versions are stored and announced. */
export interface ConfigStore {
  pool: pg.Pool;
  /** Publishes the change notification. */
  redis: RedisClient;
  prefix: string;
  /** Version 0 as this process reads it: the built-in defaults with its environment. */
  base: RuntimeConfig;
}

export interface VersionedConfig {
  version: number;
  config: RuntimeConfig;
}

export interface ConfigChange extends VersionedConfig {
  /** False when the notification could not be published: processes still apply it within a poll (~1 s). */
  notified: boolean;
}

export interface ConfigHistoryItem {
  version: number;
  changedAt: string;
  changedBy: string;
  config: unknown;
}

/** The pub/sub channel of change notifications; the message is the new version. */
export function configChannel(prefix: string): string {
  return `${prefix}:config`;
}

async function announce(store: ConfigStore, stored: RuntimeConfigVersion, config: RuntimeConfig): Promise<ConfigChange> {
  // A lost notification costs at most one poll interval: the watchers re-read PostgreSQL every second.
  const notified = await store.redis.publish(configChannel(store.prefix), String(stored.version)).then(
    () => true,
    () => false,
  );
  return { version: stored.version, config, notified };
}

/** The newest version, as processes with this base apply it. */
export async function readRuntimeConfig(store: Pick<ConfigStore, 'pool' | 'base'>): Promise<{ version: number; config: unknown }> {
  const latest = await latestRuntimeConfig(store.pool);
  return { version: latest.version, config: effectiveDocument(latest.config, store.base) };
}

/**
 * Deep-merges `patch` over the newest version, checks the WHOLE result, and stores it
 * as the next version: an invalid value anywhere stores nothing (VALIDATION_FAILED).
 */
export async function changeRuntimeConfig(store: ConfigStore, patch: unknown, changedBy: string): Promise<ConfigChange> {
  if (!isJsonObject(patch)) {
    throw new RuntimeConfigError('VALIDATION_FAILED', 'the change must be a JSON object such as {"buffer": {"capacity": 20000}}', [
      { path: '/', message: 'must be an object' },
    ]);
  }
  checkPatchDepth(patch);
  let config = store.base;
  const stored = await appendRuntimeConfig(store.pool, changedBy, ({ latest }) => {
    config = validDocument(mergeDocument(effectiveDocument(latest.config, store.base), patch));
    return config;
  });
  return announce(store, stored, config);
}

/** Stores version `version`'s document again as the next version (0: the built-in defaults). */
export async function rollbackRuntimeConfig(store: ConfigStore, version: number, changedBy: string): Promise<ConfigChange> {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RuntimeConfigError('VALIDATION_FAILED', 'version must be an integer ≥ 0', [
      { path: '/version', message: 'must be an integer ≥ 0' },
    ]);
  }
  let config = store.base;
  const stored = await appendRuntimeConfig(store.pool, changedBy, async ({ find }) => {
    const target = await find(version);
    if (target === null) throw new RuntimeConfigError('NOT_FOUND', `no runtime configuration version ${version}`);
    // Checked again: the schema may have changed since that version was stored.
    config = validDocument(effectiveDocument(target.config, store.base));
    return target.config === null ? null : config;
  });
  return announce(store, stored, config);
}

/** Versions newest first (version 0 last), each with its whole document. */
export async function runtimeConfigVersions(store: Pick<ConfigStore, 'pool' | 'base'>, limit: number): Promise<ConfigHistoryItem[]> {
  const versions = await runtimeConfigHistory(store.pool, limit);
  return versions.map((v) => ({
    version: v.version,
    changedAt: v.changedAt.toISOString(),
    changedBy: v.changedBy,
    config: effectiveDocument(v.config, store.base),
  }));
}
