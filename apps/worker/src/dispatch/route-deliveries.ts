import { PRIORITY_RANK, type BufferedMessage, type DeliveryItem } from '@esh3ar/contracts';
import { expiresAt } from '@esh3ar/db';
import { onlineGateways, publishToGateways } from '@esh3ar/queue/presence';
import type { RedisClient } from '@esh3ar/queue';

/** When a message's TTL runs out: as stored (packages/db's expiresAt, counted from its sendAt), or as the caller knows it. */
export type ExpiresAtOf = (m: BufferedMessage) => string | null;

export function toDeliveryItem(m: BufferedMessage, expiresAtOf: ExpiresAtOf = expiresAt): DeliveryItem {
  return {
    id: m.id,
    tenantId: m.tenantId,
    recipient: m.recipient,
    subject: m.subject,
    content: m.content,
    priority: m.priority,
    createdAt: m.acceptedAt,
    metadata: m.metadata,
    expiresAt: expiresAtOf(m),
  };
}

export interface RouteResult {
  /** Messages handed to at least one gateway. */
  routed: number;
  /** Messages whose phone has no live connection: they wait in PostgreSQL for the replay. */
  offline: number;
}

/**
 * After a batch is stored: each app message goes to the gateway instances that hold
 * its phone's connections (one PUBLISH per gateway, SPUBLISH on a Cluster, highest priority first), never
 * broadcast. Offline phones get theirs on connect, from PostgreSQL. Publishing is
 * best effort by design: a gateway that misses it (restarting) still has the replay
 * and its re-push of unacknowledged messages.
 */
export async function routeDeliveries(
  redis: RedisClient,
  prefix: string,
  messages: readonly BufferedMessage[],
  expiresAtOf: ExpiresAtOf = expiresAt,
): Promise<RouteResult> {
  const app = messages.filter((m) => m.channel === 'app').sort((a, b) => PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority]);
  if (app.length === 0) return { routed: 0, offline: 0 };
  const online = await onlineGateways(redis, prefix, [...new Set(app.map((m) => m.recipient))]);
  const perGateway = new Map<string, DeliveryItem[]>();
  let offline = 0;
  for (const m of app) {
    const gateways = online.get(m.recipient);
    if (!gateways || gateways.size === 0) {
      offline++;
      continue;
    }
    const item = toDeliveryItem(m, expiresAtOf);
    for (const g of gateways) {
      const list = perGateway.get(g);
      if (list) list.push(item);
      else perGateway.set(g, [item]);
    }
  }
  if (perGateway.size > 0)
    await publishToGateways(redis, prefix, new Map([...perGateway].map(([gatewayId, items]) => [gatewayId, JSON.stringify(items)])));
  return { routed: app.length - offline, offline };
}
