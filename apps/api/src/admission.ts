import type { Priority } from '@esh3ar/contracts';
import type { RuntimeConfig } from '@esh3ar/runtime';

export type Admission = { admitted: true } | { admitted: false; reason: 'watermark' | 'capacity' };

/**
 * Backpressure on the durable buffer (accepted, not yet stored). From
 * highWatermark × capacity on, low and normal are refused; at capacity everything is.
 * `incoming` counts the messages of this request, so a batch cannot overshoot.
 */
export function admit(priority: Priority, depth: number, incoming: number, buffer: RuntimeConfig['buffer']): Admission {
  const after = depth + incoming;
  if (after > buffer.capacity) return { admitted: false, reason: 'capacity' };
  if ((priority === 'low' || priority === 'normal') && after > buffer.highWatermark * buffer.capacity) {
    return { admitted: false, reason: 'watermark' };
  }
  return { admitted: true };
}
