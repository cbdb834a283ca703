import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { effectiveDocument, mergeDocument, patchAt, RuntimeConfigError, validDocument } from './document.ts';
import { DEFAULT_RUNTIME_CONFIG } from './schema.ts';

/** Every leaf of the default document: its dotted path and value. */
function leaves(value: unknown, path: string[] = []): { path: string[]; value: unknown }[] {
  if (typeof value !== 'object' || value === null) return [{ path, value }];
  return Object.entries(value).flatMap(([key, child]) => leaves(child, [...path, key]));
}
const LEAVES = leaves(DEFAULT_RUNTIME_CONFIG);
/** The path of every object in it, the root ([]) included. */
const objectPaths: string[][] = [
  ...new Map(
    LEAVES.flatMap((l) => Array.from({ length: l.path.length }, (_, i) => l.path.slice(0, i))).map((p) => [p.join('.'), p]),
  ).values(),
];

function get(document: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], document);
}

function validValueFor(path: string[]): fc.Arbitrary<number> {
  const key = path.at(-1)!;
  if (key === 'highWatermark') return fc.double({ min: 0.01, max: 1, noNaN: true });
  if (key === 'windowSeconds') return fc.integer({ min: 1, max: 3600 });
  if (key === 'burst') return fc.integer({ min: 0, max: 1_000_000 });
  if (key === 'batchSize') return fc.integer({ min: 1, max: 10_000 });
  if (key === 'batchTimeoutMs') return fc.integer({ min: 1, max: 60_000 });
  if (key === 'maxAttempts') return fc.integer({ min: 1, max: 100 });
  if (key === 'days' || key === 'webhookDisableAfterHours') return fc.integer({ min: 1, max: 3650 });
  if (key === 'halfOpenAfterMs' || key === 'ackTimeoutMs') return fc.integer({ min: 100, max: 10_000_000 });
  return fc.integer({ min: 1, max: 10_000_000 });
}

const validChange = fc.constantFrom(...LEAVES).chain((leaf) => validValueFor(leaf.path).map((value) => ({ path: leaf.path, value })));

describe('mergeDocument', () => {
  it('property: valid changes at any keys land where they point, everything else stays, and neither input changes', () => {
    fc.assert(
      fc.property(fc.array(validChange, { minLength: 1, maxLength: 8 }), (changes) => {
        const base = structuredClone(DEFAULT_RUNTIME_CONFIG);
        const patch = changes.reduce<unknown>((p, c) => mergeDocument(p, patchAt(c.path.join('.'), c.value)), {});
        const patchBefore = structuredClone(patch);
        const merged = validDocument(mergeDocument(base, patch));
        expect(base).toEqual(DEFAULT_RUNTIME_CONFIG);
        expect(patch).toEqual(patchBefore);
        const last = new Map(changes.map((c) => [c.path.join('.'), c.value]));
        for (const leaf of LEAVES) {
          const key = leaf.path.join('.');
          expect(get(merged, leaf.path)).toBe(last.has(key) ? last.get(key) : leaf.value);
        }
      }),
    );
  });

  it('replaces arrays and primitives instead of merging into them', () => {
    expect(mergeDocument({ a: [1, 2, 3], b: { c: 1 } }, { a: [9], b: 5 })).toEqual({ a: [9], b: 5 });
  });

  it('keeps "__proto__" an ordinary key: no prototype is replaced, and the schema refuses it', () => {
    const patch = JSON.parse('{"buffer": {"__proto__": {"capacity": -1}}, "__proto__": {"polluted": true}}') as unknown;
    const merged = mergeDocument(DEFAULT_RUNTIME_CONFIG, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(merged)).toContain('__proto__');
    expect(() => validDocument(merged)).toThrow(RuntimeConfigError);
    const fromPath = patchAt('__proto__.polluted', true);
    expect(Object.getPrototypeOf(fromPath)).toBe(Object.prototype);
    expect(Object.keys(fromPath)).toEqual(['__proto__']);
  });
});

describe('validDocument', () => {
  const invalidValues = fc.constantFrom<unknown>(-1, 0, -0.5, 1.5, 1e12, 'ten', null, true, [], {}, 2.5);
  const outOfRange = (path: string[], value: unknown): boolean => {
    const key = path.at(-1)!;
    if (typeof value !== 'number') return true;
    if (key === 'highWatermark') return !(value > 0 && value <= 1);
    if (!Number.isInteger(value)) return true;
    const schemaMin = key === 'burst' ? 0 : key === 'halfOpenAfterMs' || key === 'ackTimeoutMs' ? 100 : 1;
    const schemaMax = { windowSeconds: 3600, batchSize: 10_000, batchTimeoutMs: 60_000, maxAttempts: 100 }[key] ?? Infinity;
    return value < schemaMin || value > schemaMax;
  };

  it('property: one value out of range or of the wrong type anywhere refuses the whole document, naming its path', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LEAVES), invalidValues, (leaf, value) => {
        fc.pre(outOfRange(leaf.path, value));
        const document = mergeDocument(DEFAULT_RUNTIME_CONFIG, patchAt(leaf.path.join('.'), value));
        let error: unknown;
        try {
          validDocument(document);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(RuntimeConfigError);
        expect((error as RuntimeConfigError).code).toBe('VALIDATION_FAILED');
        expect((error as RuntimeConfigError).details.map((d) => d.path)).toContain(`/${leaf.path.join('/')}`);
      }),
    );
  });

  it('property: an unknown key at any level is refused', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...objectPaths),
        fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !k.includes('.')),
        (path, key) => {
          const parent = path.length === 0 ? DEFAULT_RUNTIME_CONFIG : get(DEFAULT_RUNTIME_CONFIG, path);
          fc.pre(!Object.hasOwn(parent as object, key));
          const document = mergeDocument(DEFAULT_RUNTIME_CONFIG, patchAt([...path, key].join('.'), 1));
          expect(() => validDocument(document)).toThrow(`unknown key ${[...path, key].join('.')}`);
        },
      ),
    );
  });

  it('accepts the defaults, watermark 1 and burst 0; refuses watermark 0 and a negative capacity', () => {
    expect(validDocument(structuredClone(DEFAULT_RUNTIME_CONFIG))).toEqual(DEFAULT_RUNTIME_CONFIG);
    expect(() =>
      validDocument(mergeDocument(DEFAULT_RUNTIME_CONFIG, { buffer: { highWatermark: 1 }, rateLimit: { tiers: { basic: { burst: 0 } } } })),
    ).not.toThrow();
    expect(() => validDocument(mergeDocument(DEFAULT_RUNTIME_CONFIG, { buffer: { highWatermark: 0 } }))).toThrow(
      'buffer.highWatermark must be > 0',
    );
    expect(() => validDocument(mergeDocument(DEFAULT_RUNTIME_CONFIG, { buffer: { capacity: -5 } }))).toThrow(
      'buffer.capacity must be >= 1',
    );
  });
});

describe('effectiveDocument', () => {
  it('reads null as the base, and lays a stored document over the base (keys added to the schema later take their default)', () => {
    const base = structuredClone(DEFAULT_RUNTIME_CONFIG);
    expect(effectiveDocument(null, base)).toBe(base);
    const older: Partial<typeof base> = structuredClone(DEFAULT_RUNTIME_CONFIG);
    delete older.gateway;
    const stored = mergeDocument(older, { buffer: { capacity: 7 } }) as Record<string, unknown>;
    expect(validDocument(effectiveDocument(stored, base))).toEqual({ ...base, buffer: { ...base.buffer, capacity: 7 } });
  });
});

describe('patchAt', () => {
  it('builds the nested patch of a dotted key, and refuses empty segments', () => {
    expect(patchAt('rateLimit.tiers.basic.rpm', 50)).toEqual({ rateLimit: { tiers: { basic: { rpm: 50 } } } });
    for (const bad of ['', '.', 'buffer.', '.buffer', 'a..b']) expect(() => patchAt(bad, 1)).toThrow(RuntimeConfigError);
  });
});
