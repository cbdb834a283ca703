import { describe, expect, it } from 'vitest';
import type { Env } from '../packages/config/src/index.ts';
import { appEnvRead, BACKLOG_VARS, listenBacklog, PORT_VARS, variablesRead } from './apps.ts';

describe('variablesRead: the variables a config parser reads, by running it', () => {
  it('names each variable looked up, set or not, by property or by `in`', () => {
    const parse = (env: Env) => ({ port: env.PORT ?? '3000', debug: 'DEBUG' in env, host: env.HOST });
    expect(variablesRead(parse, { HOST: '0.0.0.0' }).sort()).toEqual(['DEBUG', 'HOST', 'PORT']);
  });

  it('hands the parser the values it is given', () => {
    let seen: string | undefined;
    variablesRead((env) => (seen = env.HOST), { HOST: '0.0.0.0' });
    expect(seen).toBe('0.0.0.0');
  });

  it('refuses a parser that lists the environment, whose reads it could not tell', () => {
    expect(() => variablesRead((env) => Object.keys(env))).toThrow(/lists the environment/);
  });

  it('runs each app’s own parser: an unknown app, or one without a listen backlog, is an error', () => {
    expect(appEnvRead('gateway')).toContain('DEVICE_TOKEN_SECRET');
    expect(() => appEnvRead('no-such-app')).toThrow(/no config parser/);
    expect(listenBacklog('api', '128')).toBe(128);
    expect(() => listenBacklog('worker', '128')).toThrow(/no listen backlog/);
  });

  it('names port and backlog variables the apps read', () => {
    for (const [app, name] of [...Object.entries(PORT_VARS), ...Object.entries(BACKLOG_VARS)]) expect(appEnvRead(app), app).toContain(name);
  });
});
