import type { TSchema } from 'typebox';
import { Type } from 'typebox';
import { adminErrorResponses, ANSWERED_AS_BUILT, BODY_ERRORS, INPUT_CHECKED_BY_HANDLER, json, named } from '../route-docs.ts';
import { TestOutcome } from '../webhook-test-event.ts';
import { EXAMPLE_TENANT, TENANTS } from './tenants-admin.ts';

/* The schemas of /v1/admin/tenants/:tenantId/webhook* for the reference page (openapi.ts). */

const URL_EXAMPLE = 'https://hooks.example.com/esh3ar';
const Webhook = Type.Object({ tenantId: Type.String(), url: Type.String() });
const NOT_FOUND = { NOT_FOUND: 'no such tenant' };

export const WEBHOOK_DOCS = {
  /** `body`: the route's own check of it (SetWebhook), run by the handler, which also checks the URL's rules. */
  set: (body: TSchema) => ({
    ...INPUT_CHECKED_BY_HANDLER,
    ...ANSWERED_AS_BUILT,
    schema: {
      ...TENANTS,
      operationId: 'setTenantWebhook',
      summary: 'Set where a tenant’s status changes are POSTed',
      description: 'Each PUT generates a new signing secret, shown here only. The URL must be https and resolve to a public address.',
      body: Type.With(body, { 'x-examples': named({ endpoint: { url: URL_EXAMPLE } }) }),
      response: {
        200: json('Set; the secret signs every POST (Standard Webhooks)', Type.Object({ ...Webhook.properties, secret: Type.String() }), {
          set: { tenantId: EXAMPLE_TENANT.id, url: URL_EXAMPLE, secret: 'whsec_n3VtZ2xjb2h6dGJ4cWZ5a2JhbXJ0dWxvZ3NpbnhqZWQ' },
        }),
        ...adminErrorResponses([...BODY_ERRORS, 'NOT_FOUND'], NOT_FOUND),
      },
    },
  }),
  get: {
    ...ANSWERED_AS_BUILT,
    schema: {
      ...TENANTS,
      operationId: 'getTenantWebhook',
      summary: 'Where a tenant’s status changes are POSTed (not the secret)',
      response: {
        200: json('The webhook', Webhook, { webhook: { tenantId: EXAMPLE_TENANT.id, url: URL_EXAMPLE } }),
        ...adminErrorResponses(['NOT_FOUND'], { NOT_FOUND: 'this tenant has no webhook' }),
      },
    },
  },
  test: {
    schema: {
      ...TENANTS,
      operationId: 'testTenantWebhook',
      summary: 'POST one signed test event to the tenant’s webhook now',
      description: 'Answered 200 with how it went, whether the endpoint took it or not.',
      response: {
        200: json('How the test POST went', TestOutcome, {
          delivered: {
            delivered: true,
            status: 200,
            ms: 142,
            webhookId: 'msg_3f1f2b7c9d100b9e2f0c5d1c4c559a3e',
            eventId: 'test_0b9e2f0c-5d1c-4c55-9a3e-3f1f2b7c9d10',
          },
          refused: {
            delivered: false,
            status: 500,
            ms: 87,
            webhookId: 'msg_3f1f2b7c9d100b9e2f0c5d1c4c559a3e',
            eventId: 'test_0b9e2f0c-5d1c-4c55-9a3e-3f1f2b7c9d10',
            failure: 'status',
            error: 'the endpoint answered 500',
          },
        }),
        ...adminErrorResponses(['NOT_FOUND'], { NOT_FOUND: 'this tenant has no webhook' }),
      },
    },
  },
  remove: {
    ...ANSWERED_AS_BUILT,
    schema: {
      ...TENANTS,
      operationId: 'removeTenantWebhook',
      summary: 'Stop a tenant’s webhook, and drop the events still waiting for it',
      response: {
        204: Type.Null({ description: 'Removed (or there was none)' }),
        ...adminErrorResponses(['NOT_FOUND'], NOT_FOUND),
      },
    },
  },
};
