/** A message for the phone, as the app's handler gets it. */
export interface DeviceMessage {
  /** A UUID; the same id may be pushed again, but is handed to onMessage once. */
  id: string;
  /** The tenant (a UUID) that sent it. */
  tenant: string;
  subject: string | null;
  content: string;
  /** low, normal, high or critical. */
  priority: string;
  /** When the api accepted it (ISO 8601). */
  createdAt: string;
  metadata: Record<string, string> | null;
}

/** A frame from the gateway, as far as this client needs to tell them apart. */
export type ServerFrame =
  | { type: 'message'; message: DeviceMessage }
  | { type: 'replayed' }
  | { type: 'heartbeat'; intervalMs: number }
  | { type: 'error'; code: string; message: string }
  /** A type this client does not know (a newer gateway's): ignored. */
  | { type: 'other' }
  | { type: 'invalid'; problem: string };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * Reads one frame. Checked only as far as the client relies on it (a message's id and
 * content are strings): the gateway's frames follow its schemas, checked on its side.
 */
export function parseServerFrame(data: unknown): ServerFrame {
  if (typeof data !== 'string') return { type: 'invalid', problem: 'a binary frame' };
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return { type: 'invalid', problem: `not JSON: ${data.slice(0, 80)}` };
  }
  if (!isObject(frame)) return { type: 'invalid', problem: `not an object: ${data.slice(0, 80)}` };
  switch (frame.type) {
    case 'message': {
      const { id, tenant, subject, content, priority, createdAt, metadata } = frame;
      if (typeof id !== 'string' || typeof content !== 'string')
        return { type: 'invalid', problem: 'a message frame without id or content' };
      return {
        type: 'message',
        message: {
          id,
          tenant: String(tenant),
          subject: typeof subject === 'string' ? subject : null,
          content,
          priority: String(priority),
          createdAt: String(createdAt),
          metadata: isObject(metadata) ? (metadata as Record<string, string>) : null,
        },
      };
    }
    case 'replayed':
      return { type: 'replayed' };
    case 'heartbeat':
      return typeof frame.intervalMs === 'number' && frame.intervalMs > 0
        ? { type: 'heartbeat', intervalMs: frame.intervalMs }
        : { type: 'invalid', problem: 'a heartbeat without intervalMs' };
    case 'error':
      return { type: 'error', code: String(frame.code), message: String(frame.message) };
    default:
      return { type: 'other' };
  }
}
