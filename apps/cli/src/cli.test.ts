import { Writable } from 'node:stream';
import type { Command } from 'commander';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './cli.ts';
import { esh3arInProcess, VERSION } from './cli.test-kit.ts';
import { parseConfig } from './config.ts';

/** Every command path of the program, from the tree commander parses with. */
function commandPaths(): string[][] {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const ctx = {
    config: parseConfig({}),
    logger: pino({ level: 'silent' }),
    stdout: sink,
    stderr: sink,
    stdoutIsTTY: false,
    stderrIsTTY: false,
  };
  const paths: string[][] = [];
  const walk = (command: Command, path: string[]) => {
    for (const sub of command.commands) {
      paths.push([...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(buildProgram(ctx, VERSION), []);
  return paths;
}

const SECRET = 'a-device-token-secret-of-at-least-32-chars';

describe('help and version', () => {
  const paths = commandPaths();

  it('knows every command', () => {
    expect(paths.map((p) => p.join(' '))).toEqual([
      'migrate',
      'tenant',
      'tenant create',
      'tenant list',
      'tenant disable',
      'tenant enable',
      'tenant key',
      'tenant key create',
      'tenant key list',
      'tenant key revoke',
      'tenant webhook',
      'tenant webhook set',
      'tenant webhook remove',
      'tenant quiet-hours',
      'tenant quiet-hours show',
      'tenant quiet-hours set',
      'tenant quiet-hours remove',
      'config',
      'config get',
      'config set',
      'config history',
      'config rollback',
      'dlq',
      'dlq list',
      'dlq replay',
      'token',
      'token mint',
    ]);
  });

  it.each(paths.map((p) => [p.join(' '), p]))('%s --help: its usage on stdout, exit 0; "help %s" prints the same', async (_name, path) => {
    const r = await esh3arInProcess([...path, '--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^Usage: pnpm esh3ar ${path.join(' ')} `));
    expect(r.stdout).toContain('--help');
    expect(await esh3arInProcess(['help', ...path])).toEqual(r);
  });

  it('--help and help list the commands', async () => {
    const r = await esh3arInProcess(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['migrate', 'tenant', 'config', 'dlq', 'token']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(await esh3arInProcess(['help'])).toEqual(r);
  });

  it('a leaf command shows its required options and --json', async () => {
    const { stdout } = await esh3arInProcess(['tenant', 'create', '--help']);
    expect(stdout).toContain('Usage: pnpm esh3ar tenant create --name <name> --tier <tier> [options]');
    expect(stdout).toMatch(/--tier <tier> +its rate-limit tier \(choices: "basic", "premium", "enterprise"\)\s+\(required\)/);
    expect(stdout).toContain('--json');
  });

  it.each([['--version'], ['-v']])('%s prints the version of package.json', async (flag) => {
    expect(await esh3arInProcess([flag])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('usage errors: exit 2, the message and the command’s usage hint on stderr, nothing on stdout', () => {
  it.each([
    [['frobnicate'], "unknown command 'frobnicate'", 'pnpm esh3ar'],
    [['tenant', 'crate'], "unknown command 'crate'", 'pnpm esh3ar tenant'],
    [['tenant', 'create', '--tier', 'basic'], "required option '--name <name>' not specified", 'pnpm esh3ar tenant create'],
    [['tenant', 'create', '--name', 'x', '--tier', 'gold'], 'Allowed choices are basic, premium, enterprise', 'pnpm esh3ar tenant create'],
    [
      ['tenant', 'create', '--name', 'x', '--tier', 'basic', '--rpm', '0'],
      'It must be an integer from 1 to 2147483647',
      'pnpm esh3ar tenant create',
    ],
    [
      ['tenant', 'create', '--name', 'x', '--tier', 'basic', '--burst', '1.5'],
      'It must be an integer from 0 to 2147483647',
      'pnpm esh3ar tenant create',
    ],
    // Past a PostgreSQL integer, which tenants.rpm is: refused here rather than by PostgreSQL.
    [
      ['tenant', 'create', '--name', 'x', '--tier', 'basic', '--rpm', '2147483648'],
      'It must be an integer from 1 to 2147483647',
      'pnpm esh3ar tenant create',
    ],
    [['tenant', 'create', '--name', ' ', '--tier', 'basic'], '--name must not be blank', 'pnpm esh3ar tenant create'],
    [['tenant', 'create', '--name', 'x', '--tier', 'basic', '--color', 'red'], "unknown option '--color'", 'pnpm esh3ar tenant create'],
    [['tenant', 'list', '--limit', '0'], 'It must be an integer from 1 to 1000', 'pnpm esh3ar tenant list'],
    [['tenant', 'list', '--cursor', 'nope'], 'It must be a nextCursor printed before', 'pnpm esh3ar tenant list'],
    [['tenant', 'disable', '--tenant', 'x'], 'It must be a tenant id', 'pnpm esh3ar tenant disable'],
    [
      ['tenant', 'key', 'revoke', '--tenant', '00000000-0000-4000-8000-000000000001'],
      "required option '--key <id>'",
      'pnpm esh3ar tenant key revoke',
    ],
    [
      ['tenant', 'webhook', 'set', '--tenant', '00000000-0000-4000-8000-000000000001', '--url', 'ftp://a.example'],
      '--url must',
      'pnpm esh3ar tenant webhook set',
    ],
    [['config', 'get', 'extra'], "too many arguments for 'get'", 'pnpm esh3ar config get'],
    [['config', 'set', 'buffer.capacity'], "missing required argument 'value'", 'pnpm esh3ar config set'],
    [['config', 'set', 'buffer..capacity', '5'], 'KEY must be a dotted path', 'pnpm esh3ar config set'],
    [['config', 'rollback', 'latest'], 'needs a VERSION', 'pnpm esh3ar config rollback'],
    [['config', 'history', '--limit', '0'], 'It must be an integer from 1 to 1000', 'pnpm esh3ar config history'],
    [['dlq', 'list', '--channel', 'pigeon'], 'Allowed choices are sms, whatsapp, email', 'pnpm esh3ar dlq list'],
    [['dlq', 'list', '--since', 'yesterday'], 'It must be an ISO time', 'pnpm esh3ar dlq list'],
    [['dlq', 'replay'], 'dlq replay needs message ids, or --all', 'pnpm esh3ar dlq replay'],
    [['dlq', 'replay', '00000000-0000-4000-8000-000000000001', '--all'], 'give message ids or --all, not both', 'pnpm esh3ar dlq replay'],
    [['dlq', 'replay', '00000000-0000-4000-8000-000000000001', '--channel', 'sms'], '--channel goes with --all', 'pnpm esh3ar dlq replay'],
    [['dlq', 'replay', '00000000-0000-4000-8000-000000000001', '--dry-run'], '--dry-run goes with --all', 'pnpm esh3ar dlq replay'],
    [['dlq', 'replay', '--all', '--page-size', '0'], 'It must be an integer from 1 to 10000', 'pnpm esh3ar dlq replay'],
    [['dlq', 'replay', 'not-an-id'], '"not-an-id" is not a message id', 'pnpm esh3ar dlq replay'],
    [['token', 'mint', '--phone', '0501234567'], 'It must be an E.164 phone number', 'pnpm esh3ar token mint'],
    [['token', 'mint', '--phone', '+966501234567'], 'DEVICE_TOKEN_SECRET must be set', 'pnpm esh3ar token mint'],
  ])('%j', async (args, message, command) => {
    const r = await esh3arInProcess(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^esh3ar: /);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`Usage: ${command} `);
    expect(r.stderr).toContain(`See "${command} --help".`);
  });

  it.each([[[]], [['tenant']], [['config']], [['tenant', 'key']]])('%j without its command: the help on stderr', async (args) => {
    const r = await esh3arInProcess(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^Usage: ${['pnpm esh3ar', ...args].join(' ')} \\[options\\] \\[command\\]`));
  });
});

describe('token mint: the token alone, for TOKEN=$(…), on a terminal or not', () => {
  it.each([[false], [true]])('stdout a TTY: %s', async (isTTY) => {
    const r = await esh3arInProcess(['token', 'mint', '--phone', '+966501234567'], { DEVICE_TOKEN_SECRET: SECRET }, { stdout: isTTY });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const payload = JSON.parse(Buffer.from(r.stdout.split('.')[1]!, 'base64url').toString()) as { sub: string; exp: number; iat: number };
    expect(payload.sub).toBe('+966501234567');
    expect(payload.exp - payload.iat).toBe(3600);
  });

  it('--json: {"token"}', async () => {
    const r = await esh3arInProcess(['token', 'mint', '--phone', '+966501234567', '--ttl', '60', '--json'], {
      DEVICE_TOKEN_SECRET: SECRET,
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
  });
});
