import calculateSlot from 'cluster-key-slot';
import type { ChainableCommander } from 'ioredis';
import { isCluster, type RedisClient } from './redis.ts';

/**
 * How long a write may wait for its replicas: half the api's 2 s command timeout
 * (redis.ts), so that the WAIT answers before ioredis gives up on it. A replica that is
 * connected acknowledges within a round trip; one that is not will not in a second either.
 */
const WAIT_TIMEOUT_MS = 1000;

/** How long a master's count of replicas is trusted: one CLUSTER NODES per master and second. */
const REPLICAS_TTL_MS = 1000;

/** A mark is read by nobody: it only has to outlive its WAIT. */
const MARK_TTL_MS = 60_000;

export class ReplicaShortfallError extends Error {
  override name = 'ReplicaShortfallError';
  readonly code = 'REDIS_REPLICAS';
}

/**
 * Waits until enough replicas hold every write this connection sent the master of `key`
 * so far, or rejects. `mark`: writes `key` first (a short-lived string), so that it waits
 * for everything that master took before, whoever wrote it: Redis replicates in order.
 */
export type ReplicaWait = (key: string, options?: { mark?: boolean }) => Promise<void>;

/** Sends `command` to the master holding `key`'s slot, on the connection that wrote there (it names no key itself). */
async function onMasterOf(
  redis: RedisClient,
  key: string,
  command: (p: ChainableCommander) => ChainableCommander,
  mark = false,
): Promise<unknown> {
  const routed = mark ? redis.pipeline().set(key, String(Date.now()), 'PX', MARK_TTL_MS) : redis.pipeline().exists(key);
  const replies = (await command(routed).exec()) ?? [];
  for (const [error] of replies) if (error) throw error;
  return replies[1]?.[1];
}

/** The replicas a CLUSTER NODES answer lists for the node that gave it (`myself`), but those the cluster marked failed. */
export function replicasOfMyself(nodes: string): number {
  const lines = nodes
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const myself = lines.find(([, , flags]) => flags!.split(',').includes('myself'))?.[0];
  return lines.filter(([, , flags, master]) => master === myself && !flags!.split(',').includes('fail')).length;
}

/**
 * Redis replicates asynchronously: a master that dies after answering a write, before its
 * replica had it, takes the write with it, and the replica promoted in its place never
 * held it. The returned function makes a write wait (WAIT) until `wanted` replicas hold
 * everything its connection sent that master so far, or rejects after 1 s: the caller must
 * not count the write as kept (503 rather than 202).
 *
 * On a Cluster it waits for as many as the master has, up to `wanted`: those CLUSTER NODES
 * lists as its replicas, connected or not (a disconnected one may still be promoted, and
 * must not be counted out). A master left with none (its replica was promoted and the old
 * master has not come back) has nobody to be promoted in its place: what it acknowledged
 * is on its disk (AOF, fsync always) and comes back with it, so its writes wait for
 * nothing rather than for a replica that does not exist. One Redis waits for `wanted`,
 * as the operator set it.
 */
export function replicaWait(redis: RedisClient, wanted: number, timeoutMs = WAIT_TIMEOUT_MS): ReplicaWait {
  const counts = new Map<string, { replicas: Promise<number>; at: number }>();
  async function replicasOfMaster(key: string): Promise<number> {
    if (!isCluster(redis)) return wanted;
    // One entry per master, as the client last learned who holds the slot (a failover
    // moves the slot to another node, whose count is read afresh).
    const slot = calculateSlot(key);
    const node = redis.slots[slot]?.[0] ?? `slot ${slot}`;
    const cached = counts.get(node);
    if (cached && Date.now() - cached.at < REPLICAS_TTL_MS) return cached.replicas;
    const replicas = onMasterOf(redis, key, (p) => p.cluster('NODES')).then(
      (nodes) => replicasOfMyself(nodes as string),
      (error: unknown) => {
        counts.delete(node);
        throw error;
      },
    );
    counts.set(node, { replicas, at: Date.now() });
    return replicas;
  }
  return async (key, options = {}) => {
    if (wanted === 0) return;
    const replicas = Math.min(wanted, await replicasOfMaster(key));
    if (replicas === 0) return;
    const acknowledged = (await onMasterOf(redis, key, (p) => p.wait(replicas, timeoutMs), options.mark)) as number;
    if (acknowledged < replicas)
      throw new ReplicaShortfallError(`${acknowledged} of ${replicas} Redis replicas acknowledged the write within ${timeoutMs} ms`);
  };
}
