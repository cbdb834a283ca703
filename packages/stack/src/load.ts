import type pg from 'pg';

/** Contents that PostgreSQL, COPY and JSON must all carry byte-exact. */
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
 * COPY-hostile content until stopped, and records what the api answered. A crash
 * test asserts on the ids answered 202.
 */
export function startLoad(options: LoadOptions): Load {
  const result: LoadResult = { accepted: new Map(), refused: new Map(), unanswered: 0 };
  let running = true;
  const waiters = new Set<{ target: number; resolve: () => void }>();
  const sender = async (s: number) => {
    for (let i = 0; running; i++) {
      const content = `${options.tag} ${s}/${i} ${HOSTILE_BUT_VALID[i % HOSTILE_BUT_VALID.length]}`;
      try {
        const response = await fetch(`${options.apiUrl()}/v1/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ recipient: '+966501234567', ...options.message, content }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await response.json()) as { id?: string };
        if (response.status === 202 && body.id) {
          result.accepted.set(body.id, content);
          for (const w of waiters) {
            if (result.accepted.size < w.target) continue;
            waiters.delete(w);
            w.resolve();
          }
        } else {
          result.refused.set(response.status, (result.refused.get(response.status) ?? 0) + 1);
          // A refusal names its Retry-After; a short pause keeps a refused sender from spinning.
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } catch {
        result.unanswered++;
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
          reject(new Error(`load: ${n} more accepted messages did not come within ${timeoutMs} ms (refused ${JSON.stringify([...result.refused])}, unanswered ${result.unanswered})`));
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
  /** Contents stored more than once (every content sent is unique). */
  duplicates: number;
  /** Accepted ids whose stored content differs from what was sent. */
  altered: string[];
}

/** Compares what PostgreSQL holds for `tag` with what was answered 202. */
export async function checkStored(pool: pg.Pool, accepted: ReadonlyMap<string, string>, tag: string): Promise<StoredCheck> {
  const { rows } = await pool.query<{ id: string; content: string }>('SELECT id, content FROM messages WHERE starts_with(content, $1)', [`${tag} `]);
  const byId = new Map(rows.map((r) => [r.id, r.content]));
  const contents = new Set(rows.map((r) => r.content));
  const missing = [...accepted.keys()].filter((id) => !byId.has(id));
  const altered = [...accepted].filter(([id, content]) => byId.has(id) && byId.get(id) !== content).map(([id]) => id);
  return { stored: accepted.size - missing.length, missing, duplicates: rows.length - contents.size, altered };
}
