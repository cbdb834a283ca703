import { waitFor } from '@esh3ar/stack';

/** Accepted messages not yet stored, as the api reports them (GET /health/ready). */
export async function bufferDepth(apiUrl: string): Promise<number> {
  const response = await fetch(`${apiUrl}/health/ready`);
  const body = (await response.json()) as { checks?: { buffer?: { depth?: number } } };
  const depth = body.checks?.buffer?.depth;
  if (typeof depth !== 'number') throw new Error(`GET /health/ready answered ${response.status} without checks.buffer.depth`);
  return depth;
}

/** Resolves once the workers have stored everything accepted so far; how long that took. */
export async function waitForDrain(apiUrl: string, timeoutMs = 300_000): Promise<number> {
  const started = performance.now();
  await waitFor(
    () => bufferDepth(apiUrl),
    (depth) => depth === 0,
    timeoutMs,
    50,
  );
  return Math.round(performance.now() - started);
}
