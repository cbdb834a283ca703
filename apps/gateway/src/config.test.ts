import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

const SECRET = 'a'.repeat(32);
const TENANT = '0193a0c4-0000-7000-8000-000000000001';
const issuer = (over: Record<string, unknown> = {}) => ({
  issuer: 'https://id.example.com/',
  jwksUrl: 'https://id.example.com/.well-known/jwks.json',
  audience: 'esh3ar',
  tenant: TENANT,
  ...over,
});
const issuers = (...entries: unknown[]) => JSON.stringify(entries);

describe('parseConfig (gateway)', () => {
  it('applies the defaults of the limits', () => {
    const config = parseConfig({ DEVICE_TOKEN_SECRET: SECRET });
    expect(config.connections).toEqual({ max: 40_000, perPhone: 10 });
    expect(config.websocket).toEqual({ maxFrameBytes: 65_536, pingIntervalMs: 30_000, maxBadFrames: 20 });
    expect(config.slowReaders).toEqual({ maxBufferedBytes: 1_048_576, closeAfterMs: 30_000 });
    expect(config.deviceTokens).toEqual({
      secret: SECRET,
      issuers: [],
      maxAgeSeconds: 86_400,
      clockToleranceSeconds: 30,
      jwksCooldownMs: 30_000,
    });
    expect(Object.isFrozen(config.deviceTokens.issuers)).toBe(true);
  });

  it('reads the limits, and a slow reader is closed after the ping interval unless told otherwise', () => {
    const config = parseConfig({
      DEVICE_TOKEN_SECRET: SECRET,
      GATEWAY_MAX_CONNECTIONS: '3',
      GATEWAY_MAX_CONNECTIONS_PER_PHONE: '2',
      GATEWAY_MAX_BAD_FRAMES: '5',
      GATEWAY_SLOW_READER_BYTES: '65536',
      GATEWAY_PING_INTERVAL_MS: '10000',
    });
    expect(config.connections).toEqual({ max: 3, perPhone: 2 });
    expect(config.websocket.maxBadFrames).toBe(5);
    expect(config.slowReaders).toEqual({ maxBufferedBytes: 65_536, closeAfterMs: 10_000 });
    expect(parseConfig({ DEVICE_TOKEN_SECRET: SECRET, GATEWAY_SLOW_READER_CLOSE_MS: '500' }).slowReaders.closeAfterMs).toBe(500);
  });

  it('reads the identity providers; with them, the development secret may be left out', () => {
    const config = parseConfig({
      GATEWAY_TOKEN_ISSUERS: issuers(
        issuer({ tenant: TENANT.toUpperCase() }),
        issuer({ issuer: 'local', jwksUrl: 'http://127.0.0.1:8080/jwks' }),
      ),
    });
    expect(config.deviceTokens.secret).toBeNull();
    expect(config.deviceTokens.issuers).toEqual([issuer(), issuer({ issuer: 'local', jwksUrl: 'http://127.0.0.1:8080/jwks' })]);
  });

  it.each([
    [{}, 'DEVICE_TOKEN_SECRET is required'],
    [{ DEVICE_TOKEN_SECRET: 'short-secret' }, 'DEVICE_TOKEN_SECRET must be at least 32 characters, got 12'],
    [{ DEVICE_TOKEN_SECRET: 'change-me' }, 'DEVICE_TOKEN_SECRET is the placeholder "change-me"'],
    [{ DEVICE_TOKEN_SECRET: SECRET, GATEWAY_MAX_CONNECTIONS: '0' }, 'GATEWAY_MAX_CONNECTIONS must be from 1'],
    [{ DEVICE_TOKEN_SECRET: SECRET, GATEWAY_MAX_CONNECTIONS_PER_PHONE: 'ten' }, 'GATEWAY_MAX_CONNECTIONS_PER_PHONE must be an integer'],
    [{ DEVICE_TOKEN_SECRET: SECRET, GATEWAY_MAX_BAD_FRAMES: '0' }, 'GATEWAY_MAX_BAD_FRAMES must be from 1'],
    [{ DEVICE_TOKEN_SECRET: SECRET, GATEWAY_SLOW_READER_BYTES: '10' }, 'GATEWAY_SLOW_READER_BYTES must be from 1024'],
    [{ DEVICE_TOKEN_SECRET: SECRET, GATEWAY_TOKEN_CLOCK_SKEW_SECONDS: '3600' }, 'GATEWAY_TOKEN_CLOCK_SKEW_SECONDS must be from 0 to 300'],
    [{ GATEWAY_TOKEN_ISSUERS: 'not json' }, 'GATEWAY_TOKEN_ISSUERS must be JSON'],
    [{ GATEWAY_TOKEN_ISSUERS: '{}' }, 'GATEWAY_TOKEN_ISSUERS must be a JSON array'],
    [{ GATEWAY_TOKEN_ISSUERS: issuers(issuer({ audience: '' })) }, 'GATEWAY_TOKEN_ISSUERS[0].audience must be a non-empty string'],
    [{ GATEWAY_TOKEN_ISSUERS: issuers(issuer({ audiance: 'typo' })) }, 'GATEWAY_TOKEN_ISSUERS[0] has unknown keys audiance'],
    [
      { GATEWAY_TOKEN_ISSUERS: issuers(issuer(), issuer({ tenant: '0193a0c4-0000-7000-8000-000000000002' })) },
      'GATEWAY_TOKEN_ISSUERS[1].issuer "https://id.example.com/" is listed twice',
    ],
    [
      { GATEWAY_TOKEN_ISSUERS: issuers(issuer({ jwksUrl: 'http://id.example.com/jwks' })) },
      'GATEWAY_TOKEN_ISSUERS[0].jwksUrl must use https:',
    ],
    [{ GATEWAY_TOKEN_ISSUERS: issuers(issuer({ jwksUrl: 'jwks.json' })) }, 'GATEWAY_TOKEN_ISSUERS[0].jwksUrl must be a URL'],
    [{ GATEWAY_TOKEN_ISSUERS: issuers(issuer({ tenant: 'acme' })) }, 'GATEWAY_TOKEN_ISSUERS[0].tenant must be a tenant id'],
  ])('stops with a message naming the variable for %j', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
