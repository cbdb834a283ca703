import { createReceiptMetrics } from '@esh3ar/observability';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { metaWebhookRoutes, type MetaSettings } from './meta-webhook.ts';
import { twilioStatusRoute, type TwilioSettings } from './twilio-status.ts';

/** config.receipts: a provider without its secret has no routes (404). */
export interface ReceiptSettings {
  twilio: TwilioSettings | null;
  meta: MetaSettings | null;
}

export interface ProviderReceiptDeps {
  pool: pg.Pool;
  registry: Registry;
  settings: ReceiptSettings;
}

/**
 * /v1/providers/*: delivery receipts, called by providers. Registered beside the /v1 scope,
 * not in it, so none of its hooks apply: providers carry no API key and are no tenant to
 * rate-limit; each request is authenticated by its provider's signature instead. Each
 * provider is a scope of its own, since each parses bodies its own way.
 */
export async function providerReceiptRoutes(app: FastifyInstance, deps: ProviderReceiptDeps): Promise<void> {
  const metrics = createReceiptMetrics(deps.registry);
  const { twilio, meta } = deps.settings;
  if (twilio !== null) await app.register(async (scope) => twilioStatusRoute(scope, { pool: deps.pool, metrics, twilio }));
  if (meta !== null) await app.register(async (scope) => metaWebhookRoutes(scope, { pool: deps.pool, metrics, meta }));
}
