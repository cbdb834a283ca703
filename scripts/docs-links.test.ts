import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorOf, brokenLinks, linksOf, ROOT } from './docs-links.ts';

const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe('the links of README.md and docs/', () => {
  it.each(DOCS)('%s links only to files and headings of the repository', (file) => {
    expect(brokenLinks(file, readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
  });

  it('reads links as GitHub renders them, and finds the broken ones', () => {
    const text = [
      '[api](docs/api.md) and ![chart](bench/results/none.svg), [`@esh3ar/device`](packages/device/README.md)',
      '[a heading](docs/api.md#admin-api-v1admin), [missing](docs/api.md#no-such-heading), [web](https://example.com)',
      '`[not a link](nowhere.md)`',
      '```',
      '[not a link either](nowhere.md)',
      '```',
    ].join('\n');
    expect(linksOf(text)).toEqual([
      'docs/api.md',
      'bench/results/none.svg',
      'packages/device/README.md',
      'docs/api.md#admin-api-v1admin',
      'docs/api.md#no-such-heading',
      'https://example.com',
    ]);
    expect(brokenLinks('README.md', text)).toEqual([
      'bench/results/none.svg: no bench/results/none.svg',
      'docs/api.md#no-such-heading: no heading #no-such-heading in docs/api.md',
    ]);
    expect(brokenLinks('docs/x.md', '[up](../../elsewhere.md)')).toEqual(['../../elsewhere.md: outside the repository']);
    expect(anchorOf('What bounds the figures (profiles and measurements)')).toBe('what-bounds-the-figures-profiles-and-measurements');
  });

  it('lists every document of docs/ in the README', () => {
    const linked = new Set(linksOf(readFileSync(join(ROOT, 'README.md'), 'utf8')));
    for (const doc of DOCS.filter((d) => d !== 'README.md')) expect(linked.has(doc), doc).toBe(true);
  });
});

describe('the repository', () => {
  // Spelled in pieces so that this file does not mention them either.
  const FORBIDDEN = [['..', 'shared'].join('/'), ['CONTRACT', 'md'].join('.')];

  it('mentions neither the specification outside it nor the folder it came from', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '');
    expect(files.length).toBeGreaterThan(100);
    const mentions = files.flatMap((file) => {
      let text: string;
      try {
        text = readFileSync(join(ROOT, file), 'utf8');
      } catch (error) {
        // A file listed by git and deleted from the working tree since is no mention.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      return FORBIDDEN.filter((word) => text.includes(word)).map((word) => `${file}: ${word}`);
    });
    expect(mentions).toEqual([]);
  });
});
