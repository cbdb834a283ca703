import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

export interface ClusterMember {
  port: number;
  role: 'master' | 'replica';
  /** A replica's master (its port); null for a master. */
  masterPort: number | null;
}

export interface PrivateRedisCluster {
  /** REDIS_CLUSTER_NODES for the processes: every node, `127.0.0.1:<port>`, comma-separated. */
  nodes: string;
  /** The same nodes, as a client's seed nodes (createRedis's `clusterNodes`). */
  seeds: readonly { host: string; port: number }[];
  ports: readonly number[];
  /** Each node that runs, with its role as the cluster sees it now. */
  members(): Promise<ClusterMember[]>;
  /** A client of one node (not the cluster): CLUSTER, INFO, DEBUG commands; closed by destroy(). */
  node(port: number): Redis;
  /** SIGKILL one node: no goodbye to clients or to the other nodes. */
  kill(port: number): Promise<void>;
  /** Until every running node says cluster_state:ok and each master has its replicas' links up. */
  waitUntilOk(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export interface PrivateRedisClusterOptions {
  masters?: number;
  /** Replicas per master: 0 or 1 (or more). */
  replicas?: number;
  /**
   * cluster-node-timeout: how long a master may be unreachable before its replica is
   * promoted. Redis's default is 15 s; 2 s keeps a failover test short.
   */
  nodeTimeoutMs?: number;
}

/**
 * Fewer than 3 masters, which `redis-cli --cluster create` refuses (a benchmark compares 1
 * master with 3 on the same code path): the nodes meet, and each takes an equal share of
 * the 16,384 slots.
 */
async function joinWithoutReplicas(
  ports: readonly number[],
  busPorts: ReadonlyMap<number, number>,
  node: (port: number) => Redis,
): Promise<void> {
  const [first = 0] = ports;
  // The bus port too: it is not the default port + 10000 here.
  for (const port of ports.slice(1)) await node(port).cluster('MEET', '127.0.0.1', first, busPorts.get(first)!);
  const share = Math.ceil(16_384 / ports.length);
  await Promise.all(ports.map((port, i) => node(port).cluster('ADDSLOTSRANGE', i * share, Math.min(16_383, (i + 1) * share - 1))));
}

/**
 * A Redis Cluster of its own (Debian's redis-server, 7.0 or later for cluster-port and
 * sharded pub/sub): `masters` masters with `replicas` replicas each, on free ports in a
 * temporary folder, each configured as production runs a Redis (AOF, `appendfsync
 * always`, `noeviction`), joined by `redis-cli --cluster create` (fewer than 3 masters: by
 * CLUSTER MEET and ADDSLOTSRANGE, without replicas). Resolves once every
 * node says cluster_state:ok.
 */
export async function startPrivateRedisCluster(options: PrivateRedisClusterOptions = {}): Promise<PrivateRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  if (masters < 3 && replicas > 0) throw new Error('a cluster of fewer than 3 masters is made here without replicas only');
  const count = masters * (1 + replicas);
  const dir = mkdtempSync(join(tmpdir(), 'esh3ar-redis-cluster-'));
  const ports: number[] = [];
  const children = new Map<number, ChildProcess>();
  const busPorts = new Map<number, number>();
  const clients = new Map<number, Redis>();

  // One client per node, connected on its first command, made again once it ended.
  const node = (port: number): Redis => {
    let client = clients.get(port);
    if (!client || client.status === 'end') {
      client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
      client.on('error', () => undefined);
      clients.set(port, client);
    }
    return client;
  };
  const running = () => ports.filter((p) => children.get(p)?.exitCode === null && children.get(p)?.signalCode === null);

  async function start(port: number, busPort: number): Promise<void> {
    busPorts.set(port, busPort);
    const data = join(dir, String(port));
    mkdirSync(data, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', data],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort)],
        ...['--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000)],
        // A node learns its address from the nodes that meet it: a lone master would
        // announce none in CLUSTER SLOTS, and clients could not reach it.
        ...['--cluster-announce-ip', '127.0.0.1'],
        ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'],
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.set(port, child);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => /ready to accept connections/i.test(chunk.toString()) && resolve());
      child.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited (${code}) at start-up`)));
    });
    child.stdout.resume();
  }

  const cluster: PrivateRedisCluster = {
    get nodes() {
      return ports.map((p) => `127.0.0.1:${p}`).join(',');
    },
    get seeds() {
      return ports.map((port) => ({ host: '127.0.0.1', port }));
    },
    ports,
    node,
    async members() {
      const [any] = running();
      if (any === undefined) return [];
      const text = (await node(any).cluster('NODES')) as string;
      const lines = text.trim().split('\n');
      const portOf = new Map(lines.map((l) => l.split(' ')).map(([id, address]) => [id!, Number(address!.split('@')[0]!.split(':')[1])]));
      return lines
        .map((l) => l.split(' '))
        .filter(([, , flags]) => !flags!.includes('fail') && !flags!.includes('noaddr'))
        .map(([, address, flags, master]) => ({
          port: Number(address!.split('@')[0]!.split(':')[1]),
          role: flags!.includes('master') ? ('master' as const) : ('replica' as const),
          masterPort: master === '-' ? null : (portOf.get(master!) ?? null),
        }))
        .filter((m) => running().includes(m.port));
    },
    async kill(port) {
      const child = children.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      clients.get(port)?.disconnect();
      clients.delete(port);
    },
    async waitUntilOk(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(
          running().map(async (p) => {
            const [info, replication] = await Promise.all([node(p).cluster('INFO'), node(p).info('replication')]).catch(() => ['', '']);
            return { ok: /cluster_state:ok/.test(info), replication };
          }),
        );
        const members = await cluster.members().catch(() => []);
        const linked = states.every(({ replication }) => !/role:slave/.test(replication) || /master_link_status:up/.test(replication));
        const covered = members.filter((m) => m.role === 'master').length === masters;
        if (states.every((s) => s.ok) && linked && covered) return;
        if (Date.now() > deadline) throw new Error(`Redis Cluster not ok within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async destroy() {
      for (const client of clients.values()) client.disconnect();
      clients.clear();
      await Promise.all(ports.map((p) => cluster.kill(p)));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    // Every node takes two ports: its own, and the cluster bus's (cluster-port; port + 10000
    // by default, which may be taken or past 65535).
    const taken = new Set<number>();
    const another = async () => {
      let port = await freePort();
      while (taken.has(port)) port = await freePort();
      taken.add(port);
      return port;
    };
    for (let i = 0; i < count; i++) {
      const port = await another();
      ports.push(port);
      await start(port, await another());
    }
    if (masters >= 3) {
      await run('redis-cli', [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ]);
    } else {
      await joinWithoutReplicas(ports, busPorts, node);
    }
    await cluster.waitUntilOk();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}
