import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, type AppName } from '../packages/stack/src/index.ts';
import { appEnvRead, appOf, BACKLOG_VARS, GRACE_MS, listenBacklog, nodeFlagsOf, PORT_VARS, ROOT } from './apps.ts';
import { MODELS, schemaProblems } from './k8s-schema.ts';
import { k8sObjects } from './promql.ts';

// The manifests against the schemas of Kubernetes and KEDA (k8s-schema.ts: a misspelt key
// is refused, as the API server's strict field validation would), the references between
// objects, and everything that must agree with the apps.

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are YAML read as they come */
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
};

const all = k8sObjects().map(({ file, object }) => ({ file, object: object as unknown as Obj }));
const objects = all.map((o) => o.object);
const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

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

const deployments = ofKind('Deployment');
/** Each Deployment that runs one of our apps, with its container and that app. */
const appDeployments = deployments.map((d) => {
  const container = d.spec.template.spec.containers[0];
  return { d, container, app: appOf((container.command ?? []).join(' ')) ?? '' };
});
const deploymentOf = (app: string) => appDeployments.find((a) => a.app === app)!;
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
/** An environment variable's value as the pod sees it: set in env, or from a ConfigMap it takes whole. */
function envValue(container: any, name: string): string | undefined {
  const direct = (container.env ?? []).find((e: any) => e.name === name);
  if (direct) return direct.value ?? `<${direct.valueFrom?.secretKeyRef?.name}/${direct.valueFrom?.secretKeyRef?.key}>`;
  for (const from of container.envFrom ?? []) {
    const map = from.configMapRef ? named('ConfigMap', from.configMapRef.name) : named('Secret', from.secretRef?.name);
    const value = map?.data?.[name] ?? map?.stringData?.[name];
    if (value !== undefined) return String(value);
  }
  return undefined;
}
function envNames(container: any): string[] {
  const fromMaps = (container.envFrom ?? []).flatMap((from: any) => {
    const map = from.configMapRef ? named('ConfigMap', from.configMapRef.name) : named('Secret', from.secretRef?.name);
    return Object.keys({ ...map?.data, ...map?.stringData });
  });
  return [...(container.env ?? []).map((e: any) => e.name as string), ...fromMaps];
}

describe('Kubernetes manifests (infra/k8s)', () => {
  it('parse, each with a kind we know at its API version, a DNS-1123 name, in the esh3ar namespace', () => {
    expect(all.length).toBeGreaterThanOrEqual(15);
    for (const { file, object } of all) {
      const at = `${file} ${object.kind}/${object.metadata?.name}`;
      if (object.kind === 'Kustomization') {
        expect(object.apiVersion, at).toBe('kustomize.config.k8s.io/v1beta1');
        continue;
      }
      expect(MODELS.find((m) => m.kind === object.kind)?.apiVersion, at).toBe(object.apiVersion);
      expect(object.metadata.name, at).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (object.kind !== 'Namespace') expect(object.metadata.namespace, at).toBe('esh3ar');
    }
    const keys = objects.filter((o) => o.kind !== 'Kustomization').map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size, 'no object twice').toBe(keys.length);
  });

  it('are all listed in kustomization.yaml (but the example Secret), which names the image they run', () => {
    const kustomization = ofKind('Kustomization')[0]!;
    const files = readdirSync(join(ROOT, 'infra/k8s')).filter(
      (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && !f.endsWith('.example.yaml'),
    );
    // Applying the manifests must never replace the real Secret with placeholders.
    expect(all.filter((o) => o.object.kind === 'Secret').map((o) => o.file)).toEqual(['secret.example.yaml']);
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    const images = new Set([...deployments, ...ofKind('Job')].flatMap((o) => o.spec.template.spec.containers.map((c: any) => c.image)));
    expect([...images]).toEqual([kustomization.images[0].name]);
  });

  it('match the schemas of Kubernetes and KEDA, with no field they do not know (env values as strings)', () => {
    const problems = all
      .filter(({ object }) => object.kind !== 'Kustomization')
      .flatMap(({ file, object }) => schemaProblems(object).map((p) => `${file} ${object.kind}/${object.metadata.name}: ${p}`));
    const triggerKeys = ofKind('ScaledObject').flatMap((s) =>
      s.spec.triggers.flatMap((t: any) =>
        Object.keys(t.metadata)
          .filter((key) => !PROMETHEUS_TRIGGER_KEYS.includes(key))
          .map((key) => `ScaledObject ${s.metadata.name} trigger: unknown parameter ${key}`),
      ),
    );
    expect([...problems, ...triggerKeys]).toEqual([]);
  });

  it('would refuse a misspelt field, a number for a string and a missing required field (the schema check can fail)', () => {
    const deployment = structuredClone(deploymentOf('api').d);
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
  });

  it('run the api, the worker and the gateway from entry points that exist, selected by their own labels', () => {
    expect(appDeployments.map((a) => a.app).sort()).toEqual(['api', 'gateway', 'provider-sim', 'worker']);
    for (const { d, container } of appDeployments) {
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), d.metadata.name).toBe(true);
      const file = container.command.find((w: string) => w.endsWith('.ts'));
      expect(existsSync(join(ROOT, file)), file).toBe(true);
    }
    for (const job of ofKind('Job')) {
      const command = job.spec.template.spec.containers[0].command.join(' ');
      expect(command).toMatch(/apps\/cli\/src\/main\.ts migrate$/);
      expect(existsSync(join(ROOT, 'apps/cli/src/main.ts'))).toBe(true);
    }
  });

  it('start each app with the node flags of the stack kit (packages/stack NODE_FLAGS)', () => {
    for (const { d, container, app } of appDeployments) {
      if (!(app in NODE_FLAGS)) continue;
      expect(nodeFlagsOf((container.command ?? []).join(' ')), d.metadata.name).toEqual(NODE_FLAGS[app as AppName]);
    }
    expect(appDeployments.map((a) => a.app)).toEqual(expect.arrayContaining(['api', 'gateway', 'worker']));
  });

  it('set only environment variables the app reads, and those it needs', () => {
    for (const { d, container, app } of appDeployments) {
      const known = new Set(['NODE_ENV', ...appEnvRead(app)]);
      expect(
        envNames(container).filter((name) => !known.has(name)),
        `${d.metadata.name} sets variables apps/${app} never reads`,
      ).toEqual([]);
      if (appEnvRead(app).includes('DATABASE_URL'))
        expect(envNames(container), d.metadata.name).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'HOST']));
    }
    expect(envNames(deploymentOf('gateway').container)).toContain('DEVICE_TOKEN_SECRET');
    expect(envValue(deploymentOf('worker').container, 'PROVIDER_BASE_URL')).toBe(
      `http://${named('Service', 'esh3ar-provider-sim')!.metadata.name}:${envValue(deploymentOf('provider-sim').container, 'PROVIDER_SIM_PORT')}`,
    );
    for (const { container } of [...appDeployments, ...ofKind('Job').map((j) => ({ container: j.spec.template.spec.containers[0] }))]) {
      for (const e of container.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (!ref) continue;
        const source = named(e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
        expect(source, `${e.name} from ${ref.name}`).toBeDefined();
        expect({ ...source!.data, ...source!.stringData }, `${ref.name} has ${ref.key}`).toHaveProperty(ref.key);
      }
      for (const from of container.envFrom ?? [])
        expect(named(from.configMapRef ? 'ConfigMap' : 'Secret', (from.configMapRef ?? from.secretRef).name)).toBeDefined();
    }
  });

  it('listen on 0.0.0.0 on the declared container port, probed at /health/ready and /health/live there, scraped there', () => {
    for (const { d, container, app } of appDeployments) {
      const at = d.metadata.name;
      expect(envValue(container, 'HOST'), at).toBe('0.0.0.0');
      const port = Number(envValue(container, PORT_VARS[app]!));
      expect(port, `${at} ${PORT_VARS[app]}`).toBeGreaterThan(0);
      expect(
        container.ports.map((p: any) => p.containerPort),
        at,
      ).toEqual([port]);
      const portOf = (ref: string | number) =>
        typeof ref === 'number' ? ref : container.ports.find((p: any) => p.name === ref)?.containerPort;
      expect(container.readinessProbe.httpGet.path, at).toBe('/health/ready');
      expect(container.livenessProbe.httpGet.path, at).toBe('/health/live');
      expect(portOf(container.readinessProbe.httpGet.port), at).toBe(port);
      expect(portOf(container.livenessProbe.httpGet.port), at).toBe(port);
      const annotations = d.spec.template.metadata.annotations ?? {};
      expect(annotations, at).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      });
    }
    expect(existsSync(join(ROOT, 'apps/worker/src/ops-server.ts'))).toBe(true);
  });

  it('request CPU and memory for every container, with a memory limit above the request', () => {
    const quantity = (q: string) => {
      const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(q));
      if (!m) return Number.NaN;
      const scale: Record<string, number> = { '': 1, m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
      return Number(m[1]) * scale[m[2] ?? '']!;
    };
    for (const o of [...deployments, ...ofKind('Job')]) {
      for (const c of o.spec.template.spec.containers) {
        const at = `${o.metadata.name}/${c.name}`;
        expect(quantity(c.resources?.requests?.cpu), at).toBeGreaterThan(0);
        expect(quantity(c.resources?.requests?.memory), at).toBeGreaterThan(0);
        expect(quantity(c.resources?.limits?.memory), at).toBeGreaterThanOrEqual(quantity(c.resources.requests.memory));
      }
    }
  });

  it('raise somaxconn to the listen backlog of the api and the gateway, and run as a non-root user', () => {
    for (const [app, backlogVar] of Object.entries(BACKLOG_VARS)) {
      const { d, container } = deploymentOf(app);
      expect(appEnvRead(app), app).toContain(backlogVar);
      const backlog = listenBacklog(app, envValue(container, backlogVar));
      const sysctl = (d.spec.template.spec.securityContext?.sysctls ?? []).find((s: any) => s.name === 'net.core.somaxconn');
      expect(Number(sysctl?.value), d.metadata.name).toBeGreaterThanOrEqual(backlog);
      expect(typeof sysctl?.value, 'sysctl values are strings').toBe('string');
    }
    for (const o of [...deployments, ...ofKind('Job')])
      expect(o.spec.template.spec.securityContext?.runAsNonRoot, o.metadata.name).toBe(true);
  });

  it('give each app the time it takes to drain (and its preStop pause) before SIGKILL', () => {
    for (const { d, container, app } of appDeployments) {
      const preStop = Number(container.lifecycle?.preStop?.exec?.command?.join(' ').match(/^sleep (\d+)$/)?.[1] ?? 0);
      const grace = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      expect(GRACE_MS[app], `apps/${app} SHUTDOWN_GRACE_MS`).toBeGreaterThan(0);
      expect(grace, d.metadata.name).toBeGreaterThan(preStop + GRACE_MS[app]! / 1000);
    }
  });

  it('expose each app through a Service whose selector and target port find its pods', () => {
    for (const { d, container, app } of appDeployments) {
      const service = ofKind('Service').find((s) => matches(s.spec.selector, d.spec.template.metadata.labels));
      expect(service, `Service for ${d.metadata.name}`).toBeDefined();
      for (const p of service!.spec.ports) {
        const target =
          typeof p.targetPort === 'number' ? p.targetPort : container.ports.find((c: any) => c.name === p.targetPort)?.containerPort;
        expect(target, `${service!.metadata.name} ${p.name}`).toBe(Number(envValue(container, PORT_VARS[app]!)));
      }
    }
    for (const s of ofKind('Service'))
      expect(
        deployments.some((d) => matches(s.spec.selector, d.spec.template.metadata.labels)),
        s.metadata.name,
      ).toBe(true);
  });

  it('keep at least one api, gateway and worker through voluntary disruptions (PodDisruptionBudgets)', () => {
    for (const app of ['api', 'gateway', 'worker']) {
      const { d } = deploymentOf(app);
      const pdb = ofKind('PodDisruptionBudget').find((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdb, `PDB for ${d.metadata.name}`).toBeDefined();
      const { minAvailable, maxUnavailable } = pdb!.spec;
      expect((minAvailable === undefined) !== (maxUnavailable === undefined), 'one of minAvailable, maxUnavailable').toBe(true);
      if (minAvailable !== undefined) expect(minAvailable, d.metadata.name).toBeLessThan(d.spec.replicas);
      if (maxUnavailable !== undefined) expect(maxUnavailable, d.metadata.name).toBeLessThan(d.spec.replicas);
    }
  });

  it('scale the api with an HPA on CPU and the workers with KEDA on the backlog, never both on one Deployment', () => {
    const [hpa] = ofKind('HorizontalPodAutoscaler');
    expect(ofKind('HorizontalPodAutoscaler')).toHaveLength(1);
    expect(hpa!.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deploymentOf('api').d.metadata.name });
    expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa!.spec.maxReplicas).toBeGreaterThan(hpa!.spec.minReplicas);
    expect(hpa!.spec.metrics[0]).toMatchObject({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } });
    const [scaled] = ofKind('ScaledObject');
    expect(ofKind('ScaledObject')).toHaveLength(1);
    expect(scaled!.spec.scaleTargetRef.name).toBe(deploymentOf('worker').d.metadata.name);
    expect(scaled!.spec.scaleTargetRef.name).not.toBe(hpa!.spec.scaleTargetRef.name);
    expect(scaled!.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(scaled!.spec.maxReplicaCount).toBeGreaterThan(scaled!.spec.minReplicaCount);
    expect(scaled!.spec.triggers.length).toBeGreaterThanOrEqual(1);
    for (const trigger of scaled!.spec.triggers) {
      expect(trigger.type).toBe('prometheus');
      expect(() => new URL(trigger.metadata.serverAddress)).not.toThrow();
      expect(trigger.metadata.query).toMatch(/\besh3ar_/);
      expect(trigger.metadata.threshold).toMatch(/^\d+(\.\d+)?$/);
    }
    // The metrics the queries read exist: infra/observability.int.test.ts, against a running stack.
  });
});
