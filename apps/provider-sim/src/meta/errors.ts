import { randomBytes } from 'node:crypto';

/**
 * The Graph API's error body as the WhatsApp Cloud API answers it
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes):
 * the code's title in `message` as "(#code) title", `details` in `error_data`, and a
 * `fbtrace_id` for Meta's support. `error_subcode` only where Graph still sends one.
 */
export interface GraphError {
  error: {
    message: string;
    type: string;
    code: number;
    error_data?: { messaging_product: 'whatsapp'; details: string };
    error_subcode?: number;
    fbtrace_id: string;
  };
}

export function graphError(code: number, title: string, details: string | null, subcode?: number): GraphError {
  return {
    error: {
      message: `(#${code}) ${title}`,
      type: 'OAuthException',
      code,
      ...(details === null ? {} : { error_data: { messaging_product: 'whatsapp', details } }),
      ...(subcode === undefined ? {} : { error_subcode: subcode }),
      fbtrace_id: randomBytes(12).toString('base64url'),
    },
  };
}

/** A refusal: the HTTP status, Meta's error, and how the simulator counts it. */
export interface Refusal {
  status: number;
  body: GraphError;
  outcome: 'invalid_request' | 'invalid_recipient';
}

/**
 * The Meta error the simulator answers with each injected fault status: 130429 throughput
 * rate limit (Meta sends no Retry-After), 131000 "Something went wrong", 131016 "Service
 * unavailable".
 */
export const FAULT_ERRORS: Record<number, { code: number; title: string; details: string }> = {
  429: { code: 130429, title: 'Rate limit hit', details: 'Cloud API message throughput has been reached.' },
  500: { code: 131000, title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
  502: { code: 131000, title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
  503: { code: 131016, title: 'Service unavailable', details: 'A service is temporarily unavailable.' },
  504: { code: 131000, title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
};
