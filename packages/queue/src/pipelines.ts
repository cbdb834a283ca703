import calculateSlot from 'cluster-key-slot';
import type { ChainableCommander } from 'ioredis';
import { isCluster, type RedisClient } from './redis.ts';

/** One command of a batch: the key (or shard channel) it names, which decides its node on a Cluster, and the command itself. */
export interface Keyed {
  key: string;
  add(pipeline: ChainableCommander): void;
}

/** The master holding the key's slot as far as the client knows; before it knows, the slot itself. */
function nodeOf(redis: RedisClient, key: string): string {
  if (!isCluster(redis)) return '';
  const slot = calculateSlot(key);
  return redis.slots[slot]?.[0] ?? `slot ${slot}`;
}

/**
 * Sends the commands in pipelines and answers their replies in order, or rejects with the
 * first error reply. One Redis: one pipeline, as before Cluster support. A Cluster: one
 * pipeline per master, all at once, since ioredis refuses a pipeline whose keys live on
 * more than one node; the commands of one key keep their order.
 */
export async function pipelined(redis: RedisClient, commands: readonly Keyed[]): Promise<unknown[]> {
  const byNode = new Map<string, number[]>();
  commands.forEach((command, i) => {
    const node = nodeOf(redis, command.key);
    const group = byNode.get(node);
    if (group) group.push(i);
    else byNode.set(node, [i]);
  });
  const replies = new Array<unknown>(commands.length);
  await Promise.all(
    [...byNode.values()].map(async (indexes) => {
      const pipeline = redis.pipeline();
      for (const i of indexes) commands[i]!.add(pipeline);
      const results = (await pipeline.exec()) ?? [];
      results.forEach(([error, reply], j) => {
        if (error) throw error;
        replies[indexes[j]!] = reply;
      });
    }),
  );
  return replies;
}
