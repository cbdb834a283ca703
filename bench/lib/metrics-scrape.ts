/** Prometheus text → series (name{labels}) → value. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}

/** The sum of every series of `name` (all label sets, or those with every label of `labels`, e.g. `result="stored"`). */
export function total(series: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [key, value] of series) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (labels.every((label) => key.includes(label))) sum += value;
  }
  return sum;
}

/** Mean of a histogram between two scrapes. */
export function histogramMean(before: Map<string, number>, after: Map<string, number>, name: string): number {
  const count = total(after, `${name}_count`) - total(before, `${name}_count`);
  return count > 0 ? (total(after, `${name}_sum`) - total(before, `${name}_sum`)) / count : Number.NaN;
}

/**
 * A quantile of a histogram between two scrapes, as the upper bound of the bucket it
 * falls in (all label sets summed): "p99 ≤ x".
 */
export function histogramQuantile(before: Map<string, number>, after: Map<string, number>, name: string, q: number): number {
  const buckets = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const [key, value] of after) {
    if (!key.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(key)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value - (before.get(key) ?? 0));
  }
  const sorted = [...buckets].sort(([a], [b]) => a - b);
  const count = sorted.at(-1)?.[1] ?? 0;
  if (count === 0) return Number.NaN;
  return sorted.find(([, cumulative]) => cumulative >= q * count)![0];
}
