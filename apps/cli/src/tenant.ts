import { createTenant, listTenants, setTenantDisabled, TENANT_LIMIT_MAX, type TenantTier, type TenantView } from '@esh3ar/db';
import { TIERS } from '@esh3ar/runtime';
import { Command, Option } from 'commander';
import { respond, type Context } from './action.ts';
import { withPool } from './cli-pool.ts';
import { announce } from './key-events.ts';
import { integerIn, uuidOf } from './option-values.ts';
import type { Printed } from './output.ts';
import { tenantQuietHoursCommand } from './quiet-hours.ts';
import { formatFields, formatTable, type Column } from './table.ts';
import { tenantKeyCommand } from './tenant-keys.ts';
import { UsageError } from './usage-error.ts';
import { tenantWebhookCommand } from './webhooks.ts';

const TENANT_COLUMNS: Column<TenantView>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'NAME', value: (t) => t.name },
  { header: 'TIER', value: (t) => t.tier },
  { header: 'RPM', value: (t) => t.rpm },
  { header: 'BURST', value: (t) => t.burst },
  { header: 'DISABLED', value: (t) => t.disabled },
  { header: 'CREATED', value: (t) => t.createdAt },
];

const printedTenant = (tenant: TenantView): Printed => ({ data: tenant, text: () => formatFields({ ...tenant }) });

function create(ctx: Context): Command {
  return new Command('create')
    .summary('create a tenant and its first API key')
    .description('Create a tenant and its first API key. Prints {"tenantId", "apiKey"}; the key is shown only this once.')
    .requiredOption('--name <name>', "the tenant's name")
    .addOption(new Option('--tier <tier>', 'its rate-limit tier').choices(TIERS).makeOptionMandatory())
    .option('--rpm <n>', "requests per minute, instead of the tier's", integerIn(1, TENANT_LIMIT_MAX))
    .option('--burst <n>', "burst size, instead of the tier's", integerIn(0, TENANT_LIMIT_MAX))
    .action(
      respond<{ name: string; tier: TenantTier; rpm?: number; burst?: number }>(ctx, async (o) => {
        const name = o.name.trim();
        if (name === '') throw new UsageError('--name must not be blank');
        const { tenant, apiKey } = await withPool(ctx.config, (pool) =>
          createTenant(pool, { name, tier: o.tier, rpm: o.rpm ?? null, burst: o.burst ?? null }),
        );
        return {
          data: { tenantId: tenant.id, apiKey },
          text: () => `${formatFields({ 'tenant id': tenant.id, 'API key': apiKey })}\nThe API key is shown only this once: keep it now.`,
        };
      }),
    );
}

function list(ctx: Context): Command {
  return new Command('list')
    .summary('the tenants, newest first')
    .description('The tenants, newest first, a page at a time, as GET /v1/admin/tenants: {"items", "nextCursor"}.')
    .option('--limit <n>', 'tenants on the page (1-1000)', integerIn(1, 1000), 100)
    .option('--cursor <id>', 'the nextCursor printed with the page before', uuidOf('a nextCursor printed before'))
    .action(
      respond<{ limit: number; cursor?: string }>(ctx, async (o) => {
        const page = await withPool(ctx.config, (pool) => listTenants(pool, o.cursor ?? null, o.limit));
        const nextCursor = page.hasMore ? page.items.at(-1)!.id : null;
        return {
          data: { items: page.items, nextCursor },
          text: () =>
            formatTable(page.items, TENANT_COLUMNS, 'No tenant.') +
            (nextCursor === null ? '' : `\nMore: pnpm esh3ar tenant list --cursor ${nextCursor}`),
        };
      }),
    );
}

function setDisabled(ctx: Context, disabled: boolean): Command {
  return new Command(disabled ? 'disable' : 'enable')
    .summary(disabled ? "refuse the tenant's keys (401)" : "accept the tenant's keys again")
    .description(
      `${disabled ? "Refuse the tenant's API keys (401)" : "Accept the tenant's API keys again"}; every api process applies it within 1 s. Prints the tenant.`,
    )
    .requiredOption('--tenant <id>', 'the tenant', uuidOf('a tenant id'))
    .action(
      respond<{ tenant: string }>(ctx, async (o) => {
        const result = await withPool(ctx.config, (pool) => setTenantDisabled(pool, o.tenant, disabled));
        if (result === null) throw new Error(`no tenant ${o.tenant}`);
        if (result.event !== null) await announce(ctx.config, ctx.logger, result.event);
        return printedTenant(result.tenant);
      }),
    );
}

/** `tenant create | list | disable | enable | key … | webhook … | quiet-hours …`. */
export function tenantCommand(ctx: Context): Command {
  return new Command('tenant')
    .summary('tenants, their API keys, webhooks and quiet hours')
    .description('Tenants (the senders), their API keys, their status webhooks and their quiet hours.')
    .addCommand(create(ctx))
    .addCommand(list(ctx))
    .addCommand(setDisabled(ctx, true))
    .addCommand(setDisabled(ctx, false))
    .addCommand(tenantKeyCommand(ctx))
    .addCommand(tenantWebhookCommand(ctx))
    .addCommand(tenantQuietHoursCommand(ctx));
}
