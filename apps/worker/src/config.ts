import { deepFreeze, parseCommonConfig, readInt, readPort, readSwitch, readWaitReplicas, type Env } from '@esh3ar/config';
import { runtimeConfigFromEnv } from '@esh3ar/runtime';
import { parseProviderConfig } from './providers/provider-config.ts';
import { parseProviderRates } from './providers/provider-rates.ts';

/**
 * How long stopping may take after SIGTERM before close-with-grace exits with code 1: the
 * batch in hand is written and provider calls end (PROVIDER_TIMEOUT_MS, 5 s by default). A
 * worker killed anyway loses nothing: its jobs go to another once their lock expires.
 * infra/ gives the container longer before SIGKILL (infra/infra.test.ts and
 * infra/k8s.test.ts check it).
 */
export const SHUTDOWN_GRACE_MS = 20_000;

export function parseConfig(env: Env) {
  const common = parseCommonConfig(env);
  return deepFreeze({
    ...common,
    redis: {
      ...common.redis,
      // Development only: start even on a Redis without AOF or with an evicting
      // maxmemory-policy (@esh3ar/queue guardRedisDurability), logged as an error.
      allowVolatileBuffer: readSwitch(env, 'ALLOW_VOLATILE_BUFFER', false),
      // Replicas that must hold the send jobs added after storage before the ingest jobs
      // are acknowledged (WAIT); null: waitReplicasOf's default.
      waitReplicas: readWaitReplicas(env),
    },
    ops: { host: common.host, port: readPort(env, 'OPS_PORT', 9400) },
    ingest: {
      // Jobs held at once; each carries one api tick (~80 messages under load), so 32
      // jobs fill a 1000-row COPY batch.
      concurrency: readInt(env, 'WORKER_CONCURRENCY', 32, 1, 1000),
      // A SIGKILLed worker's jobs return to the queue once their lock expires.
      lockDurationMs: readInt(env, 'WORKER_LOCK_DURATION_MS', 30_000, 1000, 600_000),
      retryBaseMs: readInt(env, 'WORKER_RETRY_BASE_MS', 250, 1, 60_000),
      retryMaxMs: readInt(env, 'WORKER_RETRY_MAX_MS', 30_000, 1, 3_600_000),
    },
    providers: {
      // Send jobs (batches of up to 500) in hand per channel: their calls share maxInFlight.
      // 4: while one job waits for its last answers or records its outcomes, the others keep the slots busy.
      concurrency: readInt(env, 'PROVIDER_CONCURRENCY', 4, 1, 1000),
      // Provider calls in flight per worker, all channels together (sockets and memory): at
      // 50 ms a call, 5,000 sends/s need 250; twice as many messages may be claimed at once.
      maxInFlight: readInt(env, 'PROVIDER_MAX_IN_FLIGHT', 512, 1, 10_000),
      // <PROVIDER>_RATE_PER_SECOND: each provider account's rate limit, across all workers.
      rates: parseProviderRates(env),
      timeoutMs: readInt(env, 'PROVIDER_TIMEOUT_MS', 5000, 10, 120_000),
      // SMS_PROVIDER, WHATSAPP_PROVIDER, EMAIL_PROVIDER and each provider's settings.
      ...parseProviderConfig(env),
    },
    // TTL precision: a message is marked expired at most this long after its TTL.
    expirySweepMs: readInt(env, 'WORKER_EXPIRY_SWEEP_MS', 1000, 50, 3_600_000),
    scheduling: {
      // How late a scheduled message may go out when nothing is due before it: the contract
      // says within 1 s of its sendAt; an idle poll is one index probe per priority.
      pollMs: readInt(env, 'SCHEDULE_POLL_MS', 200, 10, 60_000),
    },
    webhooks: {
      timeoutMs: readInt(env, 'WEBHOOK_TIMEOUT_MS', 5000, 100, 60_000),
      // How soon a status change is POSTed when nothing is being delivered (an idle poll is one indexed query).
      pollMs: readInt(env, 'WEBHOOK_POLL_MS', 200, 10, 60_000),
      // A failing endpoint is tried again after 1 s, 2 s, 4 s, … up to 5 min (±50% jitter).
      retryBaseMs: readInt(env, 'WEBHOOK_RETRY_BASE_MS', 1000, 10, 3_600_000),
      retryMaxMs: readInt(env, 'WEBHOOK_RETRY_MAX_MS', 300_000, 10, 86_400_000),
    },
    postgresPool: { max: readInt(env, 'WORKER_PG_POOL_MAX', 4, 1, 1000) },
    runtime: runtimeConfigFromEnv(env),
  });
}
