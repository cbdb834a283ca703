import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyView } from '@esh3ar/db';
import { Command } from 'commander';
import { respond, type Context } from './action.ts';
import { withPool } from './cli-pool.ts';
import { announce } from './key-events.ts';
import { uuidOf } from './option-values.ts';
import { formatFields, formatTable, type Column } from './table.ts';

const KEY_COLUMNS: Column<ApiKeyView>[] = [
  { header: 'KEY ID', value: (k) => k.keyId },
  { header: 'CREATED', value: (k) => k.createdAt },
  { header: 'LAST USED', value: (k) => k.lastUsedAt },
];

const tenantOption = ['--tenant <id>', 'the tenant', uuidOf('a tenant id')] as const;

function create(ctx: Context): Command {
  return new Command('create')
    .summary('another API key for the tenant')
    .description('Another API key for the tenant. Prints {"keyId", "apiKey"}; the key is shown only this once.')
    .requiredOption(...tenantOption)
    .action(
      respond<{ tenant: string }>(ctx, async (o) => {
        const key = await withPool(ctx.config, (pool) => createApiKey(pool, o.tenant));
        if (key === null) throw new Error(`no tenant ${o.tenant}`);
        return {
          data: key,
          text: () => `${formatFields({ 'key id': key.keyId, 'API key': key.apiKey })}\nThe API key is shown only this once: keep it now.`,
        };
      }),
    );
}

function list(ctx: Context): Command {
  return new Command('list')
    .summary("the tenant's keys in use")
    .description(`The tenant's keys in use, oldest first: {"items": [{keyId, createdAt, lastUsedAt}]} (never a key).`)
    .requiredOption(...tenantOption)
    .action(
      respond<{ tenant: string }>(ctx, async (o) => {
        const keys = await withPool(ctx.config, (pool) => listApiKeys(pool, o.tenant));
        if (keys === null) throw new Error(`no tenant ${o.tenant}`);
        return { data: { items: keys }, text: () => formatTable(keys, KEY_COLUMNS, 'No key in use.') };
      }),
    );
}

function revoke(ctx: Context): Command {
  return new Command('revoke')
    .summary('refuse one of its keys from now on')
    .description('Refuse one of its keys, in every api process within 2 s. Prints {"tenantId", "keyId", "revoked"}.')
    .requiredOption(...tenantOption)
    .requiredOption('--key <id>', 'the key, as key list prints it', uuidOf('a key id'))
    .action(
      respond<{ tenant: string; key: string }>(ctx, async (o) => {
        const event = await withPool(ctx.config, (pool) => revokeApiKey(pool, o.tenant, o.key));
        if (event === null) throw new Error(`tenant ${o.tenant} has no key ${o.key} in use`);
        await announce(ctx.config, ctx.logger, event);
        return { data: { tenantId: o.tenant, keyId: o.key, revoked: true }, text: () => `Revoked key ${o.key} of tenant ${o.tenant}.` };
      }),
    );
}

/** `tenant key create | list | revoke --tenant ID [--key KEYID]`. */
export function tenantKeyCommand(ctx: Context): Command {
  return new Command('key')
    .summary("a tenant's API keys")
    .description("A tenant's API keys: several may be in use at once, so that one can be rotated without downtime.")
    .addCommand(create(ctx))
    .addCommand(list(ctx))
    .addCommand(revoke(ctx));
}
