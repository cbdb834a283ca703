import autocannon from 'autocannon';

/** One HTTP endpoint under load: where, and the request every connection repeats. */
export interface Target {
  name: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

/** One second of a sustained run: answers in it and their latency percentiles. */
export interface TimelinePoint {
  second: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
}

export interface SustainedResult {
  target: string;
  connections: number;
  seconds: number;
  /** Mean of autocannon's per-second samples. */
  requestsPerSecond: number;
  latencyMs: Latency;
  ok: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Requests written but never answered (in flight when the run stopped, or timed out). */
  unanswered: number;
  /** Per second of the run (for the chart). */
  timeline: TimelinePoint[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Answers grouped by the second they arrived in, with p50/p99 of each second. */
function toTimeline(samples: readonly { at: number; ms: number }[], started: number): TimelinePoint[] {
  const seconds = new Map<number, number[]>();
  for (const s of samples) {
    const second = Math.floor((s.at - started) / 1000);
    const list = seconds.get(second);
    if (list) list.push(s.ms);
    else seconds.set(second, [s.ms]);
  }
  return [...seconds.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, list]) => {
      list.sort((a, b) => a - b);
      return { second, requests: list.length, p50Ms: percentile(list, 50), p99Ms: percentile(list, 99) };
    });
}

/**
 * Keeps `connections` keep-alive connections busy for `seconds` with autocannon,
 * in this thread (the request callback cannot cross to autocannon's worker threads;
 * on two cores a second load thread would only take CPU from the server).
 * `onAccepted` receives the body of every 2xx answer.
 */
export interface SustainedOptions {
  connections: number;
  seconds: number;
  /** Requests per second over all connections (autocannon's overallRate); none or 0: as fast as answers come. */
  overallRate?: number;
  onAccepted?: (body: string) => void;
}

export async function sustained(target: Target, options: SustainedOptions): Promise<SustainedResult> {
  let ok = 0;
  const samples: { at: number; ms: number }[] = [];
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        connections: options.connections,
        duration: options.seconds,
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: target.path,
            headers: target.headers,
            body: target.body,
            onResponse: (status, body) => {
              if (status >= 200 && status < 300) {
                ok++;
                options.onAccepted?.(body);
              }
            },
          },
        ],
      },
      (error, finished) => (error ? reject(error as Error) : resolve(finished)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => samples.push({ at: performance.now(), ms: responseTime }));
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  const answered = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    target: target.name,
    connections: options.connections,
    seconds: result.duration,
    requestsPerSecond: Math.round(result.requests.average),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    ok,
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    unanswered: Math.max(0, result.requests.sent - answered),
    timeline: toTimeline(samples, started),
  };
}
