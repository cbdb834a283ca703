/**
 * Where Esh3ar meets the performance targets on the benchmark machine and where it falls
 * short, for docs/benchmarks.md: the quoted run's targets as its report judged them, and
 * each shortfall's range over the kept runs of `pnpm bench`.
 */
import { benchRuns, numbers, rowOf, SEMI_SPACE_16, sectionOf, TWO_NEW_APIS_SINCE, type Report } from './bench-results.ts';

/** The api's peak RSS goal: 300 MB, in the MiB the reports give. */
const RSS_GOAL_MIB = 286;
/** The burst goal: p99 at most this times the ceiling's. */
const BURST_GOAL = 1.25;

const BURST = 'Burst: 10,000 requests on 10,000 new connections';
const KEEP_ALIVE = 'Burst: 10,000 requests at once over 1,000 open';

/** "low–high" of the numbers, as integers or with the decimals given. */
function span(values: readonly number[], digits = 0, unit = ''): string {
  const f = (n: number) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const [low, high] = [Math.min(...values), Math.max(...values)];
  return low === high ? `${f(high)}${unit}` : `${f(low)}–${f(high)}${unit}`;
}

export function targetsBlock(kept: readonly string[]): string[] {
  const runs = benchRuns(kept).filter((r) => sectionOf(r, 'Sustained') !== undefined);
  const q = runs.at(-1);
  if (q === undefined) throw new Error('no kept report of pnpm bench in bench/results');
  const cell = (r: Report, heading: string, label: string, column: number) => numbers(rowOf(r, heading, label)[column]!);
  const all = (rs: Report[], heading: string, label: string, column: number) => rs.flatMap((r) => cell(r, heading, label, column));
  const semi16 = runs.filter((r) => SEMI_SPACE_16(r.file));
  const twoNew = runs.filter((r) => r.file >= TWO_NEW_APIS_SINCE);
  const within = (rs: Report[], column: number) =>
    rs.filter((r) => cell(r, BURST, 'server peak RSS', column).every((n) => n <= RSS_GOAL_MIB)).length;
  const twoWithin = runs.filter((r) => cell(r, BURST, 'latency p99', 5)[0]! <= BURST_GOAL).length;

  const targets = sectionOf(q, 'Targets in this run')?.tables[0] ?? [];
  const judged = (verdict: string) => targets.filter((cells) => cells[2] === verdict).map((cells) => cells[0]!);
  if (targets.length === 0) throw new Error(`${q.file} has no "Targets in this run" table`);

  return [
    `Met in the run quoted above (${'`'}${q.file}${'`'}), as its report judges them: ${judged('met').join('; ')}.`,
    `Not met: ${judged('not met').join('; ')}.`,
    '',
    'Why, and what it would take, is in "What bounds the figures" above. The sustained ratio',
    `(${span(all(runs, 'Sustained', 'req/s', 3), 2, '×')} against 0.8×) and the burst latencies are bounded by the CPU that the durable write,`,
    `the rate limiter and storage add on the same two cores: ${span(all(runs, BURST, 'latency p99', 3), 2, '×')} against ${BURST_GOAL}× with one api`,
    `process, ${span(all(runs, BURST, 'latency p99', 5), 2, '×')} with two (within the goal in ${twoWithin} of ${runs.length} runs); keep-alive p99`,
    `${span(all(runs, KEEP_ALIVE, 'latency p99', 2), 0, ' ms')} against 500 ms, where the bare route itself took ${span(all(runs, KEEP_ALIVE, 'latency p99', 1), 0, ' ms')}.`,
    `Accept → stored at 10,000 msg/s holds as batches; single requests are stored at ${span(all(runs, 'Accept → stored', 'POST /v1/messages,', 2))}/s`,
    `with a worker storing beside them. The api's peak RSS in the burst is ${span(all(semi16, BURST, 'server peak RSS', 2), 0, ' MiB')} for one`,
    `process taking all 10,000 connections, against 300 MB (${RSS_GOAL_MIB} MiB): within it in ${within(semi16, 2)} of the ${semi16.length} runs at 16 MiB`,
    `semi-spaces. Two processes sharing them (one per core, as deployed) peaked at ${span(all(twoNew, BURST, 'server peak RSS', 4), 0, ' MiB')}`,
    `each, within it in ${within(twoNew, 4)} of ${twoNew.length} runs (${span(all(twoNew, KEEP_ALIVE, 'server peak RSS', 4), 0, ' MiB')} in the keep-alive burst). The bare`,
    `route itself peaks at ${span(all(runs, BURST, 'server peak RSS', 1), 0, ' MiB')}.`,
  ];
}
