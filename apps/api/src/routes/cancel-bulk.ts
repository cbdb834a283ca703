import {
  BulkCancelRequest,
  BulkCancelResponse,
  CANCEL_FILTER_FIELDS,
  CANCELABLE_STATUSES,
  describeSchemaErrors,
  type ErrorDetail,
} from '@esh3ar/contracts';
import { cancelMatching, countMatching, type CancelFilter } from '@esh3ar/db';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { apiError, unavailable } from '../errors.ts';
import {
  ANSWERED_AS_BUILT,
  API_KEY_ERRORS,
  BODY_ERRORS,
  errorResponses,
  INPUT_CHECKED_BY_HANDLER,
  json,
  named,
  SECURITY,
} from '../route-docs.ts';
import { announce } from './cancel-message.ts';
import { RATE_LIMIT_HEADERS } from './message-docs.ts';
import { utcTime } from './dlq-filter.ts';
import type { ReadRouteDeps } from './read-messages.ts';

const checkRequest = Compile(BulkCancelRequest);
export const EMPTY_FILTER = `give at least one of ${CANCEL_FILTER_FIELDS.join(', ')}`;

const refuse = (message: string, details: ErrorDetail[]) => apiError('VALIDATION_FAILED', message, details);

/** The body as a filter, or VALIDATION_FAILED in words naming the field. */
function filterOf(body: unknown): { filter: CancelFilter; dryRun: boolean } {
  if (!checkRequest.Check(body)) {
    const details = describeSchemaErrors(checkRequest.Errors(body), { schema: BulkCancelRequest });
    throw refuse(details[0]?.message ?? 'the body must be a cancel filter', details);
  }
  if (!CANCEL_FILTER_FIELDS.some((field) => body[field] !== undefined)) throw refuse(EMPTY_FILTER, [{ path: '', message: EMPTY_FILTER }]);
  const from = body.sendAtFrom === undefined ? undefined : utcTime(body.sendAtFrom, '/sendAtFrom');
  const to = body.sendAtTo === undefined ? undefined : utcTime(body.sendAtTo, '/sendAtTo');
  if (from !== undefined && to !== undefined && from >= to) {
    const message = '"sendAtFrom" must be before "sendAtTo"';
    throw refuse(message, [{ path: '/sendAtFrom', message }]);
  }
  return {
    filter: {
      statuses: body.status ?? CANCELABLE_STATUSES,
      recipient: body.recipient,
      sendAtFrom: from,
      sendAtTo: to,
      metadata: body.metadata,
    },
    dryRun: body.dryRun === true,
  };
}

const EXAMPLE_FILTERS = {
  campaign: { metadata: { campaign: 'black-friday' }, status: ['scheduled'], dryRun: true },
  recipientTomorrow: { recipient: '+966501234567', sendAtFrom: '2025-02-01T00:00:00+03:00', sendAtTo: '2025-02-02T00:00:00+03:00' },
};

/** POST /v1/messages/cancel: cancels, or counts (dryRun), the tenant's stored messages matching a filter. */
export function cancelBulkRoute(app: FastifyInstance, deps: ReadRouteDeps): void {
  app.post(
    '/v1/messages/cancel',
    {
      ...INPUT_CHECKED_BY_HANDLER,
      ...ANSWERED_AS_BUILT,
      schema: {
        operationId: 'cancelMessages',
        summary: 'Cancel the messages matching a filter',
        description:
          'Cancels every stored `scheduled` or `pending` message of the tenant that matches all the fields given (at least one), ' +
          'as `DELETE /v1/messages/{id}` does each, in chunks until none is left. `dryRun` counts them and cancels nothing. ' +
          'A message accepted a moment ago and still in the buffer (`queued`) is not matched.',
        tags: ['messages'],
        security: SECURITY.apiKey,
        body: Type.With(BulkCancelRequest, { 'x-examples': named(EXAMPLE_FILTERS) }),
        response: {
          200: json(
            'What matched, and what was canceled',
            BulkCancelResponse,
            { dryRun: { matched: 1840, canceled: 0, dryRun: true }, canceled: { matched: 1840, canceled: 1838, dryRun: false } },
            RATE_LIMIT_HEADERS,
          ),
          ...errorResponses([...API_KEY_ERRORS, ...BODY_ERRORS], { VALIDATION_FAILED: EMPTY_FILTER }),
        },
      },
      config: { budget: 'read' },
    },
    async (request): Promise<BulkCancelResponse> => {
      const { filter, dryRun } = filterOf(request.body);
      const tenantId = request.tenant!.id;
      const store = (error: unknown) => {
        throw unavailable('the message store', error);
      };
      if (dryRun) return { matched: await countMatching(deps.pool, tenantId, filter).catch(store), canceled: 0, dryRun };
      const done = await cancelMatching(deps.pool, tenantId, filter, (app) => announce(deps, request.log, app)).catch(store);
      return { ...done, dryRun };
    },
  );
}
