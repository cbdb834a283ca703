import { randomUUID } from 'node:crypto';
import { createPool, createTenant, getQuietHours } from '@esh3ar/db';
import { createDatabase, runCli, type ThrowawayDatabase } from '@esh3ar/stack';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esh3arInProcess } from './cli.test-kit.ts';

let db: ThrowawayDatabase;
let pool: pg.Pool;

const esh3ar = (args: string[]) => runCli(args, { DATABASE_URL: db.url });
const inProcess = (args: string[], stdout = false) => esh3arInProcess(args, { DATABASE_URL: db.url }, { stdout });

beforeAll(async () => {
  db = await createDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/esh3ar', 'cli-quiet-hours');
  pool = createPool(db.url, { max: 1, applicationName: 'cli-quiet-hours-test' });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function newTenant(): Promise<string> {
  return (await createTenant(pool, { name: 'quiet', tier: 'basic' })).tenant.id;
}

describe('pnpm esh3ar tenant quiet-hours', () => {
  it('set prints the quiet hours as the admin API answers them; show reads them; set again replaces them; remove drops them', async () => {
    const tenantId = await newTenant();
    const set = await esh3ar([
      'tenant',
      'quiet-hours',
      'set',
      '--tenant',
      tenantId,
      '--start',
      '21:00',
      '--end',
      '08:00',
      '--time-zone',
      'Asia/Riyadh',
    ]);
    expect(set.code, set.stderr).toBe(0);
    const stored = JSON.parse(set.stdout);
    expect(stored).toEqual({ tenantId, start: '21:00', end: '08:00', defaultTimeZone: 'Asia/Riyadh', updatedAt: expect.any(String) });
    expect(await getQuietHours(pool, tenantId)).toMatchObject({ starts: '21:00', ends: '08:00', defaultTimeZone: 'Asia/Riyadh' });

    const show = await inProcess(['tenant', 'quiet-hours', 'show', '--tenant', tenantId]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toEqual(stored);

    const again = await inProcess([
      'tenant',
      'quiet-hours',
      'set',
      '--tenant',
      tenantId,
      '--start',
      '13:00',
      '--end',
      '15:30',
      '--time-zone',
      'europe/london',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ start: '13:00', end: '15:30', defaultTimeZone: 'Europe/London' });

    const removed = await inProcess(['tenant', 'quiet-hours', 'remove', '--tenant', tenantId]);
    expect(JSON.parse(removed.stdout)).toEqual({ tenantId, removed: true });
    expect(await getQuietHours(pool, tenantId)).toBeNull();
    expect(JSON.parse((await inProcess(['tenant', 'quiet-hours', 'remove', '--tenant', tenantId])).stdout)).toEqual({
      tenantId,
      removed: false,
    });

    const none = await inProcess(['tenant', 'quiet-hours', 'show', '--tenant', tenantId]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`tenant ${tenantId} has no quiet hours`);
  });

  it('set exits 1 for an unknown tenant', async () => {
    const r = await inProcess([
      'tenant',
      'quiet-hours',
      'set',
      '--tenant',
      randomUUID(),
      '--start',
      '21:00',
      '--end',
      '08:00',
      '--time-zone',
      'UTC',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no tenant/);
  });

  it('prints them as fields on a terminal', async () => {
    const tenantId = await newTenant();
    const r = await inProcess(
      ['tenant', 'quiet-hours', 'set', '--tenant', tenantId, '--start', '22:30', '--end', '06:00', '--time-zone', 'Asia/Dubai'],
      true,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^tenantId +${tenantId}\nstart +22:30\nend +06:00\ndefaultTimeZone +Asia/Dubai\nupdatedAt +\\d{4}-\\d\\d-\\d\\dT\\S+Z\n$`),
    );
  });

  const set = (start: string, end: string, zone: string) => [
    'tenant',
    'quiet-hours',
    'set',
    '--tenant',
    randomUUID(),
    '--start',
    start,
    '--end',
    end,
    '--time-zone',
    zone,
  ];
  it.each([
    [set('25:00', '08:00', 'UTC'), 'It must be a 24-hour time HH:MM from 00:00 to 23:59, such as 21:00.'],
    [set('9:00', '08:00', 'UTC'), "option '--start <HH:MM>' argument '9:00' is invalid"],
    [set('21:00', '08:00:00', 'UTC'), "option '--end <HH:MM>' argument '08:00:00' is invalid"],
    [set('21:00', '08:00', 'Mars/Olympus'), 'unknown time zone "Mars/Olympus": use an IANA name such as Europe/London'],
    [set('21:00', '08:00', '+03:00'), 'unknown time zone "+03:00"'],
    [set('21:00', '21:00', 'UTC'), 'start and end must differ: a window of 0 or 24 hours is not quiet hours'],
    [
      ['tenant', 'quiet-hours', 'set', '--tenant', randomUUID(), '--start', '21:00', '--end', '08:00'],
      "required option '--time-zone <name>' not specified",
    ],
    [['tenant', 'quiet-hours', 'show', '--tenant', 'x1'], 'It must be a tenant id (a UUID)'],
    [['tenant', 'quiet-hours', 'show'], "required option '--tenant <id>' not specified"],
    [['tenant', 'quiet-hours', 'off'], "unknown command 'off'"],
  ])('exits 2 with usage for %j', async (args, message) => {
    const r = await inProcess(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/Usage: pnpm esh3ar tenant quiet-hours/);
  });

  it('set --help says what quiet hours do', async () => {
    const r = await inProcess(['tenant', 'quiet-hours', 'set', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'Usage: pnpm esh3ar tenant quiet-hours set --tenant <id> --start <HH:MM> --end <HH:MM> --time-zone <name> [options]',
    );
    expect(r.stdout).toMatch(/critical ones pass/);
    expect(r.stdout).toMatch(/past midnight/);
  });
});
