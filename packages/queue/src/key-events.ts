import type { RedisClient } from './redis.ts';

/**
 * "Forget what you cached about these keys", published on `<prefix>:api-key-events` by
 * whoever revokes a key or disables or enables a tenant (the admin API, the CLI), and
 * acted on at once by every api process: the message carries what changed, so it takes
 * effect even while PostgreSQL is down. Pub/sub delivers at most once; the api processes
 * also read PostgreSQL's api_key_events log every second for what they missed.
 */
export interface KeyEventNotice {
  /** The change's seq in api_key_events. */
  seq: number;
  tenantId: string;
  /** null: every key of the tenant (disabled or enabled). */
  keyId: string | null;
}

export const keyEventsChannel = (prefix: string) => `${prefix}:api-key-events`;

/** False when Redis refused: the api processes then see the change when they next read the log (≤ 1 s). */
export async function publishKeyEvent(redis: RedisClient, prefix: string, notice: KeyEventNotice): Promise<boolean> {
  const message = JSON.stringify({ seq: notice.seq, tenantId: notice.tenantId, keyId: notice.keyId });
  return redis.publish(keyEventsChannel(prefix), message).then(
    () => true,
    () => false,
  );
}

/** The notice in a message; null for anything else (a message from an incompatible release). */
export function parseKeyEventNotice(message: string): KeyEventNotice | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  const { seq, tenantId, keyId } = (value ?? {}) as Partial<Record<keyof KeyEventNotice, unknown>>;
  if (typeof seq !== 'number' || typeof tenantId !== 'string' || (keyId !== null && typeof keyId !== 'string')) return null;
  return { seq, tenantId, keyId };
}
