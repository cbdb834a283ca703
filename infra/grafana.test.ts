import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { read, ROOT } from './apps.ts';
import { dashboardFiles, dashboardQueries, kedaQueries, panelsOf, readDashboard, withGrafanaVariables } from './promql.ts';

// The dashboards as Grafana loads them (compose's file provisioning, a cluster's sidecar):
// well-formed, on the datasource their variable names, every query valid PromQL. That each query reads series the
// apps expose is checked against a running stack (observability.int.test.ts).

const dashboards = dashboardFiles().map((file) => ({
  file: basename(file),
  dashboard: readDashboard(file),
  text: readFileSync(file, 'utf8'),
}));
const UNITS = new Set(['ops', 'reqps', 's', 'ms', 'percentunit', 'short', 'bytes', 'none']);
const PANEL_TYPES = new Set(['timeseries', 'stat', 'gauge', 'bargauge', 'table', 'row']);

describe('Grafana dashboards (infra/grafana/dashboards)', () => {
  it('are the overview, ingest, delivery and providers dashboards, each with its own uid and title', () => {
    expect(dashboards.map((d) => d.file).sort()).toEqual(['delivery.json', 'ingest.json', 'overview.json', 'providers.json']);
    for (const { file, dashboard } of dashboards) {
      expect(dashboard.uid, file).toBe(`esh3ar-${file.replace('.json', '')}`);
      expect(dashboard.title, file).toMatch(/^Esh3ar — /);
      expect(dashboard.schemaVersion, file).toEqual(expect.any(Number));
    }
    expect(new Set(dashboards.map((d) => d.dashboard.title)).size).toBe(dashboards.length);
  });

  it('query the datasource their variable names (any Prometheus; compose’s provisioned one by default), with no import placeholders', () => {
    // Compose provisions one Prometheus, the default datasource, which the variable selects
    // when nothing else is chosen; in a cluster it is whichever Prometheus Grafana has.
    const provisioned = parse(read('infra/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { type: string; isDefault?: boolean }[];
    };
    expect(provisioned.datasources).toEqual([expect.objectContaining({ type: 'prometheus', isDefault: true })]);
    const variable = { type: 'prometheus', uid: '${datasource}' };
    for (const { file, dashboard, text } of dashboards) {
      expect(text, file).not.toMatch(/\$\{DS_|__inputs|__requires|esh3ar-prometheus/);
      const templating = (dashboard as { templating?: { list: { name: string; type: string; query: string }[] } }).templating;
      expect(
        templating?.list.find((v) => v.name === 'datasource'),
        file,
      ).toMatchObject({ type: 'datasource', query: 'prometheus' });
      for (const panel of panelsOf(dashboard).filter((p) => p.type !== 'row')) {
        const p = panel as typeof panel & { datasource?: unknown; targets: { datasource?: unknown }[] };
        expect(p.datasource, `${file} ${panel.title}`).toEqual(variable);
        for (const target of p.targets) expect(target.datasource, `${file} ${panel.title}`).toEqual(variable);
      }
    }
  });

  it('lay out titled panels of known types and units on the 24-column grid, without overlaps', () => {
    for (const { file, dashboard } of dashboards) {
      const panels = panelsOf(dashboard) as (ReturnType<typeof panelsOf>[number] & {
        id: number;
        gridPos: { x: number; y: number; w: number; h: number };
        fieldConfig?: { defaults?: { unit?: string } };
      })[];
      expect(panels.length, file).toBeGreaterThanOrEqual(6);
      expect(new Set(panels.map((p) => p.id)).size, `${file}: panel ids`).toBe(panels.length);
      for (const p of panels) {
        const at = `${file} ${p.title}`;
        expect(p.title, at).toMatch(/\S/);
        expect(PANEL_TYPES.has(p.type), at).toBe(true);
        expect(UNITS.has(p.fieldConfig?.defaults?.unit ?? ''), `${at}: unit ${p.fieldConfig?.defaults?.unit}`).toBe(true);
        expect(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24 && p.gridPos.h > 0, at).toBe(true);
        const refIds = (p.targets ?? []).map((t) => t.refId);
        expect(refIds.length, at).toBeGreaterThan(0);
        expect(new Set(refIds).size, at).toBe(refIds.length);
      }
      const cells = new Set<string>();
      for (const p of panels) {
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            expect(cells.has(`${x},${y}`), `${file}: ${p.title} overlaps another panel`).toBe(false);
            cells.add(`${x},${y}`);
          }
        }
      }
    }
  });

  it('query with valid PromQL, rates over $__rate_interval (and the KEDA queries parse too)', () => {
    const queries = [...dashboardQueries(), ...kedaQueries()];
    expect(queries.length).toBeGreaterThanOrEqual(40);
    for (const q of dashboardQueries()) {
      for (const [, window] of q.expr.matchAll(/\b(?:rate|irate)\([^[]*\[([^\]]+)\]/g)) expect(window, q.source).toBe('$__rate_interval');
    }
    // promtool parses PromQL only in rule files: one recording rule per query.
    const dir = mkdtempSync(join(tmpdir(), 'esh3ar-promql-'));
    try {
      const file = join(dir, 'queries.yml');
      writeFileSync(
        file,
        stringify({
          groups: [
            { name: 'queries', rules: queries.map((q, i) => ({ record: `esh3ar:query:${i}`, expr: withGrafanaVariables(q.expr) })) },
          ],
        }),
      );
      let output = '';
      try {
        output = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
        expect.fail(`${stdout}${stderr}\n${queries.map((q, i) => `${i}: ${q.source}`).join('\n')}`);
      }
      expect(output).toMatch(new RegExp(`SUCCESS: ${queries.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are listed, panel by panel, in docs/operations.md as scripts/dashboard-panels.ts renders them', () => {
    const rendered = execFileSync(process.execPath, ['scripts/dashboard-panels.ts'], { cwd: ROOT, encoding: 'utf8' }).trim();
    expect(rendered).toContain('### Dashboards');
    for (const { dashboard } of dashboards) expect(rendered).toContain(dashboard.title);
    expect(read('docs/operations.md'), 'run: node scripts/dashboard-panels.ts --write').toContain(rendered);
  });
});
