import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** A script's package (node_modules), Node module, or workspace app/package: where self time is grouped. */
function groupOf(url: string): string {
  if (url === '') return '(native/program)';
  const m = /node_modules\/\.pnpm\/([^/]+)\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[2]!;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  const w = /\/(apps|packages)\/([^/]+)\//.exec(url);
  return w ? `${w[1]}/${w[2]}` : url;
}

/** Microseconds of the monotonic clock, which a profile's sample times are on (V8's TimeTicks, CLOCK_MONOTONIC on Linux). */
export const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time of the one `.cpuprofile` in `dir` (written by `--cpu-prof --cpu-prof-dir`), as
 * lines: the top `top` groups (package, Node module, workspace app) and the top functions.
 * Only the samples within `windows` (monotonicMicros() pairs) count, when given: the
 * measured rounds rather than the start-up and the connects.
 */
export function summarizeCpuProfile(dir: string, windows: readonly [number, number][] = [], top = 30): string[] {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) return [`no .cpuprofile in ${dir}`];
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (windows.length === 0 || windows.some(([from, to]) => at >= from && at <= to)) self.set(id, (self.get(id) ?? 0) + delta);
  });
  // Waiting is no cost: shares are of the time the process was busy.
  for (const node of profile.nodes) if (node.callFrame.functionName === '(idle)') self.delete(node.id);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byGroup = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const t = self.get(node.id) ?? 0;
    if (t === 0) continue;
    const group = groupOf(node.callFrame.url);
    byGroup.set(group, (byGroup.get(group) ?? 0) + t);
    const where = node.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/(apps|packages)\//, '$1/');
    const fn = `${node.callFrame.functionName || '(anon)'} ${where}:${node.callFrame.lineNumber}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`.padStart(6);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `self time by package (${(total / 1e6).toFixed(2)} s busy sampled):`,
    ...sorted(byGroup).map(([g, t]) => `${pct(t)}  ${g}`),
    '',
    'top functions:',
    ...sorted(byFunction).map(([f, t]) => `${pct(t)}  ${f}`),
  ];
}
