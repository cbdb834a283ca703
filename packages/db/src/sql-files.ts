import { readFileSync } from 'node:fs';

/** For statement timings: every file's text read so far → its name. */
const names = new Map<string, string>();

/**
 * A reader of one package's sql/*.sql: each file read once, at first use, and timed
 * under its name (statementName), whichever package it belongs to.
 */
export function sqlFiles(directory: URL): (name: string) => string {
  const cache = new Map<string, string>();
  return (name) => {
    let text = cache.get(name);
    if (text === undefined) {
      text = readFileSync(new URL(`${name}.sql`, directory), 'utf8');
      cache.set(name, text);
      names.set(text, name);
    }
    return text;
  };
}

/** This package's SQL. */
export const sql = sqlFiles(new URL('./sql/', import.meta.url));

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
