/**
 * Reading the benchmark reports git keeps in bench/results/ (the Markdown that bench/
 * writes): their sections, tables and numbers, and which runs each figure is read over,
 * for scripts/bench-report.ts.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const RESULTS = join(import.meta.dirname, '..', 'bench', 'results');

/** A `## ` section of a report: its tables (rows of cells, header and separator left out) and its other lines. */
export interface Section {
  tables: string[][][];
  lines: string[];
}

export interface Report {
  /** The file name, `2026-11-23T02-03-18Z.md`. */
  file: string;
  /** The report's first paragraph: the machine, Node, the phases. */
  machine: string;
  sections: Map<string, Section>;
}

/**
 * The files of bench/results that git commits: the reports the docs quote, each kept by
 * name in .gitignore. Reports a local run left beside them are ignored, so that a run on
 * this machine does not change the docs.
 */
export function keptResults(): string[] {
  const files = readdirSync(RESULTS).sort();
  const ignored = spawnSync('git', ['check-ignore', '--no-index', '--stdin'], { cwd: RESULTS, input: files.join('\n'), encoding: 'utf8' });
  if (ignored.status !== 0 && ignored.status !== 1) throw new Error(`git check-ignore failed: ${ignored.stderr}`);
  const out = new Set(ignored.stdout.split('\n').filter(Boolean));
  return files.filter((f) => !out.has(f));
}

const cellsOf = (line: string) =>
  line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());

export function parseReport(file: string, text: string): Report {
  // What comes before the first `## ` heading is the section named ''.
  let current: Section = { tables: [], lines: [] };
  const sections = new Map<string, Section>([['', current]]);
  let table: string[][] | null = null;
  const lines = text.split('\n');
  for (const line of lines) {
    if (line.startsWith('## ')) {
      current = { tables: [], lines: [] };
      sections.set(line.slice(3), current);
      table = null;
    } else if (line.startsWith('|')) {
      if (table === null) {
        table = [];
        current.tables.push(table);
      }
      table.push(cellsOf(line));
    } else {
      table = null;
      if (line.trim() !== '') current.lines.push(line);
    }
  }
  // Each table without its header row and the separator under it.
  for (const section of sections.values()) section.tables = section.tables.map((t) => t.slice(2));
  return { file, machine: lines.find((l, i) => i > 0 && l.trim() !== '') ?? '', sections };
}

export function readReport(file: string): Report {
  return parseReport(file, readFileSync(join(RESULTS, file), 'utf8'));
}

/** The section whose heading starts with `heading`, if the report has it. */
export function sectionOf(report: Report, heading: string): Section | undefined {
  for (const [title, section] of report.sections) if (title.startsWith(heading)) return section;
  return undefined;
}

/** The first row, in the `index`th table of the section, whose first cell starts with `label`. */
export function rowOf(report: Report, heading: string, label: string, index = 0): string[] {
  const section = sectionOf(report, heading);
  const row = section?.tables[index]?.find((cells) => cells[0]!.startsWith(label));
  if (row === undefined) throw new Error(`${report.file}: no row "${label}" in "${heading}"`);
  return row;
}

/** The first line of the section that matches `pattern`, as its match. */
export function lineOf(report: Report, heading: string, pattern: RegExp): RegExpExecArray {
  for (const line of sectionOf(report, heading)?.lines ?? []) {
    const match = pattern.exec(line);
    if (match !== null) return match;
  }
  throw new Error(`${report.file}: no line ${pattern} in "${heading}"`);
}

/** The numbers of a cell, in order: "1,851 ms" → [1851], "292 and 294 MiB" → [292, 294], "7.3 ms / ≤ 50 ms" → [7.3, 50]. */
export function numbers(cell: string): number[] {
  return [...cell.matchAll(/-?\d[\d,]*(?:\.\d+)?/g)].map(([n]) => Number(n.replaceAll(',', '')));
}

export function num(cell: string): number {
  const [n] = numbers(cell);
  if (n === undefined) throw new Error(`no number in "${cell}"`);
  return n;
}

/** The kept reports of `pnpm bench` (named by their time alone), oldest first. */
export function benchRuns(kept: readonly string[]): Report[] {
  return kept.filter((f) => /^\d{4}-\d\d-\d\dT[\d-]+Z\.md$/.test(f)).map(readReport);
}

/** From this run on the gateway sends one presence beat per gateway and spreads its pings: its tail is read over these runs. */
export const GATEWAY_TAIL_SINCE = '2026-11-22T23-13-06Z.md';
/** Runs with the api's semi-spaces at 16 MiB, over which its memory in a burst is read. */
export const SEMI_SPACE_16 = (file: string) => file === '2026-11-22T21-36-32Z.md' || file >= '2026-11-23T01-09-59Z.md';
/** From this run on two new api processes take the 2-process bursts (before, the first had been through the bursts already). */
export const TWO_NEW_APIS_SINCE = '2026-11-23T01-20-02Z.md';
