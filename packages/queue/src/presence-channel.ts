import type { DeliveryItem } from '@esh3ar/contracts';

/**
 * What is published on a gateway's channel (`gatewayChannel`), in one of two forms:
 *
 * - a JSON array of DeliveryItems: app messages to push, from the workers, once stored;
 * - `{"canceled":[{"id","recipient"},…]}`: messages their sender canceled, from the api:
 *   forget them and push them no more.
 *
 * An array or an object: the first value JSON.parse returns tells them apart, and a
 * worker of the previous release, which knows only arrays, keeps working during a rolling
 * deploy. The recipient comes with each id so that a gateway finds what awaits an ack by
 * phone rather than by scanning every phone it holds.
 */
export type ChannelMessage = { deliveries: DeliveryItem[] } | { canceled: CanceledItem[] };

export interface CanceledItem {
  id: string;
  recipient: string;
}

export const cancelNotice = (items: readonly CanceledItem[]): string =>
  JSON.stringify({ canceled: items.map(({ id, recipient }) => ({ id, recipient })) });

/** The message; null for anything else (not JSON, or from an incompatible release): the caller logs it. */
export function parseChannelMessage(payload: string): ChannelMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (Array.isArray(value)) return value.every(isDeliveryItem) ? { deliveries: value } : null;
  const canceled = (value as { canceled?: unknown } | null)?.canceled;
  if (Array.isArray(canceled) && canceled.every(isCanceledItem)) return { canceled };
  return null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown) => typeof v === 'string';
const isNullableString = (v: unknown) => v === null || typeof v === 'string';

function isCanceledItem(v: unknown): v is CanceledItem {
  return isObject(v) && isString(v.id) && isString(v.recipient);
}

/** Every field the gateway reads: a malformed item would otherwise throw in the subscriber's handler. */
function isDeliveryItem(v: unknown): v is DeliveryItem {
  return (
    isObject(v) &&
    isString(v.id) &&
    isString(v.tenantId) &&
    isString(v.recipient) &&
    isNullableString(v.subject) &&
    isString(v.content) &&
    isString(v.priority) &&
    isString(v.createdAt) &&
    (v.metadata === null || isObject(v.metadata)) &&
    isNullableString(v.expiresAt)
  );
}
