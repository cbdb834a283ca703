/**
 * CPU per accepted message, until stored, against the bare route, for one or more
 * revisions of Esh3ar in the same run: the ceiling (bench/lib/ceiling-server.ts) and each
 * revision take turns (ceiling, rev 1, rev 2, …, ceiling, rev 1, …), each round on a fresh
 * database and REDIS_PREFIX with 1 api and 1 worker, loaded for COST_SECONDS at
 * COST_CONNECTIONS. A round's CPU is read from /proc from the start of its load until the
 * worker has stored every accepted message (api, worker, Redis and PostgreSQL by name; the
 * load generator apart). Medians over the rounds; ratios to the ceiling of the same run.
 *
 *   node bench/ingest/cost.ts [REV ...]   a git revision each (a commit, a branch, HEAD~2),
 *                                         or `.` for the working tree (the default), with
 *                                         settings after a colon: `.:API_RATE_LIMIT=off,X=1`;
 *                                         or `floor`: the floor of the shape (bench/lib/floor-server.ts,
 *                                         bench/lib/floor-worker.ts), the least these parts do
 *   COST_ROUNDS (3), COST_SECONDS (10), COST_CONNECTIONS (200), COST_RATE (5000 req/s offered to
 *   both; 0: as fast as each answers)
 *
 * A revision other than `.` is checked out in a worktree under the system's temp folder
 * (kept between runs) with its own dependencies (`pnpm install --offline`). Each revision's
 * worker migrates its own database. Writes bench/results/cost-<date>.md and .json. Nothing
 * else may run on the machine meanwhile: Redis and PostgreSQL are counted by process name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@esh3ar/stack';
import { machineInfo } from '../lib/proc-stats.ts';
import { resultStamp, writeResult } from '../lib/results.ts';
import { ceilingRound, esh3arRound, floorRound, medianCost, type Cost } from '../lib/same-rate-cost.ts';

const rounds = Number(process.env.COST_ROUNDS ?? 3);
const seconds = Number(process.env.COST_SECONDS ?? 10);
const connections = Number(process.env.COST_CONNECTIONS ?? 200);
// Both sides are offered the same rate: CPU per request falls as load rises (more work per
// event-loop turn and per system call), so a ceiling at 35,000 req/s against an Esh3ar at
// 7,000 would compare load levels as much as work. 0: each as fast as it answers.
const rate = Number(process.env.COST_RATE ?? 5000);
const load = { connections, seconds, rate };
const revisions = process.argv.length > 2 ? process.argv.slice(2) : ['.'];

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();

interface Revision {
  name: string;
  /** Extra environment for its processes. */
  env: Record<string, string>;
  /** The commit, or "working tree". */
  commit: string;
  subject: string;
  root: string;
}

function checkout(spec: string): Revision {
  const [rev = '.', settings = ''] = spec.split(/:(.*)/s);
  const env: Record<string, string> = {};
  for (const kv of settings === '' ? [] : settings.split(',')) {
    const [name = '', value = ''] = kv.split(/=(.*)/s);
    env[name] = value;
  }
  const named = (r: Omit<Revision, 'name' | 'env'>): Revision => ({
    ...r,
    name: spec,
    env,
    subject: settings === '' ? r.subject : `${r.subject} [${settings}]`,
  });
  if (rev === 'floor')
    return named({
      commit: 'floor',
      subject: 'the bare route + a group-committed BullMQ enqueue; a bare BullMQ worker COPYing',
      root: REPO_ROOT,
    });
  if (rev === '.') return named({ commit: 'working tree', subject: `on ${git('rev-parse', '--short', 'HEAD')}`, root: REPO_ROOT });
  const commit = git('rev-parse', '--verify', `${rev}^{commit}`);
  const root = join(tmpdir(), `esh3ar-cost-${commit.slice(0, 12)}`);
  if (!existsSync(join(root, 'node_modules'))) {
    if (!existsSync(root)) git('worktree', 'add', '--detach', root, commit);
    execFileSync('pnpm', ['install', '--frozen-lockfile', '--offline', '--reporter=silent'], { cwd: root, stdio: 'inherit' });
  }
  return named({ commit: commit.slice(0, 12), subject: git('log', '-1', '--format=%s', commit).slice(0, 100), root });
}

const revs = revisions.map(checkout);
const measured = { ceiling: [] as Cost[], revisions: revs.map(() => [] as Cost[]) };
const startedAt = new Date();
for (let round = 1; round <= rounds; round++) {
  measured.ceiling.push(await ceilingRound(load));
  console.error(`round ${round}: ceiling ${measured.ceiling.at(-1)!.api.toFixed(4)} s/1000`);
  for (const [i, rev] of revs.entries()) {
    const cost = rev.commit === 'floor' ? await floorRound(load) : await esh3arRound(rev.name, load, { root: rev.root, env: rev.env });
    measured.revisions[i]!.push(cost);
    console.error(
      `round ${round}: ${rev.name} api ${cost.api.toFixed(4)}, total ${cost.total.toFixed(4)} s/1000 (${cost.requestsPerSecond} req/s)`,
    );
  }
}

const ceiling = medianCost(measured.ceiling);
const f = (n: number) => n.toFixed(3);
const x = (n: number) => `${(n / ceiling.api).toFixed(2)}x`;
const rows = revs.map((rev, i) => {
  const c = medianCost(measured.revisions[i]!);
  return `| ${rev.commit} ${rev.subject.replaceAll('|', '\\|')} | ${c.requestsPerSecond} | ${f(c.api)} | **${x(c.api)}** | ${f(c.worker)} | ${f(c.redis)} | ${f(c.postgres)} | ${f(c.total)} | **${x(c.total)}** |`;
});
const machine = machineInfo();
const markdown = [
  `# CPU per accepted message, until stored (${startedAt.toISOString()})`,
  '',
  `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}. ${rounds} rounds, each: the ceiling, then every revision in turn, ${connections} connections for ${seconds} s (after 2 s of warm-up) ${rate > 0 ? `offered ${rate} req/s` : 'as fast as answered'}; medians. CPU seconds per 1,000 accepted messages from /proc, from the start of the load until the worker had stored all of them; "x" is a ratio to the ceiling's CPU per request in the same run.`,
  '',
  `Ceiling (bare Fastify route, the same validateMessage, no Redis): ${f(ceiling.api)} s per 1,000, ${ceiling.requestsPerSecond} req/s.`,
  '',
  '| revision | req/s | api | api / ceiling | worker | Redis | PostgreSQL | until stored | stored / ceiling |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
  `Load generator (autocannon, not counted above): ${f(ceiling.loadGenerator)} s per 1,000 against the ceiling.`,
  '',
].join('\n');
console.log(markdown);
const stamp = resultStamp(startedAt);
writeResult(`cost-${stamp}.md`, markdown);
writeResult(`cost-${stamp}.json`, JSON.stringify({ startedAt, rounds, seconds, connections, machine, revisions: revs, measured }, null, 2));
