import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderBlocks } from './bench-report.ts';
import { keptResults, numbers, parseReport, rowOf } from './bench-results.ts';

// docs/benchmarks.md's figures are generated from the reports git keeps in bench/results/.

const ROOT = join(import.meta.dirname, '..');
const kept = keptResults();

describe('the benchmark figures (scripts/bench-report.ts)', () => {
  it('are in docs/benchmarks.md as the script renders them from the kept reports', () => {
    const doc = readFileSync(join(ROOT, 'docs/benchmarks.md'), 'utf8');
    const blocks = renderBlocks(kept);
    expect([...blocks.keys()]).toEqual([
      'results',
      'providers',
      'scheduling',
      'cost',
      'gateway-delivery',
      'api-flags',
      'api-pretenuring',
      'gc-trace',
      'levers',
      'capacity',
      'cluster',
      'targets',
    ]);
    for (const [name, block] of blocks) expect(doc.includes(block), `${name}: run node scripts/bench-report.ts --write`).toBe(true);
  });

  it('quote the newest run of pnpm bench and range over every kept one', () => {
    const runs = kept.filter((f) => /^\d{4}-.*Z\.md$/.test(f));
    const newest = runs.at(-1)!;
    const results = renderBlocks(kept).get('results')!;
    expect(results).toContain(`From \`bench/results/${newest}\``);
    for (const run of runs) expect(results).toContain(run);
    // Without the newest run, the one before it is quoted: the figures come from the files.
    const older = renderBlocks(kept.filter((f) => !f.startsWith(newest.replace(/\.md$/, '')))).get('results')!;
    expect(older).toContain(`From \`bench/results/${runs.at(-2)!}\``);
    expect(older).not.toEqual(results);
  });

  it('read sections, rows and numbers as the reports write them', () => {
    const report = parseReport(
      'x.md',
      [
        '# A benchmark',
        '',
        'AMD EPYC, 2 cores. Phases: intake.',
        '',
        '## Burst: 10,000 requests',
        '',
        '|  | ceiling | Esh3ar |',
        '| --- | ---: | ---: |',
        '| latency p99 | 1,851 ms | 2,471 ms |',
        '| server peak RSS during the burst | 259 MiB | 292 and 294 MiB |',
      ].join('\n'),
    );
    expect(report.machine).toBe('AMD EPYC, 2 cores. Phases: intake.');
    expect(rowOf(report, 'Burst', 'latency p99')).toEqual(['latency p99', '1,851 ms', '2,471 ms']);
    expect(numbers(rowOf(report, 'Burst', 'server peak RSS')[2]!)).toEqual([292, 294]);
    expect(numbers('7.3 ms / ≤ 50 ms')).toEqual([7.3, 50]);
    expect(() => rowOf(report, 'Burst', 'latency p50')).toThrow(/no row "latency p50"/);
  });
});
