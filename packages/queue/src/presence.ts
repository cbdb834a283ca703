import { readFileSync } from 'node:fs';
import { publishToGateways } from './gateway-pubsub.ts';
import { pipelined } from './pipelines.ts';
import { cancelNotice, type CanceledItem } from './presence-channel.ts';
import type { RedisClient } from './redis.ts';

export { parseChannelMessage, type CanceledItem, type ChannelMessage } from './presence-channel.ts';
export { gatewayChannel, onGatewayMessage, publishToGateways, subscribeGateway } from './gateway-pubsub.ts';

/**
 * Which gateway instances hold a phone's connections, in two kinds of keys:
 *
 * - `<prefix>:presence:<phone>`: a sorted set per phone, member
 *   "<gatewayId>|<connectionId>", score = when it was (re-)registered (ms, strictly
 *   increasing per process). Added on connect, removed on close. The key expires
 *   PRESENCE_KEY_TTL_MS after it was last written; gateways touch the keys of their
 *   connections far more often than that, re-adding an entry that went missing.
 * - `<prefix>:gateway-alive:<gatewayId>`: set with an expiry of the presence TTL, which
 *   each gateway renews on a heartbeat: one command per gateway per beat, however many
 *   devices it holds. Redis's own clock expires it, so readers and gateways agree on
 *   whether a gateway lapsed whatever their clocks say.
 *
 * An entry counts while its gateway's key exists. A gateway that dies stops beating, and
 * its entries stop counting after the TTL; the first reader that sees them removes them
 * (only if their score is still the one it read). A gateway whose key had expired when
 * it beats again (Redis unreachable for a TTL) re-adds its connections with new scores,
 * so a reader's clean-up racing with it leaves them, and replays to them what was
 * routed elsewhere meanwhile.
 *
 * Every command and script names one key, so no key needs a hash tag on Redis Cluster:
 * the phones spread over the masters, and the batches that span phones or gateways are
 * pipelined per master (pipelines.ts).
 */
export const presenceKey = (prefix: string, phone: string) => `${prefix}:presence:${phone}`;
export const gatewayAliveKey = (prefix: string, gatewayId: string) => `${prefix}:gateway-alive:${gatewayId}`;

/** How long a phone's presence key outlives its last write: what a dead gateway can leave behind. */
export const PRESENCE_KEY_TTL_MS = 24 * 3600_000;

export interface PresenceEntry {
  phone: string;
  gatewayId: string;
  connectionId: string;
}

const member = (e: PresenceEntry) => `${e.gatewayId}|${e.connectionId}`;

let lastScore = 0;
/** Now in ms, but never the same value twice in this process: a re-added entry always gets a new score. */
export function presenceScore(): number {
  lastScore = Math.max(Date.now(), lastScore + 1);
  return lastScore;
}

/**
 * Registers connections: two commands each. On connect and after a lapse, with a new
 * score; `onlyMissing` (the hourly touch) keeps the score of an entry that is there and
 * re-adds one that went missing (a failover to a replica behind, say). Answers, for
 * each entry, whether it was missing.
 */
export async function addPresence(
  redis: RedisClient,
  prefix: string,
  entries: readonly PresenceEntry[],
  options: { onlyMissing?: boolean } = {},
): Promise<boolean[]> {
  if (entries.length === 0) return [];
  const score = presenceScore();
  const replies = await pipelined(
    redis,
    entries.flatMap((e) => {
      const key = presenceKey(prefix, e.phone);
      return [
        { key, add: (p) => (options.onlyMissing ? p.zadd(key, 'NX', score, member(e)) : p.zadd(key, score, member(e))) },
        { key, add: (p) => p.pexpire(key, PRESENCE_KEY_TTL_MS) },
      ];
    }),
  );
  return entries.map((_, i) => replies[2 * i] === 1);
}

export async function removePresence(redis: RedisClient, prefix: string, entries: readonly PresenceEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await pipelined(
    redis,
    entries.map((e) => {
      const key = presenceKey(prefix, e.phone);
      return { key, add: (p) => p.zrem(key, member(e)) };
    }),
  );
}

const REMOVE_GATEWAY_MEMBERS = readFileSync(new URL('./lua/remove-gateway-members.lua', import.meta.url), 'utf8');

/**
 * A gateway drops every entry of its own for phones it holds no connection of: a
 * delivery routed to it for such a phone means an entry outlived its connection (its
 * removal failed while Redis was unreachable). Sent on the gateway's one command
 * connection, so a connect registered after this call is never undone by it.
 */
export async function pruneOwnPresence(redis: RedisClient, prefix: string, gatewayId: string, phones: readonly string[]): Promise<void> {
  if (phones.length === 0) return;
  await pipelined(
    redis,
    phones.map((phone) => {
      const key = presenceKey(prefix, phone);
      return { key, add: (p) => p.eval(REMOVE_GATEWAY_MEMBERS, 1, key, `${gatewayId}|`) };
    }),
  );
}

/**
 * One gateway's heartbeat: it counts as alive for ttlMs more, by Redis's clock. Answers
 * whether it had lapsed (never beat, or its key expired since the last beat): its
 * entries may have been cleaned away by a reader meanwhile, and must be added again.
 */
export async function beatGateway(redis: RedisClient, prefix: string, gatewayId: string, ttlMs: number): Promise<{ lapsed: boolean }> {
  const previous = await redis.set(gatewayAliveKey(prefix, gatewayId), '1', 'PX', ttlMs, 'GET');
  return { lapsed: previous === null };
}

/** A gateway leaving on purpose, after removing its entries. */
export async function retireGateway(redis: RedisClient, prefix: string, gatewayId: string): Promise<void> {
  await redis.del(gatewayAliveKey(prefix, gatewayId));
}

const REMOVE_IF_UNCHANGED = readFileSync(new URL('./lua/remove-if-unchanged.lua', import.meta.url), 'utf8');

/**
 * For each phone, the live gateway instances holding a connection of it (empty:
 * offline), in two round trips: the phones' entries, then whether their gateways are
 * alive. Entries of dead gateways are removed on the way.
 *
 * The entries are read before the gateways' liveness: a gateway beats before it adds an
 * entry, so an entry seen here belongs to a gateway that is either alive in the read
 * after it or truly lapsed.
 */
export async function onlineGateways(redis: RedisClient, prefix: string, phones: readonly string[]): Promise<Map<string, Set<string>>> {
  const result = new Map<string, Set<string>>();
  if (phones.length === 0) return result;
  const found = (await pipelined(
    redis,
    phones.map((phone) => {
      const key = presenceKey(prefix, phone);
      return { key, add: (p) => p.zrange(key, '0', '-1', 'WITHSCORES') };
    }),
  )) as string[][];
  const gatewayOf = (m: string) => m.slice(0, m.indexOf('|'));
  const gatewayIds = [...new Set(found.flatMap((pairs) => pairs.filter((_, j) => j % 2 === 0).map(gatewayOf)))];
  const alive = new Set<string>();
  if (gatewayIds.length > 0) {
    const liveness = await pipelined(
      redis,
      gatewayIds.map((id) => {
        const key = gatewayAliveKey(prefix, id);
        return { key, add: (p) => p.exists(key) };
      }),
    );
    liveness.forEach((exists, i) => {
      if (exists === 1) alive.add(gatewayIds[i]!);
    });
  }
  const stale: [key: string, member: string, score: string][] = [];
  phones.forEach((phone, i) => {
    const gateways = new Set<string>();
    const pairs = found[i]!;
    for (let j = 0; j < pairs.length; j += 2) {
      const gatewayId = gatewayOf(pairs[j]!);
      if (alive.has(gatewayId)) gateways.add(gatewayId);
      else stale.push([presenceKey(prefix, phone), pairs[j]!, pairs[j + 1]!]);
    }
    result.set(phone, gateways);
  });
  await removeStale(redis, stale);
  return result;
}

// Messages per round: a bulk cancel of 100,000 messages is 100 rounds of
// bounded pipelines rather than one pipeline of 100,000 commands.
const CANCELED_PER_ROUND = 1000;

/**
 * Tells the gateways holding these messages' phones that their sender canceled them (a
 * cancel notice on each gateway's channel, presence-channel.ts): they forget them and push
 * them no more. Redis hands one subscriber its messages in PUBLISH order, so a worker's
 * delivery of one of them that Redis takes after the notice reaches the gateway after it.
 * Offline phones need nothing: the replay reads PostgreSQL, where the messages are
 * canceled already.
 */
export async function announceCanceled(redis: RedisClient, prefix: string, items: readonly CanceledItem[]): Promise<void> {
  for (let start = 0; start < items.length; start += CANCELED_PER_ROUND) {
    const round = items.slice(start, start + CANCELED_PER_ROUND);
    const online = await onlineGateways(redis, prefix, [...new Set(round.map((i) => i.recipient))]);
    const perGateway = new Map<string, CanceledItem[]>();
    for (const item of round) {
      for (const gatewayId of online.get(item.recipient) ?? []) {
        const list = perGateway.get(gatewayId);
        if (list) list.push(item);
        else perGateway.set(gatewayId, [item]);
      }
    }
    if (perGateway.size === 0) continue;
    await publishToGateways(redis, prefix, new Map([...perGateway].map(([gatewayId, list]) => [gatewayId, cancelNotice(list)])));
  }
}

/** Removes entries a reader found stale, each only if its score is still the one it read. */
export async function removeStale(
  redis: RedisClient,
  stale: readonly (readonly [key: string, member: string, score: string])[],
): Promise<void> {
  if (stale.length === 0) return;
  await pipelined(
    redis,
    stale.map(([key, m, score]) => ({ key, add: (p) => p.eval(REMOVE_IF_UNCHANGED, 1, key, m, score) })),
  );
}
