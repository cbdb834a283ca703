import type { Redis } from 'ioredis';

/**
 * Which gateway instances hold a phone's connections. One sorted set per phone:
 * member "<gatewayId>|<connectionId>", score = when the entry expires (ms). Gateways
 * refresh their entries on a heartbeat; a gateway that dies stops refreshing and its
 * entries stop counting after the TTL, so no phone stays "online" on a dead node.
 */
export const presenceKey = (prefix: string, phone: string) => `${prefix}:presence:${phone}`;

/** The pub/sub channel one gateway instance listens on for its deliveries. */
export const gatewayChannel = (prefix: string, gatewayId: string) => `${prefix}:gateway:${gatewayId}`;

export interface PresenceEntry {
  phone: string;
  gatewayId: string;
  connectionId: string;
}

const member = (e: PresenceEntry) => `${e.gatewayId}|${e.connectionId}`;

export async function refreshPresence(redis: Redis, prefix: string, entries: readonly PresenceEntry[], ttlMs: number, now = Date.now()): Promise<void> {
  if (entries.length === 0) return;
  const pipeline = redis.pipeline();
  for (const e of entries) {
    const key = presenceKey(prefix, e.phone);
    pipeline.zadd(key, now + ttlMs, member(e));
    pipeline.zremrangebyscore(key, '-inf', now);
    pipeline.pexpire(key, ttlMs * 2);
  }
  await pipeline.exec();
}

export async function removePresence(redis: Redis, prefix: string, entries: readonly PresenceEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const pipeline = redis.pipeline();
  for (const e of entries) pipeline.zrem(presenceKey(prefix, e.phone), member(e));
  await pipeline.exec();
}

/** For each phone, the gateway instances with a live connection of it (empty: offline). */
export async function onlineGateways(redis: Redis, prefix: string, phones: readonly string[], now = Date.now()): Promise<Map<string, Set<string>>> {
  const result = new Map<string, Set<string>>();
  if (phones.length === 0) return result;
  const pipeline = redis.pipeline();
  for (const phone of phones) pipeline.zrangebyscore(presenceKey(prefix, phone), now, '+inf');
  const replies = (await pipeline.exec()) ?? [];
  phones.forEach((phone, i) => {
    const [error, members] = replies[i] ?? [null, []];
    if (error) throw error;
    result.set(phone, new Set((members as string[]).map((m) => m.slice(0, m.indexOf('|')))));
  });
  return result;
}
