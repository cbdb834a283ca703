import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { appOf, PORT_VARS } from './apps.ts';
import { PROMETHEUS_RULE_FILE, renderPrometheusRule } from './k8s-prometheus-rule.ts';
import { matches, ofKind, render } from './k8s-render.ts';
import { dashboardFiles, ruleFiles } from './promql.ts';

// How the cluster's Prometheus and Grafana see Esh3ar: ServiceMonitors in place of
// prometheus.io annotations, the alerting rules of infra/prometheus as a PrometheusRule,
// the dashboards of infra/grafana as ConfigMaps for Grafana's sidecar.

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are YAML read as they come */
const base = render('base');
const demo = render('overlays/demo');

describe.each([
  ['infra/k8s/base', base],
  ['infra/k8s/overlays/demo', demo],
])('Kubernetes monitoring objects %s', (_, objects) => {
  it('a ServiceMonitor scrapes /metrics of every app on the port it serves it, through the app’s Service', () => {
    const deployments = ofKind(objects, 'Deployment');
    for (const d of deployments) {
      const container = d.spec.template.spec.containers[0];
      const app = appOf(container.command.join(' '))!;
      const port = Number(container.env.find((e: any) => e.name === PORT_VARS[app])!.value);
      const services = ofKind(objects, 'Service').filter((s) => matches(s.spec.selector, d.spec.template.metadata.labels));
      const monitors = ofKind(objects, 'ServiceMonitor').filter((m) =>
        services.some((s) => matches(m.spec.selector.matchLabels, s.metadata.labels)),
      );
      expect(monitors, `ServiceMonitor for ${d.metadata.name}`).toHaveLength(1);
      const service = services.find((s) => matches(monitors[0]!.spec.selector.matchLabels, s.metadata.labels))!;
      for (const endpoint of monitors[0]!.spec.endpoints) {
        const servicePort = service.spec.ports.find((p: any) => p.name === endpoint.port);
        const target = container.ports.find((p: any) => p.name === servicePort?.targetPort)?.containerPort ?? servicePort?.targetPort;
        expect([endpoint.path, target], d.metadata.name).toEqual(['/metrics', port]);
      }
      // The job label is the Service's name: compose's job names, which the alerts match.
      expect(service.metadata.name, d.metadata.name).toMatch(/^esh3ar-/);
      expect(d.spec.template.metadata.annotations ?? {}, 'no prometheus.io annotations').toEqual({});
    }
    expect(deployments.length).toBeGreaterThanOrEqual(3);
  });

  it('hold every dashboard of infra/grafana/dashboards, as it is, in a ConfigMap labelled for Grafana’s sidecar', () => {
    const labelled = ofKind(objects, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
    const files = dashboardFiles();
    expect(labelled.flatMap((c) => Object.keys(c.data)).sort()).toEqual(files.map((f) => basename(f)).sort());
    for (const file of files) {
      const map = labelled.find((c) => basename(file) in c.data)!;
      expect(map.data[basename(file)], basename(file)).toBe(readFileSync(file, 'utf8'));
      expect(map.metadata.name, 'a stable name: a changed dashboard replaces its ConfigMap').toBe(
        `esh3ar-dashboard-${basename(file, '.json')}`,
      );
    }
  });
});

describe('PrometheusRule (infra/k8s/base/prometheus-rule.yaml)', () => {
  it('is what `node infra/k8s-prometheus-rule.ts --write` makes of infra/prometheus/rules/*.yml now', () => {
    expect(readFileSync(PROMETHEUS_RULE_FILE, 'utf8'), 'run: node infra/k8s-prometheus-rule.ts --write').toBe(renderPrometheusRule());
  });

  it('holds the same groups and rules as the rules files, once rendered', () => {
    const [rule] = ofKind(base, 'PrometheusRule');
    const groups = ruleFiles()
      .sort()
      .flatMap((file) => (parse(readFileSync(file, 'utf8')) as { groups: unknown[] }).groups);
    expect(groups.length).toBeGreaterThanOrEqual(4);
    expect(rule!.spec.groups).toEqual(groups);
  });
});
