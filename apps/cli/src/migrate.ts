import { migrate } from '@esh3ar/db';
import { Command } from 'commander';
import { respond, type Context } from './action.ts';

/** `migrate`: {"applied": [names]}, empty when the database was up to date. */
export function migrateCommand(ctx: Context): Command {
  return new Command('migrate')
    .summary('apply the database migrations (idempotent)')
    .description('Apply the database migrations not applied yet; running it again changes nothing. Prints {"applied": [...]}.')
    .action(
      respond(ctx, async () => {
        const applied = await migrate(ctx.config.postgres.url, ctx.logger);
        return {
          data: { applied },
          text: () => (applied.length === 0 ? 'Nothing to apply: the database is up to date.' : `Applied ${applied.join(', ')}.`),
        };
      }),
    );
}
