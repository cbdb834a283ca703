import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keptResults, RESULTS } from '../scripts/bench-results.ts';

// The docs quote benchmark reports by file; git ignores bench/results/ except the files
// .gitignore names. These tests fail when a quoted report would not be committed, when
// .gitignore keeps a file that is gone, or when a kept report links to one left out.

const ROOT = join(import.meta.dirname, '..');
const DOCS = [
  'README.md',
  'bench/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/**
 * Patterns of the result files a text quotes: `bench/results/<name>`, `[<benchmark>-]<date>T<time>Z.md`,
 * or `…<time>Z.md` (the date left out). `*` stands for any characters, as in a shell.
 */
function quotedPatterns(text: string): RegExp[] {
  const glob = (name: string) => name.replaceAll('.', '\\.').replaceAll('*', '[^/]*');
  const name = String.raw`[\w*-]+\.(?:md|json|svg)`;
  const patterns: RegExp[] = [];
  for (const [, quoted] of text.matchAll(new RegExp(String.raw`bench/results/(${name})`, 'g')))
    patterns.push(new RegExp(`^${glob(quoted!)}$`));
  for (const [, quoted] of text.matchAll(new RegExp(String.raw`\`((?:[a-z]+-)*\d{4}-\d\d-\d\dT${name})\``, 'g')))
    patterns.push(new RegExp(`^${glob(quoted!)}$`));
  for (const [, time] of text.matchAll(new RegExp(String.raw`\`…(${name})\``, 'g')))
    patterns.push(new RegExp(String.raw`^\d{4}-\d\d-\d\dT${glob(time!)}$`));
  return patterns;
}

describe('benchmark reports quoted by the docs', () => {
  const kept = keptResults();

  it('finds the quotes it checks', () => {
    const quoted =
      '`bench/results/2026-11-23T02-03-18Z.md`, `…22-*.md`, `2026-11-23T*.md`, `levers-2026-11-23T01-44-46Z.md`, `overview.json`';
    expect(quotedPatterns(quoted).map(String)).toEqual([
      String.raw`/^2026-11-23T02-03-18Z\.md$/`,
      String.raw`/^2026-11-23T[^/]*\.md$/`,
      String.raw`/^levers-2026-11-23T01-44-46Z\.md$/`,
      String.raw`/^\d{4}-\d\d-\d\dT22-[^/]*\.md$/`,
    ]);
  });

  it('reads the docs that quote reports', () => {
    for (const doc of ['bench/README.md', 'docs/benchmarks.md'])
      expect(quotedPatterns(readFileSync(join(ROOT, doc), 'utf8')).length, doc).toBeGreaterThan(0);
  });

  it.each(DOCS)('every report %s quotes is kept', (doc) => {
    const patterns = quotedPatterns(readFileSync(join(ROOT, doc), 'utf8'));
    const unmatched = patterns.filter((p) => !kept.some((file) => p.test(file))).map(String);
    expect(unmatched).toEqual([]);
  });

  it('every file .gitignore keeps exists', () => {
    const named = [...readFileSync(join(ROOT, '.gitignore'), 'utf8').matchAll(/^!bench\/results\/(.+)$/gm)].map(([, f]) => f!);
    expect(named.filter((f) => !kept.includes(f))).toEqual([]);
  });

  it('every file a kept report links to is kept too', () => {
    const links = kept
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) => [...readFileSync(join(RESULTS, f), 'utf8').matchAll(/\]\(([^)/:]+)\)/g)].map(([, target]) => target!));
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((target) => !kept.includes(target))).toEqual([]);
  });
});
