/**
 * `pnpm bench`: Esh3ar's intake against a bare Fastify route (the ceiling) on the
 * same machine in the same run, under sustained load and under a burst of new
 * connections; then one worker's storage rate against storeBatch called directly;
 * then proof that every 2xx of the run is in PostgreSQL exactly once (exit 1 if not).
 *
 * BENCH_SUSTAIN_SECONDS (20), BENCH_CONNECTIONS (200), BENCH_BURST (10000),
 * BENCH_KEEPALIVE_CONNECTIONS (1000), BENCH_PRELOAD (100000), BENCH_WARMUP_SECONDS (3),
 * BENCH_BUFFER_CAPACITY (1000000); accept → stored at BENCH_E2E_RATE (10000) msg/s for
 * BENCH_E2E_SECONDS (60), as single requests and as batches of BENCH_E2E_BATCH (100).
 *
 * Then the gateway phase (bench/gateway/phase.ts): BENCH_DEVICES (10000) devices on one
 * gateway, accept → device latency at BENCH_GATEWAY_RATE (1000) msg/s for
 * BENCH_GATEWAY_SECONDS (20), a ramp over BENCH_GATEWAY_RAMP (1000,2000,4000,8000) msg/s
 * of BENCH_GATEWAY_STEP_SECONDS (10) each, a message lost after BENCH_GATEWAY_GRACE_SECONDS
 * (10); BENCH_WORKER_BATCH_TIMEOUT_MS (default,5): the worker's WORKER_BATCH_TIMEOUT_MS for
 * the latency run and ramp (the first; "default" passes none), then a latency run with each other.
 *
 * Then the cost phase: CPU per accepted message at the same offered rate, BENCH_COST_RATE
 * (5000) req/s for BENCH_COST_SECONDS (10), against the ceiling, in BENCH_COST_ROUNDS (3)
 * alternating rounds: the ceiling, the shape's floor (the bare route + a durable BullMQ
 * enqueue, a bare BullMQ worker COPYing; bench/lib/floor-server.ts), then Esh3ar on a fresh
 * stack, the last two until every accepted message is stored (bench/lib/same-rate-cost.ts,
 * as bench/ingest/cost.ts measures revisions).
 *
 * BENCH_PHASES (intake,cost,gateway) selects the phases, e.g. `BENCH_PHASES=gateway pnpm bench`.
 *
 * As root it first raises net.core.somaxconn and tcp_max_syn_backlog (sysctl -w) and,
 * when `ulimit -n` is below 30,000, re-runs itself under a raised one where allowed.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, startApp, startStack, type Stack } from '@esh3ar/stack';
import { keepAliveBurst, newConnectionBurst, type BurstResult } from './ingest/burst.ts';
import { startCeiling, type CeilingProcess } from './lib/ceiling-process.ts';
import { waitForDrain } from './lib/buffer-depth.ts';
import { checkIntegrity } from './storage/integrity.ts';
import { sustained, type SustainedResult, type Target } from './lib/load.ts';
import { sustainedChart } from './lib/chart.ts';
import { gatewayPhase } from './gateway/phase.ts';
import { endToEnd } from './ingest/accept-to-stored.ts';
import { cpuByName, cpuSeconds, cpuSinceByName, machineInfo, machineJiffies, peakRssMiB, peaksDuring } from './lib/proc-stats.ts';
import { toMarkdown, writeResults, type BenchResults, type IntakeResults, type SameRateCost } from './report.ts';
import { ceilingRound, esh3arRound, floorRound, medianCost, type Cost } from './lib/same-rate-cost.ts';
import { directStore, preload, timeWorkerDrain } from './storage/copy-rate.ts';
import { raiseSystemLimits, reexecWithMoreOpenFiles } from './lib/system-limits.ts';

const rerun = reexecWithMoreOpenFiles(fileURLToPath(import.meta.url));
if (rerun !== null) process.exit(rerun);

function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got ${process.env[name]}`);
  return value;
}

const settings = {
  sustainSeconds: setting('BENCH_SUSTAIN_SECONDS', 20),
  warmupSeconds: setting('BENCH_WARMUP_SECONDS', 3),
  connections: setting('BENCH_CONNECTIONS', 200),
  burst: setting('BENCH_BURST', 10_000),
  keepAliveConnections: setting('BENCH_KEEPALIVE_CONNECTIONS', 1000),
  preload: setting('BENCH_PRELOAD', 100_000),
  // Large enough that backpressure (503 above 80%) never answers for the worker's pace:
  // the benchmark measures intake, and the preload must fit.
  bufferCapacity: setting('BENCH_BUFFER_CAPACITY', 1_000_000),
  endToEndSeconds: setting('BENCH_E2E_SECONDS', 60),
  endToEndRate: setting('BENCH_E2E_RATE', 10_000),
  endToEndBatch: setting('BENCH_E2E_BATCH', 100),
};
const costSettings = {
  rate: setting('BENCH_COST_RATE', 5000),
  seconds: setting('BENCH_COST_SECONDS', 10),
  rounds: setting('BENCH_COST_ROUNDS', 3),
  connections: settings.connections,
};

function list<T>(name: string, fallback: string, parse: (item: string) => T): T[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map(parse);
}
const positive = (name: string) => (item: string) => {
  const value = Number(item);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must list whole numbers above 0, got ${process.env[name]}`);
  return value;
};
const PHASES = ['intake', 'cost', 'gateway'];
const phases = list('BENCH_PHASES', PHASES.join(','), (phase) => {
  if (!PHASES.includes(phase)) throw new Error(`BENCH_PHASES lists ${PHASES.join(', ')}; got ${phase}`);
  return phase;
});
const gatewaySettings = {
  devices: setting('BENCH_DEVICES', 10_000),
  rate: setting('BENCH_GATEWAY_RATE', 1000),
  seconds: setting('BENCH_GATEWAY_SECONDS', 20),
  ramp: list('BENCH_GATEWAY_RAMP', '1000,2000,4000,8000', positive('BENCH_GATEWAY_RAMP')),
  stepSeconds: setting('BENCH_GATEWAY_STEP_SECONDS', 10),
  workerBatchTimeouts: list('BENCH_WORKER_BATCH_TIMEOUT_MS', 'default,5', (item) =>
    item === 'default' ? null : positive('BENCH_WORKER_BATCH_TIMEOUT_MS')(item),
  ),
  warmupSeconds: settings.warmupSeconds,
  graceSeconds: setting('BENCH_GATEWAY_GRACE_SECONDS', 10),
  bufferCapacity: settings.bufferCapacity,
};
const MESSAGE = { recipient: '+966501234567', content: 'Your verification code is 482913', priority: 'normal' };
const log = (text: string) => process.stderr.write(`bench: ${text}\n`);
const cpuMs = (used: NodeJS.CpuUsage) => (used.user + used.system) / 1000;
const per1000 = (cpuSecondsUsed: number, accepted: number) => (accepted > 0 ? (cpuSecondsUsed / accepted) * 1000 : Number.NaN);

const startedAt = new Date().toISOString();
execFileSync('bash', ['scripts/services.sh'], { cwd: REPO_ROOT, stdio: 'inherit' });
const limits = raiseSystemLimits();
log(
  `${limits.sysctlMessage}; somaxconn ${limits.somaxconn.before} → ${limits.somaxconn.after}, tcp_max_syn_backlog ${limits.tcpMaxSynBacklog.before} → ${limits.tcpMaxSynBacklog.after}`,
);
log(limits.openFilesMessage);
if (phases.includes('intake') && limits.openFiles < settings.burst + 1000)
  log(`warning: ${limits.openFiles} open files may not hold a burst of ${settings.burst} connections`);

async function intakePhase(): Promise<IntakeResults> {
  // Every 2xx id of the run, and the requests whose answer never came (they may be stored).
  const answered: string[] = [];
  let unanswered = 0;
  const recordAnswer = (body: string) => answered.push((JSON.parse(body) as { id: string }).id);
  // A burst's requests that got no answer at all: they may be stored (the check allows for them).
  const recordUnanswered = (burst: BurstResult) => {
    unanswered += burst.requests - burst.ok - burst.non2xx;
  };

  let ceiling: CeilingProcess | undefined;
  let stack: Stack | undefined;
  try {
    ceiling = await startCeiling();
    // SO_REUSEPORT on, so that a second api process can share the port for the bursts.
    stack = await startStack('bench', { workers: 1, env: { BUFFER_CAPACITY: String(settings.bufferCapacity), API_REUSE_PORT: 'on' } });
    const api = stack.api!;
    const firstWorker = stack.workers[0]!;
    const { apiKey } = await stack.tenant('enterprise', { rpm: 100_000_000, burst: 100_000_000 });
    const request = {
      path: '/v1/messages',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify(MESSAGE),
    };
    const ceilingTarget: Target = { name: 'ceiling', url: ceiling.url, ...request };
    const esh3arTarget: Target = { name: 'esh3ar', url: api.url, ...request };
    const loadEsh3ar = async (seconds: number): Promise<SustainedResult> => {
      const result = await sustained(esh3arTarget, { connections: settings.connections, seconds, onAccepted: recordAnswer });
      unanswered += result.unanswered;
      return result;
    };

    if (settings.warmupSeconds > 0) {
      log(`warm-up, ${settings.warmupSeconds} s each`);
      await sustained(ceilingTarget, { connections: settings.connections, seconds: settings.warmupSeconds });
      await loadEsh3ar(settings.warmupSeconds);
      await waitForDrain(api.url);
    }

    log(`sustained, ${settings.connections} connections, ${settings.sustainSeconds} s: ceiling`);
    const ceilingCpu0 = cpuSeconds(ceiling.pid);
    const loadCpu0 = process.cpuUsage();
    const sustainedCeiling = await sustained(ceilingTarget, { connections: settings.connections, seconds: settings.sustainSeconds });
    const loadCpuCeiling = cpuMs(process.cpuUsage(loadCpu0)) / 1000;
    const ceilingCpu = cpuSeconds(ceiling.pid) - ceilingCpu0;

    log('sustained: Esh3ar');
    const apiCpu0 = cpuSeconds(api.pid);
    const workerCpu0 = cpuSeconds(firstWorker.pid);
    const redisCpu0 = cpuByName('redis-server');
    const postgresCpu0 = cpuByName('postgres');
    const jiffies0 = machineJiffies();
    const loadCpu1 = process.cpuUsage();
    const sustainedEsh3ar = await loadEsh3ar(settings.sustainSeconds);
    const loadCpuEsh3ar = cpuMs(process.cpuUsage(loadCpu1)) / 1000;
    const jiffies1 = machineJiffies();
    const apiCpu = cpuSeconds(api.pid) - apiCpu0;
    const sustainedDrainMs = await waitForDrain(api.url);
    const workerCpu = cpuSeconds(firstWorker.pid) - workerCpu0;
    const redisCpu = cpuSinceByName('redis-server', redisCpu0);
    const postgresCpu = cpuSinceByName('postgres', postgresCpu0);

    // Each server's peak RSS is taken over its own burst alone (VmHWM reset just before).
    const peakDuring = async <T>(pid: number, run: () => Promise<T>): Promise<[T, number | null]> => {
      const [result, peaks] = await peaksDuring([pid], run);
      return [result, peaks?.[0] ?? null];
    };
    log(`burst, ${settings.burst} new connections: ceiling, then Esh3ar`);
    const [burstCeiling, burstCeilingRss] = await peakDuring(ceiling.pid, () => newConnectionBurst(ceilingTarget, settings.burst));
    const [burstEsh3ar, burstApiRss] = await peakDuring(api.pid, () => newConnectionBurst(esh3arTarget, settings.burst, recordAnswer));
    recordUnanswered(burstEsh3ar);
    const burstDrainMs = await waitForDrain(api.url);

    log(`burst, ${settings.burst} requests over ${settings.keepAliveConnections} keep-alive connections: ceiling, then Esh3ar`);
    const [keepAliveCeiling, keepAliveCeilingRss] = await peakDuring(ceiling.pid, () =>
      keepAliveBurst(ceilingTarget, settings.burst, settings.keepAliveConnections),
    );
    const [keepAliveEsh3ar, keepAliveApiRss] = await peakDuring(api.pid, () =>
      keepAliveBurst(esh3arTarget, settings.burst, settings.keepAliveConnections, recordAnswer),
    );
    recordUnanswered(keepAliveEsh3ar);
    const keepAliveDrainMs = await waitForDrain(api.url);

    // The same two bursts against two new api processes sharing one port (one per core,
    // the kernel spreading new connections): what a deployment does with its cores. New
    // ones, because V8 keeps for a while what the bursts above made the first commit:
    // its peak RSS would count that history.
    log('bursts again with 2 new api processes on one port (SO_REUSEPORT)');
    const pairFirst = await startApp('api', stack.env);
    const twoApis = await (async () => {
      const pairSecond = await startApp('api', { ...stack.env, API_PORT: String(pairFirst.port) }).catch(async (error: unknown) => {
        await pairFirst.stop('SIGTERM');
        throw error;
      });
      const pairTarget: Target = { ...esh3arTarget, url: pairFirst.url };
      const pids = [pairFirst.pid, pairSecond.pid];
      try {
        // Both JITs warmed over the shared port (the first api has run since the warm-up).
        const warm = await sustained(pairTarget, {
          connections: settings.connections,
          seconds: Math.max(6, settings.warmupSeconds),
          onAccepted: recordAnswer,
        });
        unanswered += warm.unanswered;
        await waitForDrain(api.url);
        const [burst, burstRss] = await peaksDuring(pids, () => newConnectionBurst(pairTarget, settings.burst, recordAnswer));
        recordUnanswered(burst);
        await waitForDrain(api.url);
        const [keepAlive, keepAliveRss] = await peaksDuring(pids, () =>
          keepAliveBurst(pairTarget, settings.burst, settings.keepAliveConnections, recordAnswer),
        );
        recordUnanswered(keepAlive);
        return { burst, burstRss, keepAlive, keepAliveRss };
      } finally {
        // Not the stack's processes: stopped here whatever happens (gracefully, their 202s stand).
        await Promise.all([pairFirst.stop('SIGTERM'), pairSecond.stop('SIGTERM')]);
      }
    })();
    await waitForDrain(api.url);

    const endToEndRuns = [];
    for (const messagesPerRequest of [1, settings.endToEndBatch]) {
      log(
        `accept → stored, ${settings.endToEndRate} msg/s for ${settings.endToEndSeconds} s, ${messagesPerRequest} message(s) per request`,
      );
      const run = await endToEnd(
        { url: api.url, apiKey, message: MESSAGE, workerUrl: firstWorker.url },
        {
          rate: settings.endToEndRate,
          seconds: settings.endToEndSeconds,
          connections: messagesPerRequest === 1 ? settings.connections : 20,
          messagesPerRequest,
        },
        (ids) => answered.push(...ids),
      );
      unanswered += run.load.unanswered * messagesPerRequest; // a batch cut off may be stored whole
      endToEndRuns.push(run);
      await waitForDrain(api.url);
    }

    const workerPeakRss = peakRssMiB(firstWorker.pid);
    log(`storage: worker stopped, preloading ${settings.preload} messages`);
    await firstWorker.stop('SIGTERM');
    const preloaded = await preload(api.url, apiKey, settings.preload, MESSAGE, (id) => answered.push(id));
    log('storage: one worker on the full buffer');
    const workerDrain = await timeWorkerDrain(stack, api.url);
    log(`storage baseline: storeBatch of ${settings.preload} rows straight into PostgreSQL`);
    const direct = await directStore(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', settings.preload);

    log('checking that every 2xx is stored exactly once');
    await waitForDrain(api.url);
    const integrity = await checkIntegrity(stack.pool, answered, unanswered);

    return {
      sustained: {
        ceiling: sustainedCeiling,
        esh3ar: sustainedEsh3ar,
        drainAfterMs: sustainedDrainMs,
        machineBusyPercent: Math.round(((jiffies1.busy - jiffies0.busy) / (jiffies1.total - jiffies0.total)) * 100),
      },
      burst: {
        ceiling: burstCeiling,
        esh3ar: burstEsh3ar,
        esh3arTwoApis: twoApis.burst,
        drainAfterMs: burstDrainMs,
        peakRssMiB: { ceiling: burstCeilingRss, api: burstApiRss, twoApis: twoApis.burstRss },
      },
      keepAliveBurst: {
        ceiling: keepAliveCeiling,
        esh3ar: keepAliveEsh3ar,
        esh3arTwoApis: twoApis.keepAlive,
        drainAfterMs: keepAliveDrainMs,
        peakRssMiB: { ceiling: keepAliveCeilingRss, api: keepAliveApiRss, twoApis: twoApis.keepAliveRss },
      },
      endToEnd: endToEndRuns,
      storage: { preload: preloaded, worker: workerDrain, direct },
      processes: {
        ceiling: { cpuSecondsPer1000: per1000(ceilingCpu, sustainedCeiling.ok), peakRssMiB: peakRssMiB(ceiling.pid) },
        api: { cpuSecondsPer1000: per1000(apiCpu, sustainedEsh3ar.ok), peakRssMiB: peakRssMiB(api.pid) },
        worker: { cpuSecondsPer1000: per1000(workerCpu, sustainedEsh3ar.ok), peakRssMiB: workerPeakRss },
        redisCpuSecondsPer1000: redisCpu === null ? null : per1000(redisCpu, sustainedEsh3ar.ok),
        postgresCpuSecondsPer1000: postgresCpu === null ? null : per1000(postgresCpu, sustainedEsh3ar.ok),
        loadGeneratorCpuSecondsPer1000: {
          ceiling: per1000(loadCpuCeiling, sustainedCeiling.ok),
          esh3ar: per1000(loadCpuEsh3ar, sustainedEsh3ar.ok),
        },
        storageWorkerPeakRssMiB: peakRssMiB(stack.workers.at(-1)!.pid),
      },
      integrity,
    };
  } finally {
    await Promise.allSettled([ceiling?.stop(), stack?.close()]);
  }
}

/**
 * CPU per accepted message with the ceiling and Esh3ar offered the same rate: CPU per
 * request falls as load rises (more work per event-loop turn and per system call), so the
 * sustained runs above, each as fast as it answers, compare load levels as much as work.
 */
async function costPhase(): Promise<SameRateCost> {
  const { rounds, ...load } = costSettings;
  const measured = { ceiling: [] as Cost[], floor: [] as Cost[], esh3ar: [] as Cost[] };
  for (let round = 1; round <= rounds; round++) {
    log(`cost at ${load.rate} req/s offered, round ${round} of ${rounds}: ceiling, the shape's floor, then Esh3ar until stored`);
    measured.ceiling.push(await ceilingRound(load));
    measured.floor.push(await floorRound(load));
    measured.esh3ar.push(await esh3arRound('esh3ar', load));
  }
  return {
    ...costSettings,
    measured,
    ceiling: medianCost(measured.ceiling),
    floor: medianCost(measured.floor),
    esh3ar: medianCost(measured.esh3ar),
  };
}

let exitCode = 1;
try {
  const results: BenchResults = { startedAt, phases, settings, machine: machineInfo(), limits };
  const problems: string[] = [];
  if (phases.includes('intake')) {
    Object.assign(results, await intakePhase());
    if (!results.integrity!.ok) problems.push(...results.integrity!.problems);
  }
  if (phases.includes('cost')) results.cost = await costPhase();
  if (phases.includes('gateway')) {
    results.gateway = await gatewayPhase(gatewaySettings, log);
    if (!results.gateway.delivery.ok) problems.push(...results.gateway.delivery.problems);
  }
  const markdown = toMarkdown(results);
  const chart = results.sustained ? await sustainedChart([results.sustained.ceiling, results.sustained.esh3ar]) : undefined;
  const written = writeResults(results, markdown, chart);
  process.stdout.write(`${markdown}\n`);
  log(`written ${written} (and .json)`);
  if (problems.length === 0) exitCode = 0;
  else log(`FAILED: ${problems.join('; ')}`);
} catch (error) {
  const cause = (error as Error).cause as Error | undefined;
  log(`failed: ${(error as Error).stack ?? String(error)}${cause ? `\ncaused by: ${cause.stack ?? cause.message}` : ''}`);
}
process.exit(exitCode);
