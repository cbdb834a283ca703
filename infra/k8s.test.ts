import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, type AppName } from '../packages/stack/src/index.ts';
import { appEnvRead, appOf, GRACE_MS, nodeFlagsOf, PORT_VARS, read, ROOT } from './apps.ts';
import { exampleSecret, kustomization, matches, named, ofKind, render, type K8sObject } from './k8s-render.ts';

// The rendered manifests (base, and the demo overlay with provider-sim) against the apps:
// entry points, node flags, environment, ports, probes, grace periods, resources,
// Services, disruption budgets, scaling, and how providers and migrations are set up.

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are YAML read as they come */
const base = render('base');
const demo = render('overlays/demo');
const secret = exampleSecret();

/** Each Deployment that runs one of our apps, with its container and that app. */
const appDeployments = (objects: K8sObject[]) =>
  ofKind(objects, 'Deployment').map((d) => {
    const container = d.spec.template.spec.containers[0];
    return { d, container, app: appOf((container.command ?? []).join(' ')) ?? '' };
  });
const deploymentOf = (objects: K8sObject[], app: string) => appDeployments(objects).find((a) => a.app === app)!;

/**
 * The environment a container starts with: its values, the ConfigMaps it reads, and the
 * Secret's keys as secret.example.yaml shows them. Its `change-me` placeholders, which the
 * apps refuse by design, stand in as well-formed values.
 */
function environment(objects: K8sObject[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) Object.assign(env, named(objects, 'ConfigMap', from.configMapRef?.name)?.data);
  for (const e of container.env ?? []) {
    const key = e.valueFrom?.secretKeyRef?.key ?? e.valueFrom?.configMapKeyRef?.key;
    const value = e.valueFrom?.secretKeyRef
      ? secret.stringData[key]
      : e.valueFrom
        ? named(objects, 'ConfigMap', e.valueFrom.configMapKeyRef.name)?.data[key]
        : e.value;
    if (value !== undefined) env[e.name] = value === 'change-me' ? 'x'.repeat(64) : value;
  }
  return env;
}
const envNames = (objects: K8sObject[], container: any) => Object.keys(environment(objects, container));

/** The fewest replicas each Deployment runs: its HPA's or ScaledObject's minimum, else its own count. */
function minReplicas(objects: K8sObject[], d: K8sObject): number {
  const hpa = ofKind(objects, 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === d.metadata.name);
  const scaled = ofKind(objects, 'ScaledObject').find((s) => s.spec.scaleTargetRef.name === d.metadata.name);
  return hpa?.spec.minReplicas ?? scaled?.spec.minReplicaCount ?? d.spec.replicas ?? 1;
}

describe.each([
  ['infra/k8s/base', base],
  ['infra/k8s/overlays/demo', demo],
])('Kubernetes manifests %s, against the apps', (_, objects) => {
  it('run the apps from entry points that exist, selected by their own labels, all from the one image', () => {
    for (const { d, container } of appDeployments(objects)) {
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), d.metadata.name).toBe(true);
      const file = container.command.find((w: string) => w.endsWith('.ts'));
      expect(existsSync(join(ROOT, file)), file).toBe(true);
    }
    const images = new Set(appDeployments(objects).map(({ container }) => container.image));
    const { newTag } = kustomization('base').images[0];
    expect([...images]).toEqual([`esh3ar:${newTag}`]);
  });

  it('start each app with the node flags of the stack kit (packages/stack NODE_FLAGS)', () => {
    for (const { d, container, app } of appDeployments(objects)) {
      if (!(app in NODE_FLAGS)) continue;
      expect(nodeFlagsOf((container.command ?? []).join(' ')), d.metadata.name).toEqual(NODE_FLAGS[app as AppName]);
    }
    expect(appDeployments(objects).map((a) => a.app)).toEqual(expect.arrayContaining(['api', 'gateway', 'worker']));
  });

  it('set only environment variables the app reads, and those it needs; secrets only by reference to keys the example Secret has', () => {
    for (const { d, container, app } of appDeployments(objects)) {
      const read = new Set(['NODE_ENV', ...appEnvRead(app, environment(objects, container))]);
      expect(
        envNames(objects, container).filter((name) => !read.has(name)),
        `${d.metadata.name} sets variables apps/${app} never reads`,
      ).toEqual([]);
      if (read.has('DATABASE_URL'))
        expect(envNames(objects, container), d.metadata.name).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'HOST']));
      for (const e of container.env ?? []) {
        const at = `${d.metadata.name} ${e.name}`;
        expect(
          Object.hasOwn(secret.stringData, e.name) ? e.valueFrom?.secretKeyRef : 'not a secret',
          `${at}: from the Secret, by key`,
        ).toBeDefined();
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) expect([ref.name, Object.hasOwn(secret.stringData, ref.key)], at).toEqual([secret.metadata.name, true]);
      }
      for (const from of container.envFrom ?? [])
        expect(named(objects, 'ConfigMap', from.configMapRef?.name), d.metadata.name).toBeDefined();
    }
    expect(envNames(objects, deploymentOf(objects, 'gateway').container)).toContain('DEVICE_TOKEN_SECRET');
    expect(ofKind(objects, 'Secret'), 'the real Secret is created by hand, never applied').toEqual([]);
  });

  it('listen on 0.0.0.0 on the declared container port, probed at /health/ready and /health/live there', () => {
    for (const { d, container, app } of appDeployments(objects)) {
      const at = d.metadata.name;
      const env = environment(objects, container);
      expect(env.HOST, at).toBe('0.0.0.0');
      const port = Number(env[PORT_VARS[app]!]);
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
    }
  });

  it('request CPU and memory for every container, with a memory limit above the request', () => {
    const quantity = (q: string) => {
      const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(q));
      if (!m) return Number.NaN;
      const scale: Record<string, number> = { '': 1, m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
      return Number(m[1]) * scale[m[2] ?? '']!;
    };
    for (const d of ofKind(objects, 'Deployment')) {
      for (const c of d.spec.template.spec.containers) {
        const at = `${d.metadata.name}/${c.name}`;
        expect(quantity(c.resources?.requests?.cpu), at).toBeGreaterThan(0);
        expect(quantity(c.resources?.requests?.memory), at).toBeGreaterThan(0);
        expect(quantity(c.resources?.limits?.memory), at).toBeGreaterThanOrEqual(quantity(c.resources.requests.memory));
      }
    }
    // The api's request covers its measured burst peak (395 MiB, docs/benchmarks.md).
    expect(quantity(deploymentOf(objects, 'api').container.resources.requests.memory)).toBeGreaterThanOrEqual(395 * 1024 ** 2);
  });

  it('give each app the time it takes to drain (and its preStop pause) before SIGKILL', () => {
    for (const { d, container, app } of appDeployments(objects)) {
      const preStop = Number(container.lifecycle?.preStop?.exec?.command?.join(' ').match(/^sleep (\d+)$/)?.[1] ?? 0);
      const grace = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      expect(GRACE_MS[app], `apps/${app} SHUTDOWN_GRACE_MS`).toBeGreaterThan(0);
      expect(grace, d.metadata.name).toBeGreaterThan(preStop + GRACE_MS[app]! / 1000);
    }
  });

  it('expose each app through a Service whose selector and target port find its pods', () => {
    for (const { d, container, app } of appDeployments(objects)) {
      const service = ofKind(objects, 'Service').find((s) => matches(s.spec.selector, d.spec.template.metadata.labels));
      expect(service, `Service for ${d.metadata.name}`).toBeDefined();
      for (const p of service!.spec.ports) {
        const target =
          typeof p.targetPort === 'number' ? p.targetPort : container.ports.find((c: any) => c.name === p.targetPort)?.containerPort;
        expect(target, `${service!.metadata.name} ${p.name}`).toBe(Number(environment(objects, container)[PORT_VARS[app]!]));
      }
    }
    for (const s of ofKind(objects, 'Service'))
      expect(
        ofKind(objects, 'Deployment').some((d) => matches(s.spec.selector, d.spec.template.metadata.labels)),
        s.metadata.name,
      ).toBe(true);
  });

  it('keep at least one api, gateway and worker through voluntary disruptions (PodDisruptionBudgets)', () => {
    for (const app of ['api', 'gateway', 'worker']) {
      const { d } = deploymentOf(objects, app);
      const pdb = ofKind(objects, 'PodDisruptionBudget').find((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdb, `PDB for ${d.metadata.name}`).toBeDefined();
      const { minAvailable, maxUnavailable } = pdb!.spec;
      expect((minAvailable === undefined) !== (maxUnavailable === undefined), 'one of minAvailable, maxUnavailable').toBe(true);
      expect(minAvailable ?? maxUnavailable, d.metadata.name).toBeLessThan(minReplicas(objects, d));
    }
  });

  it('scale the api with an HPA on CPU, the workers with KEDA on the backlog and the gateways on connections, leaving them the replica count', () => {
    const [hpa] = ofKind(objects, 'HorizontalPodAutoscaler');
    expect(ofKind(objects, 'HorizontalPodAutoscaler')).toHaveLength(1);
    expect(hpa!.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deploymentOf(objects, 'api').d.metadata.name,
    });
    expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa!.spec.maxReplicas).toBeGreaterThan(hpa!.spec.minReplicas);
    expect(hpa!.spec.metrics[0]).toMatchObject({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } });
    const scaledOf = (app: string) =>
      ofKind(objects, 'ScaledObject').find((s) => s.spec.scaleTargetRef.name === deploymentOf(objects, app).d.metadata.name);
    expect(ofKind(objects, 'ScaledObject')).toHaveLength(2);
    expect(
      scaledOf('worker')!
        .spec.triggers.map((t: any) => t.metadata.query)
        .join(' '),
    ).toMatch(/esh3ar_buffer_depth_messages.*esh3ar_queue_jobs/);
    expect(scaledOf('gateway')!.spec.triggers.map((t: any) => t.metadata.query)).toEqual(['sum(esh3ar_gateway_connections)']);
    for (const scaled of ofKind(objects, 'ScaledObject')) {
      const at = scaled.metadata.name;
      expect(scaled.spec.scaleTargetRef.name, at).not.toBe(hpa!.spec.scaleTargetRef.name);
      expect(scaled.spec.minReplicaCount, at).toBeGreaterThanOrEqual(2);
      expect(scaled.spec.maxReplicaCount, at).toBeGreaterThan(scaled.spec.minReplicaCount);
      // Prometheus unreachable: a count KEDA may run, never fewer than there are.
      expect(scaled.spec.fallback.replicas, at).toBeGreaterThanOrEqual(scaled.spec.minReplicaCount);
      expect(scaled.spec.fallback.replicas, at).toBeLessThanOrEqual(scaled.spec.maxReplicaCount);
      expect(scaled.spec.fallback.behavior, at).toBe('currentReplicasIfHigher');
      for (const trigger of scaled.spec.triggers) {
        expect(trigger.type).toBe('prometheus');
        expect(() => new URL(trigger.metadata.serverAddress)).not.toThrow();
        expect(trigger.metadata.query).toMatch(/\besh3ar_/);
        expect(trigger.metadata.threshold).toMatch(/^\d+(\.\d+)?$/);
      }
    }
    // An apply must not reset what the autoscalers chose.
    for (const app of ['api', 'worker', 'gateway']) expect(deploymentOf(objects, app).d.spec.replicas, app).toBeUndefined();
    // The metrics the queries read exist: infra/observability.int.test.ts, against a running stack.
  });

  it('migrate with no Job: each worker applies the migrations at start, under their advisory lock', () => {
    expect(ofKind(objects, 'Job')).toEqual([]);
    expect(read('apps/worker/src/main.ts')).toMatch(/^await migrateWhenReachable\(config\.postgres\.url, logger\);$/m);
    expect(read('packages/db/src/migrate.ts')).toMatch(/advisoryLockMode: 'wait'/);
    expect(envNames(objects, deploymentOf(objects, 'worker').container)).toContain('DATABASE_URL');
  });
});

describe('providers: real ones in the base, provider-sim in the demo overlay', () => {
  it('the base has no provider-sim and sends through each channel’s real provider', () => {
    expect(
      appDeployments(base)
        .map((a) => a.app)
        .sort(),
    ).toEqual(['api', 'gateway', 'worker']);
    const env = environment(base, deploymentOf(base, 'worker').container);
    expect([env.SMS_PROVIDER, env.WHATSAPP_PROVIDER, env.EMAIL_PROVIDER]).toEqual(['twilio', 'meta', 'smtp']);
    expect(env.PROVIDER_BASE_URL).toBeUndefined();
  });

  it('the demo overlay adds provider-sim, points the workers at its Service, and needs no provider secret', () => {
    expect(
      appDeployments(demo)
        .map((a) => a.app)
        .sort(),
    ).toEqual(['api', 'gateway', 'provider-sim', 'worker']);
    const worker = deploymentOf(demo, 'worker').container;
    const env = environment(demo, worker);
    expect([env.SMS_PROVIDER, env.WHATSAPP_PROVIDER, env.EMAIL_PROVIDER]).toEqual(['sim', 'sim', 'sim']);
    const sim = deploymentOf(demo, 'provider-sim');
    const service = ofKind(demo, 'Service').find((s) => matches(s.spec.selector, sim.d.spec.template.metadata.labels))!;
    expect(env.PROVIDER_BASE_URL).toBe(`http://${service.metadata.name}:${environment(demo, sim.container).PROVIDER_SIM_PORT}`);
    const secretKeys = appDeployments(demo).flatMap(({ container }) =>
      (container.env ?? []).flatMap((e: any) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.key] : [])),
    );
    expect([...new Set(secretKeys)].sort()).toEqual(['ADMIN_TOKEN', 'DATABASE_URL', 'DEVICE_TOKEN_SECRET']);
  });
});
