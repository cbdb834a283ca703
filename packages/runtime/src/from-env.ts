import { ConfigError, deepFreeze, readInt, type Env } from '@esh3ar/config';
import { DEFAULT_RUNTIME_CONFIG, type RuntimeConfig } from './schema.ts';

function readRatio(env: Env, name: string, fallback: number): number {
  const value = env[name]?.trim();
  if (!value) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new ConfigError(`${name} must be a number in (0, 1], got "${value}"`);
  return n;
}

/**
 * The runtime document a process starts from: the built-in defaults, with the
 * buffer and batch settings optionally set by environment (for a deployment's
 * sizing, and for tests that need a small buffer).
 */
export function runtimeConfigFromEnv(env: Env): RuntimeConfig {
  const d = DEFAULT_RUNTIME_CONFIG;
  return deepFreeze({
    ...structuredClone(d),
    buffer: {
      capacity: readInt(env, 'BUFFER_CAPACITY', d.buffer.capacity, 1, 100_000_000),
      highWatermark: readRatio(env, 'BUFFER_HIGH_WATERMARK', d.buffer.highWatermark),
    },
    worker: {
      ...d.worker,
      batchSize: readInt(env, 'WORKER_BATCH_SIZE', d.worker.batchSize, 1, 10_000),
      batchTimeoutMs: readInt(env, 'WORKER_BATCH_TIMEOUT_MS', d.worker.batchTimeoutMs, 1, 60_000),
    },
  });
}
