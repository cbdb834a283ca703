import type { Stack } from '@esh3ar/stack';

export interface IntegrityResult {
  /** 2xx answers over the whole run (a batch counts its accepted messages). */
  answered: number;
  stored: number;
  storedDistinct: number;
  /** Answered ids found in `messages`. */
  answeredStored: number;
  /** Rows no client saw a 2xx for: requests the load generator abandoned mid-flight. */
  storedWithoutAnswer: number;
  /** Messages of the requests written but never answered (a batch counts each): at most this many rows may lack an answer. */
  unansweredRequests: number;
  ok: boolean;
  problems: string[];
}

const CHUNK = 20_000;

/**
 * Every 2xx of the run is in PostgreSQL exactly once. Checked by id, not only by
 * count: autocannon destroys its connections when the time is up, so requests in
 * flight then may be stored without anyone reading their 202. Those rows are allowed
 * (up to the number of requests left unanswered); a missing or doubled row is not.
 */
export async function checkIntegrity(
  pool: Stack['pool'],
  answeredIds: readonly string[],
  unansweredRequests: number,
): Promise<IntegrityResult> {
  const problems: string[] = [];
  const distinctAnswers = new Set(answeredIds);
  if (distinctAnswers.size !== answeredIds.length) problems.push(`${answeredIds.length - distinctAnswers.size} ids were answered twice`);
  const totals = await pool.query<{ stored: number; distinct: number }>(
    'SELECT count(*)::int AS stored, count(DISTINCT id)::int AS distinct FROM messages',
  );
  const { stored, distinct } = totals.rows[0]!;
  if (stored !== distinct) problems.push(`${stored - distinct} rows are duplicates`);
  const ids = [...distinctAnswers];
  let answeredStored = 0;
  for (let i = 0; i < ids.length; i += CHUNK) {
    const found = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [
      ids.slice(i, i + CHUNK),
    ]);
    answeredStored += found.rows[0]!.n;
  }
  if (answeredStored !== ids.length) problems.push(`${ids.length - answeredStored} answered messages are not in PostgreSQL`);
  const storedWithoutAnswer = distinct - answeredStored;
  if (storedWithoutAnswer > unansweredRequests) {
    problems.push(
      `${storedWithoutAnswer} stored rows have no 2xx, more than the ${unansweredRequests} messages of requests left unanswered`,
    );
  }
  return {
    answered: answeredIds.length,
    stored,
    storedDistinct: distinct,
    answeredStored,
    storedWithoutAnswer,
    unansweredRequests,
    ok: problems.length === 0,
    problems,
  };
}
