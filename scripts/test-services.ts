import { execFileSync } from 'node:child_process';

/** vitest global setup: PostgreSQL and Redis must answer, and promtool be installed, before any test file runs. */
export default function setup(): void {
  execFileSync('bash', ['scripts/services.sh'], { stdio: 'inherit' });
  execFileSync('bash', ['scripts/tools.sh'], { stdio: 'inherit' });
}
