import { parseArgs } from 'node:util';
import { E164_PATTERN } from '@esh3ar/contracts';
import { createSigner } from 'fast-jwt';
import type { CliConfig } from './config.ts';
import { UsageError } from './usage-error.ts';

/**
 * `token mint --phone +E164 [--ttl 3600]`: a device token for the gateway (HS256,
 * DEVICE_TOKEN_SECRET), for development and tests; production plugs its identity
 * provider's keys instead.
 */
export function runTokenMint(config: CliConfig, args: string[]): string {
  let values: { phone?: string; ttl?: string };
  try {
    ({ values } = parseArgs({ args, options: { phone: { type: 'string' }, ttl: { type: 'string' } }, strict: true }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.phone || !new RegExp(E164_PATTERN).test(values.phone)) throw new UsageError('--phone must be an E.164 phone number');
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 31_536_000)
    throw new UsageError('--ttl must be a whole number of seconds from 1 to 31536000');
  if (config.deviceTokenSecret === null) throw new UsageError('DEVICE_TOKEN_SECRET must be set to mint device tokens');
  const sign = createSigner({ key: config.deviceTokenSecret, algorithm: 'HS256', expiresIn: ttl * 1000 });
  return sign({ sub: values.phone });
}
