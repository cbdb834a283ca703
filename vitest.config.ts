import { readdirSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One test project per package and app (vitest ≥ 4 replaced vitest.workspace.ts with
// `test.projects`), plus infra/, whose files are checked against the real apps, and
// bench/, whose kept reports are checked against the docs (no benchmark runs there), and
// scripts/, whose generated docs are checked against what they are generated from.
const dirs = ['packages', 'apps'].flatMap((group) => readdirSync(group).map((name) => `${group}/${name}`));
if (existsSync('infra')) dirs.push('infra');
dirs.push('bench', 'scripts');

export default defineConfig({
  test: {
    globalSetup: ['./scripts/test-services.ts'],
    // Integration tests start real processes and databases: minutes, not seconds, on 2 cores.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: dirs.map((dir) => ({
      extends: true,
      test: { name: dir, root: dir, include: ['**/*.test.ts'], exclude: ['**/node_modules/**'] },
    })),
  },
});
