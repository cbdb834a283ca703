// cluster-key-slot ships no types: its default export is Redis Cluster's key → slot function.
declare module 'cluster-key-slot' {
  /** CRC16 of the key's hash tag (the key itself without one), mod 16384. */
  export default function calculateSlot(key: string | Buffer): number;
}
