import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addPresence, beatGateway, onlineGateways, PRESENCE_KEY_TTL_MS, presenceKey, pruneOwnPresence, removePresence, removeStale, retireGateway, touchPresence } from './presence.ts';

// Real Redis under a prefix of this file's own (a new one per test); clocks are injected.
let prefix: string;
let redis: Redis;
const TTL = 30_000;
const T0 = 1_800_000_000_000;
const entry = (phone: string, gatewayId: string, connectionId = '1') => ({ phone, gatewayId, connectionId });
const online = async (phones: string[], now: number) =>
  Object.fromEntries([...(await onlineGateways(redis, prefix, phones, now))].map(([phone, gateways]) => [phone, [...gateways].sort()]));

beforeAll(() => {
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
});
beforeEach(() => {
  prefix = `esh3ar-t-presence-${randomUUID().slice(0, 8)}`;
});
afterAll(async () => {
  const left = await redis.keys('esh3ar-t-presence-*');
  if (left.length) await redis.del(...left);
  redis.disconnect();
});

describe('presence', () => {
  it('finds each phone on the live gateways holding it, and nowhere once it leaves', async () => {
    await beatGateway(redis, prefix, 'g1', TTL, T0);
    await beatGateway(redis, prefix, 'g2', TTL, T0);
    await addPresence(redis, prefix, [entry('+1', 'g1'), entry('+1', 'g2', '7'), entry('+2', 'g2')], T0);
    expect(await online(['+1', '+2', '+3'], T0 + 1)).toEqual({ '+1': ['g1', 'g2'], '+2': ['g2'], '+3': [] });
    await removePresence(redis, prefix, [entry('+1', 'g2', '7')]);
    expect(await online(['+1', '+2'], T0 + 2)).toEqual({ '+1': ['g1'], '+2': ['g2'] });
  });

  it('stops counting a gateway that stops beating after the TTL, and removes its entries then, not before', async () => {
    await beatGateway(redis, prefix, 'dead', TTL, T0);
    await beatGateway(redis, prefix, 'live', TTL, T0);
    await addPresence(redis, prefix, [entry('+1', 'dead'), entry('+1', 'live')], T0);
    await beatGateway(redis, prefix, 'live', TTL, T0 + 20_000);
    expect(await online(['+1'], T0 + TTL - 1)).toEqual({ '+1': ['dead', 'live'] });
    expect(await redis.zcard(presenceKey(prefix, '+1'))).toBe(2);
    expect(await online(['+1'], T0 + TTL + 1)).toEqual({ '+1': ['live'] });
    expect(await redis.zrange(presenceKey(prefix, '+1'), '0', '-1')).toEqual(['live|1']);
  });

  it('costs one gateway command per beat however many devices it holds, and keeps their keys from expiring', async () => {
    await beatGateway(redis, prefix, 'g1', TTL, T0);
    await addPresence(redis, prefix, Array.from({ length: 50 }, (_, i) => entry(`+${i}`, 'g1', String(i))), T0);
    const ttl = await redis.pttl(presenceKey(prefix, '+7'));
    expect(ttl).toBeGreaterThan(PRESENCE_KEY_TTL_MS - 60_000);
    // Beats alone keep all 50 devices online, long after the TTL of their registration.
    for (let t = T0 + 10_000; t <= T0 + 10 * TTL; t += 10_000) await beatGateway(redis, prefix, 'g1', TTL, t);
    const found = await online(Array.from({ length: 50 }, (_, i) => `+${i}`), T0 + 10 * TTL);
    expect(Object.values(found).every((g) => g.join() === 'g1')).toBe(true);
    await redis.pexpire(presenceKey(prefix, '+7'), 1000);
    await touchPresence(redis, prefix, ['+7']);
    expect(await redis.pttl(presenceKey(prefix, '+7'))).toBeGreaterThan(PRESENCE_KEY_TTL_MS - 60_000);
  });

  it('says a beat lapsed when the gateway never beat or missed its TTL, and not otherwise', async () => {
    expect(await beatGateway(redis, prefix, 'g1', TTL, T0)).toEqual({ lapsed: true });
    expect(await beatGateway(redis, prefix, 'g1', TTL, T0 + 10_000)).toEqual({ lapsed: false });
    expect(await beatGateway(redis, prefix, 'g1', TTL, T0 + 10_000 + TTL - 1)).toEqual({ lapsed: false });
    expect(await beatGateway(redis, prefix, 'g1', TTL, T0 + 10_000 + 3 * TTL)).toEqual({ lapsed: true });
  });

  it('a reader that saw an entry of a lapsed gateway leaves it when the gateway has added it again meanwhile', async () => {
    await beatGateway(redis, prefix, 'g1', TTL, T0);
    await addPresence(redis, prefix, [entry('+1', 'g1')], T0);
    // The gateway lapsed; it beats and adds its entry again (a new score) while a reader
    // that read the old entry and the old liveness is about to clean it up.
    const key = presenceKey(prefix, '+1');
    const seen = await redis.zrange(key, '0', '-1', 'WITHSCORES');
    await beatGateway(redis, prefix, 'g1', TTL, T0 + 2 * TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1')], T0 + 2 * TTL);
    await removeStale(redis, [[key, seen[0]!, seen[1]!]]);
    expect(await online(['+1'], T0 + 2 * TTL + 1)).toEqual({ '+1': ['g1'] });
    // Without the re-add, the same clean-up removes it.
    await removeStale(redis, [[key, 'g1|1', String(T0 + 2 * TTL)]]);
    expect(await redis.exists(key)).toBe(0);
  });

  it('a gateway prunes only its own entries of a phone, and a retired gateway counts nowhere', async () => {
    await beatGateway(redis, prefix, 'g1', TTL, T0);
    await beatGateway(redis, prefix, 'g2', TTL, T0);
    await addPresence(redis, prefix, [entry('+1', 'g1', '1'), entry('+1', 'g1', '2'), entry('+1', 'g2', '1'), entry('+1', 'g10', '1')], T0);
    await pruneOwnPresence(redis, prefix, 'g1', ['+1', '+9']);
    expect((await redis.zrange(presenceKey(prefix, '+1'), '0', '-1')).sort()).toEqual(['g10|1', 'g2|1']);
    await retireGateway(redis, prefix, 'g2');
    expect(await online(['+1'], T0 + 1)).toEqual({ '+1': [] });
  });
});
