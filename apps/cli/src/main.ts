import { readFileSync } from 'node:fs';
import { createLogger } from '@esh3ar/observability';
import { execute } from './cli.ts';
import { parseConfig } from './config.ts';

// Results go to stdout; logs, errors and the progress bar to stderr, so that `… | jq` works.
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
// pnpm hands the `--` of `pnpm esh3ar -- …` on.
const argv = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'));
try {
  const config = parseConfig(process.env);
  const logger = createLogger('cli', config.log.level === 'info' ? 'warn' : config.log.level, 2);
  process.exitCode = await execute(
    argv,
    {
      config,
      logger,
      stdout: process.stdout,
      stderr: process.stderr,
      stdoutIsTTY: process.stdout.isTTY === true,
      stderrIsTTY: process.stderr.isTTY === true,
    },
    version,
  );
} catch (error) {
  process.stderr.write(`esh3ar: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
