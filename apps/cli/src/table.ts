/**
 * Text for a person at a terminal: aligned columns without borders (as kubectl and gh print
 * them, so that grep and awk still work on them) and "label  value" lists. Twenty lines of our
 * own rather than cli-table3: its box borders are what we would have to turn off.
 */

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/**
 * One line of text for a cell. Control characters become spaces: a tenant name or a
 * provider's failure reason could otherwise move the cursor or recolour the terminal.
 */
export function cellText(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '-';
  else if (typeof value === 'boolean') text = value ? 'yes' : 'no';
  else if (value instanceof Date) text = value.toISOString();
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'bigint') text = value.toString();
  else text = JSON.stringify(value) ?? '-';
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

/** Rows under a header, each column as wide as its widest cell; `empty` when there is no row. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[], empty: string): string {
  if (rows.length === 0) return empty;
  const lines = [columns.map((c) => c.header), ...rows.map((row) => columns.map((c) => cellText(c.value(row))))];
  const widths = columns.map((_, i) => Math.max(...lines.map((cells) => cells[i]!.length)));
  return lines.map((cells) => cells.map((text, i) => (i === cells.length - 1 ? text : text.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** One "label  value" line per field, the values aligned. */
export function formatFields(fields: Record<string, unknown>): string {
  const width = Math.max(0, ...Object.keys(fields).map((label) => label.length));
  return Object.entries(fields)
    .map(([label, value]) => `${label.padEnd(width)}  ${cellText(value)}`)
    .join('\n');
}

/** A nested document as dotted paths to its leaves: {"buffer": {"capacity": 1}} → {"buffer.capacity": 1}. */
export function flatten(value: unknown, prefix = ''): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { [prefix]: value };
  const entries = Object.entries(value);
  if (entries.length === 0) return { [prefix]: value };
  const leaves: Record<string, unknown> = {};
  for (const [key, inner] of entries) Object.assign(leaves, flatten(inner, prefix === '' ? key : `${prefix}.${key}`));
  return leaves;
}
