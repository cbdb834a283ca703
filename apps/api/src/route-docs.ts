import { ERROR_STATUS, ErrorBody, validateMessage, type ErrorCode, type ErrorDetail } from '@esh3ar/contracts';
import { Type, type TSchema } from 'typebox';
import { FASTIFY_MESSAGES } from './errors.ts';

/*
 * What the route schemas share to document the api (openapi.ts serves the document):
 * the security schemes, the error answers of each code with an example body, and the
 * route options of routes whose schemas document what their handler does itself.
 */

export const SECURITY_SCHEMES = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'A tenant’s API key (`esh3ar tenant create` or `POST /v1/admin/tenants/{tenantId}/keys` shows it once).',
  },
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'ADMIN_TOKEN: /v1/admin/* exists only on an api started with it.',
  },
  twilioSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Twilio-Signature',
    description: 'Twilio’s HMAC-SHA1 of PUBLIC_BASE_URL + path and the form fields, keyed by TWILIO_AUTH_TOKEN.',
  },
  metaSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Hub-Signature-256',
    description: 'Meta’s HMAC-SHA256 of the raw body, keyed by META_APP_SECRET.',
  },
} as const;

type Scheme = keyof typeof SECURITY_SCHEMES;
const requires = (scheme: Scheme) => [{ [scheme]: [] }];
export const SECURITY = {
  apiKey: requires('apiKey'),
  adminToken: requires('adminToken'),
  twilioSignature: requires('twilioSignature'),
  metaSignature: requires('metaSignature'),
  none: [],
};

/**
 * Route options for a route that checks its own input (in words Ajv does not have, or only
 * after a signature is verified): its body, query and header schemas document that check
 * and are not run a second time.
 */
export const INPUT_CHECKED_BY_HANDLER = { validatorCompiler: () => () => true };

/**
 * Route options for a route whose response schemas only document its answer: it is still
 * serialized by JSON.stringify as built, so a field a schema misses (in a row another
 * package types, in the runtime document) is answered rather than dropped by
 * fast-json-stringify. Routes whose schemas must filter what they answer (API keys: never
 * the hash) leave this out.
 */
export const ANSWERED_AS_BUILT = { serializerCompiler: () => (data: unknown) => JSON.stringify(data) };

/**
 * Examples as OpenAPI names them. On a request schema they go in `x-examples`, which
 * @fastify/swagger moves onto the media type (that schema is never compiled by Ajv).
 */
export const named = (examples: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(examples).map(([name, value]) => [name, { value }]));

/** A JSON answer, with named examples (each checked against the schema by openapi.int.test.ts). */
export function json(description: string, schema: TSchema, examples: Record<string, unknown>, headers?: Record<string, TSchema>) {
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/json': { schema, examples: named(examples) } },
  };
}

const EXAMPLE_REQUEST_ID = '0b9e2f0c-5d1c-4c55-9a3e-3f1f2b7c9d10';
const unknownField = validateMessage({ recipient: '+966501234567', content: 'hi', sender: 'Esh3ar' });

/** When each code is answered, and an answer of it: every code of the catalogue has one. */
const ERRORS: Record<ErrorCode, { when: string; message: string; details?: ErrorDetail[] }> = {
  INVALID_JSON: { when: 'the body is not JSON', message: FASTIFY_MESSAGES.INVALID_JSON! },
  INVALID_REQUEST: { when: 'not valid HTTP/1.1, answered before any route', message: 'the request is not valid HTTP/1.1' },
  VALIDATION_FAILED: {
    when: 'a field fails the schema: `message` says which and why, `details` has one entry per field',
    message: unknownField.ok ? '' : unknownField.message,
    details: unknownField.ok ? [] : unknownField.details,
  },
  UNAUTHENTICATED: { when: 'no, unknown or revoked credentials, or a disabled tenant', message: 'invalid API key' },
  FORBIDDEN: { when: 'a subscription handshake without the verify token', message: 'hub.verify_token must be META_WA_VERIFY_TOKEN' },
  NOT_FOUND: { when: 'an unknown or malformed id, or another tenant’s', message: 'no message with this id' },
  NOT_CANCELABLE: {
    when: 'the message is already sent or final, or a provider was called for it: `message` says which',
    message: 'the message is already sent',
  },
  REQUEST_TIMEOUT: {
    when: 'headers or body not in within the timeouts; the connection is closed',
    message: 'the request did not arrive in time; send it again',
  },
  PAYLOAD_TOO_LARGE: { when: 'the body is over this route’s limit', message: FASTIFY_MESSAGES.PAYLOAD_TOO_LARGE! },
  UNSUPPORTED_MEDIA_TYPE: { when: 'a Content-Type this route does not take', message: FASTIFY_MESSAGES.UNSUPPORTED_MEDIA_TYPE! },
  HEADERS_TOO_LARGE: { when: 'request headers over 16 KiB', message: 'the request headers are over 16 KiB' },
  IDEMPOTENCY_KEY_REUSED: {
    when: 'an Idempotency-Key used before with another body',
    message: 'this Idempotency-Key was used with a different request body',
  },
  RATE_LIMITED: {
    when: 'over the tenant’s limit, or an address past 20 refused keys a minute; see Retry-After',
    message: 'rate limit exceeded, retry in 12 s',
  },
  INTERNAL: { when: 'a fault of ours, logged under the requestId', message: 'internal error' },
  OVERLOADED: {
    when: 'the buffer is past its watermark, or the process under memory pressure; see Retry-After',
    message: 'the buffer is over its watermark; retry later',
  },
  UNAVAILABLE: { when: 'a store it needs is unreachable; see Retry-After', message: 'the buffer is unreachable; retry shortly' },
};

/** What any request can be answered, whatever its route: Node's refusals before routing, and our faults. */
const ANY_ROUTE: ErrorCode[] = ['INVALID_REQUEST', 'REQUEST_TIMEOUT', 'HEADERS_TOO_LARGE', 'INTERNAL'];
export const BODY_ERRORS: ErrorCode[] = ['INVALID_JSON', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
/** The /v1 scope's hooks: memory pressure, the API key (and its guess limiter and store), the tenant's rate limit. */
export const API_KEY_ERRORS: ErrorCode[] = ['UNAUTHENTICATED', 'RATE_LIMITED', 'OVERLOADED', 'UNAVAILABLE'];

const HEADERS: Partial<Record<number, Record<string, TSchema>>> = {
  401: { 'www-authenticate': Type.String({ description: 'The scheme to authenticate with (RFC 9110 §11.6.1)' }) },
  429: { 'retry-after': Type.Integer({ description: 'Seconds until a retry can succeed' }) },
  503: { 'retry-after': Type.Integer({ description: 'Seconds until a retry can succeed' }) },
};

function errorSchema(codes: readonly ErrorCode[]) {
  const { error } = ErrorBody.properties;
  return Type.Object({
    error: Type.Object({
      ...error.properties,
      code: Type.Enum([...codes], { description: 'The catalogue’s code; each has one HTTP status' }),
      message: Type.String({ description: 'What is wrong, in words a person reads (a field by its name)' }),
      requestId: Type.Optional(Type.String({ description: 'Also the x-request-id header: what operators find the log lines by' })),
    }),
  });
}

/**
 * The error answers of a route, by status: those of `codes` and those any route gives,
 * each status with its codes' schema and an example body per code. `messages` replaces an
 * example's message with the route's own words ("no such tenant").
 */
export function errorResponses(codes: readonly ErrorCode[], messages: Partial<Record<ErrorCode, string>> = {}) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...codes, ...ANY_ROUTE]))
    byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, group]) => [
      status,
      json(
        group.map((code) => `\`${code}\`: ${ERRORS[code].when}`).join('; '),
        errorSchema(group),
        Object.fromEntries(
          group.map((code) => [
            code,
            {
              error: {
                code,
                message: messages[code] ?? ERRORS[code].message,
                details: ERRORS[code].details ?? [],
                requestId: EXAMPLE_REQUEST_ID,
              },
            },
          ]),
        ),
        HEADERS[status],
      ),
    ]),
  );
}

/** The error answers of an /v1/admin/* route: the admin token's, the database's, and `codes`. */
export function adminErrorResponses(codes: readonly ErrorCode[], messages: Partial<Record<ErrorCode, string>> = {}) {
  return errorResponses(['UNAUTHENTICATED', 'UNAVAILABLE', ...codes], {
    UNAUTHENTICATED: 'invalid admin token',
    UNAVAILABLE: 'the database is unreachable; retry shortly',
    ...messages,
  });
}
