import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ofKind, render } from './k8s-render.ts';

// Where the PromQL of the repository lives, for the tests that check it against the apps.

const INFRA = import.meta.dirname;

export interface Query {
  /** Where it comes from: "<dashboard> / <panel>", "alert <name>", "<manifest> <kind>/<name>". */
  source: string;
  expr: string;
}

/** Grafana's range variables, as Prometheus would see them once Grafana has filled them in. */
export function withGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s').replaceAll('$__range', '1h');
}

const NOT_METRICS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/**
 * The metric names an expression reads: every identifier that is not a function call,
 * a keyword, a label name (in {…} or a by/on/… list), a duration or a string.
 */
export function metricNames(expr: string): string[] {
  const bare = withGrafanaVariables(expr)
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[\dsmhdwy]+/g, ' ');
  const names = [...bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((name) => !NOT_METRICS.has(name.toLowerCase()));
  return [...new Set(names)];
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr?: string; refId?: string; legendFormat?: string }[];
  panels?: Panel[];
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  [key: string]: unknown;
}

export function dashboardFiles(): string[] {
  return readdirSync(join(INFRA, 'grafana/dashboards'))
    .filter((name) => name.endsWith('.json'))
    .map((name) => join(INFRA, 'grafana/dashboards', name));
}

export function readDashboard(file: string): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, those inside collapsed rows included. */
export function panelsOf(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

export function dashboardQueries(): Query[] {
  return dashboardFiles().flatMap((file) => {
    const dashboard = readDashboard(file);
    return panelsOf(dashboard).flatMap((panel) =>
      (panel.targets ?? []).map((t) => ({ source: `${dashboard.title} / ${panel.title}`, expr: t.expr ?? '' })),
    );
  });
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function ruleFiles(): string[] {
  return readdirSync(join(INFRA, 'prometheus/rules'))
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(INFRA, 'prometheus/rules', name));
}

export function alertRules(): Rule[] {
  return ruleFiles().flatMap((file) =>
    (parseAllDocuments(readFileSync(file, 'utf8'))[0]!.toJS() as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
  );
}

export function alertQueries(): Query[] {
  return alertRules().map((rule) => ({ source: `alert ${rule.alert ?? rule.record}`, expr: rule.expr }));
}

/** The PromQL of KEDA's Prometheus triggers, as the base kustomization renders them. */
export function kedaQueries(): Query[] {
  return ofKind(render('base'), 'ScaledObject').flatMap((object) =>
    ((object.spec as { triggers?: { type: string; metadata: { query?: string } }[] }).triggers ?? [])
      .filter((t) => t.type === 'prometheus')
      .map((t) => ({ source: `infra/k8s/base ScaledObject/${object.metadata.name}`, expr: t.metadata.query ?? '' })),
  );
}
