import { Command, CommanderError, Help, type Option } from 'commander';
import type { Context } from './action.ts';
import { dlqCommand } from './dlq.ts';
import { migrateCommand } from './migrate.ts';
import { configCommand } from './runtime-config.ts';
import { tenantCommand } from './tenant.ts';
import { tokenCommand } from './token.ts';

/** As people run it from the repository (package.json's "esh3ar" script): help and hints can be pasted. */
const PROGRAM = 'pnpm esh3ar';

function* commandsOf(command: Command): Generator<Command> {
  yield command;
  for (const sub of command.commands) yield* commandsOf(sub);
}

/** "pnpm esh3ar tenant create": the names from the program down. */
function pathOf(command: Command): string {
  return command.parent === null ? command.name() : `${pathOf(command.parent)} ${command.name()}`;
}

function describeOption(option: Option): string {
  const description = new Help().optionDescription(option);
  return option.mandatory ? `${description} (required)` : description;
}

/**
 * The command tree, built by commander from each command's options and arguments, so that
 * its --help cannot drift from what it accepts. Settings are applied to every command here
 * rather than inherited: commands are made on their own (`new Command`) in their modules.
 */
export function buildProgram(ctx: Context, version: string): Command {
  const program = new Command(PROGRAM)
    .description('Operate Esh3ar: database migrations, tenants and their keys, runtime configuration, dead letters, device tokens.')
    .version(version, '-v, --version', 'print the version')
    .addCommand(migrateCommand(ctx))
    .addCommand(tenantCommand(ctx))
    .addCommand(configCommand(ctx))
    .addCommand(dlqCommand(ctx))
    .addCommand(tokenCommand(ctx))
    .addHelpText(
      'after',
      '\nResults go to stdout: a table on a terminal, one line of JSON with --json or when piped.\n' +
        'Errors exit 1; a command used wrongly exits 2. Every command has --help ("pnpm esh3ar help tenant create" too).',
    );
  for (const command of commandsOf(program)) {
    if (command.commands.length === 0) {
      command.option('--json', 'print JSON (the default when stdout is not a terminal)');
      // The options a command cannot run without, in its usage line rather than behind [options].
      const required = command.options.filter((o) => o.mandatory).map((o) => o.flags);
      const operands = command.registeredArguments.map((a) => {
        const term = `${a.name()}${a.variadic ? '...' : ''}`;
        return a.required ? `<${term}>` : `[${term}]`;
      });
      command.usage([...required, '[options]', ...operands].join(' '));
    }
    command.configureHelp({ optionDescription: describeOption });
    command
      .exitOverride()
      .showHelpAfterError(`Usage: ${command.createHelp().commandUsage(command)}\nSee "${pathOf(command)} --help".`)
      .configureOutput({
        writeOut: (text) => ctx.stdout.write(text),
        writeErr: (text) => ctx.stderr.write(text),
        outputError: (text, write) => write(`esh3ar: ${text.replace(/^error: /, '')}`),
        getOutHasColors: () => false,
        getErrHasColors: () => false,
      });
  }
  return program;
}

/** Runs one command line; resolves to the exit code: 0, 1 for a failure, 2 for a command used wrongly. */
export async function execute(argv: readonly string[], ctx: Context, version: string): Promise<number> {
  // `help tenant create` as `tenant create --help`: commander's own help command takes one name.
  const args = argv[0] === 'help' ? [...argv.slice(1), '--help'] : [...argv];
  try {
    await buildProgram(ctx, version).parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    // Commander's exits, already reported: --help and --version (0), a usage error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    ctx.stderr.write(`esh3ar: ${(error as Error).message}\n`);
    return 1;
  }
}
