import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APPS, appEnvRead, configOf } from '../infra/apps.ts';
import { DECLARED_DEFAULTS, DESCRIPTIONS } from './config-descriptions.ts';
import { descriptionProblems, OPTIONAL_PATHS, readVariables } from './config-reference.ts';

// docs/configuration.md's reference is generated: the variables and their defaults from
// running the config parsers, their meaning from config-descriptions.ts.

const ROOT = join(import.meta.dirname, '..');
const variables = readVariables();
const byName = new Map(variables.map((v) => [v.name, v]));

describe('the configuration reference (scripts/config-reference.ts)', () => {
  it('lists every variable an app reads, those read only on a provider path included', () => {
    expect(APPS).toEqual(['api', 'worker', 'gateway', 'provider-sim', 'cli']);
    for (const app of APPS) {
      for (const name of [...appEnvRead(app), ...appEnvRead(app, OPTIONAL_PATHS)])
        expect(byName.get(name)?.defaults.has(app), `${app} ${name}`).toBe(true);
    }
    expect(byName.get('TWILIO_ACCOUNT_SID')?.defaults).toEqual(new Map([['worker', 'required']]));
    expect(byName.get('META_WA_VERIFY_TOKEN')?.defaults).toEqual(new Map([['api', 'none']]));
  });

  it('has a description for every variable, and none for a variable no app reads', () => {
    expect(descriptionProblems(variables, DESCRIPTIONS, DECLARED_DEFAULTS)).toEqual({ undescribed: [], unread: [] });
    const withoutOne = Object.fromEntries(Object.entries(DESCRIPTIONS).filter(([name]) => name !== 'DATABASE_URL'));
    expect(descriptionProblems(variables, { ...withoutOne, NO_SUCH_VARIABLE: 'read by nobody' })).toEqual({
      undescribed: ['DATABASE_URL'],
      unread: ['NO_SUCH_VARIABLE'],
    });
  });

  it('gives the defaults the parsers fall back on: set to its default, a variable changes nothing', () => {
    expect(byName.get('API_PORT')?.defaults.get('api')).toBe('3000');
    expect(byName.get('API_RATE_LIMIT')?.defaults.get('api')).toBe('on');
    expect(byName.get('SMS_PROVIDER')?.defaults.get('worker')).toBe('sim');
    expect(byName.get('GATEWAY_SLOW_READER_CLOSE_MS')?.defaults.get('gateway')).toBe('30000');
    expect(byName.get('DEVICE_TOKEN_SECRET')?.defaults).toEqual(
      new Map([
        ['gateway', 'required'],
        ['cli', 'none'],
      ]),
    );
    let checked = 0;
    for (const { name, defaults } of variables) {
      for (const [app, value] of defaults) {
        if (value === 'none' || value === 'required' || !appEnvRead(app).includes(name)) continue;
        expect(configOf(app, { [name]: value }), `${app} ${name}=${value}`).toEqual(configOf(app, {}));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('is in docs/configuration.md as the script prints it', () => {
    const rendered = execFileSync(process.execPath, ['scripts/config-reference.ts'], { cwd: ROOT, encoding: 'utf8' }).trim();
    for (const { name } of variables) expect(rendered).toContain(`| \`${name}\` |`);
    expect(readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8'), 'run: node scripts/config-reference.ts --write').toContain(rendered);
  });
});
