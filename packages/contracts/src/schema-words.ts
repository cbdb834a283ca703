import type { ErrorDetail } from './errors.ts';
import { E164_PATTERN, EMAIL_PATTERN, STORABLE_TEXT_PATTERN } from './message.ts';
import { CLOCK_TIME_PATTERN, CLOCK_TIME_WORDS } from './quiet-hours.ts';
import { UUID_PATTERN } from './uuid.ts';

/**
 * A value's failure against a JSON Schema, as both Ajv (Fastify's validator) and
 * TypeBox's `Errors()` report it: the keyword that failed, where, and its parameters.
 */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: object;
  message?: string;
}

interface Params {
  /** TypeBox: every missing or unknown property at once; Ajv: one per error. */
  requiredProperties?: string[];
  missingProperty?: string;
  additionalProperties?: string[];
  additionalProperty?: string;
  type?: string | string[];
  allowedValue?: unknown;
  allowedValues?: unknown[];
  limit?: number;
  comparison?: string;
  pattern?: string;
  format?: string;
}

const TYPES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

const WITHOUT_UNSTORABLE = 'must not contain NUL (U+0000) or a lone surrogate (half of a UTF-16 pair)';

/** What the contract's patterns mean, in the words a sender reads. */
const PATTERNS = new Map<string, string>([
  [STORABLE_TEXT_PATTERN, WITHOUT_UNSTORABLE],
  [E164_PATTERN, 'must be an E.164 phone number such as +966501234567'],
  [EMAIL_PATTERN, 'must be an email address'],
  [UUID_PATTERN, 'must be a UUID'],
  [CLOCK_TIME_PATTERN, CLOCK_TIME_WORDS],
]);

const FORMATS: Record<string, string> = {
  'date-time': 'must be a date and time such as 2025-01-31T09:30:00Z',
  date: 'must be a date such as 2025-01-31',
  uri: 'must be an absolute URL',
  email: 'must be an email address',
  uuid: 'must be a UUID',
};

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const oneOf = (values: readonly unknown[]) =>
  values.length === 1 ? `must be ${String(values[0])}` : `must be one of ${values.map(String).join(', ')}`;

/** The keyword's failure after the field's name: `must be at most 4096 characters`. */
function problem(error: SchemaError, params: Params): string {
  const limit = params.limit ?? 0;
  switch (error.keyword) {
    case 'type':
      return `must be ${[params.type ?? []]
        .flat()
        .map((t) => TYPES[t] ?? t)
        .join(' or ')}`;
    case 'anyOf':
      return 'is none of the accepted forms';
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `must be at least ${plural(limit, 'character', 'characters')}`;
    case 'maxLength':
      return `must be at most ${plural(limit, 'character', 'characters')}`;
    case 'minimum':
      return `must be at least ${limit}`;
    case 'maximum':
      return `must be at most ${limit}`;
    case 'exclusiveMinimum':
      return `must be greater than ${limit}`;
    case 'exclusiveMaximum':
      return `must be less than ${limit}`;
    case 'multipleOf':
      return `must be a multiple of ${limit}`;
    case 'minItems':
      return limit === 1 ? 'must not be empty' : `must hold at least ${plural(limit, 'item', 'items')}`;
    case 'maxItems':
      return `must hold at most ${plural(limit, 'item', 'items')}`;
    case 'minProperties':
      return `must have at least ${plural(limit, 'entry', 'entries')}`;
    case 'maxProperties':
      return `must have at most ${plural(limit, 'entry', 'entries')}`;
    case 'uniqueItems':
      return 'must not hold the same item twice';
    case 'pattern':
      return PATTERNS.get(params.pattern ?? '') ?? 'is not in the expected format';
    case 'format':
      return FORMATS[params.format ?? ''] ?? `must be a valid ${params.format ?? 'value'}`;
    default:
      return error.message ?? 'is invalid';
  }
}

const decode = (segment: string) => segment.replaceAll('~1', '/').replaceAll('~0', '~');
const encode = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');
const segmentsOf = (pointer: string) => pointer.split('/').slice(1).map(decode);
/** The field as a sender wrote it, quoted: `"ttlSeconds"`, `"metadata.orderId"`. */
const quoted = (segments: readonly string[]) => JSON.stringify(segments.join('.'));

/** The schema at a validator's schemaPath (`#/properties/priority`, Ajv's `…/anyOf`), if there is one. */
function schemaAt(root: unknown, schemaPath: string): unknown {
  let node = root;
  for (const segment of segmentsOf(schemaPath.replace(/^#/, ''))) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** The values a union of literals allows (`Type.Union([Type.Literal('low'), …])`), or none. */
function literalsOf(union: unknown): unknown[] {
  const members: unknown = Array.isArray(union) ? union : (union as { anyOf?: unknown } | undefined)?.anyOf;
  if (!Array.isArray(members) || members.length === 0) return [];
  const consts = (members as unknown[]).map((m) => (typeof m === 'object' && m !== null ? (m as { const?: unknown }).const : undefined));
  return consts.every((c) => c !== undefined) ? consts : [];
}

export interface WordingOptions {
  /** What the value itself is called when it is the value that is wrong: "the body" unless said. */
  whole?: string;
  /** The schema the errors come from: lets a union of literals be named even when a value fails on its type. */
  schema?: unknown;
}

/**
 * Validation errors in words, one detail per field: the field's name and its problem
 * (`unknown field "sendAt"`, `"recipient" is required`, `"priority" must be one of low,
 * normal, high, critical`), at the field's JSON Pointer.
 */
export function describeSchemaErrors(errors: Iterable<SchemaError>, options: WordingOptions = {}): ErrorDetail[] {
  const whole = options.whole ?? 'the body';
  const list = [...errors];
  // A union fails once per member, then as a whole: its literals (or types) are what is allowed.
  const literalsAt = new Map<string, unknown[]>();
  const typesAt = new Map<string, Set<string>>();
  for (const error of list) {
    const params = error.params as Params;
    const path = error.instancePath;
    const values =
      error.keyword === 'const'
        ? [params.allowedValue]
        : error.keyword === 'enum'
          ? (params.allowedValues ?? [])
          : error.keyword === 'anyOf'
            ? literalsOf(schemaAt(options.schema, error.schemaPath))
            : [];
    if (values.length > 0) literalsAt.set(path, [...new Set([...(literalsAt.get(path) ?? []), ...values])]);
    if (error.keyword === 'type') {
      const types = typesAt.get(path) ?? new Set<string>();
      for (const type of [params.type ?? []].flat().flatMap((t) => t.split(','))) types.add(type);
      typesAt.set(path, types);
    }
  }
  const namesKeys = list.some((e) => e.schemaPath.endsWith('/propertyNames'));
  const details: ErrorDetail[] = [];
  const add = (path: string, message: string) => {
    if (!details.some((d) => d.path === path)) details.push({ path, message });
  };
  for (const error of list) {
    const params = error.params as Params;
    const segments = segmentsOf(error.instancePath);
    const child = (key: string) => ({ path: `${error.instancePath}/${encode(key)}`, name: quoted([...segments, key]) });
    const literals = literalsAt.get(error.instancePath);
    if (error.keyword === 'required') {
      for (const { path, name } of [params.requiredProperties ?? params.missingProperty ?? []].flat().map(child))
        add(path, `${name} is required`);
    } else if (error.keyword === 'additionalProperties') {
      for (const { path, name } of [params.additionalProperties ?? params.additionalProperty ?? []].flat().map(child))
        add(path, `unknown field ${name}`);
    } else if (error.keyword === 'boolean') {
      // TypeBox: `additionalProperties: false` failing at the property itself.
      add(error.instancePath, `unknown field ${quoted(segments)}`);
    } else if (error.keyword === 'propertyNames') {
      // Reported key by key (schemaPath …/propertyNames) where the validator does so.
      if (!namesKeys) add(error.instancePath || '/', `${segments.length > 0 ? quoted(segments) : whole} has a key that is not allowed`);
    } else if (error.schemaPath.endsWith('/propertyNames')) {
      const owner = segments.slice(0, -1);
      add(error.instancePath, `keys of ${owner.length > 0 ? quoted(owner) : whole} ${problem(error, params)}`);
    } else {
      const subject = segments.length > 0 ? quoted(segments) : whole;
      const inUnion = literals !== undefined && ['type', 'const', 'enum', 'anyOf'].includes(error.keyword);
      const phrase = inUnion
        ? oneOf(literals)
        : error.keyword === 'type'
          ? `must be ${[...(typesAt.get(error.instancePath) ?? [])].map((t) => TYPES[t] ?? t).join(' or ')}`
          : problem(error, params);
      add(error.instancePath || '/', `${subject} ${phrase}`);
    }
  }
  return details;
}
