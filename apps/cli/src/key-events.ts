import type { KeyEvent } from '@esh3ar/db';
import { createRedis, publishKeyEvent } from '@esh3ar/queue';
import type { Logger } from 'pino';
import type { CliConfig } from './config.ts';

/** Tells the api processes at once; Redis unreachable only delays it to their next read of PostgreSQL (≤ 1 s). */
export async function announce(config: CliConfig, logger: Logger, event: KeyEvent): Promise<void> {
  const redis = createRedis(config.redis, { name: 'esh3ar-cli', failFast: true });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  try {
    const connected = await redis.connect().then(
      () => true,
      () => false,
    );
    if (!connected || !(await publishKeyEvent(redis, config.redis.prefix, event))) {
      logger.warn('Redis unreachable: api processes apply this change when they next read PostgreSQL (within 1 s)');
    }
  } finally {
    redis.disconnect();
  }
}
