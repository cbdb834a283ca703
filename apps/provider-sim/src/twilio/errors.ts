/**
 * Twilio's error body (https://www.twilio.com/docs/usage/twilios-response):
 * `{"code": 21211, "message": "…", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`.
 */
export interface TwilioError {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

export function twilioError(status: number, code: number, message: string): TwilioError {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** The Twilio code the simulator answers with each injected fault status. */
export const FAULT_ERRORS: Record<number, { code: number; message: string }> = {
  429: { code: 20429, message: 'Too Many Requests' },
  500: { code: 20500, message: 'Internal Server Error' },
  502: { code: 20500, message: 'Bad Gateway' },
  503: { code: 20503, message: 'Service Unavailable' },
  504: { code: 20500, message: 'Gateway Timeout' },
};
