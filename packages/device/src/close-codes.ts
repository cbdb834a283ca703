/** What to do when the connection closes with a code. */
export type CloseAction = 'reconnect' | 'back off' | 'stop';

/**
 * Failures since the last healthy connection that a 1013 counts as at least: the next
 * wait is then up to 8 s (with the default backoff), not the 1 s of a fresh failure.
 */
export const TRY_AGAIN_LATER_FAILURES = 3;

/**
 * The gateway's close codes (docs/gateway-protocol.md):
 * - 1008 (too many bad frames) and 1009 (a frame too large): this client sent something
 *   the gateway will refuse again, so reconnecting would only repeat it. Stop, and say so.
 * - 1013 (did not read its pushes in time): the device or its network is slow; back off.
 * - 1001 (shutting down), 1011 (presence not registered), 1006 (the network, or an
 *   upgrade refused with 401/429/503, which browsers do not tell apart): reconnect.
 */
export function closeAction(code: number): CloseAction {
  switch (code) {
    case 1008:
    case 1009:
      return 'stop';
    case 1013:
      return 'back off';
    default:
      return 'reconnect';
  }
}
