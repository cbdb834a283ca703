import { checkAckFrame, type ErrorFrame, type FrameErrorCode, type HeartbeatFrame, type ReplayedFrame } from '@esh3ar/contracts';

export type ParsedFrame = { kind: 'ack'; ids: string[] } | { kind: 'error'; code: FrameErrorCode; message: string };

/** A device frame: only JSON text `{"type":"ack", "id" | "ids"}` is understood. */
export function parseFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
  if (isBinary) return { kind: 'error', code: 'INVALID_FRAME', message: 'frames must be JSON text' };
  const text = Buffer.isBuffer(data)
    ? data.toString('utf8')
    : Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data).toString('utf8');
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return { kind: 'error', code: 'INVALID_FRAME', message: 'frames must be JSON text' };
  }
  const type = (frame as { type?: unknown } | null)?.type;
  if (type !== 'ack') {
    return {
      kind: 'error',
      code: 'UNKNOWN_TYPE',
      message: `unknown frame type ${JSON.stringify(type ?? null).slice(0, 40)}; devices send {"type":"ack"}`,
    };
  }
  if (!checkAckFrame.Check(frame)) {
    return { kind: 'error', code: 'INVALID_ACK', message: 'an ack carries "id" (a message id) or "ids" (1 to 1000 message ids)' };
  }
  return { kind: 'ack', ids: 'id' in frame ? [frame.id] : frame.ids };
}

export function errorFrame(code: FrameErrorCode, message: string): string {
  return JSON.stringify({ type: 'error', code, message } satisfies ErrorFrame);
}

/** Sent once per connection, after everything its first replay found (contracts' ReplayedFrame). */
export const REPLAYED_FRAME = JSON.stringify({ type: 'replayed' } satisfies ReplayedFrame);

/** Sent with each ping (contracts' HeartbeatFrame); one string for every connection. */
export function heartbeatFrame(intervalMs: number): string {
  return JSON.stringify({ type: 'heartbeat', intervalMs } satisfies HeartbeatFrame);
}
