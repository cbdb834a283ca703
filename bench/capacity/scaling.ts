/**
 * `node bench/capacity/scaling.ts`: what a second process of a tier buys on this machine, to
 * back the capacity model of docs/benchmarks.md. Not part of `pnpm test` or `pnpm bench`.
 *
 * 1. Storage: a buffer preloaded with SCALING_PRELOAD (60000) messages drained by 1, then
 *    by 2 worker processes started at once: rows/s until the buffer is empty.
 * 2. Acceptance: SCALING_SECONDS (10) of load at SCALING_CONNECTIONS (200) against 1 api
 *    process, then split over 2 (half the connections each), one worker storing.
 */
import autocannon from 'autocannon';
import { send, startApp, startStack, waitFor, type AppProcess, type Stack } from '@esh3ar/stack';
import { preload } from '../storage/copy-rate.ts';

const PRELOAD = Number(process.env.SCALING_PRELOAD ?? 60_000);
const SECONDS = Number(process.env.SCALING_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.SCALING_CONNECTIONS ?? 200);
const message = { recipient: '+966501234567', content: 'scaling benchmark message', priority: 'normal' };

const bufferDepth = async (api: AppProcess) =>
  ((await send(api.url, null, 'GET', '/health/ready')).body as { checks: { buffer: { depth: number } } }).checks.buffer.depth;

async function storage(workers: number): Promise<number> {
  const stack = await startStack(`scaling-storage-${workers}`, { env: { BUFFER_CAPACITY: '10000000' } });
  try {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    await preload(stack.api!.url, apiKey, PRELOAD, message, () => undefined);
    const started = performance.now();
    await Promise.all(Array.from({ length: workers }, () => stack.startWorker()));
    await waitFor(
      () => bufferDepth(stack.api!),
      (depth) => depth === 0,
      600_000,
      50,
    );
    return PRELOAD / ((performance.now() - started) / 1000);
  } finally {
    await stack.close();
  }
}

async function load(urls: string[], apiKey: string): Promise<number> {
  const results = await Promise.all(
    urls.map((url) =>
      autocannon({
        url: `${url}/v1/messages`,
        method: 'POST',
        connections: Math.floor(CONNECTIONS / urls.length),
        duration: SECONDS,
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(message),
      }),
    ),
  );
  return results.reduce((sum, r) => sum + r.requests.average, 0);
}

async function acceptance(): Promise<{ one: number; two: number }> {
  const stack: Stack = await startStack('scaling-api', { workers: 1, env: { BUFFER_CAPACITY: '10000000' } });
  try {
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    const second = await startApp('api', stack.env);
    try {
      await load([stack.api!.url], apiKey); // warm-up of both code paths and the JIT
      const one = await load([stack.api!.url], apiKey);
      const two = await load([stack.api!.url, second.url], apiKey);
      return { one, two };
    } finally {
      await second.stop();
    }
  } finally {
    await stack.close();
  }
}

const oneWorker = await storage(1);
const twoWorkers = await storage(2);
const api = await acceptance();
console.log(
  [
    `# Scaling on this machine (${new Date().toISOString()})`,
    '',
    '| tier | 1 process | 2 processes | 2 / 1 |',
    '| --- | ---: | ---: | ---: |',
    `| worker: rows/s draining ${PRELOAD.toLocaleString('en')} buffered messages | ${Math.round(oneWorker)} | ${Math.round(twoWorkers)} | ${(twoWorkers / oneWorker).toFixed(2)}× |`,
    `| api: req/s at ${CONNECTIONS} connections, ${SECONDS} s, 1 worker storing | ${Math.round(api.one)} | ${Math.round(api.two)} | ${(api.two / api.one).toFixed(2)}× |`,
  ].join('\n'),
);
