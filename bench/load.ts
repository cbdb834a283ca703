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
}

/**
 * Keeps `connections` keep-alive connections busy for `seconds` with autocannon,
 * in this thread (the request callback cannot cross to autocannon's worker threads;
 * on two cores a second load thread would only take CPU from the server).
 * `onAccepted` receives the body of every 2xx answer.
 */
export async function sustained(target: Target, options: { connections: number; seconds: number; onAccepted?: (body: string) => void }): Promise<SustainedResult> {
  let ok = 0;
  const result = await autocannon({
    url: target.url,
    connections: options.connections,
    duration: options.seconds,
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
  };
}
