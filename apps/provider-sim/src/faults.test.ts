import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyControl,
  CHANNELS,
  checkControlChange,
  decide,
  DEFAULT_FAULTS,
  defaultControl,
  MAX_LATENCY_MS,
  type ChannelFaults,
} from './faults.ts';

/** mulberry32: a seeded uniform [0, 1) source, so a failing draw sequence can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const rate = fc.double({ min: 0, max: 1, noNaN: true });
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const status = fc.constantFrom(429 as const, 500 as const, 502 as const, 503 as const, 504 as const);
const faults = fc.record<ChannelFaults>({
  errorRate: rate,
  latencyMs: fc.nat(MAX_LATENCY_MS),
  down: fc.boolean(),
  errorStatus: status,
  retryAfterSeconds: fc.integer({ min: 1, max: 86_400 }),
});

describe('decide', () => {
  it('property: a send fails exactly when the draw is below errorRate (0 never fails, 1 always does)', () => {
    fc.assert(
      fc.property(faults, draw, (f, u) => {
        const decision = decide({ ...f, down: false }, () => u);
        expect(decision.outcome).toBe(u < f.errorRate ? 'injected' : 'pass');
      }),
    );
  });

  it('property: over 4000 draws the injected fraction stays within 0.05 of errorRate', () => {
    // Binomial standard deviation is at most sqrt(0.25 / 4000) ≈ 0.008: 0.05 is over six of them.
    fc.assert(
      fc.property(rate, fc.integer(), (errorRate, seed) => {
        const random = seeded(seed);
        let injected = 0;
        for (let i = 0; i < 4000; i++) if (decide({ ...DEFAULT_FAULTS, errorRate }, random).outcome === 'injected') injected++;
        expect(Math.abs(injected / 4000 - errorRate)).toBeLessThanOrEqual(0.05);
      }),
      { numRuns: 50 },
    );
  });

  it('property: a channel that is down always fails, whatever errorRate, errorStatus and the draw', () => {
    fc.assert(
      fc.property(faults, draw, (f, u) => {
        expect(decide({ ...f, down: true }, () => u)).toEqual({ outcome: 'down' });
      }),
    );
  });

  it('property: an injected fault carries its status and code, and Retry-After only with 429', () => {
    fc.assert(
      fc.property(faults, (f) => {
        const decision = decide({ ...f, down: false, errorRate: 1 }, () => 0.5);
        const codes = { 429: 'RATE_LIMITED', 500: 'INTERNAL', 502: 'BAD_GATEWAY', 503: 'UNAVAILABLE', 504: 'GATEWAY_TIMEOUT' };
        expect(decision).toEqual({
          outcome: 'injected',
          status: f.errorStatus,
          code: codes[f.errorStatus],
          retryAfterSeconds: f.errorStatus === 429 ? f.retryAfterSeconds : null,
        });
      }),
    );
  });

  it('never draws when errorRate is 0', () => {
    const random = () => {
      throw new Error('drawn');
    };
    expect(decide(DEFAULT_FAULTS, random)).toEqual({ outcome: 'pass' });
  });
});

describe('checkControlChange', () => {
  it('property: errorRate is accepted exactly from 0 to 1', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }), (errorRate) => {
        expect(checkControlChange({ errorRate }).ok).toBe(errorRate >= 0 && errorRate <= 1);
      }),
    );
  });

  it('property: latencyMs is accepted exactly as an integer from 0 to the maximum', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -1000, max: MAX_LATENCY_MS + 1000 }),
          fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }),
        ),
        (latencyMs) => {
          expect(checkControlChange({ latencyMs }).ok).toBe(Number.isInteger(latencyMs) && latencyMs >= 0 && latencyMs <= MAX_LATENCY_MS);
        },
      ),
    );
  });

  it.each([
    [{ errorRate: '0.5' }, 'errorRate must be a number from 0 to 1'],
    [{ down: 'yes' }, 'down must be true or false'],
    [{ errorStatus: 418 }, 'errorStatus must be one of 429, 500, 502, 503, 504'],
    [{ retryAfterSeconds: 0 }, 'retryAfterSeconds must be an integer from 1 to 86400'],
    [{ channel: 'fax' }, 'channel must be one of sms, whatsapp, email'],
    [{ errorRate: 0.5, latncyMs: 10 }, 'unknown key latncyMs'],
    [[], 'the body must be a JSON object'],
    [null, 'the body must be a JSON object'],
  ])('refuses %j: %s', (input, message) => {
    const check = checkControlChange(input);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.message).toContain(message);
  });

  it('accepts every key together', () => {
    const change = { errorRate: 0.25, latencyMs: 100, down: false, errorStatus: 429, retryAfterSeconds: 5, channel: 'sms' };
    expect(checkControlChange(change)).toEqual({ ok: true, value: change });
  });
});

describe('applyControl', () => {
  it('property: a change without channel sets the given keys on every channel, and leaves the others', () => {
    fc.assert(
      fc.property(fc.record({ errorRate: rate, latencyMs: fc.nat(MAX_LATENCY_MS) }, { requiredKeys: [] }), (change) => {
        const state = applyControl(defaultControl(), change);
        for (const c of CHANNELS) expect(state[c]).toEqual({ ...DEFAULT_FAULTS, ...change });
      }),
    );
  });

  it('property: a change with channel touches that channel only', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CHANNELS), fc.boolean(), status, (channel, down, errorStatus) => {
        const before = applyControl(defaultControl(), { latencyMs: 7 });
        const after = applyControl(before, { channel, down, errorStatus });
        for (const c of CHANNELS) {
          expect(after[c]).toEqual(c === channel ? { ...before[c], down, errorStatus } : before[c]);
        }
      }),
    );
  });

  it('returns a frozen state and never changes the one it was given', () => {
    const before = defaultControl();
    const after = applyControl(before, { down: true });
    expect(before.sms.down).toBe(false);
    expect(Object.isFrozen(after) && Object.isFrozen(after.sms)).toBe(true);
  });
});
