import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@esh3ar/stack';

/**
 * Where every benchmark writes its reports. git ignores the folder except the files the
 * README quotes, each un-ignored by name in .gitignore (bench/README.md, "Results").
 */
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

/** `2026-11-23T02-03-18Z`: a file name's form of an ISO time (no colons), to the second. */
export function resultStamp(at: Date | string): string {
  return `${new Date(at).toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z`;
}

/** Writes `name` into the results folder (made if missing); returns its path. */
export function writeResult(name: string, text: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, name);
  writeFileSync(path, text);
  return path;
}
