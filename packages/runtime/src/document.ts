import { checkRuntimeConfig, type RuntimeConfigProblem } from './check.ts';
import type { RuntimeConfig } from './schema.ts';

type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A refused change: the contract's code (400 VALIDATION_FAILED, 404 NOT_FOUND) and what is wrong where. */
export class RuntimeConfigError extends Error {
  override name = 'RuntimeConfigError';
  readonly code: 'VALIDATION_FAILED' | 'NOT_FOUND';
  readonly details: RuntimeConfigProblem[];

  constructor(code: RuntimeConfigError['code'], message: string, details: RuntimeConfigProblem[] = []) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

// An own property, whatever the key: "__proto__" in a patch stays a key the schema
// refuses instead of replacing the merged object's prototype.
function define(target: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Deeper than any setting goes (the deepest, a tier's limit, is 3): what a change may nest. */
const PATCH_DEPTH_MAX = 32;

/**
 * Refuses a change nested deeper than PATCH_DEPTH_MAX, counted without recursion: JSON.parse
 * takes nesting thousands deep that a recursive merge would run out of stack on.
 */
export function checkPatchDepth(patch: unknown): void {
  let level: unknown[] = [patch];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > PATCH_DEPTH_MAX) {
      throw new RuntimeConfigError(
        'VALIDATION_FAILED',
        `the change is nested deeper than any setting (at most ${PATCH_DEPTH_MAX} levels)`,
        [{ path: '/', message: `must nest at most ${PATCH_DEPTH_MAX} levels` }],
      );
    }
    level = level.flatMap((value): unknown[] =>
      Array.isArray(value) ? (value as unknown[]) : isJsonObject(value) ? Object.values(value) : [],
    );
  }
}

/**
 * `patch` deep-merged over `document`: objects merge key by key; anything else (a
 * number, a string, an array, null) replaces what was there. Returns a new value and
 * changes neither input.
 */
export function mergeDocument(document: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) return patch.map((item) => mergeDocument(undefined, item));
  if (!isJsonObject(patch)) return patch;
  const from = isJsonObject(document) ? document : {};
  const merged: JsonObject = {};
  for (const key of Object.keys(from)) define(merged, key, mergeDocument(undefined, from[key]));
  for (const key of Object.keys(patch)) define(merged, key, mergeDocument(Object.hasOwn(from, key) ? from[key] : undefined, patch[key]));
  return merged;
}

/** `buffer.capacity` and 100 → `{ buffer: { capacity: 100 } }`. */
export function patchAt(path: string, value: unknown): JsonObject {
  const keys = path.split('.');
  if (keys.some((key) => key === ''))
    throw new RuntimeConfigError('VALIDATION_FAILED', `"${path}" is not a dotted key like buffer.capacity`);
  let patch: unknown = value;
  for (const key of keys.reverse()) {
    const level: JsonObject = {};
    define(level, key, patch);
    patch = level;
  }
  return patch as JsonObject;
}

/**
 * What a stored version means to a process: null is its own base (the built-in
 * defaults with its environment); a document is laid over the base, so that a key
 * added to the schema after the version was stored takes its default.
 */
export function effectiveDocument(stored: JsonObject | null, base: RuntimeConfig): unknown {
  return stored === null ? base : mergeDocument(base, stored);
}

/** The whole document checked, or a VALIDATION_FAILED naming every problem. */
export function validDocument(document: unknown): RuntimeConfig {
  const check = checkRuntimeConfig(document);
  if (check.ok) return check.value;
  throw new RuntimeConfigError(
    'VALIDATION_FAILED',
    `invalid runtime configuration: ${check.problems.map((p) => p.message).join('; ')}`,
    check.problems,
  );
}
