import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { CliConfig } from './config.ts';
import { render, type Printed } from './output.ts';
import { UsageError } from './usage-error.ts';

/** What every command runs with; main.ts gives it the process's streams, tests their own. */
export interface Context {
  config: CliConfig;
  logger: Logger;
  stdout: NodeJS.WritableStream;
  /** Errors, help after an error, and the progress bar. */
  stderr: NodeJS.WritableStream;
  /** A table for a terminal, JSON for anything else. */
  stdoutIsTTY: boolean;
  /** The progress bar is drawn only for a person watching. */
  stderrIsTTY: boolean;
}

/**
 * The action of a command: runs `handler` with the command's options and operands, prints
 * its result, and reports a UsageError as commander reports its own (exit 2, the usage hint).
 */
export function respond<O extends object>(ctx: Context, handler: (options: O, args: string[]) => Promise<Printed> | Printed) {
  return async function (this: Command): Promise<void> {
    const options = this.opts<O & { json?: boolean }>();
    let printed: Printed;
    try {
      printed = await handler(options, this.args);
    } catch (error) {
      if (error instanceof UsageError) this.error(error.message, { exitCode: 2, code: 'esh3ar.usage' });
      throw error;
    }
    ctx.stdout.write(`${render(printed, { json: options.json === true, stdoutIsTTY: ctx.stdoutIsTTY })}\n`);
  };
}
