import type pg from 'pg';

/** Contents that PostgreSQL, COPY and JSON must all carry byte-exact. */
// A request is given up only after this many tries (~20 s of refusals): a test's services
// are all back by then, and a load that cannot stop would hang the test instead of failing it.
const MAX_TRIES = 400;
const HOSTILE_BUT_VALID = ['مرحبا بك', '🚀✨', 'tab\there', 'new\nline', 'back\\slash', 'cr\r\nlf', '\\N', 'quote"\''];

export interface LoadOptions {
  /** Concurrent senders, each with one request in flight at a time. */
  senders: number;
  /** The api's base URL, read before each request: a restarted api may listen elsewhere. */
  apiUrl: () => string;
  apiKey: string;
  /** Per-message fields besides content (recipient, channel, ...). */
  message?: Record<string, unknown>;
  tag: string;
}

export interface LoadResult {
  /** Every id answered 202, with the exact content sent. */
  accepted: Map<string, string>;
  /** Answers other than 202, by status (503 while Redis is down, say). */
  refused: Map<number, number>;
  /** Requests with no HTTP answer (the api killed mid-request, connection refused). */
  unanswered: number;
}

export interface Load {
  /** Resolves once `n` more messages were accepted than when it was called. */
  acceptedMore(n: number, timeoutMs?: number): Promise<void>;
  readonly acceptedCount: number;
  stop(): Promise<LoadResult>;
}

/**
 * Traffic as many senders make it: each loops over POST /v1/messages with a unique,
 * COPY-hostile content until stopped, and records what the api answered. As a careful
 * client does, a request refused or left without an answer is sent again, same body and
 * same Idempotency-Key, until it is answered 202: a crash test then asserts that each
 * content is stored exactly once, whatever died while it was in flight.
 */
export function startLoad(options: LoadOptions): Load {
  const result: LoadResult = { accepted: new Map(), refused: new Map(), unanswered: 0 };
  let running = true;
  const waiters = new Set<{ target: number; resolve: () => void }>();
  const sender = async (s: number) => {
    for (let i = 0; running; i++) {
      const content = `${options.tag} ${s}/${i} ${HOSTILE_BUT_VALID[i % HOSTILE_BUT_VALID.length]}`;
      const body = JSON.stringify({ recipient: '+966501234567', ...options.message, content });
      const idempotencyKey = `${options.tag}-${s}-${i}`;
      // Until answered 202; once stopped, a request already tried is still seen through,
      // so that none is left with an unknown outcome.
      for (let tries = 0; (running || tries > 0) && tries < MAX_TRIES; tries++) {
        try {
          const response = await fetch(`${options.apiUrl()}/v1/messages`, {
            method: 'POST',
            headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          const answer = (await response.json()) as { id?: string };
          if (response.status === 202 && answer.id) {
            result.accepted.set(answer.id, content);
            for (const w of waiters) {
              if (result.accepted.size < w.target) continue;
              waiters.delete(w);
              w.resolve();
            }
            break;
          }
          result.refused.set(response.status, (result.refused.get(response.status) ?? 0) + 1);
        } catch {
          result.unanswered++;
        }
        // A refusal names its Retry-After; a short pause keeps a refused sender from spinning.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  const senders = Array.from({ length: options.senders }, (_, s) => sender(s));
  return {
    get acceptedCount() {
      return result.accepted.size;
    },
    acceptedMore(n, timeoutMs = 60_000) {
      const target = result.accepted.size + n;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `load: ${n} more accepted messages did not come within ${timeoutMs} ms (refused ${JSON.stringify([...result.refused])}, unanswered ${result.unanswered})`,
            ),
          );
        }, timeoutMs);
        const waiter = { target, resolve: () => (clearTimeout(timer), resolve()) };
        waiters.add(waiter);
      });
    },
    async stop() {
      running = false;
      await Promise.all(senders);
      return result;
    },
  };
}

export interface StoredCheck {
  /** Accepted ids found in PostgreSQL. */
  stored: number;
  /** Accepted ids not (yet) in PostgreSQL. */
  missing: string[];
  /** Contents stored more than once: every content is sent under its own Idempotency-Key, retried until answered 202. */
  duplicates: number;
  /** Accepted ids whose stored content differs from what was sent. */
  altered: string[];
  /** Rows of this load whose content was never answered 202 (a request stored although its sender gave up). */
  unaccepted: number;
}

/** Compares what PostgreSQL holds for `tag` with what was answered 202. */
export async function checkStored(pool: pg.Pool, accepted: ReadonlyMap<string, string>, tag: string): Promise<StoredCheck> {
  const { rows } = await pool.query<{ id: string; content: string }>('SELECT id, content FROM messages WHERE starts_with(content, $1)', [
    `${tag} `,
  ]);
  const byId = new Map(rows.map((r) => [r.id, r.content]));
  const contents = new Set(rows.map((r) => r.content));
  const missing = [...accepted.keys()].filter((id) => !byId.has(id));
  const altered = [...accepted].filter(([id, content]) => byId.has(id) && byId.get(id) !== content).map(([id]) => id);
  const acceptedContents = new Set(accepted.values());
  const unaccepted = [...contents].filter((c) => !acceptedContents.has(c)).length;
  return { stored: accepted.size - missing.length, missing, duplicates: rows.length - contents.size, altered, unaccepted };
}
