/**
 * The relative links of Markdown files: each must lead to a file of the repository, and a
 * link to a heading (`file.md#heading`) to a heading that file has, named as GitHub names
 * its anchors. scripts/docs-links.test.ts runs it over README.md and docs/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

/** The text without its fenced code blocks, where neither `# a` nor `[a](b)` is Markdown. */
function withoutFences(text: string): string {
  return text.replace(/^ *(```|~~~)[^\n]*\n[\s\S]*?^ *\1[^\n]*$/gm, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings. */
export function anchorsOf(text: string): Set<string> {
  return new Set([...withoutFences(text).matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => anchorOf(heading!.replaceAll('`', ''))));
}

/** Every link target of a Markdown text (images included), as written. */
export function linksOf(text: string): string[] {
  // Inline code may be a link's text ([`@esh3ar/device`](…)); inline code alone is no link.
  const prose = withoutFences(text).replace(/(?<!\[)`[^`\n]*`(?!\])/g, '');
  return [...prose.matchAll(/!?\[(?:[^\]`]|`[^`\n]*`)*\]\(([^)\s]+)\)/g)].map(([, target]) => target!);
}

/** The relative links of `file` (a path from the root) that lead nowhere, each with why. */
export function brokenLinks(file: string, text: string): string[] {
  const broken: string[] = [];
  for (const target of linksOf(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [path = '', anchor] = target.split('#');
    const absolute = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
    if (!absolute.startsWith(ROOT)) broken.push(`${target}: outside the repository`);
    else if (!existsSync(absolute)) broken.push(`${target}: no ${relative(ROOT, absolute)}`);
    else if (anchor !== undefined && absolute.endsWith('.md') && !anchorsOf(readFileSync(absolute, 'utf8')).has(anchor))
      broken.push(`${target}: no heading #${anchor} in ${relative(ROOT, absolute)}`);
  }
  return broken;
}
