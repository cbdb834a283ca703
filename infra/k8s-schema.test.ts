import { describe, expect, it } from 'vitest';
import { apiTypeProblems, isBuiltIn, TARGET_KUBERNETES } from './k8s-api-types.ts';
import { render, renderWith, type K8sObject } from './k8s-render.ts';
import { MODELS, schemaProblems } from './k8s-schema.ts';

// Every object each kustomization renders, against the schemas of Kubernetes and of the
// CRDs (k8s-schema.ts) and against the API of Kubernetes 1.30 (k8s-api-types.ts): what a
// stock cluster with KEDA and the prometheus-operator accepts.

/**
 * The parameters of KEDA's prometheus scaler: the CRD types a trigger's metadata as any
 * string map, so the schema cannot tell a misspelt one (the list: KEDA’s prometheus scaler docs).
 */
const PROMETHEUS_TRIGGER_KEYS = [
  'serverAddress',
  'query',
  'threshold',
  'activationThreshold',
  'namespace',
  'ignoreNullValues',
  'unsafeSsl',
];

const RENDERS: Record<string, () => K8sObject[]> = {
  'infra/k8s/base': () => render('base'),
  'infra/k8s/overlays/demo': () => render('overlays/demo'),
  'base + components/somaxconn': () => renderWith({ resources: ['base'], components: ['components/somaxconn'] }),
};

function triggerKeyProblems(objects: K8sObject[]): string[] {
  return objects
    .filter((o) => o.kind === 'ScaledObject')
    .flatMap((s) =>
      (s.spec.triggers as { metadata: Record<string, string> }[]).flatMap((t) =>
        Object.keys(t.metadata)
          .filter((key) => !PROMETHEUS_TRIGGER_KEYS.includes(key))
          .map((key) => `ScaledObject/${s.metadata.name} trigger: unknown parameter ${key}`),
      ),
    );
}

describe('Kubernetes manifests as rendered, against the schemas', () => {
  it.each(Object.keys(RENDERS))('%s: every object matches its schema, with no field it does not know', (name) => {
    const objects = RENDERS[name]!();
    expect(objects.length).toBeGreaterThanOrEqual(25);
    const problems = objects.flatMap((o) => schemaProblems(o).map((p) => `${o.kind}/${o.metadata.name}: ${p}`));
    expect([...problems, ...triggerKeyProblems(objects)]).toEqual([]);
    for (const o of objects) {
      const at = `${o.kind}/${o.metadata.name}`;
      expect(MODELS.find((m) => m.kind === o.kind)?.apiVersion, at).toBe(o.apiVersion);
      expect(o.metadata.name, at).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace, at).toBe('esh3ar');
    }
    const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size, 'no object twice').toBe(keys.length);
  });

  it.each(Object.keys(RENDERS))(`%s: every built-in object is valid in the API of Kubernetes ${TARGET_KUBERNETES}`, (name) => {
    const objects = RENDERS[name]!();
    expect(objects.filter(isBuiltIn).length).toBeGreaterThanOrEqual(20);
    expect(apiTypeProblems(objects)).toEqual([]);
  });

  it('would refuse a misspelt field, a number for a string and a missing required field (the schema check can fail)', () => {
    const deployment = structuredClone(render('base').find((o) => o.kind === 'Deployment')!);
    const container = deployment.spec.template.spec.containers[0];
    container.imagePullPolicyy = 'IfNotPresent';
    container.env = [{ name: 'API_PORT', value: 3000 }];
    deployment.spec.template.metadata.lables = deployment.spec.template.metadata.labels;
    delete deployment.spec.selector;
    const problems = schemaProblems(deployment).join('\n');
    expect(problems).toMatch(/\/spec\/template\/spec\/containers\/0\/imagePullPolicyy: a field/);
    expect(problems).toMatch(/\/spec\/template\/metadata\/lables: a field/);
    expect(problems).toMatch(/containers\/0\/env\/0\/value must be string/);
    expect(problems).toMatch(/data\/spec must have required property selector/);
    expect(schemaProblems({ ...deployment, apiVersion: 'apps/v1beta1' })).toEqual(['Deployment is served at apps/v1, not apps/v1beta1']);
    expect(schemaProblems({ ...deployment, kind: 'Job', apiVersion: 'batch/v1' })).toEqual(['kind Job is not one we deploy']);
  });

  it('would refuse a misspelt field of a custom resource, and an unknown KEDA trigger parameter', () => {
    const objects = render('base');
    const monitor = structuredClone(objects.find((o) => o.kind === 'ServiceMonitor')!);
    monitor.spec.endpoints[0].intervall = '15s';
    expect(schemaProblems(monitor).join('\n')).toMatch(/\/spec\/endpoints\/0\/intervall: a field the ServiceMonitor schema/);
    const rule = structuredClone(objects.find((o) => o.kind === 'PrometheusRule')!);
    rule.spec.groups[0].rules[0].fore = '5m';
    expect(schemaProblems(rule).join('\n')).toMatch(/\/spec\/groups\/0\/rules\/0\/fore: a field/);
    const scaled = structuredClone(objects.find((o) => o.kind === 'ScaledObject')!);
    scaled.spec.fallback = { replicas: 4 };
    scaled.spec.triggers[0].metadata.treshold = '1';
    expect(schemaProblems(scaled).join('\n')).toMatch(/fallback must have required property failureThreshold/);
    expect(triggerKeyProblems([scaled])).toEqual([`ScaledObject/${scaled.metadata.name} trigger: unknown parameter treshold`]);
  });

  it(`would refuse a field that Kubernetes ${TARGET_KUBERNETES} does not have, though newer schemas know it`, () => {
    const deployment = structuredClone(render('base').find((o) => o.kind === 'Deployment')!);
    // Pod-level resources came in 1.32.
    deployment.spec.template.spec.resources = { requests: { cpu: '1' } };
    expect(schemaProblems(deployment)).toEqual([]);
    expect(apiTypeProblems([deployment])).toEqual([
      `Deployment/${deployment.metadata.name}: Object literal may only specify known properties, and '"resources"' does not exist in type 'PodSpec'.`,
    ]);
  });
});
