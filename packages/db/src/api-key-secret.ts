import { createHash, randomBytes, randomUUID } from 'node:crypto';

export function hashApiKey(apiKey: string): Buffer {
  return createHash('sha256').update(apiKey).digest();
}

/**
 * A new key with its id and hash. 256 random bits: hashing it with SHA-256 (no salt, no
 * KDF) is safe, and lets PostgreSQL find it by a unique index in O(1).
 */
export function newApiKey(): { keyId: string; apiKey: string; hash: Buffer } {
  const apiKey = `esh_${randomBytes(32).toString('base64url')}`;
  return { keyId: randomUUID(), apiKey, hash: hashApiKey(apiKey) };
}
