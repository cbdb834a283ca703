import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { SECURITY_SCHEMES } from './route-docs.ts';
import { QUEUE_BOARD_PATH } from './routes/queue-board.ts';

export const DOCS_PATH = '/docs';

const DESCRIPTION = `Esh3ar takes messages for delivery by app push, SMS, WhatsApp and email.

A message is answered **202** once it is durable in the buffer; it is stored within a second and read back by id.
Every error has one shape, \`{"error": {"code", "message", "details", "requestId"}}\`: \`code\` is one of a fixed
catalogue, each code with one HTTP status (every operation lists those it can answer, with an example of each);
\`message\` says what is wrong in words, naming the field.
Every answer carries \`x-request-id\`; sends carry \`x-ratelimit-limit\`, \`x-ratelimit-remaining\` and \`x-ratelimit-reset\`.`;

/**
 * The page's own policy: everything it loads comes from this api (Swagger UI's files are
 * served from node_modules by @fastify/swagger-ui), and it sends requests nowhere else.
 */
const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Swagger UI renders with style attributes.
  "style-src 'self' 'unsafe-inline'",
  // Its logo is a data: URL.
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * GET /docs/openapi.json, an OpenAPI 3.1 document of every route, generated from the route
 * schemas (route-docs.ts), and GET /docs, its reference page (Swagger UI). Registered
 * before the routes, whose schemas @fastify/swagger collects as they are added, and outside
 * the /v1 scope: no API key, no rate limit. The queue board is a web page of its own, not an API.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      // The /v1 contract's version.
      info: { title: 'Esh3ar', version: '1', description: DESCRIPTION },
      // Relative: the host that served this document, behind whatever prefix a proxy adds.
      servers: [{ url: '/' }],
      components: { securitySchemes: SECURITY_SCHEMES },
      tags: [
        { name: 'messages', description: 'Send messages and read their status (an API key)' },
        { name: 'receipts', description: 'Delivery receipts, called by providers (their signature)' },
        { name: 'operations', description: 'Probes and metrics' },
        { name: 'admin: tenants', description: 'Tenants, their API keys, webhooks and quiet hours (ADMIN_TOKEN)' },
        { name: 'admin: runtime config', description: 'Settings retuned while Esh3ar runs (ADMIN_TOKEN)' },
        { name: 'admin: dead letters', description: 'Messages every provider refused (ADMIN_TOKEN)' },
      ],
    },
    transform: ({ schema, url }) => ({ schema: url.startsWith(QUEUE_BOARD_PATH) ? { ...schema, hide: true } : schema, url }),
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PATH, staticCSP: DOCS_CSP, theme: { title: 'Esh3ar API reference' } });
  app.get(`${DOCS_PATH}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());
}
