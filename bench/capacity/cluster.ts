/**
 * What Redis Cluster's masters buy on this machine: the same stack (1 api, CLUSTER_WORKERS
 * workers) on a private Redis Cluster of 1 master and of 3 (no replicas, so the masters are
 * all that differs; REDIS_WAIT_REPLICAS 0), in alternating rounds. Each round: 2 s of
 * warm-up, then CLUSTER_CONNECTIONS connections as fast as answered for CLUSTER_SECONDS;
 * accepted req/s, the rate until the last accepted message was stored, and CPU seconds per
 * 1,000 messages of the api, the workers, every redis-server and PostgreSQL (/proc), and the
 * busiest master's share of the masters' CPU (each one's INFO cpu). The
 * cluster of 1 master has the same hash tags, slots and code path as the one of 3.
 *
 *   node bench/capacity/cluster.ts   CLUSTER_ROUNDS (2), CLUSTER_SECONDS (10),
 *                                    CLUSTER_CONNECTIONS (200), CLUSTER_WORKERS (1)
 *
 * Writes bench/results/cluster-<date>.md and .json. Nothing else may run meanwhile: Redis
 * and PostgreSQL are counted by process name.
 */
import { startPrivateRedisCluster, startStack, type PrivateRedisCluster } from '@esh3ar/stack';
import { machineInfo, median } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';
import { loadUntilStored } from '../lib/until-stored.ts';

const rounds = Number(process.env.CLUSTER_ROUNDS ?? 2);
const seconds = Number(process.env.CLUSTER_SECONDS ?? 10);
const connections = Number(process.env.CLUSTER_CONNECTIONS ?? 200);
const workers = Number(process.env.CLUSTER_WORKERS ?? 1);
const MASTERS = [1, 3] as const;

interface Round {
  masters: number;
  accepted: number;
  requestsPerSecond: number;
  storedPerSecond: number;
  p99Ms: number;
  /** CPU seconds per 1,000 accepted messages. */
  api: number;
  workers: number;
  redis: number;
  postgres: number;
  /** The busiest master's share of all masters' CPU over the round (INFO cpu; warm-up included). */
  busiestMasterShare: number;
}

/** Each master's CPU seconds so far, by port, as it reports them (INFO cpu: used_cpu_sys + used_cpu_user). */
async function mastersCpu(cluster: PrivateRedisCluster): Promise<Map<number, number>> {
  const masters = (await cluster.members()).filter((m) => m.role === 'master');
  const used = await Promise.all(
    masters.map(async ({ port }) => {
      const info = await cluster.node(port).info('cpu');
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
      return [port, field('used_cpu_sys') + field('used_cpu_user')] as const;
    }),
  );
  return new Map(used);
}

async function round(masters: number): Promise<Round> {
  const cluster = await startPrivateRedisCluster({ masters });
  try {
    const stack = await startStack('cluster-capacity', {
      workers,
      env: { REDIS_CLUSTER_NODES: cluster.nodes, REDIS_WAIT_REPLICAS: '0', BUFFER_CAPACITY: '100000000' },
    });
    try {
      const cpu0 = await mastersCpu(cluster);
      const m = await loadUntilStored(stack, `${masters} master(s)`, { connections, seconds });
      const used = [...(await mastersCpu(cluster))].map(([port, seconds]) => seconds - cpu0.get(port)!);
      return {
        busiestMasterShare: Math.max(...used) / used.reduce((a, b) => a + b, 0),
        masters,
        accepted: m.result.ok,
        requestsPerSecond: m.result.requestsPerSecond,
        storedPerSecond: Math.round(m.result.ok / m.storedSeconds),
        p99Ms: m.result.latencyMs.p99,
        api: m.api,
        workers: m.workers,
        redis: m.redis,
        postgres: m.postgres,
      };
    } finally {
      await stack.close();
    }
  } finally {
    await cluster.destroy();
  }
}

const startedAt = new Date();
const measured: Round[] = [];
for (let r = 1; r <= rounds; r++) {
  for (const masters of MASTERS) {
    const m = await round(masters);
    measured.push(m);
    console.error(
      `round ${r}: ${masters} master(s): ${m.requestsPerSecond} req/s, stored ${m.storedPerSecond}/s, Redis ${m.redis.toFixed(3)} s/1000`,
    );
  }
}

const f = (n: number) => n.toFixed(3);
const rows = MASTERS.map((masters) => {
  const of = measured.filter((m) => m.masters === masters);
  const med = (k: keyof Round) => median(of.map((m) => m[k]));
  return `| ${masters} | ${Math.round(med('requestsPerSecond'))} | ${Math.round(med('storedPerSecond'))} | ${Math.round(med('p99Ms'))} ms | ${f(med('api'))} | ${f(med('workers'))} | ${f(med('redis'))} | ${Math.round(100 * med('busiestMasterShare'))}% | ${f(med('postgres'))} |`;
});
const machine = machineInfo();
const markdown = [
  `# Redis Cluster: 1 master against 3 (${startedAt.toISOString()})`,
  '',
  `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}. A private Redis Cluster (AOF, appendfsync always, no replicas) of 1 and of 3 masters in alternating rounds (${rounds} each; medians), 1 api and ${workers} worker(s), ${connections} connections as fast as answered for ${seconds} s after 2 s of warm-up. Stored/s: the accepted messages over the time from the start of the load until the last was stored. CPU seconds per 1,000 accepted messages from /proc, every redis-server counted; the busiest master's share of the masters' CPU from their own INFO cpu over the round.`,
  '',
  '| masters | accepted req/s | stored/s | p99 | api | worker(s) | Redis (all masters) | busiest master’s share | PostgreSQL |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
].join('\n');
console.log(markdown);
const stamp = resultStamp(startedAt);
writeResult(`cluster-${stamp}.md`, markdown);
writeResult(`cluster-${stamp}.json`, JSON.stringify({ startedAt, rounds, seconds, connections, workers, machine, measured }, null, 2));
