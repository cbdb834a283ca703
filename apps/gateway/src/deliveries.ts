import { gatewayChannel, onGatewayMessage, parseChannelMessage, pruneOwnPresence, subscribeGateway } from '@esh3ar/queue/presence';
import type { Logger } from 'pino';
import type { DeviceHub } from './device-hub.ts';
import { isCluster, type RedisClient } from '@esh3ar/queue';

export interface DeliveriesDeps {
  /** A connection of its own: a subscribed connection can do nothing else (createRedis's `sharded`, for a Cluster). */
  subscriber: RedisClient;
  redis: RedisClient;
  prefix: string;
  gatewayId: string;
  hub: DeviceHub;
  logger: Logger;
}

/**
 * Live messages the workers route to this instance (they look up where each phone is
 * connected), on this gateway's own channel, and the api's notices of messages their
 * sender canceled (@esh3ar/queue's presence-channel.ts), in the order Redis took them.
 *
 * At every (re)connection of the subscriber, the channel is subscribed again and every
 * connection replays: what the workers published here while the subscriber was away
 * reached nobody, and waits in PostgreSQL as pending. ioredis re-subscribes by itself
 * (autoResubscribe), but only the answer to our own SUBSCRIBE says from when on
 * publications arrive; the replays read after it, and the live messages that arrive
 * meanwhile are held behind them, so that none overtakes an older one.
 */
export function subscribeDeliveries(deps: DeliveriesDeps): void {
  const { subscriber, hub, logger } = deps;
  const channel = gatewayChannel(deps.prefix, deps.gatewayId);
  onGatewayMessage(subscriber, (payload) => {
    const message = parseChannelMessage(payload);
    if (message === null) {
      // A bug or an incompatible release. What it carried is in PostgreSQL: messages are
      // replayed at the phone's next connect, a cancel is seen by the re-push check. Its
      // text is not logged: it would hold message contents.
      logger.error({ bytes: payload.length }, 'unreadable message on the deliveries channel; ignored');
      return;
    }
    if ('canceled' in message) {
      hub.cancel(message.canceled);
      return;
    }
    const absent = hub.deliver(message.deliveries);
    pruneOwnPresence(deps.redis, deps.prefix, deps.gatewayId, absent).catch((error: Error) =>
      logger.warn({ err: error }, 'stale presence not pruned; the next delivery retries'),
    );
  });
  const resubscribe = () => {
    const held = hub.connections().filter((c) => c.socket.readyState === c.socket.OPEN && hub.holdForReplay(c));
    void subscribeGateway(subscriber, channel)
      .then(
        () => logger.info({ connections: held.length }, 'deliveries subscribed; replaying to the connections open meanwhile'),
        // Only when the connection drops again before answering: its next 'ready' subscribes again.
        (error: Error) => logger.warn({ err: error }, 'deliveries not subscribed; trying again when Redis reconnects'),
      )
      // Held connections replay either way, so that their live messages are let through
      // (hub.replay never rejects).
      .then(() => Promise.all(held.map((c) => hub.replay(c))));
  };
  subscriber.on('ready', resubscribe);
  // On a Cluster, a failover moves the channel's slot to another master, where ioredis
  // subscribes again by itself and then says so: what was published meanwhile is
  // replayed as after a reconnection.
  if (isCluster(subscriber)) subscriber.on('subscribersReady', resubscribe);
  // Connects now (lazyConnect); while Redis does not answer, ioredis retries every ≤ 2 s
  // (createRedis's retryStrategy) and 'error' is logged by main.ts.
  subscriber.connect().catch((error: Error) => logger.debug({ err: error }, 'deliveries subscriber not connected yet; retrying'));
}
