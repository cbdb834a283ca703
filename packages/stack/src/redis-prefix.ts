import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** A REDIS_PREFIX of its own, and a way to remove every key under it afterwards. */
export function uniquePrefix(label: string): string {
  return `esh3ar-t-${label
    .replace(/[^a-z0-9]/gi, '-')
    .toLowerCase()
    .slice(0, 30)}-${randomBytes(4).toString('hex')}`;
}

export async function deletePrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let failure: Error | undefined;
  redis.on('error', (error: Error) => {
    failure = error;
  });
  await redis.connect().catch((error: Error) => {
    throw failure ?? error;
  });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
