import { readFileSync } from 'node:fs';

/** SQL lives in sql/*.sql; each file is read once, at first use. */
const cache = new Map<string, string>();
/** The other way round, for statement timings: a file's text → its name. */
const names = new Map<string, string>();

export function sql(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./sql/${name}.sql`, import.meta.url), 'utf8');
    cache.set(name, text);
    names.set(text, name);
  }
  return text;
}

// Inline statements are named by their verb, so the names stay a short, fixed list.
const VERBS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'release',
  'lock',
  'set',
  'copy',
]);

/** The name a statement is timed under: its sql/*.sql file, else its verb ("select", "begin", …), else "other". */
export function statementName(text: string): string {
  const file = names.get(text);
  if (file !== undefined) return file;
  const verb = /^\s*([a-z]+)/i.exec(text)?.[1]?.toLowerCase();
  return verb !== undefined && VERBS.has(verb) ? verb : 'other';
}
