import { E164_PATTERN } from '@esh3ar/contracts';
import { Command, InvalidArgumentError } from 'commander';
import { createSigner } from 'fast-jwt';
import { respond, type Context } from './action.ts';
import { integerIn } from './option-values.ts';
import { UsageError } from './usage-error.ts';

function phone(text: string): string {
  if (!new RegExp(E164_PATTERN).test(text)) throw new InvalidArgumentError('It must be an E.164 phone number such as +966501234567.');
  return text;
}

/**
 * `token mint --phone +E164 [--ttl 3600]`: a device token for the gateway (HS256,
 * DEVICE_TOKEN_SECRET), for development and tests; production plugs its identity
 * provider's keys instead. Printed alone, even piped, for `TOKEN=$(pnpm esh3ar token mint …)`.
 */
export function tokenCommand(ctx: Context): Command {
  const mint = new Command('mint')
    .summary('a device token for the gateway')
    .description(
      'Print a device token for the gateway (HS256 with DEVICE_TOKEN_SECRET; development and tests). ' +
        'The token alone, even piped; --json gives {"token"}.',
    )
    .requiredOption('--phone <e164>', 'the phone the device receives for', phone)
    .option('--ttl <seconds>', 'lifetime (1 to 31536000)', integerIn(1, 31_536_000), 3600)
    .action(
      respond<{ phone: string; ttl: number }>(ctx, (o) => {
        const secret = ctx.config.deviceTokenSecret;
        if (secret === null) throw new UsageError('DEVICE_TOKEN_SECRET must be set to mint device tokens');
        const token = createSigner({ key: secret, algorithm: 'HS256', expiresIn: o.ttl * 1000 })({ sub: o.phone });
        return { data: { token }, text: () => token, piped: 'text' };
      }),
    );
  return new Command('token').summary('device tokens for the gateway').description('Device tokens for the gateway.').addCommand(mint);
}
