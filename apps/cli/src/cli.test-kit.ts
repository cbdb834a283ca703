import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Context } from './action.ts';
import { execute } from './cli.ts';
import { parseConfig } from './config.ts';

export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function capture(isTTY: boolean): { stream: Writable & { isTTY: boolean }; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream: Object.assign(stream, { isTTY }), text: () => chunks.join('') };
}

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command line in this process, as main.ts does, with streams of its own: `tty`
 * says which of them a person is watching (a table on stdout, the bar on stderr).
 */
export async function esh3arInProcess(
  argv: string[],
  env: Record<string, string> = {},
  tty: { stdout?: boolean; stderr?: boolean } = {},
): Promise<InProcessRun> {
  const stdout = capture(tty.stdout ?? false);
  const stderr = capture(tty.stderr ?? false);
  const ctx: Context = {
    config: parseConfig(env),
    logger: pino({ level: 'warn' }, stderr.stream),
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdoutIsTTY: tty.stdout ?? false,
    stderrIsTTY: tty.stderr ?? false,
  };
  const code = await execute(argv, ctx, VERSION);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}
