import { describeSchemaErrors, ERROR_STATUS, errorBody, type ErrorBody, type ErrorCode, type ErrorDetail } from '@esh3ar/contracts';
import createError from '@fastify/error';
import type { FastifyError } from 'fastify';

/** An error the api answers with as it is: a contract code, a message, details. */
export interface ApiError extends FastifyError {
  code: ErrorCode;
  statusCode: number;
  details: ErrorDetail[];
  retryAfterSeconds?: number;
}

const constructors = new Map((Object.keys(ERROR_STATUS) as ErrorCode[]).map((code) => [code, createError(code, '%s', ERROR_STATUS[code])]));

export function apiError(code: ErrorCode, message: string, details: ErrorDetail[] = [], retryAfterSeconds?: number): ApiError {
  const error = new (constructors.get(code)!)(message) as ApiError;
  error.details = details;
  if (retryAfterSeconds !== undefined) error.retryAfterSeconds = retryAfterSeconds;
  return error;
}

/**
 * 503 UNAVAILABLE for a service that failed this request ("the buffer"), in words that
 * name no host, port or driver: the answer goes to whoever asked, authenticated or not.
 * `cause` (the driver's error) is logged with the request id (error-handler.ts).
 */
export function unavailable(what: string, cause: unknown): ApiError {
  const error = apiError('UNAVAILABLE', `${what} is unreachable; retry shortly`, [], 1);
  error.cause = cause;
  return error;
}

function isApiError(error: unknown): error is ApiError {
  return (
    error instanceof Error &&
    typeof (error as ApiError).code === 'string' &&
    (error as ApiError).code in ERROR_STATUS &&
    Array.isArray((error as ApiError).details)
  );
}

/** Fastify's own errors, mapped onto the contract's codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
};

/** What each part of a request is called in an answer about it. */
const REQUEST_PARTS: Record<string, string> = { body: 'the body', querystring: 'the query', params: 'the path', headers: 'the headers' };

export const FASTIFY_MESSAGES: Partial<Record<ErrorCode, string>> = {
  UNSUPPORTED_MEDIA_TYPE: 'Content-Type must be application/json',
  PAYLOAD_TOO_LARGE: 'the request body is larger than this endpoint accepts',
  INVALID_JSON: 'the request body is not valid JSON',
  NOT_FOUND: 'no such resource',
};

export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
}

/** Whatever was thrown, the answer the client gets: never a stack trace or SQL. */
export function toErrorAnswer(error: unknown): ErrorAnswer {
  if (isApiError(error)) {
    return {
      status: error.statusCode,
      body: errorBody(error.code, error.message, error.details),
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    };
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) {
    const whole = REQUEST_PARTS[fastifyError.validationContext ?? ''] ?? 'the request';
    const details = describeSchemaErrors(fastifyError.validation, { whole });
    return { status: 400, body: errorBody('VALIDATION_FAILED', details[0]?.message ?? `${whole} is invalid`, details) };
  }
  // A SyntaxError from the JSON parser carries statusCode 400 and no code.
  if (error instanceof SyntaxError) return { status: 400, body: errorBody('INVALID_JSON', FASTIFY_MESSAGES.INVALID_JSON!) };
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (mapped) return { status: ERROR_STATUS[mapped], body: errorBody(mapped, FASTIFY_MESSAGES[mapped] ?? fastifyError.message ?? mapped) };
  if (fastifyError.statusCode === 400) return { status: 400, body: errorBody('INVALID_JSON', FASTIFY_MESSAGES.INVALID_JSON!) };
  return { status: 500, body: errorBody('INTERNAL', 'internal error') };
}
