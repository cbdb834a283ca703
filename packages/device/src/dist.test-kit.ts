import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** packages/device */
export const PACKAGE_DIR = join(import.meta.dirname, '..');
export const DIST_DIR = join(PACKAGE_DIR, 'dist');

/**
 * Builds dist/ (`pnpm build`'s tsc) when it is missing or older than a source file, so
 * that the tests of the built package never test a stale one, whether or not
 * `pnpm build` ran first.
 */
export function ensureBuilt(): void {
  const built = join(DIST_DIR, 'index.js');
  const sources = [
    join(PACKAGE_DIR, 'tsconfig.build.json'),
    ...readdirSync(join(PACKAGE_DIR, 'src'))
      .filter((f) => f.endsWith('.ts') && !f.includes('.test'))
      .map((f) => join(PACKAGE_DIR, 'src', f)),
  ];
  if (existsSync(built) && sources.every((f) => statSync(f).mtimeMs <= statSync(built).mtimeMs)) return;
  const tsc = createRequire(join(PACKAGE_DIR, 'package.json')).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PACKAGE_DIR, stdio: 'inherit' });
}
