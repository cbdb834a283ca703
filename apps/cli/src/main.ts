import { createLogger } from '@esh3ar/observability';
import { parseConfig } from './config.ts';
import { run, USAGE, UsageError } from './commands.ts';

// Results go to stdout as JSON; logs to stderr, so that `… | jq` works.
const config = parseConfig(process.env);
const logger = createLogger('cli', config.log.level === 'info' ? 'warn' : config.log.level, 2);
const argv = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'));

try {
  process.stdout.write(`${await run(argv, config, logger)}\n`);
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`esh3ar: ${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`esh3ar: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
