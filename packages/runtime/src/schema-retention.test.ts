import { describe, expect, it } from 'vitest';
import { checkRuntimeConfig } from './check.ts';
import { DEFAULT_RUNTIME_CONFIG } from './schema.ts';

const withRetention = (retention: Record<string, unknown>) => ({
  ...DEFAULT_RUNTIME_CONFIG,
  retention: { ...DEFAULT_RUNTIME_CONFIG.retention, ...retention },
});

describe('runtime configuration: retention', () => {
  it('defaults to the contract’s 30 days, 100,000 waiting webhook events per endpoint, and endpoints disabled after 72 hours', () => {
    expect(DEFAULT_RUNTIME_CONFIG.retention).toEqual({ days: 30, webhookBacklogMax: 100_000, webhookDisableAfterHours: 72 });
    expect(checkRuntimeConfig(withRetention({ days: 1, webhookBacklogMax: 1, webhookDisableAfterHours: 1 })).ok).toBe(true);
    expect(checkRuntimeConfig(withRetention({ days: 3650, webhookBacklogMax: 10_000_000, webhookDisableAfterHours: 8760 })).ok).toBe(true);
  });

  it.each([
    ['days', 0],
    ['days', 1.5],
    ['days', 3651],
    ['days', '30'],
    ['webhookBacklogMax', 0],
    ['webhookBacklogMax', 10_000_001],
    ['webhookDisableAfterHours', 0],
    ['webhookDisableAfterHours', 8761],
    ['webhookDisableAfterHours', null],
  ])('refuses %s = %j, naming it', (key, value) => {
    const check = checkRuntimeConfig(withRetention({ [key]: value }));
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problems.map((p) => p.path)).toContain(`/retention/${key}`);
  });

  it('refuses an unknown key under retention', () => {
    const check = checkRuntimeConfig(withRetention({ dayz: 30 }));
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problems).toContainEqual({ path: '/retention/dayz', message: 'unknown key retention.dayz' });
  });
});
