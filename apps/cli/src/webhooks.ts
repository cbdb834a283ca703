import { webhookUrlProblem } from '@esh3ar/contracts';
import { removeTenantWebhook, setTenantWebhook } from '@esh3ar/db';
import { Command } from 'commander';
import { respond, type Context } from './action.ts';
import { withPool } from './cli-pool.ts';
import { uuidOf } from './option-values.ts';
import { formatFields } from './table.ts';
import { UsageError } from './usage-error.ts';

const tenantOption = ['--tenant <id>', 'the tenant', uuidOf('a tenant id')] as const;

function set(ctx: Context): Command {
  return new Command('set')
    .summary("POST the tenant's status changes to a URL")
    .description(`POST the tenant's status changes to URL, signed with a new secret on every set. Prints {"tenantId", "url", "secret"}.`)
    .requiredOption(...tenantOption)
    .requiredOption('--url <url>', 'http:// or https:// endpoint')
    .action(
      respond<{ tenant: string; url: string }>(ctx, async (o) => {
        const problem = webhookUrlProblem(o.url);
        if (problem !== null) throw new UsageError(`--${problem}`);
        const webhook = await withPool(ctx.config, (pool) => setTenantWebhook(pool, o.tenant, o.url));
        if (webhook === null) throw new Error(`no tenant ${o.tenant}`);
        return { data: webhook, text: () => formatFields({ ...webhook }) };
      }),
    );
}

function remove(ctx: Context): Command {
  return new Command('remove')
    .summary('stop, dropping the events not yet delivered')
    .description('Stop sending the status changes, dropping the events not yet delivered. Prints {"tenantId", "removed"}.')
    .requiredOption(...tenantOption)
    .action(
      respond<{ tenant: string }>(ctx, async (o) => {
        const result = await withPool(ctx.config, (pool) => removeTenantWebhook(pool, o.tenant));
        if (result === null) throw new Error(`no tenant ${o.tenant}`);
        return {
          data: { tenantId: o.tenant, removed: result.removed },
          text: () => (result.removed ? `Removed the webhook of tenant ${o.tenant}.` : `Tenant ${o.tenant} had no webhook.`),
        };
      }),
    );
}

/** `tenant webhook set --tenant ID --url URL | remove --tenant ID`. */
export function tenantWebhookCommand(ctx: Context): Command {
  return new Command('webhook')
    .summary("a tenant's status webhook")
    .description("The tenant's status webhook: where Esh3ar POSTs its messages' status changes.")
    .addCommand(set(ctx))
    .addCommand(remove(ctx));
}
