/**
 * @esh3ar/device — the device side of the gateway's WebSocket (docs/gateway-protocol.md),
 * for browsers and Node ≥ 20, with no dependencies: `connectDevice` keeps a phone's
 * connection open, hands each message to the app once, acknowledges it once the app has
 * handled it, and tells when the backlog is through. Plain ESM and type declarations in
 * dist/ (`pnpm build`).
 */
export { connectDevice, type DeviceConnection } from './connect-device.ts';
export type { Backoff } from './backoff.ts';
export type { ConnectDeviceOptions, DeviceError, DeviceSocket, DeviceSocketConstructor, DeviceStatus } from './device-options.ts';
export type { DeviceMessage } from './server-frames.ts';
