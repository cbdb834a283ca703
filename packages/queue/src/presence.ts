import type { Redis } from 'ioredis';

/**
 * Which gateway instances hold a phone's connections, in two kinds of keys:
 *
 * - `<prefix>:presence:<phone>`: a sorted set per phone, member
 *   "<gatewayId>|<connectionId>", score = when it connected (ms). Added on connect,
 *   removed on close. The key expires PRESENCE_KEY_TTL_MS after it was last written;
 *   gateways touch the keys of their connections far more often than that.
 * - `<prefix>:gateways`: a sorted set, member = gateway id, score = until when that
 *   gateway counts as alive (ms). Each gateway pushes its own score forward on a
 *   heartbeat: one command per gateway per beat, however many devices it holds.
 *
 * An entry counts while its gateway is alive. A gateway that dies stops beating, and
 * its entries stop counting after the TTL; the first reader that sees them removes
 * them. A gateway whose beats lapsed (Redis unreachable for a TTL) re-adds its
 * connections when it beats again, so a reader's clean-up never strands a live device.
 *
 * Each command names one key, so the keys may live on different Redis Cluster shards.
 */
export const presenceKey = (prefix: string, phone: string) => `${prefix}:presence:${phone}`;
export const gatewaysKey = (prefix: string) => `${prefix}:gateways`;

/** The pub/sub channel one gateway instance listens on for its deliveries. */
export const gatewayChannel = (prefix: string, gatewayId: string) => `${prefix}:gateway:${gatewayId}`;

/** How long a phone's presence key outlives its last write: what a dead gateway can leave behind. */
export const PRESENCE_KEY_TTL_MS = 24 * 3600_000;
/** Gateways gone this long leave the gateways set for good. */
const GATEWAY_RETENTION_MS = 24 * 3600_000;

export interface PresenceEntry {
  phone: string;
  gatewayId: string;
  connectionId: string;
}

const member = (e: PresenceEntry) => `${e.gatewayId}|${e.connectionId}`;

/** Registers connections (on connect, and again after a lapse): two commands each. */
export async function addPresence(redis: Redis, prefix: string, entries: readonly PresenceEntry[], now = Date.now()): Promise<void> {
  if (entries.length === 0) return;
  const pipeline = redis.pipeline();
  for (const e of entries) {
    const key = presenceKey(prefix, e.phone);
    pipeline.zadd(key, now, member(e));
    pipeline.pexpire(key, PRESENCE_KEY_TTL_MS);
  }
  await failOnError(pipeline.exec());
}

/** Keeps the presence keys of long-lived connections from expiring: one command each, rarely. */
export async function touchPresence(redis: Redis, prefix: string, phones: readonly string[]): Promise<void> {
  if (phones.length === 0) return;
  const pipeline = redis.pipeline();
  for (const phone of phones) pipeline.pexpire(presenceKey(prefix, phone), PRESENCE_KEY_TTL_MS);
  await failOnError(pipeline.exec());
}

export async function removePresence(redis: Redis, prefix: string, entries: readonly PresenceEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const pipeline = redis.pipeline();
  for (const e of entries) pipeline.zrem(presenceKey(prefix, e.phone), member(e));
  await failOnError(pipeline.exec());
}

const REMOVE_GATEWAY_MEMBERS = `
local removed = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, #ARGV[1]) == ARGV[1] then removed = removed + redis.call('ZREM', KEYS[1], m) end
end
return removed`;

/**
 * A gateway drops every entry of its own for phones it holds no connection of: a
 * delivery routed to it for such a phone means an entry outlived its connection (its
 * removal failed while Redis was unreachable). Sent on the gateway's one command
 * connection, so a connect registered after this call is never undone by it.
 */
export async function pruneOwnPresence(redis: Redis, prefix: string, gatewayId: string, phones: readonly string[]): Promise<void> {
  if (phones.length === 0) return;
  const pipeline = redis.pipeline();
  for (const phone of phones) pipeline.eval(REMOVE_GATEWAY_MEMBERS, 1, presenceKey(prefix, phone), `${gatewayId}|`);
  await failOnError(pipeline.exec());
}

/**
 * One gateway's heartbeat: it counts as alive until now + ttlMs. Answers whether it
 * had lapsed (never registered, or its last beat is older than the TTL): its entries
 * may have been cleaned away by a reader meanwhile, and must be added again.
 */
export async function beatGateway(redis: Redis, prefix: string, gatewayId: string, ttlMs: number, now = Date.now()): Promise<{ lapsed: boolean }> {
  const key = gatewaysKey(prefix);
  const replies = await failOnError(redis.pipeline().zscore(key, gatewayId).zadd(key, now + ttlMs, gatewayId).zremrangebyscore(key, '-inf', now - GATEWAY_RETENTION_MS).exec());
  const previous = replies[0]?.[1] as string | null;
  return { lapsed: previous === null || Number(previous) < now };
}

/** A gateway leaving on purpose, after removing its entries. */
export async function retireGateway(redis: Redis, prefix: string, gatewayId: string): Promise<void> {
  await redis.zrem(gatewaysKey(prefix), gatewayId);
}

/** Removes a member only if its score is still the one seen: a gateway may have re-added it since. */
const REMOVE_IF_UNCHANGED = "if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end return 0";

/**
 * For each phone, the live gateway instances holding a connection of it (empty:
 * offline), in one round trip. Entries of dead gateways are removed on the way.
 *
 * The phones' entries are read before the set of live gateways: a gateway beats before
 * it adds an entry, so an entry seen here belongs to a gateway that is either in the
 * set read after it or truly gone.
 */
export async function onlineGateways(redis: Redis, prefix: string, phones: readonly string[], now = Date.now()): Promise<Map<string, Set<string>>> {
  const result = new Map<string, Set<string>>();
  if (phones.length === 0) return result;
  const pipeline = redis.pipeline();
  for (const phone of phones) pipeline.zrange(presenceKey(prefix, phone), '0', '-1', 'WITHSCORES');
  pipeline.zrangebyscore(gatewaysKey(prefix), now, '+inf');
  const replies = await failOnError(pipeline.exec());
  const alive = new Set(replies[phones.length]![1] as string[]);
  const stale: [key: string, member: string, score: string][] = [];
  phones.forEach((phone, i) => {
    const gateways = new Set<string>();
    const entries = replies[i]![1] as string[];
    for (let j = 0; j < entries.length; j += 2) {
      const m = entries[j]!;
      const gatewayId = m.slice(0, m.indexOf('|'));
      if (alive.has(gatewayId)) gateways.add(gatewayId);
      else stale.push([presenceKey(prefix, phone), m, entries[j + 1]!]);
    }
    result.set(phone, gateways);
  });
  await removeStale(redis, stale);
  return result;
}

/** Removes entries a reader found stale, each only if its score is still the one it read. */
export async function removeStale(redis: Redis, stale: readonly (readonly [key: string, member: string, score: string])[]): Promise<void> {
  if (stale.length === 0) return;
  const pipeline = redis.pipeline();
  for (const [key, m, score] of stale) pipeline.eval(REMOVE_IF_UNCHANGED, 1, key, m, score);
  await failOnError(pipeline.exec());
}

type Replies = [error: Error | null, result: unknown][];

async function failOnError(pending: Promise<Replies | null>): Promise<Replies> {
  const replies = (await pending) ?? [];
  for (const [error] of replies) if (error) throw error;
  return replies;
}
