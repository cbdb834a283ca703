import { isCluster, type RedisClient } from './redis.ts';
import { pipelined } from './pipelines.ts';

/** The pub/sub channel one gateway instance listens on for its deliveries and cancel notices (presence-channel.ts). */
export const gatewayChannel = (prefix: string, gatewayId: string) => `${prefix}:gateway:${gatewayId}`;

/*
 * On a Cluster a PUBLISH reaches every node over the cluster bus, whoever subscribes: N
 * masters carry every delivery of every gateway, and that does not shrink as masters are
 * added. Sharded pub/sub (SPUBLISH and SSUBSCRIBE, Redis 7.0 or later) keeps a channel
 * on the master of its slot: each gateway's channel lives on one master, and the
 * gateways spread over them. One Redis keeps PUBLISH, which a Redis older than 7.0 and a
 * gateway of an older release both know.
 */

/** Publishes each payload on its gateway's channel: one pipeline on one Redis, one per master on a Cluster. */
export async function publishToGateways(redis: RedisClient, prefix: string, payloads: ReadonlyMap<string, string>): Promise<void> {
  const sharded = isCluster(redis);
  await pipelined(
    redis,
    [...payloads].map(([gatewayId, payload]) => {
      const channel = gatewayChannel(prefix, gatewayId);
      return { key: channel, add: (p) => (sharded ? p.spublish(channel, payload) : p.publish(channel, payload)) };
    }),
  );
}

/**
 * Subscribes a gateway's connection to its channel: resolves once Redis confirmed it, from
 * when on publications arrive. On a Cluster, `subscriber` must be made with
 * createRedis's `sharded` option.
 */
export async function subscribeGateway(subscriber: RedisClient, channel: string): Promise<void> {
  if (isCluster(subscriber)) await subscriber.ssubscribe(channel);
  else await subscriber.subscribe(channel);
}

/** Calls `handle` with each message published on the channels subscribed by subscribeGateway. */
export function onGatewayMessage(subscriber: RedisClient, handle: (payload: string) => void): void {
  subscriber.on(isCluster(subscriber) ? 'smessage' : 'message', (_channel: string, payload: string) => handle(payload));
}
