import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { alertRules, ruleFiles } from './promql.ts';

// The alerting rules pass promtool's own checks, and promtool's unit tests
// (prometheus/tests/*.yml) show each alert firing on the series it is meant for and
// staying silent on others. promtool comes from scripts/tools.sh.

const INFRA = import.meta.dirname;
const TESTS = join(INFRA, 'prometheus/tests');
const testFiles = readdirSync(TESTS)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(TESTS, f));

/** promtool's output; a failure throws with it, so the test shows what promtool said. */
function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${stdout}${stderr}`, { cause: error });
  }
}

interface RuleTest {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}
const unitTests = testFiles.map((file) => ({ file, spec: parse(readFileSync(file, 'utf8')) as RuleTest }));

describe('Prometheus configuration and alerting rules', () => {
  it('prometheus.yml and every rules file pass promtool check', () => {
    expect(promtool('check', 'config', join(INFRA, 'prometheus/prometheus.yml'))).toMatch(/SUCCESS/);
    expect(ruleFiles().length).toBeGreaterThanOrEqual(4);
    const output = promtool('check', 'rules', ...ruleFiles());
    expect(output.match(/SUCCESS/g)).toHaveLength(ruleFiles().length);
  });

  it('name each alert once, Esh3ar…, with a severity (page or ticket) and a summary', () => {
    const alerts = alertRules();
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const rule of alerts) {
      expect(rule.alert, rule.expr).toMatch(/^Esh3ar[A-Z]\w+$/);
      expect(['page', 'ticket'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toMatch(/\S/);
    }
  });

  it('cover what an operator must hear about', () => {
    const reads = (metric: string) => alertRules().some((rule) => rule.expr.includes(metric));
    for (const metric of [
      'esh3ar_http_requests_total', // api error rate
      'esh3ar_http_request_duration_seconds_bucket', // acceptance latency
      'esh3ar_buffer_depth_messages', // backlog, watermark, workers not storing
      'esh3ar_buffer_capacity_messages',
      'esh3ar_persist_rows_total',
      'esh3ar_queue_jobs',
      'esh3ar_provider_breaker_state',
      'outcome="dead_letter"',
      'esh3ar_gateway_ack_latency_seconds_bucket',
      'esh3ar_process_memory_limit_bytes',
      'esh3ar_db_statement_duration_seconds_bucket',
    ]) {
      expect(reads(metric), metric).toBe(true);
    }
  });

  it('pass their unit tests (promtool test rules)', () => {
    expect(testFiles.length).toBeGreaterThanOrEqual(4);
    const output = promtool('test', 'rules', ...testFiles);
    expect(output.match(/SUCCESS/g)).toHaveLength(testFiles.length);
  });

  it('have unit tests in which every alert fires at least once and stays silent at least once', () => {
    const tested = new Set(unitTests.flatMap(({ file, spec }) => spec.rule_files.map((f) => resolve(dirname(file), f))));
    expect([...tested].sort()).toEqual(ruleFiles().sort());
    const cases = unitTests.flatMap(({ spec }) => spec.tests.flatMap((t) => t.alert_rule_test ?? []));
    for (const { alert } of alertRules()) {
      const own = cases.filter((c) => c.alertname === alert);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} stays silent in a test`,
      ).toBe(true);
    }
  });
});
