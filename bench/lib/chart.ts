import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SustainedResult } from './load.ts';

/**
 * The sustained runs over time as an SVG (vega-lite, rendered headless): requests
 * answered per second, and p50/p99 latency per second, ceiling and Esh3ar together.
 */
export async function sustainedChart(runs: readonly SustainedResult[]): Promise<string> {
  const values = runs.flatMap((run) =>
    run.timeline.flatMap((t) => [
      { target: run.target, second: t.second, metric: 'answers / s', value: t.requests },
      { target: run.target, second: t.second, metric: 'p50 latency (ms)', value: t.p50Ms },
      { target: run.target, second: t.second, metric: 'p99 latency (ms)', value: t.p99Ms },
    ]),
  );
  const panel = (metric: string, title: string) => ({
    width: 560,
    height: 160,
    title,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'second', type: 'quantitative', title: 'second of the run' },
      y: { field: 'value', type: 'quantitative', title: metric },
      color: { field: 'target', type: 'nominal', title: null },
    },
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    vconcat: [panel('answers / s', 'Throughput'), panel('p50 latency (ms)', 'Latency p50'), panel('p99 latency (ms)', 'Latency p99')],
  } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
