import fc from 'fast-check';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { SendMessageRequest } from './message.ts';
import { describeSchemaErrors, type SchemaError } from './schema-words.ts';

const checker = Compile(SendMessageRequest);
const VALID = { recipient: '+966501234567', content: 'hi' };
const words = (value: unknown) => describeSchemaErrors(checker.Errors(value), { whole: 'the message', schema: SendMessageRequest });

describe('describeSchemaErrors, on what TypeBox reports', () => {
  it.each([
    [{ ...VALID, sender: 'shop' }, '/sender', 'unknown field "sender"'],
    [{ content: 'hi' }, '/recipient', '"recipient" is required'],
    [{ ...VALID, priority: 'urgent' }, '/priority', '"priority" must be one of low, normal, high, critical'],
    [{ ...VALID, priority: 3 }, '/priority', '"priority" must be one of low, normal, high, critical'],
    [{ ...VALID, content: 'x'.repeat(4097) }, '/content', '"content" must be at most 4096 characters'],
    [{ ...VALID, content: '' }, '/content', '"content" must not be empty'],
    [{ ...VALID, content: 'a\u0000' }, '/content', '"content" must not contain NUL (U+0000) or a lone surrogate (half of a UTF-16 pair)'],
    [{ ...VALID, ttlSeconds: '60' }, '/ttlSeconds', '"ttlSeconds" must be an integer'],
    [{ ...VALID, ttlSeconds: 0 }, '/ttlSeconds', '"ttlSeconds" must be at least 1'],
    [{ ...VALID, ttlSeconds: 2_592_001 }, '/ttlSeconds', '"ttlSeconds" must be at most 2592000'],
    [{ ...VALID, metadata: { 'order/id': 7 } }, '/metadata/order~1id', '"metadata.order/id" must be a string'],
    [{ ...VALID, metadata: { ['k'.repeat(65)]: 'v' } }, `/metadata/${'k'.repeat(65)}`, 'keys of "metadata" must be at most 64 characters'],
    [
      { ...VALID, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
      '/metadata',
      '"metadata" must have at most 16 entries',
    ],
  ])('%j: %s %s', (value, path, message) => {
    expect(words(value)[0]).toEqual({ path, message });
  });

  it('gives one detail per field, every missing and unknown one named', () => {
    expect(words({ colour: 'red', size: 1 })).toEqual([
      { path: '/recipient', message: '"recipient" is required' },
      { path: '/content', message: '"content" is required' },
      { path: '/colour', message: 'unknown field "colour"' },
      { path: '/size', message: 'unknown field "size"' },
    ]);
  });

  it('names a nested field by its dotted path, and the value itself by what it is', () => {
    const schema = Type.Object({ buffer: Type.Object({ capacity: Type.Integer({ minimum: 1 }) }) });
    expect(describeSchemaErrors(Compile(schema).Errors({ buffer: { capacity: 0 } }))).toEqual([
      { path: '/buffer/capacity', message: '"buffer.capacity" must be at least 1' },
    ]);
    expect(describeSchemaErrors(Compile(schema).Errors([]), { whole: 'the document' })).toEqual([
      { path: '/', message: 'the document must be an object' },
    ]);
    const nullable = Type.Object({ subject: Type.Union([Type.String(), Type.Null()]) });
    expect(describeSchemaErrors(Compile(nullable).Errors({ subject: 5 }))).toEqual([
      { path: '/subject', message: '"subject" must be a string or null' },
    ]);
  });

  it('property: every message names its field in quotes and none speaks of schemas or patterns', () => {
    const field = fc.constantFrom(...Object.keys(SendMessageRequest.properties), 'sender', '');
    fc.assert(
      fc.property(fc.dictionary(field, fc.jsonValue({ maxDepth: 2 })), (value) => {
        // A message names the sender's own keys (metadata's "^[" is one): the words around them are ours.
        const keys = keysOf(value).sort((a, b) => b.length - a.length);
        for (const { message } of words(value)) {
          expect(message).toMatch(/^(unknown field "|"|keys of "|the message )/);
          expect(keys.reduce((rest, key) => (key === '' ? rest : rest.replaceAll(key, '')), message)).not.toMatch(
            /schema|pattern|must match|\^\[/,
          );
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** Every object key in a JSON value, at any depth. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]);
}

describe('describeSchemaErrors, on what Ajv (Fastify) reports', () => {
  // The shapes Ajv 8 gives Fastify's error.validation, for a query string.
  const ajv = (
    keyword: string,
    instancePath: string,
    params: object,
    schemaPath = `#/properties${instancePath}/${keyword}`,
  ): SchemaError => ({
    keyword,
    instancePath,
    schemaPath,
    params,
    message: 'what Ajv says',
  });

  it('words each keyword the same way', () => {
    expect(describeSchemaErrors([ajv('type', '/limit', { type: 'integer' })], { whole: 'the query' })).toEqual([
      { path: '/limit', message: '"limit" must be an integer' },
    ]);
    expect(describeSchemaErrors([ajv('required', '', { missingProperty: 'name' }, '#/required')])).toEqual([
      { path: '/name', message: '"name" is required' },
    ]);
    expect(describeSchemaErrors([ajv('additionalProperties', '', { additionalProperty: 'sendAt' }, '#/additionalProperties')])).toEqual([
      { path: '/sendAt', message: 'unknown field "sendAt"' },
    ]);
    expect(describeSchemaErrors([ajv('format', '/since', { format: 'date-time' })])).toEqual([
      { path: '/since', message: '"since" must be a date and time such as 2025-01-31T09:30:00Z' },
    ]);
  });

  it('names the literals of a union once, not once per literal', () => {
    const errors = [
      ...['queued', 'pending', 'sent'].map((value, i) =>
        ajv('const', '/status', { allowedValue: value }, `#/properties/status/anyOf/${i}/const`),
      ),
      ajv('anyOf', '/status', {}, '#/properties/status/anyOf'),
    ];
    expect(describeSchemaErrors(errors, { whole: 'the query' })).toEqual([
      { path: '/status', message: '"status" must be one of queued, pending, sent' },
    ]);
  });

  it('keeps a keyword it has no words for in the validator’s own, after the field’s name', () => {
    expect(describeSchemaErrors([ajv('dependentRequired', '/a', {})])).toEqual([{ path: '/a', message: '"a" what Ajv says' }]);
  });
});
