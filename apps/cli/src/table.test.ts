import { describe, expect, it } from 'vitest';
import { cellText, flatten, formatFields, formatTable } from './table.ts';

describe('formatTable', () => {
  const columns = [
    { header: 'ID', value: (r: { id: string; name: string | null; on: boolean }) => r.id },
    { header: 'NAME', value: (r: { id: string; name: string | null; on: boolean }) => r.name },
    { header: 'ON', value: (r: { id: string; name: string | null; on: boolean }) => r.on },
  ];

  it('aligns each column to its widest cell, with no trailing spaces', () => {
    const text = formatTable(
      [
        { id: 'a', name: 'Acme Corporation', on: true },
        { id: 'bbbbbb', name: null, on: false },
      ],
      columns,
      'none',
    );
    expect(text.split('\n')).toEqual(['ID      NAME              ON', 'a       Acme Corporation  yes', 'bbbbbb  -                 no']);
  });

  it('prints `empty` when there is no row', () => {
    expect(formatTable([], columns, 'No tenant.')).toBe('No tenant.');
  });

  it('turns control characters into spaces, so that a cell cannot move the cursor or recolour the terminal', () => {
    expect(cellText('evil\u001b[2J\nname\u0007')).toBe('evil [2J name ');
    expect(formatTable([{ id: 'x\ny', name: 'n', on: true }], columns, '').split('\n')).toHaveLength(2);
  });

  it('prints dates as ISO times and objects as JSON', () => {
    expect(cellText(new Date('2025-01-31T12:00:00.000Z'))).toBe('2025-01-31T12:00:00.000Z');
    expect(cellText({ rpm: 5 })).toBe('{"rpm":5}');
    expect(cellText(undefined)).toBe('-');
  });
});

describe('formatFields and flatten', () => {
  it('aligns the values', () => {
    expect(formatFields({ id: 'x', 'API key': 'esh_1' })).toBe('id       x\nAPI key  esh_1');
  });

  it('names each leaf of a document by its dotted path', () => {
    expect(flatten({ buffer: { capacity: 1, highWatermark: 0.8 }, tiers: { basic: { rpm: 5 } }, list: [1, 2], empty: {} })).toEqual({
      'buffer.capacity': 1,
      'buffer.highWatermark': 0.8,
      'tiers.basic.rpm': 5,
      list: [1, 2],
      empty: {},
    });
  });
});
