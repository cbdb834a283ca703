import { describe, expect, it } from 'vitest';
import { checkRuntimeConfig } from './check.ts';
import { DEFAULT_RUNTIME_CONFIG } from './schema.ts';

const withReads = (readsPerMinute: unknown) => ({
  ...DEFAULT_RUNTIME_CONFIG,
  rateLimit: { ...DEFAULT_RUNTIME_CONFIG.rateLimit, readsPerMinute },
});

describe('runtime configuration: rateLimit.readsPerMinute', () => {
  it('defaults to the contract’s 6000 and is part of a valid document', () => {
    expect(DEFAULT_RUNTIME_CONFIG.rateLimit.readsPerMinute).toBe(6000);
    expect(checkRuntimeConfig(DEFAULT_RUNTIME_CONFIG).ok).toBe(true);
    expect(checkRuntimeConfig(withReads(1)).ok).toBe(true);
  });

  it.each([0, -1, 2.5, '6000', null])('refuses %j, naming rateLimit.readsPerMinute', (value) => {
    const check = checkRuntimeConfig(withReads(value));
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problems.map((p) => p.path)).toContain('/rateLimit/readsPerMinute');
  });

  it('is required: a document without it is refused (stored versions get it from the base: effectiveDocument)', () => {
    const rest: Partial<typeof DEFAULT_RUNTIME_CONFIG.rateLimit> = { ...DEFAULT_RUNTIME_CONFIG.rateLimit };
    delete rest.readsPerMinute;
    const check = checkRuntimeConfig({ ...DEFAULT_RUNTIME_CONFIG, rateLimit: rest });
    expect(check.ok).toBe(false);
    if (!check.ok)
      expect(check.problems).toContainEqual({ path: '/rateLimit/readsPerMinute', message: 'rateLimit.readsPerMinute is required' });
  });
});
