import { validateMessage, type ValidMessage } from '@esh3ar/contracts';
import type { KeyedMessage } from '@esh3ar/db';
import type { Answer, Entry } from './idempotency-record.ts';

/*
 * When Redis may have lost an Idempotency-Key's record, the messages stored under the key
 * answer for the first request (idempotency.ts): these functions tell whether those rows
 * came from the same body, and if so rebuild the answer it was given.
 */

function sameMessage(a: ValidMessage, b: ValidMessage): boolean {
  const keys = (m: ValidMessage) => Object.keys(m.metadata ?? {});
  return (
    a.recipient === b.recipient &&
    a.content === b.content &&
    a.subject === b.subject &&
    a.priority === b.priority &&
    a.channel === b.channel &&
    a.ttlSeconds === b.ttlSeconds &&
    a.fallback === b.fallback &&
    a.fallbackAfterSeconds === b.fallbackAfterSeconds &&
    (a.metadata === null) === (b.metadata === null) &&
    keys(a).length === keys(b).length &&
    keys(a).every((k) => a.metadata![k] === b.metadata?.[k])
  );
}

/** The answer a single message's stored row gave, or null when it was another message. */
export function singleFromStored(valid: ValidMessage, stored: readonly KeyedMessage[]): Answer | null {
  const [row] = stored;
  if (stored.length !== 1 || !sameMessage(valid, row!.message)) return null;
  return { acceptedAt: row!.acceptedAt, entries: [{ id: row!.id }] };
}

/**
 * The answer a batch's stored rows gave, or null when they came from another body. The rows
 * are in the order of the entries they were accepted for, so each valid entry takes the next
 * row if it is the same message, and was refused by backpressure if not. That is exact: the
 * buffer depth only grows along a batch, so of two equal entries a refused first one means
 * a refused second one (admission.ts).
 */
export function batchFromStored(inputs: readonly unknown[], stored: readonly KeyedMessage[]): Answer | null {
  let next = 0;
  const entries = inputs.map((input): Entry => {
    const result = validateMessage(input);
    if (!result.ok) return { refused: 'VALIDATION_FAILED' };
    const row = stored[next];
    if (row === undefined || !sameMessage(result.value, row.message)) return { refused: 'OVERLOADED' };
    next++;
    return { id: row.id };
  });
  if (next !== stored.length) return null;
  return { acceptedAt: stored[0]!.acceptedAt, entries };
}
