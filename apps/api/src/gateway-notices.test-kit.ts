import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createRedis } from '@esh3ar/queue';
import { addPresence, beatGateway, gatewayChannel } from '@esh3ar/queue/presence';
import type { InProcessApp } from './in-process-app.test-kit.ts';

/**
 * Runs `run` as a gateway holding `phone` (its presence and a beat, under `prefix`) would see
 * it: `notices` gathers what the api publishes to that gateway, and `next()` resolves with
 * the next one.
 */
export async function asGatewayOf(
  app: Pick<InProcessApp, 'redis'>,
  redisUrl: string,
  prefix: string,
  phone: string,
  run: (notices: string[], next: () => Promise<unknown>) => Promise<void>,
): Promise<void> {
  const gatewayId = `gw-${randomUUID()}`;
  await addPresence(app.redis, prefix, [{ phone, gatewayId, connectionId: 'c1' }]);
  await beatGateway(app.redis, prefix, gatewayId, 60_000);
  const subscriber = createRedis(redisUrl, { name: 'esh3ar-test-gateway', failFast: true });
  try {
    await subscriber.connect();
    await subscriber.subscribe(gatewayChannel(prefix, gatewayId));
    const notices: string[] = [];
    subscriber.on('message', (_channel: string, payload: string) => notices.push(payload));
    await run(notices, () => once(subscriber, 'message'));
  } finally {
    subscriber.disconnect();
  }
}
