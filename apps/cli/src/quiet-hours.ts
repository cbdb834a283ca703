import { SAME_START_AND_END, type QuietHoursView } from '@esh3ar/contracts';
import { getQuietHours, removeQuietHours, setQuietHours, type QuietHours } from '@esh3ar/db';
import { Command } from 'commander';
import { respond, type Context } from './action.ts';
import { withPool } from './cli-pool.ts';
import { clockTime, timeZone, uuidOf } from './option-values.ts';
import type { Printed } from './output.ts';
import { formatFields } from './table.ts';
import { UsageError } from './usage-error.ts';

const tenantOption = ['--tenant <id>', 'the tenant', uuidOf('a tenant id')] as const;

/** As GET /v1/admin/tenants/{tenantId}/quiet-hours answers them. */
function view(q: QuietHours): QuietHoursView {
  return { tenantId: q.tenantId, start: q.starts, end: q.ends, defaultTimeZone: q.defaultTimeZone, updatedAt: q.updatedAt.toISOString() };
}

const printed = (q: QuietHours): Printed => ({ data: view(q), text: () => formatFields({ ...view(q) }) });

function show(ctx: Context): Command {
  return new Command('show')
    .summary("the tenant's quiet hours")
    .description(`The tenant's quiet hours, as the admin API answers them: {"tenantId", "start", "end", "defaultTimeZone", "updatedAt"}.`)
    .requiredOption(...tenantOption)
    .action(
      respond<{ tenant: string }>(ctx, async (o) => {
        const found = await withPool(ctx.config, (pool) => getQuietHours(pool, o.tenant));
        if (found === null) throw new Error(`tenant ${o.tenant} has no quiet hours`);
        return printed(found);
      }),
    );
}

function set(ctx: Context): Command {
  return new Command('set')
    .summary('hold messages below critical inside a daily window')
    .description(
      'Hold the tenant\'s messages below critical that would go out between --start and --end, in the recipient\'s local time, as "scheduled" until the window ends; critical ones pass, and one whose TTL would pass meanwhile expires. ' +
        "The zone is the phone number's country's; --time-zone is used for a country with several zones and for email recipients. " +
        'The window may run past midnight (--start 21:00 --end 08:00). Replaces any set before; workers apply it within 2 s. Prints them as show does.',
    )
    .requiredOption(...tenantOption)
    .requiredOption('--start <HH:MM>', 'when the window opens, 24-hour', clockTime)
    .requiredOption('--end <HH:MM>', 'when it closes, 24-hour', clockTime)
    .requiredOption('--time-zone <name>', 'for a country with several zones, and email: an IANA name such as Asia/Riyadh', timeZone)
    .action(
      respond<{ tenant: string; start: string; end: string; timeZone: string }>(ctx, async (o) => {
        if (o.start === o.end) throw new UsageError(SAME_START_AND_END);
        const stored = await withPool(ctx.config, (pool) =>
          setQuietHours(pool, o.tenant, { starts: o.start, ends: o.end, defaultTimeZone: o.timeZone }),
        );
        if (stored === null) throw new Error(`no tenant ${o.tenant}`);
        return printed(stored);
      }),
    );
}

function remove(ctx: Context): Command {
  return new Command('remove')
    .summary('send at any hour again')
    .description(
      'Send the tenant\'s messages at any hour again (messages already held go out when their window ends). Prints {"tenantId", "removed"}.',
    )
    .requiredOption(...tenantOption)
    .action(
      respond<{ tenant: string }>(ctx, async (o) => {
        const removed = await withPool(ctx.config, (pool) => removeQuietHours(pool, o.tenant));
        return {
          data: { tenantId: o.tenant, removed },
          text: () => (removed ? `Removed the quiet hours of tenant ${o.tenant}.` : `Tenant ${o.tenant} had no quiet hours.`),
        };
      }),
    );
}

/** `tenant quiet-hours show --tenant ID | set --tenant ID --start HH:MM --end HH:MM --time-zone NAME | remove --tenant ID`. */
export function tenantQuietHoursCommand(ctx: Context): Command {
  return new Command('quiet-hours')
    .summary("a tenant's quiet hours")
    .description(
      "The tenant's quiet hours: a daily window, in the recipient's local time, in which its messages below critical are held until the window ends.",
    )
    .addCommand(show(ctx))
    .addCommand(set(ctx))
    .addCommand(remove(ctx));
}
