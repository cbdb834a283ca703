import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COPY_COLUMNS, copyField, expiresAt, messageCopyRow } from './copy-encoding.ts';

/** PostgreSQL's reading of a COPY text field (the inverse of copyField), for the property. */
function decode(field: string): string | null {
  if (field === '\\N') return null;
  return field.replace(/\\(.)/g, (_, ch: string) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[ch] ?? ch);
}

describe('copyField', () => {
  it('escapes the four characters COPY text format treats specially, and nothing else', () => {
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('\\.')).toBe('\\\\.');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField('مرحبا 😀 "q" \'s\'')).toBe('مرحبا 😀 "q" \'s\'');
    expect(copyField(null)).toBe('\\N');
    expect(copyField(3)).toBe('3');
  });

  it('property: an encoded field never holds a raw tab, newline or CR, and decodes to the original', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const encoded = copyField(s);
        expect(encoded).not.toMatch(/[\t\n\r]/);
        expect(decode(encoded)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('messageCopyRow', () => {
  it('writes one line with a field per column, ending in a newline', () => {
    const row = messageCopyRow(
      {
        id: '01937a6e-0000-7000-8000-000000000001',
        tenantId: '5f0c1c8e-0000-4000-8000-000000000002',
        acceptedAt: '2026-11-22T18:00:00.000Z',
        recipient: '+966501234567',
        channel: 'app',
        priority: 'critical',
        subject: null,
        content: 'two\nlines',
        metadata: { k: 'v\t' },
        ttlSeconds: 60,
        fallback: null,
        fallbackAfterSeconds: null,
        idempotencyKey: null,
      },
      { status: 'pending', failureReason: null },
    );
    expect(row.endsWith('\n')).toBe(true);
    const fields = row.slice(0, -1).split('\t');
    expect(fields).toHaveLength(COPY_COLUMNS.length);
    expect(fields[COPY_COLUMNS.indexOf('priority')]).toBe('3');
    expect(fields[COPY_COLUMNS.indexOf('content')]).toBe('two\\nlines');
    expect(fields[COPY_COLUMNS.indexOf('metadata')]).toBe('{"k":"v\\\\t"}');
    expect(fields[COPY_COLUMNS.indexOf('expires_at')]).toBe('2026-11-22T18:01:00.000Z');
  });

  it('expiresAt is acceptedAt + ttl, or null without a ttl', () => {
    expect(expiresAt({ acceptedAt: '2026-01-01T00:00:00.000Z', ttlSeconds: 86_400 })).toBe('2026-01-02T00:00:00.000Z');
    expect(expiresAt({ acceptedAt: '2026-01-01T00:00:00.000Z', ttlSeconds: null })).toBeNull();
  });
});
