import { execFileSync } from 'node:child_process';

/** vitest global setup: PostgreSQL and Redis must answer before any test file runs. */
export default function setup(): void {
  execFileSync('bash', ['scripts/services.sh'], { stdio: 'inherit' });
}
