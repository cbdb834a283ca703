import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  addPresence,
  announceCanceled,
  beatGateway,
  gatewayChannel,
  gatewayAliveKey,
  onlineGateways,
  PRESENCE_KEY_TTL_MS,
  presenceKey,
  presenceScore,
  pruneOwnPresence,
  removePresence,
  removeStale,
  retireGateway,
} from './presence.ts';

// Real Redis under a prefix of this file's own (a new one per test). A gateway's
// liveness expires by Redis's clock; the tests delete the key where it would expire.
let prefix: string;
let redis: Redis;
const TTL = 30_000;
const entry = (phone: string, gatewayId: string, connectionId = '1') => ({ phone, gatewayId, connectionId });
const online = async (phones: string[]) =>
  Object.fromEntries([...(await onlineGateways(redis, prefix, phones))].map(([phone, gateways]) => [phone, [...gateways].sort()]));
const members = async (phone: string) => (await redis.zrange(presenceKey(prefix, phone), '0', '-1')).sort();
const lapse = (gatewayId: string) => redis.del(gatewayAliveKey(prefix, gatewayId));

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
    await beatGateway(redis, prefix, 'g1', TTL);
    await beatGateway(redis, prefix, 'g2', TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1'), entry('+1', 'g2', '7'), entry('+2', 'g2')]);
    expect(await online(['+1', '+2', '+3'])).toEqual({ '+1': ['g1', 'g2'], '+2': ['g2'], '+3': [] });
    await removePresence(redis, prefix, [entry('+1', 'g2', '7')]);
    expect(await online(['+1', '+2'])).toEqual({ '+1': ['g1'], '+2': ['g2'] });
    const ttl = await redis.pttl(presenceKey(prefix, '+2'));
    expect(ttl).toBeGreaterThan(PRESENCE_KEY_TTL_MS - 60_000);
  });

  it('a beat keeps a gateway alive for the TTL by Redis’s clock: one key, however many devices', async () => {
    await beatGateway(redis, prefix, 'g1', TTL);
    await addPresence(
      redis,
      prefix,
      Array.from({ length: 50 }, (_, i) => entry(`+${i}`, 'g1', String(i))),
    );
    const before = await redis.dbsize();
    await beatGateway(redis, prefix, 'g1', TTL);
    expect(await redis.dbsize()).toBe(before);
    const alive = await redis.pttl(gatewayAliveKey(prefix, 'g1'));
    expect(alive).toBeGreaterThan(TTL - 5_000);
    expect(alive).toBeLessThanOrEqual(TTL);
  });

  it('stops counting a gateway whose beat expired, and removes its entries then, not before', async () => {
    await beatGateway(redis, prefix, 'dead', TTL);
    await beatGateway(redis, prefix, 'live', TTL);
    await addPresence(redis, prefix, [entry('+1', 'dead'), entry('+1', 'live')]);
    expect(await online(['+1'])).toEqual({ '+1': ['dead', 'live'] });
    expect(await members('+1')).toEqual(['dead|1', 'live|1']);
    await lapse('dead');
    expect(await online(['+1'])).toEqual({ '+1': ['live'] });
    expect(await members('+1')).toEqual(['live|1']);
  });

  it('says a beat lapsed when the gateway never beat or its key expired, and not otherwise', async () => {
    expect(await beatGateway(redis, prefix, 'g1', TTL)).toEqual({ lapsed: true });
    expect(await beatGateway(redis, prefix, 'g1', TTL)).toEqual({ lapsed: false });
    await lapse('g1');
    expect(await beatGateway(redis, prefix, 'g1', TTL)).toEqual({ lapsed: true });
    expect(await beatGateway(redis, prefix, 'g1', TTL)).toEqual({ lapsed: false });
  });

  it('a reader’s clean-up leaves an entry the lapsed gateway added again after the reader saw it', async () => {
    await beatGateway(redis, prefix, 'g1', TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1')]);
    const key = presenceKey(prefix, '+1');
    // The reader read the entry and found g1 lapsed; g1 beats and adds it again before the clean-up.
    const [seenMember, seenScore] = await redis.zrange(key, '0', '-1', 'WITHSCORES');
    await lapse('g1');
    await beatGateway(redis, prefix, 'g1', TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1')]);
    await removeStale(redis, [[key, seenMember!, seenScore!]]);
    expect(await online(['+1'])).toEqual({ '+1': ['g1'] });
    // Without the re-add, the same clean-up removes it.
    const [, currentScore] = await redis.zrange(key, '0', '-1', 'WITHSCORES');
    await removeStale(redis, [[key, 'g1|1', currentScore!]]);
    expect(await redis.exists(key)).toBe(0);
  });

  it('gives every registration a new score, even within one millisecond', () => {
    const scores = Array.from({ length: 1000 }, () => presenceScore());
    expect(new Set(scores).size).toBe(scores.length);
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
  });

  it('the hourly touch re-adds an entry that went missing and keeps the score of one that is there', async () => {
    await beatGateway(redis, prefix, 'g1', TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1'), entry('+2', 'g1')]);
    const scoreOf = (phone: string) => redis.zscore(presenceKey(prefix, phone), 'g1|1');
    const kept = await scoreOf('+1');
    await redis.del(presenceKey(prefix, '+2'));
    expect(await addPresence(redis, prefix, [entry('+1', 'g1'), entry('+2', 'g1')], { onlyMissing: true })).toEqual([false, true]);
    expect(await scoreOf('+1')).toBe(kept);
    expect(await online(['+1', '+2'])).toEqual({ '+1': ['g1'], '+2': ['g1'] });
  });

  it('a gateway prunes only its own entries of a phone, and a retired gateway counts nowhere', async () => {
    await beatGateway(redis, prefix, 'g1', TTL);
    await beatGateway(redis, prefix, 'g2', TTL);
    await beatGateway(redis, prefix, 'g10', TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1', '1'), entry('+1', 'g1', '2'), entry('+1', 'g2', '1'), entry('+1', 'g10', '1')]);
    await pruneOwnPresence(redis, prefix, 'g1', ['+1', '+9']);
    expect(await members('+1')).toEqual(['g10|1', 'g2|1']);
    await retireGateway(redis, prefix, 'g2');
    expect(await online(['+1'])).toEqual({ '+1': ['g10'] });
  });

  it('announces canceled messages to the live gateways holding their phones, one notice each, and to no other', async () => {
    await beatGateway(redis, prefix, 'g1', TTL);
    await beatGateway(redis, prefix, 'g2', TTL);
    await beatGateway(redis, prefix, 'dead', TTL);
    await addPresence(redis, prefix, [entry('+1', 'g1'), entry('+1', 'g2'), entry('+2', 'g2'), entry('+1', 'dead'), entry('+3', 'dead')]);
    await lapse('dead');
    const subscriber = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      const received: Record<string, unknown[]> = { g1: [], g2: [], dead: [] };
      // A marker published on each channel after the notices: once all are in, anything announced is too.
      const marked = new Promise<void>((resolve) =>
        subscriber.on('message', (channel: string, message: string) => {
          received[channel.slice(channel.lastIndexOf(':') + 1)]!.push(JSON.parse(message));
          if (Object.values(received).every((r) => r.at(-1) === 'marker')) resolve();
        }),
      );
      await subscriber.subscribe(...Object.keys(received).map((g) => gatewayChannel(prefix, g)));
      await announceCanceled(redis, prefix, [
        { id: 'a', recipient: '+1' },
        { id: 'b', recipient: '+2' },
        { id: 'c', recipient: '+3' },
        { id: 'd', recipient: '+4' },
      ]);
      for (const g of Object.keys(received)) await redis.publish(gatewayChannel(prefix, g), '"marker"');
      await marked;
      expect(received).toEqual({
        g1: [{ canceled: [{ id: 'a', recipient: '+1' }] }, 'marker'],
        g2: [
          {
            canceled: [
              { id: 'a', recipient: '+1' },
              { id: 'b', recipient: '+2' },
            ],
          },
          'marker',
        ],
        dead: ['marker'],
      });
    } finally {
      subscriber.disconnect();
    }
  });
});
