import { bufferDepth } from '../lib/buffer-depth.ts';
import { sustained, type SustainedResult, type Target } from '../lib/load.ts';
import { histogramQuantile, scrape, total } from '../lib/metrics-scrape.ts';

/** One second of an end-to-end run. */
export interface EndToEndSecond {
  second: number;
  /** Messages answered 2xx in this second (from the load generator's per-second counts). */
  accepted: number;
  /** Rows the worker stored in this second (esh3ar_persist_rows_total{result="stored"}). */
  stored: number;
  /** Accepted, not yet stored, at the end of this second. */
  backlog: number;
}

export interface EndToEndResult {
  mode: 'single' | 'batch';
  messagesPerRequest: number;
  offeredMessagesPerSecond: number;
  connections: number;
  seconds: number;
  load: SustainedResult;
  acceptedMessagesPerSecond: number;
  storedMessagesPerSecond: number;
  backlog: { atStart: number; atEnd: number; max: number; slopePerSecond: number };
  /** The workers' esh3ar_accept_to_stored_seconds over the run (upper bucket bounds). */
  acceptToStoredMs: { p50: number; p99: number };
  /** The backlog neither grew by more than 1% of the rate per second nor ended above one second of traffic. */
  flat: boolean;
  timeline: EndToEndSecond[];
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export interface EndToEndSettings {
  /** Messages per second offered. */
  rate: number;
  seconds: number;
  connections: number;
  /** 1: POST /v1/messages; more: POST /v1/messages/batch with this many messages each. */
  messagesPerRequest: number;
}

/**
 * Accept → stored for `seconds` at a paced rate with the worker storing meanwhile:
 * what was accepted and what was stored each second, and whether the backlog (the
 * buffer depth the api reports) stayed flat.
 */
export async function endToEnd(
  target: { url: string; apiKey: string; message: object; workerUrl: string },
  settings: EndToEndSettings,
  onAccepted: (ids: string[]) => void,
): Promise<EndToEndResult> {
  const batch = settings.messagesPerRequest > 1;
  const request: Target = {
    name: batch ? 'esh3ar-batch' : 'esh3ar',
    url: target.url,
    path: batch ? '/v1/messages/batch' : '/v1/messages',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.apiKey}` },
    body: JSON.stringify(batch ? { messages: Array.from({ length: settings.messagesPerRequest }, () => target.message) } : target.message),
  };
  const storedIn = (series: Map<string, number>) => total(series, 'esh3ar_persist_rows_total', 'result="stored"');
  const storedNow = async () => storedIn(await scrape(target.workerUrl));
  const before = await scrape(target.workerUrl);
  const backlogAtStart = await bufferDepth(target.url);
  let stored = storedIn(before);
  const samples: { second: number; stored: number; backlog: number }[] = [];
  let second = 0;
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    const at = ++second;
    sampling = sampling.then(async () => {
      const [now, backlog] = await Promise.all([storedNow(), bufferDepth(target.url)]);
      samples.push({ second: at, stored: now - stored, backlog });
      stored = now;
    });
  }, 1000);
  let load: SustainedResult;
  try {
    load = await sustained(request, {
      connections: settings.connections,
      seconds: settings.seconds,
      overallRate: Math.max(1, Math.round(settings.rate / settings.messagesPerRequest)),
      onAccepted: (body) => {
        const parsed = JSON.parse(body) as { id?: string; results?: { id?: string }[] };
        onAccepted(parsed.id !== undefined ? [parsed.id] : (parsed.results ?? []).flatMap((r) => (r.id ? [r.id] : [])));
      },
    });
  } finally {
    clearInterval(timer);
  }
  await sampling;
  const after = await scrape(target.workerUrl);
  const quantile = (q: number) => histogramQuantile(before, after, 'esh3ar_accept_to_stored_seconds', q) * 1000;

  const timeline = samples.map((s) => ({
    second: s.second,
    accepted: (load.timeline.find((t) => t.second === s.second - 1)?.requests ?? 0) * settings.messagesPerRequest,
    stored: s.stored,
    backlog: s.backlog,
  }));
  // The first and last seconds hold the ramp-up and the tail: judged on the middle.
  const steady = timeline.slice(1, -1);
  const acceptedTotal = load.ok * settings.messagesPerRequest;
  const backlogSlope = slope(steady.map((t) => ({ x: t.second, y: t.backlog })));
  const atEnd = timeline.at(-1)?.backlog ?? backlogAtStart;
  const acceptedRate = acceptedTotal / load.seconds;
  return {
    mode: batch ? 'batch' : 'single',
    messagesPerRequest: settings.messagesPerRequest,
    offeredMessagesPerSecond: settings.rate,
    connections: settings.connections,
    seconds: load.seconds,
    load,
    acceptedMessagesPerSecond: Math.round(acceptedRate),
    storedMessagesPerSecond: Math.round(steady.reduce((a, t) => a + t.stored, 0) / Math.max(1, steady.length)),
    backlog: {
      atStart: backlogAtStart,
      atEnd,
      max: Math.max(backlogAtStart, ...timeline.map((t) => t.backlog)),
      slopePerSecond: Math.round(backlogSlope),
    },
    acceptToStoredMs: { p50: quantile(0.5), p99: quantile(0.99) },
    flat: backlogSlope <= 0.01 * acceptedRate && atEnd <= acceptedRate,
    timeline,
  };
}
